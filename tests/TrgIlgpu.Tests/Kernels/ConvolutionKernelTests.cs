using ILGPU;
using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>Convolution.Conv2D against conv2d + BatchNorm (+ shortcut) + activation in float64.</summary>
[Collection(KernelCollection.Name)]
public sealed class ConvolutionKernelTests(KernelDevices devices)
{
    public enum Shortcut { None, Identity, Projection }

    /// <summary>One launch: input [B, Cin, H, W] -> [B, Cout, Ho, Wo]; a projection shortcut reads [B, Cs, Hs, Ws] at stride Ss.</summary>
    public sealed record Case(int Batch, int Cin, int H, int W, int Cout, int K, int Stride, int Pad, Activation Act,
        bool Bn = true, bool ConvBias = false, Shortcut Shortcut = Shortcut.None, int Cs = 0, int Hs = 0, int Ws = 0, int Ss = 1)
    {
        public override string ToString() =>
            $"[{Batch},{Cin},{H},{W}] k{K}s{Stride}p{Pad} ->{Cout} {Act}{(Bn ? " bn" : "")}{(ConvBias ? " bias" : "")}" +
            (Shortcut == Shortcut.Projection ? $" +proj[{Cs},{Hs},{Ws}]/{Ss}" : Shortcut == Shortcut.Identity ? " +identity" : "");
    }

    /// <summary>Small, odd shapes for the CPU simulator: Cout not a multiple of 4, non-square maps, batch > 1.</summary>
    public static TheoryData<string> CpuCases => new(CpuCaseTable.Keys);

    private static readonly Dictionary<string, Case> CpuCaseTable = new()
    {
        ["conv1-like 7x7/2"] = new(2, 3, 11, 9, 6, 7, 2, 3, Activation.Relu),
        ["3x3/1 leaky + conv bias + bn"] = new(3, 5, 7, 5, 7, 3, 1, 1, Activation.LeakyRelu, ConvBias: true),
        ["3x3/2"] = new(2, 4, 7, 5, 5, 3, 2, 1, Activation.Relu),
        ["1x1 bias only"] = new(2, 6, 5, 7, 9, 1, 1, 0, Activation.None, Bn: false, ConvBias: true),
        ["tiny map, one channel"] = new(1, 2, 3, 2, 1, 3, 1, 1, Activation.None),
        ["identity shortcut"] = new(2, 5, 7, 5, 5, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity),
        ["3x3/2, Cout 16 (whole wide tiles), leaky"] = new(2, 5, 9, 6, 16, 3, 2, 1, Activation.LeakyRelu),
        ["3x3/1 identity shortcut, Cout 13 (wide, padded)"] = new(2, 4, 6, 7, 13, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity),
        ["projection shortcut"] = new(2, 6, 4, 3, 6, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Projection, Cs: 3, Hs: 7, Ws: 5, Ss: 2),
    };

    [Theory]
    [MemberData(nameof(CpuCases))]
    public void Conv2D_Cpu_MatchesReference(string name) => Run(devices.Cpu, CpuCaseTable[name], seed: TestRandom.SeedOf(name));

    [Fact]
    public void ProjectionShortcut_Cpu_EqualsConv3x3PlusBnFolded1x1Stride2PlusAddRelu() =>
        Run(devices.Cpu, new(3, 4, 4, 4, 7, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Projection, Cs: 5, Hs: 8, Ws: 7, Ss: 2), seed: 5);

    /// <summary>The model's shapes (batch 1 where the float64 reference would be slow; batch > 1 is covered above).</summary>
    [OpenCLFact]
    public void Conv2D_OpenCL_ResNetShapes_MatchReference()
    {
        var cl = devices.OpenCL;
        Run(cl, new(2, 3, 192, 192, 64, 7, 2, 3, Activation.Relu), seed: 101);                                    // conv1 + bn1
        Run(cl, new(1, 64, 48, 48, 64, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity), seed: 102);        // layer1 conv2
        Run(cl, new(1, 64, 48, 48, 128, 3, 2, 1, Activation.Relu), seed: 103);                                   // layer2.0.conv1
        Run(cl, new(1, 128, 24, 24, 256, 3, 2, 1, Activation.Relu), seed: 106);                                  // layer3.0.conv1
        Run(cl, new(1, 256, 12, 12, 512, 3, 2, 1, Activation.Relu), seed: 104);                                  // layer4.0.conv1
        Run(cl, new(3, 19, 13, 11, 30, 3, 2, 1, Activation.LeakyRelu, Shortcut: Shortcut.None), seed: 107);      // odd, partial last group
        Run(cl, new(3, 256, 24, 24, 68, 1, 1, 0, Activation.None, Bn: false, ConvBias: true), seed: 105);       // heatmap 1x1
    }

