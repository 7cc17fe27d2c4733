using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// TransposedConvolution's two launches (DeconvPad, then Deconv4x4S2) against conv_transpose2d(k4, s2, p1) +
/// BatchNorm + activation in float64, and DeconvPad alone against the zero-bordered copy it must write.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class TransposedConvolutionKernelTests(KernelDevices devices)
{
    [Theory]
    [InlineData(2, 5, 3, 5, 6, Activation.Relu)]      // non-square, Cout not a multiple of 16; odd height and width
    [InlineData(3, 4, 7, 5, 3, Activation.None)]      // odd sizes, batch 3, no activation (signs kept)
    [InlineData(1, 3, 1, 1, 9, Activation.LeakyRelu)] // a single input pixel: every tap at the border, 3 of 4 positions past the map
    [InlineData(2, 3, 5, 3, 29, Activation.LeakyRelu)] // 2 blocks of 16, the last 13/16 used
    [InlineData(1, 6, 2, 7, 16, Activation.None)]      // one whole 16-channel block; even height, odd width
    [InlineData(2, 5, 3, 6, 18, Activation.Relu)]      // odd height, even width; 18 channels: a block and 2
    [InlineData(3, 2, 4, 14, 7, Activation.LeakyRelu)] // whole 2x2 blocks only; batch 3
    [InlineData(2, 7, 9, 11, 10, Activation.None)]     // odd both ways, 5 x 6 blocks
    public void Deconv4x4S2_Cpu_MatchesReference(int batch, int cin, int h, int w, int cout, Activation act) =>
        Run(devices.Cpu, batch, cin, h, w, cout, act, seed: 1000 + 97 * cin + h * 13 + w);

    [OpenCLFact]
    public void Deconv4x4S2_OpenCL_ModelShapes_MatchReference()
    {
        Run(devices.OpenCL, 2, 512, 6, 6, 256, Activation.Relu, seed: 2001);   // deconv_layers.0
        Run(devices.OpenCL, 1, 256, 12, 12, 256, Activation.Relu, seed: 2002); // deconv_layers.3
        Run(devices.OpenCL, 3, 7, 5, 9, 13, Activation.LeakyRelu, seed: 2003);  // odd shape, batch 3
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]   // one pixel: a 3x3 plane and a 4-float tail
    [InlineData(2, 3, 5, 7)]   // odd, non-square, batch 2
    [InlineData(3, 4, 6, 6)]   // batch 3
    [InlineData(2, 2, 9, 11)]  // planes of 143 floats: three groups of 64 threads a plane
    public void DeconvPad_Cpu_MatchesReference(int batch, int cin, int h, int w) =>
        RunPad(devices.Cpu, batch, cin, h, w, seed: 3000 + 31 * cin + 7 * h + w);

    [OpenCLFact]
    public void DeconvPad_OpenCL_MatchesReference()
    {
        RunPad(devices.OpenCL, 2, 512, 6, 6, seed: 3101);
        RunPad(devices.OpenCL, 3, 5, 7, 3, seed: 3102);
        RunPad(devices.OpenCL, 2, 256, 12, 12, seed: 3103); // deconv_layers.3's input: planes of 196 floats
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
        var p = new DeconvParams { Batch = batch, InChannels = cin, InHeight = h, InWidth = w, OutChannels = cout, Activation = (int)act };
        long paddedLength = p.PaddedLength;
        var padded = d.Poisoned(paddedLength + guard);
        var output = d.Poisoned(ys.Length + guard);
        d.Kernels.DeconvPad(d.Stream, p.PadConfig(d.Kernels.GroupSize), d.Upload(x).View, padded.View, p);
        d.Kernels.Deconv(d.Stream, p.Config(d.Kernels.DeconvGroupSize), padded.View, d.Upload(packed.Weight).View,
            d.Upload(packed.Bias).View, output.View, p);
        var got = d.Download(output);

        string what = $"Deconv4x4S2 (2 launches) [{batch},{cin},{h},{w}]->{cout} {act} on {device.Description}";
        Expect.Close(what, got, y, 1e-5, name: i => $"[n{i / (cout * ys.H * ys.W)}, c{i / (ys.H * ys.W) % cout}, y{i / ys.W % ys.H}, x{i % ys.W}]");
        Expect.Untouched(what + ": past the output", got, i => i < ys.Length);
        Expect.Untouched(what + ": past the padded input", d.Download(padded), i => i < paddedLength);
    }

    private static void RunPad(DeviceUnderTest device, int batch, int cin, int h, int w, int seed)
    {
        var rng = new TestRandom(seed);
        var x = rng.Gaussian(new Shape4(batch, cin, h, w).Length);
        var p = new DeconvParams { Batch = batch, InChannels = cin, InHeight = h, InWidth = w, OutChannels = 8 };
        int face = p.PaddedFace, hp = h + 2, wp = w + 2;

        // Reference: each face's channels as (h + 2) x (w + 2) planes with the input inside a zero border, then zeros.
        var expected = new double[batch * face];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < cin; c++)
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++)
                        expected[b * face + (c * hp + i + 1) * wp + j + 1] = x[((b * cin + c) * h + i) * w + j];
        Assert.Equal((long)cin * hp * wp + wp + 1, face);

        using var d = device.Begin();
        const int guard = 23;
        var padded = d.Poisoned(expected.Length + guard);
        d.Kernels.DeconvPad(d.Stream, p.PadConfig(d.Kernels.GroupSize), d.Upload(x).View, padded.View, p);
        var got = d.Download(padded);

        string what = $"DeconvPad [{batch},{cin},{h},{w}] on {device.Description}";
        // A copy: every float exact (the input's value or 0), the border and tail included.
        var wrong = Enumerable.Range(0, expected.Length).Where(i => got[i] != (float)expected[i]).ToList();
        Assert.True(wrong.Count == 0, $"{what}: {wrong.Count} of {expected.Length} floats wrong, first " +
            string.Join(", ", wrong.Take(6).Select(i => $"[n{i / face}, at {i % face}] = {got[i]:R}, expected {expected[i]:R}")));
        Expect.Untouched(what + ": past the padded input", got, i => i < expected.Length);
    }
}
