using TrgIlgpu.Backends;
using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// Both max-pool variants (<see cref="PoolKernel"/>: Pooling.MaxPool3x3S2 and Pooling.MaxPool3x3S2PerOutput, each with
/// its policy launch) against max_pool2d(3, 2, 1): exact, and the padding never wins. Whole 16-output runs of
/// MaxPool3x3S2 take PoolRow.Max16 (vector loads on OpenCL), runs cut by the row's end or needing column W (odd W) the
/// scalar path: the shapes hold both, in one row and across rows and planes.
/// </summary>
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
    [InlineData(2, 3, 5, 64, -0.5)] // 32 outputs: two whole runs, the second ending on the row's last column
    [InlineData(2, 2, 6, 65, 0.0)]  // 33 outputs: two whole runs, then one output that clamps column 65
    [InlineData(1, 3, 3, 63, 0.0)]  // 32 outputs, odd width: the second run needs column 63, so it is scalar
    [InlineData(2, 2, 4, 33, -3.0)] // 17 outputs: one whole run from column -1 (clamped) and one output
    [InlineData(1, 1, 1, 1, 2.0)]   // 1x1
    [InlineData(3, 1, 2, 3, -1.0)]  // 2x3
    public void MaxPool3x3S2_Cpu_MatchesReference(int batch, int channels, int h, int w, double mean) =>
        Run(devices.Cpu, batch, channels, h, w, mean, seed: 300 + 31 * h + w);

    [OpenCLFact]
    public void MaxPool3x3S2_OpenCL_ModelShape_MatchesReference() => Run(devices.OpenCL, 2, 64, 96, 96, -0.5, seed: 399);

    [OpenCLFact]
    public void MaxPool3x3S2_OpenCL_OddShape_MatchesReference() => Run(devices.OpenCL, 3, 5, 13, 41, -1.5, seed: 398);

    [OpenCLTheory]
    [InlineData(2, 3, 5, 64, -0.5)]
    [InlineData(2, 2, 6, 65, 0.0)]
    [InlineData(1, 3, 3, 63, 0.0)]
    [InlineData(2, 2, 4, 33, -3.0)]
    [InlineData(3, 2, 7, 99, 1.0)]  // 50 outputs: three whole runs and two outputs
    [InlineData(1, 1, 1, 1, 2.0)]
    [InlineData(3, 1, 2, 3, -1.0)]
    public void MaxPool3x3S2_OpenCL_RunShapes_MatchReference(int batch, int channels, int h, int w, double mean) =>
        Run(devices.OpenCL, batch, channels, h, w, mean, seed: 500 + 31 * h + w);

    /// <summary>
    /// A NaN never wins and a window of NaNs gives -inf; ties keep the first of the taps in the order rows then
    /// columns (-0 before +0 gives -0): the result bit for bit, on both paths (96 columns: whole runs; 41: a cut run).
    /// </summary>
    [Theory]
    [InlineData(96)]
    [InlineData(41)]
    public void MaxPool3x3S2_Cpu_NaNsAndSignedZeros_BitExact(int w) => RunSpecial(devices.Cpu, w);

    [OpenCLTheory]
    [InlineData(96)]
    [InlineData(41)]
    public void MaxPool3x3S2_OpenCL_NaNsAndSignedZeros_BitExact(int w) => RunSpecial(devices.OpenCL, w);

    private static void RunSpecial(DeviceUnderTest device, int w)
    {
        const int batch = 2, channels = 3, h = 9;
        var rng = new Random(700 + w);
        var xs = new Shape4(batch, channels, h, w);
        var x = new float[xs.Length];
        for (int i = 0; i < x.Length; i++)
            x[i] = rng.Next(8) switch
            {
                0 => float.NaN,
                1 => 0f,
                2 => -0f,
                3 => float.NegativeInfinity,
                _ => (float)(rng.NextDouble() * 2 - 1.5),
            };
        // Plane 0 wholly NaN (every window -inf), plane 1 NaN and zeros only (the sign of the first zero of a window).
        for (int i = 0; i < h * w; i++) x[i] = float.NaN;
        for (int i = h * w; i < 2 * h * w; i++) x[i] = rng.Next(3) switch { 0 => float.NaN, 1 => 0f, _ => -0f };

        int ho = (h - 1) / 2 + 1, wo = (w - 1) / 2 + 1;
        var expected = new float[batch * channels * ho * wo];
        for (int plane = 0; plane < batch * channels; plane++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++)
                {
                    float m = float.NegativeInfinity;
                    for (int iy = 2 * oy - 1; iy <= 2 * oy + 1; iy++)
                        for (int ix = 2 * ox - 1; ix <= 2 * ox + 1; ix++)
                        {
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            float v = x[(plane * h + iy) * w + ix];
                            if (v > m) m = v; // a NaN compares false; an equal value (+0 after -0) does not replace
                        }
                    expected[(plane * ho + oy) * wo + ox] = m;
                }

        foreach (var kernel in Enum.GetValues<PoolKernel>())
        {
            using var d = device.Begin();
            var output = d.Poisoned(expected.Length);
            var p = new PoolParams { Batch = batch, Channels = channels, InHeight = h, InWidth = w, OutHeight = ho, OutWidth = wo };
            Launch(d, kernel, p, d.Upload(x).View, output.View);
            var got = d.Download(output);
            var bad = Enumerable.Range(0, expected.Length)
                .Where(i => BitConverter.SingleToInt32Bits(got[i]) != BitConverter.SingleToInt32Bits(expected[i])).ToList();
            Assert.True(bad.Count == 0, $"{kernel} {xs} on {device.Description}: {bad.Count} of {expected.Length} outputs differ in bits, " +
                string.Join(", ", bad.Take(6).Select(i => $"[{i}] got {got[i]:R} ({BitConverter.SingleToInt32Bits(got[i]):X8}) expected {expected[i]:R}")));
        }
        Assert.Contains(expected, float.IsNegativeInfinity);
        Assert.Contains(expected, v => v == 0 && float.IsNegative(v));
    }

    private static void Run(DeviceUnderTest device, int batch, int channels, int h, int w, double mean, int seed)
    {
        var rng = new TestRandom(seed);
        var xs = new Shape4(batch, channels, h, w);
        var x = rng.Gaussian(xs.Length, 1, mean);
        var y = RefConv.MaxPool2d(x, xs, 3, 2, 1, out var ys);

        foreach (var kernel in Enum.GetValues<PoolKernel>())
        {
            using var d = device.Begin();
            const int guard = 17;
            var output = d.Poisoned(ys.Length + guard);
            var p = new PoolParams { Batch = batch, Channels = channels, InHeight = h, InWidth = w, OutHeight = ys.H, OutWidth = ys.W };
            Launch(d, kernel, p, d.Upload(x).View, output.View);
            var got = d.Download(output);

            string what = $"{kernel} {xs} on {device.Description}";
            Expect.Close(what, got, y, 0, name: i => $"[plane {i / (ys.H * ys.W)}, y{i / ys.W % ys.H}, x{i % ys.W}]");
            Expect.Untouched(what + ": past the output", got, i => i < ys.Length);
        }
    }

    /// <summary>Launches <paramref name="kernel"/> as a plan of a policy choosing it does (its launcher and launch shape).</summary>
    private static void Launch(DeviceScope d, PoolKernel kernel, PoolParams p, ILGPU.ArrayView<float> input, ILGPU.ArrayView<float> output)
    {
        var policy = d.Kernels.Policy with { Pool = kernel };
        d.Kernels.MaxPoolOf(kernel)(d.Stream, policy.PoolConfig(p, d.Kernels.GroupSize), input, output, p);
    }
}