    [OpenCLFact]
    public void ProjectionShortcut_OpenCL_EqualsConv3x3PlusBnFolded1x1Stride2PlusAddRelu()
    {
        var cl = devices.OpenCL;
        Run(cl, new(1, 128, 24, 24, 128, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Projection, Cs: 64, Hs: 48, Ws: 48, Ss: 2), seed: 111);
        Run(cl, new(1, 512, 6, 6, 512, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Projection, Cs: 256, Hs: 12, Ws: 12, Ss: 2), seed: 112);
    }

    /// <summary>A case's seeded inputs, its float64 reference output and launch parameters (shared with the Winograd tests).</summary>
    internal sealed record Prepared(Case Case, Shape4 OutShape, float[] Input, float[] Weight, BatchNorm? Bn, float[]? ConvBias,
        float[]? Shortcut, float[]? ProjWeight, BatchNorm? ProjBn, RefTensor Expected, ConvParams Params);

    internal static Prepared Prepare(Case c, int seed)
    {
        var rng = new TestRandom(seed);
        var xs = new Shape4(c.Batch, c.Cin, c.H, c.W);
        var x = rng.Gaussian(xs.Length);
        // He-like weight scale keeps activations O(1) whatever the fan-in.
        var w = rng.Gaussian((long)c.Cout * c.Cin * c.K * c.K, Math.Sqrt(2.0 / (c.Cin * c.K * c.K)));
        var bn = c.Bn ? rng.BatchNorm(c.Cout) : null;
        var convBias = c.ConvBias ? rng.Gaussian(c.Cout, 0.5) : null;

        // Reference: the layers as PyTorch runs them, one after another.
        var y = RefConv.Conv2d(x, xs, w, c.Cout, c.K, c.Stride, c.Pad, convBias, out var ys);
        if (bn is not null) y = RefConv.BatchNorm2d(y, ys, bn);

        float[]? shortcut = null, projWeight = null;
        BatchNorm? projBn = null;
        if (c.Shortcut == Shortcut.Identity)
        {
            shortcut = rng.Gaussian(ys.Length);
            var identity = new RefTensor(ys.Length);
            for (int i = 0; i < ys.Length; i++) identity.Set(i, shortcut[i], Math.Abs(shortcut[i]));
            y += identity;
        }
        else if (c.Shortcut == Shortcut.Projection)
        {
            var ss = new Shape4(c.Batch, c.Cs, c.Hs, c.Ws);
            shortcut = rng.Gaussian(ss.Length);
            projWeight = rng.Gaussian((long)c.Cout * c.Cs, Math.Sqrt(1.0 / c.Cs));
            projBn = rng.BatchNorm(c.Cout);
            var proj = RefConv.BatchNorm2d(RefConv.Conv2d(shortcut, ss, projWeight, c.Cout, 1, c.Ss, 0, null, out var ps), ps, projBn);
            Assert.Equal(ys, ps);
            y += proj;
        }
        y = RefActivation.Apply(y, c.Act);

        var p = new ConvParams
        {
            Batch = c.Batch, InChannels = c.Cin, InHeight = c.H, InWidth = c.W,
            OutChannels = c.Cout, OutHeight = ys.H, OutWidth = ys.W, Kernel = c.K, Stride = c.Stride, Pad = c.Pad,
            Activation = (int)c.Act,
            ShortcutMode = c.Shortcut switch
            {
                Shortcut.Identity => Convolution.ShortcutIdentity,
                Shortcut.Projection => Convolution.ShortcutProjection,
                _ => Convolution.ShortcutNone,
            },
            ShortcutChannels = c.Cs, ShortcutHeight = c.Hs, ShortcutWidth = c.Ws, ShortcutStride = c.Ss,
        };
        return new Prepared(c, ys, x, w, bn, convBias, shortcut, projWeight, projBn, y, p);
    }

