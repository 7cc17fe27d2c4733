using ILGPU;
using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;
using static TrgIlgpu.Tests.Kernels.ConvolutionKernelTests;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// WinogradConvolution.WinogradF2x3 and the three launches of WinogradConvolution (input transform, batched
/// product, output transform) against the same float64 reference as the direct kernel (conv2d 3x3/1/1 + BatchNorm
/// (+ shortcut) + activation, written from the definition, not from Winograd's algebra), with the same tolerance.
/// The scratch tensors V and M are poisoned too, with a guard past their ends that must stay untouched. The three
/// launches run with each product that can compute the shape: WinogradGemmF2 (8 channels a thread) and, where the
/// padded output channels are whole 16s, WinogradGemmF2x16 (16 a thread), whose M must equal the 8-channel one bit for bit.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class WinogradKernelTests(KernelDevices devices)
{
    public static TheoryData<string> CpuCases => new(CpuCaseTable.Keys);

    /// <summary>
    /// Small shapes for the CPU simulator: odd maps (the last tile row or column half outside), maps smaller than one
    /// tile, Cout below, between and above multiples of the 8-channel tile, batch > 1, every activation and shortcut.
    /// </summary>
    private static readonly Dictionary<string, Case> CpuCaseTable = new()
    {
        ["7x5 map, batch 3, Cout 7, leaky + conv bias + bn"] = new(3, 5, 7, 5, 7, 3, 1, 1, Activation.LeakyRelu, ConvBias: true),
        ["5x3 map, Cout 11, relu"] = new(2, 4, 5, 3, 11, 3, 1, 1, Activation.Relu),
        ["6x4 map, Cout 16, no activation, no bn"] = new(2, 3, 6, 4, 16, 3, 1, 1, Activation.None, Bn: false),
        ["1x1 map (one tile, 3 of 4 outputs outside)"] = new(2, 6, 1, 1, 9, 3, 1, 1, Activation.Relu),
        ["2x1 map"] = new(1, 3, 2, 1, 5, 3, 1, 1, Activation.LeakyRelu),
        ["identity shortcut, 7x5"] = new(2, 5, 7, 5, 5, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity),
        ["identity shortcut, 3x6, Cout 10, leaky"] = new(3, 4, 3, 6, 10, 3, 1, 1, Activation.LeakyRelu, Shortcut: Shortcut.Identity),
        ["identity shortcut, 5x5, relu6"] = new(2, 3, 5, 5, 9, 3, 1, 1, Activation.Relu6, Shortcut: Shortcut.Identity),
        ["9x7 map, batch 2, Cout 29 (two 16-channel pairs), relu"] = new(2, 5, 9, 7, 29, 3, 1, 1, Activation.Relu),
        ["7x3 map, Cout 6, face-api leaky"] = new(2, 4, 7, 3, 6, 3, 1, 1, Activation.LeakyRelu01),
        ["projection shortcut 4x3 from 7x5 / 2"] =
            new(2, 6, 4, 3, 6, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Projection, Cs: 3, Hs: 7, Ws: 5, Ss: 2),
        ["projection shortcut 5x3 from 9x5 / 2, Cout 13, none"] =
            new(2, 4, 5, 3, 13, 3, 1, 1, Activation.None, Shortcut: Shortcut.Projection, Cs: 6, Hs: 9, Ws: 5, Ss: 2),
    };

    [Theory]
    [MemberData(nameof(CpuCases))]
    public void Conv3x3_Cpu_MatchesReference(string name) => Run(devices.Cpu, CpuCaseTable[name], TestRandom.SeedOf(name));

    /// <summary>Every 3x3 stride-1 convolution shape of TRGv2, and an odd one to exercise PoCL's partial last group.</summary>
    [OpenCLFact]
    public void Conv3x3_OpenCL_ModelShapes_MatchReference()
    {
        var cl = devices.OpenCL;
        Run(cl, new(1, 64, 48, 48, 64, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity), seed: 201);           // layer1.*.conv2
        Run(cl, new(1, 128, 24, 24, 128, 3, 1, 1, Activation.Relu,
            Shortcut: Shortcut.Projection, Cs: 64, Hs: 48, Ws: 48, Ss: 2), seed: 202);                               // layer2.0.conv2
        Run(cl, new(1, 256, 12, 12, 256, 3, 1, 1, Activation.Relu), seed: 203);                                     // layer3.1.conv1
        Run(cl, new(1, 512, 6, 6, 512, 3, 1, 1, Activation.Relu,
            Shortcut: Shortcut.Projection, Cs: 256, Hs: 12, Ws: 12, Ss: 2), seed: 204);                              // layer4.0.conv2
        Run(cl, new(2, 256, 24, 24, 256, 3, 1, 1, Activation.LeakyRelu, ConvBias: true), seed: 205);                // heatmap.conv3x3
        Run(cl, new(3, 20, 13, 7, 21, 3, 1, 1, Activation.LeakyRelu, Shortcut: Shortcut.Identity), seed: 206);      // odd everything
        Run(cl, new(3, 20, 13, 7, 27, 3, 1, 1, Activation.Relu), seed: 207);                                        // odd, 16-channel product
    }

    private static void Run(DeviceUnderTest device, Case c, int seed)
    {
        var t = Prepare(c, seed);
        Assert.True(WinogradConvolution.Supports(t.Params), $"{c}: not a 3x3 stride-1 pad-1 convolution");
        var packed = Pack.Winograd(t.Weight, c.Cout, c.Cin, t.Bn, t.ConvBias, t.ProjWeight, c.Cs, t.ProjBn);
        using var d = device.Begin();
        const int guard = 37;
        var output = d.Poisoned(t.OutShape.Length + guard);
        d.Kernels.WinogradConv3x3(d.Stream, d.Config(WinogradConvolution.ThreadCount(t.Params)), d.Upload(t.Input).View,
            d.Upload(packed.Weight).View, d.Upload(packed.Bias).View, t.Shortcut is null ? d.Unused : d.Upload(t.Shortcut).View,
            packed.ShortcutWeight is null ? d.Unused : d.Upload(packed.ShortcutWeight).View, output.View, t.Params);
        var got = d.Download(output);

        Expect.Close($"WinogradConv3x3 {c} on {device.Description}", got, t.Expected, 1e-5, name: i => Where(t.OutShape, i));
        Expect.Untouched($"WinogradConv3x3 {c}: past the output", got, i => i < t.OutShape.Length);

        // The same convolution in three launches, through poisoned scratch tensors, with each product that can run it.
        var p = t.Params;
        var products = new List<(string Name, Action<ArrayView<float>, ArrayView<float>, ArrayView<float>> Launch)>
        {
            ("WinogradGemmF2", (v, w, m) => d.Kernels.WinogradGemmF2(d.Stream, d.Config(WinogradConvolution.GemmThreadCount(p)), v, w, m, p)),
        };
        Assert.Equal(p.OutChannelsPadded % 16 == 0, WinogradConvolution.SupportsGemm16(p));
        if (WinogradConvolution.SupportsGemm16(p))
            products.Add(("WinogradGemmF2x16", (v, w, m) => d.Kernels.WinogradGemmF2x16(d.Stream, d.Config(WinogradConvolution.Gemm16ThreadCount(p)), v, w, m, p)));
        float[]? first = null;
        foreach (var (product, launch) in products)
        {
            long vLength = WinogradConvolution.TransformLength(p), mLength = WinogradConvolution.ProductLength(p);
            var v = d.Poisoned(vLength + guard);
            var m = d.Poisoned(mLength + guard);
            var split = d.Poisoned(t.OutShape.Length + guard);
            d.Kernels.WinogradInputF2(d.Stream, d.Config(WinogradConvolution.InputThreadCount(p)), d.Upload(t.Input).View, v.View, p);
            launch(v.View, d.Upload(packed.Weight).View, m.View);
            ArrayView<float> shortcut = t.Shortcut is null ? d.Unused : d.Upload(t.Shortcut).View;
            var q = p;
            if (p.ShortcutMode == Convolution.ShortcutProjection)
                // As the plan runs it (KernelPolicy.SeparateProjection): the projection as its own 1x1 convolution
                // (PhaseSplit + Conv2DPhase, no bias), added by the output transform as an identity shortcut.
                (shortcut, q) = (Projection(d, shortcut, packed.ShortcutWeight!, p, guard), p with
                {
                    ShortcutMode = Convolution.ShortcutIdentity, ShortcutChannels = p.OutChannels, ShortcutHeight = p.OutHeight,
                    ShortcutWidth = p.OutWidth, ShortcutStride = 1,
                });
            d.Kernels.WinogradOutputF2(d.Stream, d.Config(WinogradConvolution.OutputThreadCount(q)), m.View, d.Upload(packed.Bias).View,
                shortcut, d.Unused, split.View, q);
            got = d.Download(split);
            Expect.Close($"{product} (3 launches) {c} on {device.Description}", got, t.Expected, 1e-5, name: i => Where(t.OutShape, i));
            Expect.Untouched($"{product} {c}: past the output", got, i => i < t.OutShape.Length);
            var transformed = d.Download(v);
            Expect.Untouched($"{product} {c}: past V", transformed, i => i < vLength);
            Assert.DoesNotContain(transformed.Take((int)vLength), Poison.Is);
            var result = d.Download(m);
            Expect.Untouched($"{product} {c}: past M", result, i => i < mLength);
            Assert.DoesNotContain(result.Take((int)mLength), Poison.Is);
            // Same multiply-adds in the same order: the 16-channel product's M is the 8-channel one's, bit for bit.
            if (first is null) first = result;
            else Assert.True(first.AsSpan(0, (int)mLength).SequenceEqual(result.AsSpan(0, (int)mLength)), $"{product} {c}: M differs from WinogradGemmF2's");
        }
    }

    /// <summary>
    /// <paramref name="p"/>'s projection shortcut as the plan's own launch (<see cref="Convolution.Projection"/> on
    /// PhaseSplit + Conv2DPhase, a zero bias), through poisoned planes and output with guards that must stay untouched.
    /// </summary>
    internal static ArrayView<float> Projection(DeviceScope d, ArrayView<float> shortcut, float[] weight, ConvParams p, int guard)
    {
        var pp = Convolution.Projection(p);
        Assert.True(PhaseConvolution.Supports(pp), $"{p.ShortcutStride}-strided projection: not a phase-split convolution");
        long length = (long)pp.Batch * pp.OutChannels * pp.OutHeight * pp.OutWidth;
        var planes = d.Poisoned(PhaseConvolution.PlanesLength(pp));
        var output = d.Poisoned(length + guard);
        d.Kernels.PhaseSplit(d.Stream, PhaseConvolution.SplitConfig(pp, d.Kernels.GroupSize), shortcut, planes.View, pp);
        d.Kernels.Conv2DPhase(d.Stream, d.Config(PhaseConvolution.ThreadCount(pp)), planes.View, d.Upload(weight).View,
            d.Upload(new float[pp.OutChannelsPadded]).View, d.Unused, output.View, pp);
        var got = d.Download(output);
        Expect.Untouched("projection: past its output", got, i => i < length);
        Assert.DoesNotContain(got.Take((int)length), Poison.Is);
        return output.View.SubView(0, length);
    }
}
