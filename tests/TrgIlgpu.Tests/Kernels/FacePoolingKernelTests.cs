using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>FacePooling.MaxPool2x2 against TF maxPool 2x2 'same' (exact) and GlobalAvgPool against avgPool 7x7/2 'valid' on relu(x).</summary>
[Collection(KernelCollection.Name)]
public sealed class FacePoolingKernelTests(KernelDevices devices)
{
    [Theory]
    [InlineData(2, 3, 7, 5, 2, -3.0)]  // odd sizes: the last window is cut by the edge; every value negative (zero padding would win)
    [InlineData(3, 2, 6, 8, 2, 0.0)]   // even sizes: whole windows
    [InlineData(2, 4, 5, 6, 1, -2.0)]  // stride 1: the last row and column see one tap in that direction
    [InlineData(1, 2, 1, 3, 2, 0.5)]   // one row
    public void MaxPool2x2_Cpu_MatchesReference(int batch, int channels, int h, int w, int stride, double mean) =>
        RunMax(devices.Cpu, batch, channels, h, w, stride, mean, seed: 1500 + 17 * h + w + stride);

    /// <summary>Tiny Face Detector: 414x414x16 stride 2 (after its 'valid' conv0), 207 -> 104, and the stride-1 pool at 13x13x256.</summary>
    [OpenCLFact]
    public void MaxPool2x2_OpenCL_NetworkShapes_MatchReference()
    {
        RunMax(devices.OpenCL, 2, 16, 414, 414, 2, -0.5, seed: 1550);
        RunMax(devices.OpenCL, 2, 32, 207, 207, 2, -0.5, seed: 1551);
        RunMax(devices.OpenCL, 2, 256, 13, 13, 1, -0.5, seed: 1552);
    }

    private static void RunMax(DeviceUnderTest device, int batch, int channels, int h, int w, int stride, double mean, int seed)
    {
        var rng = new TestRandom(seed);
        var xs = new Shape4(batch, channels, h, w);
        var x = rng.Gaussian(xs.Length, 1, mean);
        var y = RefTf.MaxPool(x, xs, 2, stride, same: true, out var ys);

        var p = new MaxPool2x2Params
        {
            Batch = batch, Channels = channels, InHeight = h, InWidth = w, Stride = stride,
            OutHeight = TfPadding.Output(h, 2, stride, TfPaddingMode.Same), OutWidth = TfPadding.Output(w, 2, stride, TfPaddingMode.Same),
        };
        Assert.Equal((ys.H, ys.W), (p.OutHeight, p.OutWidth));
        using var d = device.Begin();
        const int guard = 17;
        var output = d.Poisoned(ys.Length + guard);
        d.Kernels.MaxPool2x2(d.Stream, d.Config(p.ThreadCount), d.Upload(x).View, output.View, p);
        var got = d.Download(output);
        string what = $"MaxPool2x2 {xs}/{stride} on {device.Description}";
        Expect.Close(what, got, y, 0, name: i => ConvolutionKernelTests.Where(ys, i));
        Expect.Untouched(what + ": past the output", got, i => i < ys.Length);
    }

    [Theory]
    [InlineData(3, 5, ReadActivation.Relu)]
    [InlineData(2, 9, ReadActivation.None)]
    public void GlobalAvgPool_Cpu_7x7_EqualsAvgPool7x7S2Valid(int batch, int channels, ReadActivation inputAct) =>
        RunAvg(devices.Cpu, batch, channels, inputAct, seed: 1600 + channels);

    /// <summary>FaceLandmark68Net's last map: [B, 256, 7, 7] -> [B, 256], ReLU on read.</summary>
    [OpenCLFact]
    public void GlobalAvgPool_OpenCL_LandmarkShape_MatchesReference() => RunAvg(devices.OpenCL, 3, 256, ReadActivation.Relu, seed: 1650);

    private static void RunAvg(DeviceUnderTest device, int batch, int channels, ReadActivation inputAct, int seed)
    {
        var rng = new TestRandom(seed);
        var xs = new Shape4(batch, channels, 7, 7);
        var x = rng.Gaussian(xs.Length, 1, 0.2);
        var y = RefTf.AvgPoolValid(RefActivation.Apply(RefTf.Exact(x), inputAct == ReadActivation.Relu ? Activation.Relu : Activation.None), xs, 7, 2, out var ys);
        Assert.Equal((1, 1), (ys.H, ys.W));

        var p = new GlobalPoolParams { Batch = batch, Channels = channels, Height = 7, Width = 7, InputActivation = inputAct };
        using var d = device.Begin();
        const int guard = 9;
        var output = d.Poisoned(ys.Length + guard);
        d.Kernels.GlobalAvgPool(d.Stream, d.Config(p.ThreadCount), d.Upload(x).View, output.View, p);
        var got = d.Download(output);
        string what = $"GlobalAvgPool {xs} in:{inputAct} on {device.Description}";
        Expect.Close(what, got, y, 1e-6, name: i => $"[n{i / channels}, c{i % channels}]");
        Expect.Untouched(what + ": past the output", got, i => i < ys.Length);
    }
}
