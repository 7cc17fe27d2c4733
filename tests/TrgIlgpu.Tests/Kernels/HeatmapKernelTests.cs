using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>Heatmap.SoftArgmax against softmax + expected (column, row) / h * 2 - 1 in float64.</summary>
[Collection(KernelCollection.Name)]
public sealed class HeatmapKernelTests(KernelDevices devices)
{
    [Theory]
    [InlineData(2, 5, 7, 3.0, 1, 17, 4)]    // odd map, results rows with a stride and an offset
    [InlineData(3, 3, 4, 30.0, 0, 6, 0)]    // sharp peaks (logits up to ~100): needs the max subtraction
    [InlineData(1, 68, 5, 1.0, 2, 140, 3)]  // every landmark
    [InlineData(2, 3, 24, 2.0, 2, 7, 1)]    // TRGv2's maps: more columns than the CPU accelerator's group (cells in steps of 16)
    [InlineData(1, 2, 70, 2.0, 1, 5, 1)]    // more columns than Heatmap.MaxLanes
    [InlineData(3, 2, 1, 1.0, 0, 4, 0)]     // one cell, one lane
    public void SoftArgmax_Cpu_MatchesReference(int batch, int landmarks, int size, double spread, int peaked, int stride, int offset) =>
        Run(devices.Cpu, batch, landmarks, size, spread, peaked, stride, offset, seed: 500 + size * 7 + landmarks);

    [OpenCLFact]
    public void SoftArgmax_OpenCL_ModelShapes_MatchReference()
    {
        var layout = new TrgIlgpu.Kernels.ResultLayout { Iterations = 3 };
        Run(devices.OpenCL, 3, 68, 48, 4.0, 68, layout.Stride, layout.Landmarks, seed: 601); // TRG: 48x48 maps
        layout = new TrgIlgpu.Kernels.ResultLayout { Iterations = 2 };
        Run(devices.OpenCL, 2, 68, 24, 2.0, 0, layout.Stride, layout.Landmarks, seed: 602);  // TRGv2: 24x24 maps
    }

    /// <summary><paramref name="peaked"/> landmarks of each face get one cell raised far above the rest.</summary>
    private static void Run(DeviceUnderTest device, int batch, int landmarks, int size, double spread, int peaked, int stride, int offset, int seed)
    {
        Assert.True(offset + 2 * landmarks <= stride);
        var rng = new TestRandom(seed);
        int cells = size * size;
        var heat = rng.Gaussian((long)batch * landmarks * cells, spread);
        for (int b = 0; b < batch; b++)
            for (int l = 0; l < peaked; l++)
                heat[(b * landmarks + l) * cells + rng.Int(0, cells)] += (float)(3 * spread + 20);
        var expected = RefHeatmap.SoftArgmax(heat, batch, landmarks, size);

        using var d = device.Begin();
        var results = d.Poisoned((long)batch * stride + 5);
        d.Kernels.SoftArgmax(d.Stream, TrgIlgpu.Kernels.Heatmap.Config(batch * landmarks, size, d.Kernels.GroupSize), d.Upload(heat).View, results.View, batch, landmarks, size, stride, offset);
        var got = d.Download(results);

        int At(int i) => i / (2 * landmarks) * stride + offset + i % (2 * landmarks);
        string what = $"SoftArgmax [{batch},{landmarks},{size},{size}] on {device.Description}";
        Expect.Close(what, got, expected, 1e-5, at: At, name: i => $"[face {i / (2 * landmarks)}, landmark {i / 2 % landmarks}, {(i % 2 == 0 ? "x" : "y")}]");
        var written = Enumerable.Range(0, expected.Length).Select(At).ToHashSet();
        Expect.Untouched(what + ": outside the landmark slots", got, written.Contains);
    }
}
