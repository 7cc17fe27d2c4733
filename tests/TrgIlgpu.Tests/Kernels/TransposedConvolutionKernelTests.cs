using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>TransposedConvolution.Deconv4x4S2 against conv_transpose2d(k4, s2, p1) + BatchNorm + ReLU in float64.</summary>
[Collection(KernelCollection.Name)]
public sealed class TransposedConvolutionKernelTests(KernelDevices devices)
{
    [Theory]
    [InlineData(2, 5, 3, 5, 6, Activation.Relu)]      // non-square, Cout not a multiple of 4
    [InlineData(3, 4, 7, 5, 3, Activation.None)]      // odd sizes, batch 3, no activation (signs kept)
    [InlineData(1, 3, 1, 1, 9, Activation.LeakyRelu)] // a single input pixel: every tap at the border
    [InlineData(2, 3, 5, 3, 29, Activation.LeakyRelu)] // 2 tiles of 16, the second 13/16 used (its upper half 5/8), odd map
    [InlineData(1, 6, 2, 7, 16, Activation.None)]      // one whole 16-channel tile
    [InlineData(2, 5, 3, 6, 18, Activation.Relu)]      // width 6: the last run of a row moved back over its neighbour's columns
    [InlineData(3, 2, 4, 4, 7, Activation.LeakyRelu)]  // width 4: one whole run a row; batch 3
    public void Deconv4x4S2_Cpu_MatchesReference(int batch, int cin, int h, int w, int cout, Activation act) =>
        Run(devices.Cpu, batch, cin, h, w, cout, act, seed: 1000 + 97 * cin + h * 13 + w);

    [OpenCLFact]
    public void Deconv4x4S2_OpenCL_ModelShapes_MatchReference()
    {
        Run(devices.OpenCL, 2, 512, 6, 6, 256, Activation.Relu, seed: 2001);   // deconv_layers.0
        Run(devices.OpenCL, 1, 256, 12, 12, 256, Activation.Relu, seed: 2002); // deconv_layers.3
    }

    private static void Run(DeviceUnderTest device, int batch, int cin, int h, int w, int cout, Activation act, int seed)
    {
        var rng = new TestRandom(seed);
        var xs = new Shape4(batch, cin, h, w);
        var x = rng.Gaussian(xs.Length);
        var weight = rng.Gaussian((long)cin * cout * 16, Math.Sqrt(2.0 / (cin * 4)));
        var bn = rng.BatchNorm(cout);

        var y = RefActivation.Apply(RefConv.BatchNorm2d(RefConv.ConvTranspose2d(x, xs, weight, cout, 4, 2, 1, out var ys), ys, bn), act);
        Assert.Equal(new Shape4(batch, cout, 2 * h, 2 * w), ys);

        var packed = Pack.Deconv(weight, cin, cout, bn);
        using var d = device.Begin();
        const int guard = 29;
        var output = d.Poisoned(ys.Length + guard);
        var p = new DeconvParams { Batch = batch, InChannels = cin, InHeight = h, InWidth = w, OutChannels = cout, Activation = (int)act };
        d.Kernels.Deconv(d.Stream, p.Config(d.Kernels.GroupSize), d.Upload(x).View, d.Upload(packed.Weight).View,
            d.Upload(packed.Bias).View, output.View, p);
        var got = d.Download(output);

        string what = $"Deconv4x4S2 [{batch},{cin},{h},{w}]->{cout} {act} on {device.Description}";
        Expect.Close(what, got, y, 1e-5, name: i => $"[n{i / (cout * ys.H * ys.W)}, c{i / (ys.H * ys.W) % cout}, y{i / ys.W % ys.H}, x{i % ys.W}]");
        Expect.Untouched(what + ": past the output", got, i => i < ys.Length);
    }
}
