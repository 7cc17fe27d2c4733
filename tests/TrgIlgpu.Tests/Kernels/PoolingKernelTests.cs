using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>Pooling.MaxPool3x3S2 against max_pool2d(3, 2, 1): exact, and the padding never wins.</summary>
[Collection(KernelCollection.Name)]
public sealed class PoolingKernelTests(KernelDevices devices)
{
    [Theory]
    [InlineData(2, 3, 7, 5, 0.0)]   // odd sizes
    [InlineData(3, 2, 6, 9, -4.0)]  // every value negative: a zero-padded max would be wrong at the borders
    [InlineData(1, 5, 1, 2, -1.0)]  // one row
    [InlineData(2, 3, 9, 16, -2.0)] // even width: the last window is cut by the edge; 8 outputs, two whole groups
    [InlineData(1, 2, 4, 11, 1.0)]  // 6 outputs a row
    [InlineData(3, 2, 7, 37, 0.5)]  // 19 outputs a row: a row longer than 16 and not a multiple of it, batch 3
    public void MaxPool3x3S2_Cpu_MatchesReference(int batch, int channels, int h, int w, double mean) =>
        Run(devices.Cpu, batch, channels, h, w, mean, seed: 300 + 31 * h + w);

    [OpenCLFact]
    public void MaxPool3x3S2_OpenCL_ModelShape_MatchesReference() => Run(devices.OpenCL, 2, 64, 96, 96, -0.5, seed: 399);

    [OpenCLFact]
    public void MaxPool3x3S2_OpenCL_OddShape_MatchesReference() => Run(devices.OpenCL, 3, 5, 13, 41, -1.5, seed: 398);

    private static void Run(DeviceUnderTest device, int batch, int channels, int h, int w, double mean, int seed)
    {
        var rng = new TestRandom(seed);
        var xs = new Shape4(batch, channels, h, w);
        var x = rng.Gaussian(xs.Length, 1, mean);
        var y = RefConv.MaxPool2d(x, xs, 3, 2, 1, out var ys);

        using var d = device.Begin();
        const int guard = 17;
        var output = d.Poisoned(ys.Length + guard);
        var p = new PoolParams { Batch = batch, Channels = channels, InHeight = h, InWidth = w, OutHeight = ys.H, OutWidth = ys.W };
        d.Kernels.MaxPool(d.Stream, Pooling.Config(p, d.Kernels.GroupSize), d.Upload(x).View, output.View, p);
        var got = d.Download(output);

        string what = $"MaxPool3x3S2 {xs} on {device.Description}";
        Expect.Close(what, got, y, 0, name: i => $"[plane {i / (ys.H * ys.W)}, y{i / ys.W % ys.H}, x{i % ys.W}]");
        Expect.Untouched(what + ": past the output", got, i => i < ys.Length);
    }
}
