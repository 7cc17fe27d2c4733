using TrgIlgpu.Engine;
using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// The face networks' general convolutions on the existing Convolution.Conv2D / Conv2DWide (HWIO weights packed by
/// FacePacking.Conv, ConvParams.Pad = TF's pad-before, TF's output size) against TF conv2d 'same' / 'valid' + bias +
/// activation in float64; and their 256 -> 136 dense layer on Linear.Dense.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class FaceConvolutionKernelTests(KernelDevices devices)
{
    public sealed record Case(int Batch, int Cin, int H, int W, int Cout, int K, int Stride, bool Same, Activation Act)
    {
        public override string ToString() => $"[{Batch},{Cin},{H},{W}] {K}x{K}/{Stride} {(Same ? "same" : "valid")} ->{Cout} {Act}";
    }

    public static TheoryData<int> CpuCases => new(Enumerable.Range(0, Cpu.Length));

    private static readonly Case[] Cpu =
    [
        new(2, 3, 8, 8, 16, 3, 2, true, Activation.Relu6),       // even map, stride 2: pad 0 before (wide: 16 channels)
        new(3, 3, 9, 7, 10, 3, 2, true, Activation.Relu),        // odd map, stride 2: pad 1 before
        new(2, 3, 9, 11, 6, 3, 1, false, Activation.LeakyRelu01), // tiny conv0: 'valid'
        new(2, 5, 4, 4, 32, 3, 2, true, Activation.Relu6),        // SSD Prediction conv_k shape, smaller
        new(2, 7, 2, 2, 9, 3, 2, true, Activation.Relu6),         // 2x2 -> 1x1 (SSD's last prediction conv)
    ];

    [Theory]
    [MemberData(nameof(CpuCases))]
    public void Conv2D_Cpu_TfPadding_MatchesReference(int i) => Run(devices.Cpu, Cpu[i], seed: 1700 + i);

    [OpenCLFact]
    public void Conv2D_OpenCL_NetworkShapes_MatchReference()
    {
        var cl = devices.OpenCL;
        Run(cl, new(2, 3, 512, 512, 32, 3, 2, true, Activation.Relu6), seed: 1750);      // SSD conv_0
        Run(cl, new(2, 3, 112, 112, 32, 3, 2, true, Activation.Relu), seed: 1751);       // landmark dense0.conv0
        Run(cl, new(2, 3, 416, 416, 16, 3, 1, false, Activation.LeakyRelu01), seed: 1752); // tiny conv0
        Run(cl, new(2, 256, 16, 16, 512, 3, 2, true, Activation.Relu6), seed: 1753);     // SSD Prediction conv_1
        Run(cl, new(2, 64, 2, 2, 128, 3, 2, true, Activation.Relu6), seed: 1754);        // SSD Prediction conv_7
    }

    private static void Run(DeviceUnderTest device, Case c, int seed)
    {
        var rng = new TestRandom(seed);
        var xs = new Shape4(c.Batch, c.Cin, c.H, c.W);
        var x = rng.Gaussian(xs.Length);
        var filter = rng.Gaussian((long)c.K * c.K * c.Cin * c.Cout, Math.Sqrt(2.0 / (c.K * c.K * c.Cin)));
        var bias = rng.Gaussian(c.Cout, 0.5);
        var y = RefActivation.Apply(RefTf.Conv2d(RefTf.Exact(x), xs, filter, c.K, c.Cout, c.Stride, c.Same, bias, out var ys), c.Act);

        var mode = c.Same ? TfPaddingMode.Same : TfPaddingMode.Valid;
        var packed = FacePacking.Conv("test", filter, c.K, c.Cin, c.Cout, bias);
        var p = new ConvParams
        {
            Batch = c.Batch, InChannels = c.Cin, InHeight = c.H, InWidth = c.W, OutChannels = c.Cout,
            OutHeight = TfPadding.Output(c.H, c.K, c.Stride, mode), OutWidth = TfPadding.Output(c.W, c.K, c.Stride, mode),
            Kernel = c.K, Stride = c.Stride, Pad = TfPadding.Before(c.H, c.K, c.Stride, mode), Activation = (int)c.Act,
        };
        Assert.Equal(p.Pad, TfPadding.Before(c.W, c.K, c.Stride, mode)); // ConvParams has one Pad: the maps are square or agree
        Assert.Equal((ys.H, ys.W), (p.OutHeight, p.OutWidth));
        using var d = device.Begin();
        const int guard = 29;
        var input = d.Upload(x).View;
        var weight = d.Upload(packed.Weight).View;
        var biasView = d.Upload(packed.Bias).View;
        var output = d.Poisoned(ys.Length + guard);
        d.Kernels.Conv2D(d.Stream, p.Config(d.Kernels.GroupSize), input, weight, biasView, d.Unused, d.Unused, output.View, p);
        var got = d.Download(output);
        Expect.Close($"Conv2D {c} on {device.Description}", got, y, 1e-5, name: i => ConvolutionKernelTests.Where(ys, i));
        Expect.Untouched($"Conv2D {c}: past the output", got, i => i < ys.Length);

        if (!Convolution.SupportsWide(p)) return;
        var wide = d.Poisoned(ys.Length + guard);
        d.Kernels.Conv2DWide(d.Stream, d.Config(Convolution.WideThreadCount(p)), input, weight, biasView, d.Unused, wide.View, p);
        got = d.Download(wide);
        Expect.Close($"Conv2DWide {c} on {device.Description}", got, y, 1e-5, name: i => ConvolutionKernelTests.Where(ys, i));
        Expect.Untouched($"Conv2DWide {c}: past the output", got, i => i < ys.Length);
    }

    [Fact]
    public void Dense_Cpu_TfLayout_MatchesReference() => RunDense(devices.Cpu, 3, 13, 11, seed: 1800);

    /// <summary>FaceLandmark68Net's fc: 256 -> 136.</summary>
    [OpenCLFact]
    public void Dense_OpenCL_LandmarkFc_MatchesReference() => RunDense(devices.OpenCL, 5, 256, 136, seed: 1850);

    private static void RunDense(DeviceUnderTest device, int batch, int ins, int outs, int seed)
    {
        var rng = new TestRandom(seed);
        var x = rng.Gaussian((long)batch * ins);
        var io = rng.Gaussian((long)ins * outs, Math.Sqrt(1.0 / ins));
        var bias = rng.Gaussian(outs, 0.3);
        var y = RefTf.Dense(RefTf.Exact(x), batch, io, ins, outs, bias);

        var packed = FacePacking.Dense("fc", io, ins, outs, bias);
        var p = new LinearParams { Batch = batch, In = ins, Out = outs, InStride = ins, OutStride = outs };
        using var d = device.Begin();
        var output = d.Poisoned((long)batch * outs + 5);
        d.Kernels.Dense(d.Stream, d.Config(p.ThreadCount), d.Upload(x).View, d.Upload(packed.Weight).View, d.Upload(packed.Bias).View, output.View, p);
        var got = d.Download(output);
        string what = $"Dense [{batch},{ins}]->{outs} (TF [in, out]) on {device.Description}";
        Expect.Close(what, got, y, 1e-5, name: i => $"[row {i / outs}, o{i % outs}]");
        Expect.Untouched(what + ": past the output", got, i => i < batch * outs);
    }
}
