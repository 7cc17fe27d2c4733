using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;
using static TrgIlgpu.Tests.Kernels.ConvolutionKernelTests;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// StemConvolution.Stem7x7S2 (the 3-channel 7x7/2 stem, 16 channels per thread) against the same float64 reference
/// and tolerance as the direct kernel, with the direct kernel's packing.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class StemConvolutionKernelTests(KernelDevices devices)
{
    public static TheoryData<string> CpuCases => new(CpuCaseTable.Keys);

    /// <summary>
    /// Small shapes for the CPU simulator: maps where every tap row and column reaches the padding, odd and non-square
    /// maps (a partial last position thread), Cout below and between multiples of 8 (padded to 16), batch > 1, every activation.
    /// </summary>
    private static readonly Dictionary<string, Case> CpuCaseTable = new()
    {
        ["11x9 map, batch 2, Cout 16, relu"] = new(2, 3, 11, 9, 16, 7, 2, 3, Activation.Relu),
        ["5x6 map, Cout 14, leaky + conv bias"] = new(1, 3, 5, 6, 14, 7, 2, 3, Activation.LeakyRelu, ConvBias: true),
        ["2x2 map (one output), Cout 9"] = new(2, 3, 2, 2, 9, 7, 2, 3, Activation.None),
        ["13x7 map, batch 3, Cout 32, no bn"] = new(3, 3, 13, 7, 32, 7, 2, 3, Activation.Relu, Bn: false, ConvBias: true),
    };

    [Theory]
    [MemberData(nameof(CpuCases))]
    public void Conv7x7S2_Cpu_MatchesReference(string name) => Run(devices.Cpu, CpuCaseTable[name], TestRandom.SeedOf(name));

    /// <summary>TRGv2's conv1 (+ bn1) at batch 2, and an odd map to exercise PoCL's partial last group.</summary>
    [OpenCLFact]
    public void Conv7x7S2_OpenCL_ModelShape_MatchesReference()
    {
        var cl = devices.OpenCL;
        Run(cl, new(2, 3, 192, 192, 64, 7, 2, 3, Activation.Relu), seed: 301);                  // conv1 + bn1
        Run(cl, new(3, 3, 37, 23, 30, 7, 2, 3, Activation.LeakyRelu, ConvBias: true), seed: 302); // odd everything
    }

    [Fact]
    public void Supports_OnlyThe3ChannelStemWithoutShortcut_InWhole16ChannelTiles()
    {
        var p = Prepare(new(1, 3, 11, 9, 16, 7, 2, 3, Activation.Relu), 1).Params;
        Assert.True(StemConvolution.Supports(p));
        Assert.False(StemConvolution.Supports(p with { InChannels = 4 }));
        Assert.False(StemConvolution.Supports(p with { Kernel = 3, Pad = 1 }));
        Assert.False(StemConvolution.Supports(p with { Stride = 1 }));
        Assert.False(StemConvolution.Supports(p with { ShortcutMode = Convolution.ShortcutIdentity }));
        Assert.False(StemConvolution.Supports(p with { OutChannels = 24 })); // 3 blocks of 8: not whole 16-channel tiles
        Assert.True(StemConvolution.Supports(p with { OutChannels = 25 }));  // padded to 32
    }

    private static void Run(DeviceUnderTest device, Case c, int seed)
    {
        var t = Prepare(c, seed);
        Assert.True(StemConvolution.Supports(t.Params), $"{c}: not a 3-channel 7x7/2 stem");
        var packed = Pack.Conv(t.Weight, c.Cout, c.Cin, c.K, t.Bn, t.ConvBias, t.ProjWeight, c.Cs, t.ProjBn);
        using var d = device.Begin();
        const int guard = 37;
        var output = d.Poisoned(t.OutShape.Length + guard);
        d.Kernels.StemConv7x7S2(d.Stream, d.Config(StemConvolution.ThreadCount(t.Params)), d.Upload(t.Input).View,
            d.Upload(packed.Weight).View, d.Upload(packed.Bias).View, output.View, t.Params);
        var got = d.Download(output);

        Expect.Close($"StemConv7x7S2 {c} on {device.Description}", got, t.Expected, 1e-5, name: i => Where(t.OutShape, i));
        Expect.Untouched($"StemConv7x7S2 {c}: past the output", got, i => i < t.OutShape.Length);
    }
}
