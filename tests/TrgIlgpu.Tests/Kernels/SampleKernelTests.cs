using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// PointFeatures.Sample against float64 sampling points (grid, or mesh points projected with rot6d -> R, T and the
/// crop camera), grid_sample(align_corners=True, zeros), and the regressor input's tail.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class SampleKernelTests(KernelDevices devices)
{
    /// <summary>Grid coordinates that probe the border handling: exactly on it, just inside/outside, far outside.</summary>
    private static readonly float[] Probes = [-1f, 1f, 0f, -1.0001f, 1.0001f, -1.3f, 1.25f, -2.1f, 3f, 5f, -7.5f, 1e6f, -1e30f, 0.99999f, -0.99999f];

    [Fact]
    public void Sample_Cpu_FirstIteration_GridWithBorderAndFarPoints_MatchesReference()
    {
        var rng = new TestRandom(71);
        const int points = 307; // at least the 305 tail rows; not a multiple of 4
        var grid = new float[2 * points];
        for (int n = 0; n < points; n++)
        {
            grid[n] = (float)rng.Uniform(-1.2, 1.2);
            grid[points + n] = (float)rng.Uniform(-1.2, 1.2);
        }
        // Every probe against every other in the first points (x probe, y probe), the rest random.
        int k = 0;
        foreach (var px in Probes)
            foreach (var py in new[] { Probes[k % Probes.Length], (float)rng.Uniform(-1, 1) })
            {
                grid[k] = px;
                grid[points + k] = py;
                k++;
            }
        var faces = new[] { TestScenes.Face(37, 29, -5.5f, 2.25f, 30f, 70f), TestScenes.Face(640, 480, 200.5f, 150.25f, 140f) };
        Run(devices.Cpu, rng, faces, channels: 3, mapSize: 5, points, iteration: 0, iterations: 2, grid);
    }

    [Theory]
    [InlineData(1, 2, 7)]
    [InlineData(2, 3, 6)]
    public void Sample_Cpu_LaterIteration_ProjectedMeshPoints_MatchReference(int iteration, int iterations, int mapSize)
    {
        var rng = new TestRandom(80 + iteration);
        var faces = new[]
        {
            TestScenes.Face(640, 480, 200.5f, 150.25f, 140f),  // points inside the crop
            TestScenes.Face(321, 257, -30.5f, 100f, 90.5f),    // box past the image edge; points straddle the crop border
            TestScenes.Face(640, 480, 10f, 20f, 200f, 5000f), // far outside: ox pushes the face off the crop
        };
        var poses = new[] { TestScenes.Pose(rng, 1.0, 0.1, -0.2), TestScenes.Pose(rng, 0.9, 4.2, 3.5), TestScenes.Pose(rng, 1.1, 40, -25) };
        var pixels = Run(devices.Cpu, rng, faces, channels: 2, mapSize, points: 305, iteration, iterations, grid: null, poses);

        // The scene exercises what it claims: points inside the map, within one cell outside it, and far outside.
        var x = pixels.Select(u => u / 192 * (mapSize - 1)).ToArray();
        Assert.Contains(x, v => v >= 0 && v <= mapSize - 1);
        Assert.Contains(x, v => v > mapSize - 1 && v < mapSize);
        Assert.Contains(x, v => v > 3 * mapSize);
    }

    [OpenCLFact]
    public void Sample_OpenCL_ModelShapes_MatchReference()
    {
        var rng = new TestRandom(90);
        // points_grid as MODEL_SPEC 4a defines it: point n = (g[n / 18], g[n % 18]), g = linspace(-1, 1, 18).
        var grid = new float[2 * 324];
        for (int n = 0; n < 324; n++)
        {
            grid[n] = (float)(-1 + 2.0 * (n / 18) / 17);
            grid[324 + n] = (float)(-1 + 2.0 * (n % 18) / 17);
        }
        var faces = new[]
        {
            TestScenes.Face(640, 480, 153f, 49f, 142f), TestScenes.Face(640, 480, -20f, 300.5f, 210f, principalX: 320f, principalY: 240f), TestScenes.Face(1280, 720, 700.25f, 90.5f, 95.5f),
        };
        Run(devices.OpenCL, rng, faces, channels: 256, mapSize: 24, points: 324, iteration: 0, iterations: 2, grid);   // TRGv2 iteration 0
        var poses = new[] { TestScenes.Pose(rng, 1.0, 0.05, 0.1), TestScenes.Pose(rng, 1.2, -3.9, 0.4), TestScenes.Pose(rng, 0.8, 0.3, -0.2) };
        Run(devices.OpenCL, rng, faces, channels: 256, mapSize: 24, points: 305, iteration: 1, iterations: 2, null, poses); // TRGv2 iteration 1
        Run(devices.OpenCL, rng, faces, channels: 256, mapSize: 48, points: 305, iteration: 2, iterations: 3, null, poses); // TRG iteration 2
    }

    /// <summary>Runs one launch and checks every output; returns the reference sampling points (u and v of every point, all faces).</summary>
    private static double[] Run(DeviceUnderTest device, TestRandom rng, FaceParams[] faces, int channels, int mapSize, int points,
        int iteration, int iterations, float[]? grid, float[][]? poses = null)
    {
        int batch = faces.Length;
        var layout = new ResultLayout { Iterations = iterations };
        var map = rng.Gaussian((long)batch * channels * mapSize * mapSize);
        var subsample = TestScenes.Subsample(rng);
        var initFace = TestScenes.Mesh(rng);
        var initPose = TestScenes.Pose(rng, 1.0, 0.2, -0.1);
        grid ??= rng.Uniform(2 * points, -1, 1); // unused after iteration 0

        // Results rows: the state (face, pose history up to the previous iteration) written, the rest poisoned.
        var state = Poison.Array((long)batch * layout.Stride);
        if (iteration > 0)
            for (int b = 0; b < batch; b++)
            {
                int row = b * layout.Stride;
                TestScenes.Mesh(rng).CopyTo(state, row + layout.FaceHead);
                for (int i = 0; i < iteration; i++)
                    (i == iteration - 1 ? poses![b] : TestScenes.Pose(rng, 1, 0, 0)).CopyTo(state, row + layout.PoseHistory + 9 * i);
            }

        int regressorInput = points * 5 + RefPointFeatures.TailLength, tailAt = points * 5;
        var p = new SampleParams
        {
            Batch = batch, Channels = channels, MapSize = mapSize, Points = points, Iteration = iteration,
            RegressorInput = regressorInput, RegressorTail = tailAt, Layout = layout,
        };
        using var d = device.Begin();
        const int guard = 23;
        var results = d.Upload(state);
        var sampled = d.Poisoned((long)batch * channels * points + guard);
        var xc = d.Poisoned((long)batch * regressorInput + guard);
        d.Kernels.Sample(d.Stream, d.Config(p.ThreadCount), d.Upload(map).View, d.Upload(grid).View, d.Upload(subsample).View,
            d.Upload(initFace).View, d.Upload(initPose).View, d.Upload(faces).View, results.View, sampled.View, xc.View, p);
        var gotResults = d.Download(results);
        var gotSampled = d.Download(sampled);
        var gotXc = d.Download(xc);

        int PointAt(int b, int n) => b * layout.Stride + layout.Points + (iteration - 1) * points * 2 + 2 * n;
        var expected = RefPointFeatures.Sample(map, batch, channels, mapSize, points, iteration, grid, subsample, initFace, initPose,
            faces, state, layout, iteration == 0 ? null : (b, n) => (gotResults[PointAt(b, n)], gotResults[PointAt(b, n) + 1]));

        string what = $"Sample iteration {iteration}/{iterations} [{batch},{channels},{mapSize},{mapSize}] at {points} points on {device.Description}";
        Expect.Close(what + ": sampled features", gotSampled, expected.Sampled, 1e-5,
            name: i => $"[face {i / (channels * points)}, c{i / points % channels}, point {i % points}]" + PointText(i % points, i / (channels * points)));
        Expect.Untouched(what + ": past the sampled features", gotSampled, i => i < expected.Sampled.Length);

        Expect.Close(what + ": regressor-input tail", gotXc, expected.Tail, 1e-6,
            at: i => i / RefPointFeatures.TailLength * regressorInput + tailAt + i % RefPointFeatures.TailLength,
            name: i => $"[face {i / RefPointFeatures.TailLength}, tail {i % RefPointFeatures.TailLength}]");
        Expect.Untouched(what + ": regressor input before the tail (the point MLP's slots)", gotXc,
            i => i < batch * regressorInput && i % regressorInput >= tailAt);

        var pointSlots = new HashSet<int>();
        if (expected.Points is { } pts)
        {
            Expect.Close(what + ": sampling points (crop pixels)", gotResults, pts, 2e-6, at: i => PointAt(i / (2 * points), i / 2 % points) + i % 2,
                name: i => $"[face {i / (2 * points)}, point {i / 2 % points}, {(i % 2 == 0 ? "u" : "v")}]");
            for (int i = 0; i < pts.Length; i++) pointSlots.Add(PointAt(i / (2 * points), i / 2 % points) + i % 2);
        }
        Expect.Unchanged(what + ": results outside this iteration's sampling points", gotResults, state, i => !pointSlots.Contains(i));

        return expected.Points?.Value ?? [];

        string PointText(int n, int b) => iteration == 0
            ? $" (grid {grid[n]:R}, {grid[points + n]:R})"
            : $" (pixel {gotResults[PointAt(b, n)]:R}, {gotResults[PointAt(b, n) + 1]:R})";
    }
}
