using ILGPU;
using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;
using static TrgIlgpu.Tests.Kernels.ConvolutionKernelTests;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// PhaseConvolution at stride 2 (four phase planes), stride 1 (one zero-padded plane) and 1x1 (one plane: the input, or
/// its subsampled phase at stride 2, the projection shortcuts): PhaseSplit against the phase
/// planes written out from their definition (exact: it copies), and Conv2DPhase (from reference planes, and after
/// PhaseSplit as the plan runs them) against the float64 conv2d + BatchNorm (+ identity shortcut) + activation and
/// tolerance of the direct kernel, with the direct kernel's packing.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class PhaseConvolutionKernelTests(KernelDevices devices)
{
    public static TheoryData<string> CpuCases => new(CpuCaseTable.Keys);

    /// <summary>
    /// Small shapes for the CPU simulator, K = 3 and K = 7 at stride 2, K = 3 and K = 5 at stride 1: odd and even,
    /// non-square and one-row maps (a wide grid whose strips cross rows, taps into the padding on every side), Cout
    /// below and between multiples of 8, batch > 1, rows wider than a strip, identity shortcuts.
    /// </summary>
    private static readonly Dictionary<string, Case> CpuCaseTable = new()
    {
        ["3x3/2 7x5 map, batch 2, Cout 5"] = new(2, 4, 7, 5, 5, 3, 2, 1, Activation.Relu),
        ["3x3/2 8x6 map, batch 3, Cout 16, leaky + conv bias"] = new(3, 5, 8, 6, 16, 3, 2, 1, Activation.LeakyRelu, ConvBias: true),
        ["3x3/2 1x2 map, Cout 9"] = new(2, 3, 1, 2, 9, 3, 2, 1, Activation.None),
        ["3x3/2 9x11 map, identity shortcut, Cout 13"] = new(2, 6, 9, 11, 13, 3, 2, 1, Activation.Relu, Shortcut: Shortcut.Identity),
        ["7x7/2 11x9 map, batch 2, Cout 16"] = new(2, 3, 11, 9, 16, 7, 2, 3, Activation.Relu),
        ["7x7/2 5x6 map, 5 channels, Cout 14, no bn"] = new(1, 5, 5, 6, 14, 7, 2, 3, Activation.LeakyRelu, Bn: false, ConvBias: true),
        ["7x7/2 2x2 map, batch 3, Cout 9"] = new(3, 3, 2, 2, 9, 7, 2, 3, Activation.None),
        // Output rows of 19-20 columns: some strips lie inside one row (the epilogue's whole-strip store), others wrap.
        ["3x3/2 9x40 map, batch 2, Cout 10"] = new(2, 3, 9, 40, 10, 3, 2, 1, Activation.Relu),
        ["7x7/2 5x38 map, Cout 8, leaky"] = new(1, 3, 5, 38, 8, 7, 2, 3, Activation.LeakyRelu),
        // Output rows of 16 and 32 columns: strips follow the rows (PhaseConvolution.RowStrips), no halo column computed.
        ["7x7/2 7x32 map, batch 2, Cout 10, row strips"] = new(2, 3, 7, 32, 10, 7, 2, 3, Activation.Relu),
        ["3x3/2 5x64 map, Cout 9, leaky, row strips"] = new(1, 4, 5, 64, 9, 3, 2, 1, Activation.LeakyRelu, ConvBias: true),
        ["3x3/1 3x16 map, batch 2, identity shortcut, Cout 9, row strips"] = new(2, 5, 3, 16, 9, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity),
        ["3x3/1 6x6 map, batch 2, Cout 16"] = new(2, 7, 6, 6, 16, 3, 1, 1, Activation.Relu),
        ["3x3/1 5x7 map, batch 3, identity shortcut, Cout 11"] = new(3, 5, 5, 7, 11, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity),
        ["3x3/1 1x3 map, Cout 9, leaky + conv bias"] = new(2, 4, 1, 3, 9, 3, 1, 1, Activation.LeakyRelu, ConvBias: true),
        ["5x5/1 4x9 map, batch 2, Cout 13, no bn"] = new(2, 3, 4, 9, 13, 5, 1, 2, Activation.None, Bn: false, ConvBias: true),
        // Pointwise (1x1, one plane a channel): 35 and 45 positions (not whole strips), Cout not a multiple of 8; at stride 2
        // the subsampled input (odd and even maps), as the plan runs the projection shortcuts.
        ["1x1/1 7x5 map, batch 3, Cout 13"] = new(3, 6, 7, 5, 13, 1, 1, 0, Activation.None),
        ["1x1/1 5x9 map, batch 2, Cout 8, leaky + conv bias"] = new(2, 11, 5, 9, 8, 1, 1, 0, Activation.LeakyRelu, ConvBias: true),
        // Whole strips (32 and 48 positions): the input is its own plane (PhaseConvolution.InPlace).
        ["1x1/1 4x8 map, batch 3, Cout 11, in place"] = new(3, 7, 4, 8, 11, 1, 1, 0, Activation.Relu, ConvBias: true),
        ["1x1/1 3x16 map, batch 2, Cout 16, in place"] = new(2, 5, 3, 16, 16, 1, 1, 0, Activation.None),
        ["1x1/2 7x5 map, batch 2, Cout 11"] = new(2, 5, 7, 5, 11, 1, 2, 0, Activation.None),
        ["1x1/2 10x9 map, batch 3, Cout 16, no bn, relu"] = new(3, 4, 10, 9, 16, 1, 2, 0, Activation.Relu, Bn: false, ConvBias: true),
        ["1x1/2 1x2 map, Cout 5"] = new(2, 3, 1, 2, 5, 1, 2, 0, Activation.None),
    };

    public static TheoryData<string> SharedCases => new(SharedCaseTable.Keys);

    /// <summary>
    /// 1x1 stride-2 convolutions (the projection shortcuts) on the planes of a K x K stride-2 convolution of the same
    /// input (<see cref="ConvParams.PlaneKernel"/>): odd and even maps, one-row maps, batch > 1, Cout not a multiple of 8.
    /// </summary>
    private static readonly Dictionary<string, (Case Case, int PlaneKernel)> SharedCaseTable = new()
    {
        ["1x1/2 on 3x3 planes, 7x5 map, batch 2, Cout 11"] = (new(2, 5, 7, 5, 11, 1, 2, 0, Activation.None), 3),
        ["1x1/2 on 3x3 planes, 10x9 map, batch 3, Cout 16, no bn, relu"] = (new(3, 4, 10, 9, 16, 1, 2, 0, Activation.Relu, Bn: false, ConvBias: true), 3),
        ["1x1/2 on 3x3 planes, 1x2 map, Cout 5"] = (new(2, 3, 1, 2, 5, 1, 2, 0, Activation.None), 3),
        ["1x1/2 on 3x3 planes, 9x40 map, batch 2, Cout 10"] = (new(2, 3, 9, 40, 10, 1, 2, 0, Activation.LeakyRelu, ConvBias: true), 3),
        ["1x1/2 on 3x3 planes, 5x32 map, batch 2, Cout 9, row strips"] = (new(2, 3, 5, 32, 9, 1, 2, 0, Activation.None), 3),
        ["1x1/2 on 7x7 planes, 11x9 map, batch 2, Cout 9"] = (new(2, 3, 11, 9, 9, 1, 2, 0, Activation.None), 7),
        ["3x3/2 on 7x7 planes, 9x11 map, batch 2, Cout 13"] = (new(2, 4, 9, 11, 13, 3, 2, 1, Activation.Relu), 7),
    };

    [Theory]
    [MemberData(nameof(SharedCases))]
    public void Conv2DPhase_Cpu_OnAnotherConvolutionsPlanes_MatchesReference(string name)
    {
        var (c, k) = SharedCaseTable[name];
        RunConv(devices.Cpu, c, TestRandom.SeedOf(name), k);
        RunShared(devices.Cpu, c, TestRandom.SeedOf(name) + 1, k);
    }

    /// <summary>TRGv2's projection shortcuts (layer2.0-4.0) on their block's conv1 planes, and odd shapes, on PoCL.</summary>
    [OpenCLFact]
    public void Conv2DPhase_OpenCL_ProjectionOnConv1Planes_MatchesReference()
    {
        var cl = devices.OpenCL;
        RunShared(cl, new(2, 64, 48, 48, 128, 1, 2, 0, Activation.None), seed: 441, 3);     // layer2.0.conv2.projection
        RunShared(cl, new(1, 128, 24, 24, 256, 1, 2, 0, Activation.None), seed: 442, 3);    // layer3.0.conv2.projection
        RunShared(cl, new(3, 256, 12, 12, 512, 1, 2, 0, Activation.None), seed: 443, 3);    // layer4.0.conv2.projection
        RunShared(cl, new(3, 21, 13, 11, 29, 1, 2, 0, Activation.Relu, ConvBias: true), seed: 444, 3);
        RunConv(cl, new(2, 19, 13, 12, 30, 1, 2, 0, Activation.LeakyRelu), seed: 445, 3);
        RunSplit(cl, new(3, 19, 13, 11, 30, 1, 2, 0, Activation.Relu), seed: 446, 3);
    }

    [Fact]
    public void CanRead_SameInputAndStride_AtMostTheSplitsKernel()
    {
        var proj = Prepare(new(2, 5, 7, 5, 11, 1, 2, 0, Activation.None), 1).Params;
        var conv1 = proj with { Kernel = 3, Pad = 1, OutChannels = 13, Activation = (int)Activation.Relu };
        Assert.True(PhaseConvolution.CanRead(proj, conv1));
        Assert.Equal(PhaseConvolution.PlanesLength(conv1), PhaseConvolution.PlanesLength(proj with { PlaneKernel = 3 }));
        Assert.Equal(PhaseConvolution.ThreadCount(conv1) / conv1.ChannelBlocks, PhaseConvolution.ThreadCount(proj with { PlaneKernel = 3 }) / proj.ChannelBlocks);
        Assert.True(PhaseConvolution.CanRead(proj, conv1 with { Kernel = 7, Pad = 3 }));
        Assert.False(PhaseConvolution.CanRead(conv1, proj));                                   // a 3x3 on a 1x1's planes
        Assert.False(PhaseConvolution.CanRead(proj, conv1 with { InChannels = 6 }));
        Assert.False(PhaseConvolution.CanRead(proj, conv1 with { Batch = 3 }));
        Assert.False(PhaseConvolution.CanRead(proj, conv1 with { InWidth = 6, OutWidth = 3 }));
        Assert.False(PhaseConvolution.CanRead(proj with { Stride = 1, OutHeight = 7, OutWidth = 5 }, conv1));
        Assert.False(PhaseConvolution.CanRead(proj, conv1 with { PlaneKernel = 5 }));
        Assert.False(PhaseConvolution.CanRead(proj with { PlaneKernel = 3 }, conv1));
        Assert.False(PhaseConvolution.Supports(proj with { PlaneKernel = 2 }));
        Assert.False(PhaseConvolution.Supports(conv1 with { PlaneKernel = 1 }));
    }

    [Theory]
    [MemberData(nameof(CpuCases))]
    public void PhaseSplit_Cpu_MatchesPlaneDefinition(string name) => RunSplit(devices.Cpu, CpuCaseTable[name], TestRandom.SeedOf(name));

    [Theory]
    [MemberData(nameof(CpuCases))]
    public void Conv2DPhase_Cpu_MatchesReference(string name) => RunConv(devices.Cpu, CpuCaseTable[name], TestRandom.SeedOf(name));

    /// <summary>TRGv2's four stride-2 convolutions (conv1 at batch 2) and odd shapes for PoCL's partial last group.</summary>
    [OpenCLFact]
    public void Conv2DPhase_OpenCL_ModelShapes_MatchReference()
    {
        var cl = devices.OpenCL;
        RunConv(cl, new(2, 3, 192, 192, 64, 7, 2, 3, Activation.Relu), seed: 401);      // conv1 + bn1
        RunConv(cl, new(1, 64, 48, 48, 128, 3, 2, 1, Activation.Relu), seed: 402);      // layer2.0.conv1
        RunConv(cl, new(2, 128, 24, 24, 256, 3, 2, 1, Activation.Relu), seed: 403);     // layer3.0.conv1
        RunConv(cl, new(1, 256, 12, 12, 512, 3, 2, 1, Activation.Relu), seed: 404);     // layer4.0.conv1
        RunConv(cl, new(3, 19, 13, 11, 30, 3, 2, 1, Activation.LeakyRelu), seed: 405);  // odd, partial last group
        RunConv(cl, new(3, 3, 37, 23, 30, 7, 2, 3, Activation.LeakyRelu, ConvBias: true), seed: 406);
    }

    /// <summary>TRGv2's layer-4 3x3 stride-1 convolutions (bias + ReLU; + identity shortcut) at batch 1 and 3, and odd shapes.</summary>
    [OpenCLFact]
    public void Conv2DPhase_OpenCL_Stride1_MatchReference()
    {
        var cl = devices.OpenCL;
        RunConv(cl, new(1, 512, 6, 6, 512, 3, 1, 1, Activation.Relu), seed: 421);                                // layer4.1.conv1
        RunConv(cl, new(3, 512, 6, 6, 512, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity), seed: 422);   // layer4.1.conv2
        RunConv(cl, new(2, 19, 13, 11, 30, 3, 1, 1, Activation.LeakyRelu), seed: 423);                           // odd, partial last group
        RunConv(cl, new(3, 6, 7, 5, 21, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity), seed: 424);
        RunSplit(cl, new(3, 19, 13, 11, 30, 3, 1, 1, Activation.Relu), seed: 425);
    }

    /// <summary>
    /// TRGv2's 1x1 convolutions: heatmap.conv1x1 (256 -> 68 on 24x24) at batch 1 and 3, the projection shortcuts of
    /// layer2.0-4.0 (stride 2) at batch 2 and 1, and odd shapes (positions not whole strips, Cout not a multiple of 8).
    /// </summary>
    [OpenCLFact]
    public void Conv2DPhase_OpenCL_Pointwise_MatchReference()
    {
        var cl = devices.OpenCL;
        RunConv(cl, new(1, 256, 24, 24, 68, 1, 1, 0, Activation.None, ConvBias: true), seed: 431);    // heatmap.conv1x1
        RunConv(cl, new(3, 256, 24, 24, 68, 1, 1, 0, Activation.None, ConvBias: true), seed: 432);
        RunConv(cl, new(2, 64, 48, 48, 128, 1, 2, 0, Activation.None), seed: 433);                     // layer2.0.downsample
        RunConv(cl, new(1, 128, 24, 24, 256, 1, 2, 0, Activation.None), seed: 434);                    // layer3.0.downsample
        RunConv(cl, new(2, 256, 12, 12, 512, 1, 2, 0, Activation.None), seed: 435);                    // layer4.0.downsample
        RunConv(cl, new(3, 19, 13, 11, 30, 1, 1, 0, Activation.LeakyRelu), seed: 436);
        RunConv(cl, new(2, 21, 13, 11, 29, 1, 2, 0, Activation.Relu, ConvBias: true), seed: 437);
        RunSplit(cl, new(3, 19, 13, 11, 30, 1, 2, 0, Activation.Relu), seed: 438);
    }

    [OpenCLFact]
    public void PhaseSplit_OpenCL_MatchesPlaneDefinition()
    {
        var cl = devices.OpenCL;
        RunSplit(cl, new(2, 3, 37, 23, 30, 7, 2, 3, Activation.Relu), seed: 411);
        RunSplit(cl, new(3, 19, 13, 11, 30, 3, 2, 1, Activation.Relu), seed: 412);
    }

    [Fact]
    public void Supports_OddKernelsAtStride1Or2WithHalfKernelPaddingAndNoProjection()
    {
        var p = Prepare(new(1, 4, 7, 5, 5, 3, 2, 1, Activation.Relu), 1).Params;
        Assert.True(PhaseConvolution.Supports(p));
        Assert.True(PhaseConvolution.Supports(p with { Kernel = 7, Pad = 3 }));
        Assert.True(PhaseConvolution.Supports(p with { ShortcutMode = Convolution.ShortcutIdentity }));
        Assert.False(PhaseConvolution.Supports(p with { ShortcutMode = Convolution.ShortcutProjection }));
        Assert.True(PhaseConvolution.Supports(p with { Stride = 1 }));
        Assert.False(PhaseConvolution.Supports(p with { Stride = 1, ShortcutMode = Convolution.ShortcutProjection }));
        Assert.False(PhaseConvolution.Supports(p with { Stride = 3 }));
        Assert.False(PhaseConvolution.Supports(p with { Pad = 0 }));         // TF 'valid' / 'same' starting at the input
        Assert.False(PhaseConvolution.Supports(p with { Kernel = 4, Pad = 2 }));
        Assert.True(PhaseConvolution.Supports(p with { Kernel = 1, Pad = 0 }));           // pointwise: one phase plane a channel
        Assert.True(PhaseConvolution.Supports(p with { Kernel = 1, Pad = 0, Stride = 1 }));
        Assert.False(PhaseConvolution.Supports(p with { Kernel = 1, Pad = 1 }));
        Assert.Equal(1, PhaseConvolution.Phases(p with { Kernel = 1, Pad = 0 }));
        Assert.Equal(4, PhaseConvolution.Phases(p));
        Assert.True(PhaseConvolution.Supports(p with { Batch = PhaseConvolution.MaxPlanes / 16 }));      // 4 channels x 4 phases
        Assert.False(PhaseConvolution.Supports(p with { Batch = PhaseConvolution.MaxPlanes / 16 + 1 })); // past the launch's Y extent
        Assert.True(PhaseConvolution.Supports(p with { Stride = 1, Batch = PhaseConvolution.MaxPlanes / 4 }));    // one plane a channel
        Assert.False(PhaseConvolution.Supports(p with { Stride = 1, Batch = PhaseConvolution.MaxPlanes / 4 + 1 }));
    }

    /// <summary>
    /// The planes from their definition: plane (r, s)[a][x] = input[S a + r - P][S x + s - P], 0 outside, 0 in the tail;
    /// for a 1x1 kernel plane (0, 0) only (the one its tap reads).
    /// </summary>
    private static RefTensor Planes(float[] input, ConvParams p)
    {
        int stride = PhaseConvolution.PlaneStride(p), pw = PhaseConvolution.PlaneWidth(p), ph = PhaseConvolution.PlaneHeight(p), st = p.Stride;
        int kernel = p.PlaneKernel > 0 ? p.PlaneKernel : p.Kernel, pad = kernel / 2;
        int phases = kernel == 1 ? 1 : st; // per axis
        var planes = new RefTensor(checked((int)PhaseConvolution.PlanesLength(p)));
        for (int bc = 0; bc < p.Batch * p.InChannels; bc++)
            for (int r = 0; r < phases; r++)
                for (int s = 0; s < phases; s++)
                    for (int a = 0; a < ph; a++)
                        for (int x = 0; x < pw; x++)
                        {
                            int iy = st * a + r - pad, ix = st * x + s - pad;
                            double v = iy >= 0 && iy < p.InHeight && ix >= 0 && ix < p.InWidth ? input[(bc * p.InHeight + iy) * p.InWidth + ix] : 0;
                            planes.Set((bc * phases * phases + phases * r + s) * stride + a * pw + x, v, Math.Abs(v));
                        }
        return planes;
    }

    private static void RunSplit(DeviceUnderTest device, Case c, int seed, int planeKernel = 0)
    {
        var t = Prepare(c, seed);
        var p = t.Params with { PlaneKernel = planeKernel };
        Assert.True(PhaseConvolution.Supports(p), $"{c}: not a phase-split convolution");
        var expected = Planes(t.Input, p);
        using var d = device.Begin();
        const int guard = 37;
        var planes = d.Poisoned(expected.Length + guard);
        d.Kernels.PhaseSplit(d.Stream, PhaseConvolution.SplitConfig(p, d.Kernels.GroupSize), d.Upload(t.Input).View, planes.View, p);
        var got = d.Download(planes);
        Expect.Close($"PhaseSplit {c} on {device.Description}", got, expected, 0);
        Expect.Untouched($"PhaseSplit {c}: past the planes", got, i => i < expected.Length);
    }

    /// <summary>Conv2DPhase from the reference planes, then PhaseSplit + Conv2DPhase from the input (as the plan launches them).</summary>
    private static void RunConv(DeviceUnderTest device, Case c, int seed, int planeKernel = 0)
    {
        var t = Prepare(c, seed);
        var p = t.Params with { PlaneKernel = planeKernel };
        Assert.True(PhaseConvolution.Supports(p), $"{c}: not a phase-split convolution");
        var packed = Pack.Conv(t.Weight, c.Cout, c.Cin, c.K, t.Bn, t.ConvBias, t.ProjWeight, c.Cs, t.ProjBn);
        var reference = Planes(t.Input, p).Value.Select(v => (float)v).ToArray();
        using var d = device.Begin();
        const int guard = 37;
        ArrayView<float> weight = d.Upload(packed.Weight).View, bias = d.Upload(packed.Bias).View;
        ArrayView<float> shortcut = t.Shortcut is null ? d.Unused : d.Upload(t.Shortcut).View;

        var output = d.Poisoned(t.OutShape.Length + guard);
        d.Kernels.Conv2DPhase(d.Stream, d.Config(PhaseConvolution.ThreadCount(p)), d.Upload(reference).View, weight, bias, shortcut, output.View, p);
        var got = d.Download(output);
        Expect.Close($"Conv2DPhase {c} on {device.Description}", got, t.Expected, 1e-5, name: i => Where(t.OutShape, i));
        Expect.Untouched($"Conv2DPhase {c}: past the output", got, i => i < t.OutShape.Length);

        var planes = d.Poisoned(PhaseConvolution.PlanesLength(p));
        output = d.Poisoned(t.OutShape.Length + guard);
        d.Kernels.PhaseSplit(d.Stream, PhaseConvolution.SplitConfig(p, d.Kernels.GroupSize), d.Upload(t.Input).View, planes.View, p);
        d.Kernels.Conv2DPhase(d.Stream, d.Config(PhaseConvolution.ThreadCount(p)), planes.View, weight, bias, shortcut, output.View, p);
        got = d.Download(output);
        Expect.Close($"PhaseSplit + Conv2DPhase {c} on {device.Description}", got, t.Expected, 1e-5, name: i => Where(t.OutShape, i));
        Expect.Untouched($"PhaseSplit + Conv2DPhase {c}: past the output", got, i => i < t.OutShape.Length);

        Assert.Equal(c.K == 1 && c.Stride == 1 && t.OutShape.Length / (c.Batch * c.Cout) % 16 == 0, PhaseConvolution.InPlace(p));
        if (!PhaseConvolution.InPlace(p)) return;
        // As the plan runs it: straight from the input (exactly as long as the planes), no split.
        Assert.Equal(t.Input.Length, PhaseConvolution.PlanesLength(p));
        output = d.Poisoned(t.OutShape.Length + guard);
        d.Kernels.Conv2DPhase(d.Stream, d.Config(PhaseConvolution.ThreadCount(p)), d.Upload(t.Input).View, weight, bias, shortcut, output.View, p);
        got = d.Download(output);
        Expect.Close($"Conv2DPhase in place {c} on {device.Description}", got, t.Expected, 1e-5, name: i => Where(t.OutShape, i));
        Expect.Untouched($"Conv2DPhase in place {c}: past the output", got, i => i < t.OutShape.Length);
    }

    /// <summary>
    /// As the plan runs a projection shortcut: PhaseSplit for the K x K stride-2 convolution of the same input (its
    /// <paramref name="planeKernel"/>, padding K/2, its own output channels), then Conv2DPhase of the 1x1 (or smaller)
    /// convolution <paramref name="c"/> reading those planes, against <paramref name="c"/>'s float64 reference.
    /// </summary>
    private static void RunShared(DeviceUnderTest device, Case c, int seed, int planeKernel)
    {
        var t = Prepare(c, seed);
        var split = t.Params with { Kernel = planeKernel, Pad = planeKernel / 2, OutChannels = c.Cout + 3, Activation = (int)Activation.Relu };
        Assert.True(PhaseConvolution.CanRead(t.Params, split), $"{c}: cannot read the planes of a {planeKernel}x{planeKernel} split");
        var p = t.Params with { PlaneKernel = planeKernel };
        var packed = Pack.Conv(t.Weight, c.Cout, c.Cin, c.K, t.Bn, t.ConvBias, t.ProjWeight, c.Cs, t.ProjBn);
        using var d = device.Begin();
        const int guard = 37;
        var planes = d.Poisoned(PhaseConvolution.PlanesLength(split));
        d.Kernels.PhaseSplit(d.Stream, PhaseConvolution.SplitConfig(split, d.Kernels.GroupSize), d.Upload(t.Input).View, planes.View, split);
        var output = d.Poisoned(t.OutShape.Length + guard);
        d.Kernels.Conv2DPhase(d.Stream, d.Config(PhaseConvolution.ThreadCount(p)), planes.View, d.Upload(packed.Weight).View, d.Upload(packed.Bias).View,
            d.Unused, output.View, p);
        var got = d.Download(output);
        Expect.Close($"Conv2DPhase on {planeKernel}x{planeKernel} planes {c} on {device.Description}", got, t.Expected, 1e-5, name: i => Where(t.OutShape, i));
        Expect.Untouched($"Conv2DPhase on {planeKernel}x{planeKernel} planes {c}: past the output", got, i => i < t.OutShape.Length);
    }
}