    /// <summary>Conv2D, and Conv2DWide and Conv2DStrip where they apply (no projection; Wide: whole 16-channel tiles), on the same case.</summary>
    private static void Run(DeviceUnderTest device, Case c, int seed)
    {
        var t = Prepare(c, seed);
        var packed = Pack.Conv(t.Weight, c.Cout, c.Cin, c.K, t.Bn, t.ConvBias, t.ProjWeight, c.Cs, t.ProjBn);
        using var d = device.Begin();
        const int guard = 37;
        ArrayView<float> input = d.Upload(t.Input).View;
        ArrayView<float> weight = d.Upload(packed.Weight).View;
        ArrayView<float> bias = d.Upload(packed.Bias).View;
        ArrayView<float> shortcut = t.Shortcut is null ? d.Unused : d.Upload(t.Shortcut).View;
        var output = d.Poisoned(t.OutShape.Length + guard);
        d.Kernels.Conv2D(d.Stream, t.Params.Config(d.Kernels.GroupSize), input, weight, bias, shortcut,
            packed.ShortcutWeight is null ? d.Unused : d.Upload(packed.ShortcutWeight).View, output.View, t.Params);
        var got = d.Download(output);

        Expect.Close($"Conv2D {c} on {device.Description}", got, t.Expected, 1e-5, name: i => Where(t.OutShape, i));
        Expect.Untouched($"Conv2D {c}: past the output", got, i => i < t.OutShape.Length);

        if (Convolution.SupportsStrip(t.Params))
        {
            var strip = d.Poisoned(t.OutShape.Length + guard);
            d.Kernels.Conv2DStrip(d.Stream, d.Config(Convolution.StripThreadCount(t.Params)), input, weight, bias, shortcut, strip.View, t.Params);
            got = d.Download(strip);
            Expect.Close($"Conv2DStrip {c} on {device.Description}", got, t.Expected, 1e-5, name: i => Where(t.OutShape, i));
            Expect.Untouched($"Conv2DStrip {c}: past the output", got, i => i < t.OutShape.Length);
        }

        if (!Convolution.SupportsWide(t.Params)) return;
        var wide = d.Poisoned(t.OutShape.Length + guard);
        d.Kernels.Conv2DWide(d.Stream, d.Config(Convolution.WideThreadCount(t.Params)), input, weight, bias, shortcut, wide.View, t.Params);
        got = d.Download(wide);
        Expect.Close($"Conv2DWide {c} on {device.Description}", got, t.Expected, 1e-5, name: i => Where(t.OutShape, i));
        Expect.Untouched($"Conv2DWide {c}: past the output", got, i => i < t.OutShape.Length);
    }

    [Fact]
    public void SupportsWide_OnlyWhole16ChannelTilesWithoutProjection()
    {
        var p = Prepare(new(1, 4, 7, 5, 16, 3, 2, 1, Activation.Relu), 1).Params;
        Assert.True(Convolution.SupportsWide(p));
        Assert.True(Convolution.SupportsWide(p with { OutChannels = 9 }));   // padded to 16
        Assert.False(Convolution.SupportsWide(p with { OutChannels = 8 }));  // one 8-channel block
        Assert.False(Convolution.SupportsWide(p with { OutChannels = 68 })); // 9 blocks (the heatmap 1x1)
        Assert.True(Convolution.SupportsWide(p with { ShortcutMode = Convolution.ShortcutIdentity }));
        Assert.False(Convolution.SupportsWide(p with { ShortcutMode = Convolution.ShortcutProjection }));
    }

    internal static string Where(Shape4 s, int i) =>
        $"[n{i / (s.C * s.H * s.W)}, c{i / (s.H * s.W) % s.C}, y{i / s.W % s.H}, x{i % s.W}]";
}
