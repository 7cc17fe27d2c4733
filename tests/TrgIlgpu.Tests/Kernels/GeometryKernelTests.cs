using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// PoseMath.FinalGeometry (and through it the device functions Rot6dToMatrix and Translation) against float64:
/// every iteration's R and T, and the camera-space vertices R face + T of the last pose.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class GeometryKernelTests(KernelDevices devices)
{
    [Theory]
    [InlineData(3, 2)]
    [InlineData(2, 3)]
    [InlineData(1, 1)]
    public void FinalGeometry_Cpu_MatchesReference(int batch, int iterations)
    {
        var rng = new TestRandom(1100 + 10 * batch + iterations);
        var faces = Enumerable.Range(0, batch).Select(b => b switch
        {
            0 => TestScenes.Face(640, 480, 200.5f, 150.25f, 140f),
            1 => TestScenes.Face(321, 257, -30.5f, 100f, 90.5f, 5000f),
            _ => TestScenes.Face(1920, 1080, 1500f, 900.75f, 300f),
        }).ToArray();
        var poses = faces.Select(_ => Enumerable.Range(0, iterations)
            .Select(_ => TestScenes.Pose(rng, rng.Uniform(0.7, 1.3), rng.Gaussian(), rng.Gaussian())).ToArray()).ToArray();
        Run(devices.Cpu, rng, faces, poses, requireMatch: true);
    }

    [OpenCLFact]
    public void FinalGeometry_OpenCL_MatchesReference()
    {
        var rng = new TestRandom(1190);
        var faces = new[]
        {
            TestScenes.Face(640, 480, 153f, 49f, 142f), TestScenes.Face(640, 480, -20f, 300.5f, 210f, principalX: 320f, principalY: 240f),
            TestScenes.Face(1280, 720, 700.25f, 90.5f, 95.5f), TestScenes.Face(97, 133, 10f, 30f, 60f, 5000f),
        };
        var poses = faces.Select(_ => Enumerable.Range(0, 3).Select(_ => TestScenes.Pose(rng, rng.Uniform(0.7, 1.3), rng.Gaussian(), rng.Gaussian())).ToArray()).ToArray();
        Run(devices.OpenCL, rng, faces, poses, requireMatch: true);
    }

    /// <summary>
    /// Degenerate rot6d inputs hit the max(|v|, 1e-12) clamps (MODEL_SPEC 4e): a2 parallel to a1 (exactly, and to
    /// rounding), a1 or a2 zero, both zero. R, T and the vertices must stay finite; T does not depend on rot6d and
    /// must still match, and where a1 is non-zero so must R's first column b1 = a1 / |a1|.
    /// </summary>
    [Fact]
    public void FinalGeometry_Cpu_DegenerateRot6d_StaysFinite()
    {
        var rng = new TestRandom(1200);
        float[][] rot6d =
        [
            [0.3f, 0.6f, -1.2f, -2.4f, 0.7f, 1.4f],             // a2 = 2 a1 exactly
            [1f, 3f, 0f, 0f, 0f, 0f],                           // a2 = 3 a1 along an axis: a2 - (b1.a2) b1 is exactly 0
            [0f, 0.5f, 0f, -0.2f, 0f, 0.9f],                    // a1 = 0
            [0.4f, 0f, 0.1f, 0f, -0.8f, 0f],                    // a2 = 0
            [0f, 0f, 0f, 0f, 0f, 0f],                           // both 0
            [0.3f, 0.3000001f, -1.2f, -1.2f, 0.7f, 0.70000005f], // parallel to rounding
        ];
        var faces = rot6d.Select((_, b) => TestScenes.Face(640, 480, 150f + 10 * b, 100f, 140f)).ToArray();
        var poses = rot6d.Select(r => new[] { r.Concat(new[] { 1.1f, 0.3f, -0.2f }).ToArray(), r.Concat(new[] { 0.9f, -0.1f, 0.4f }).ToArray() }).ToArray();
        var (got, layout) = Run(devices.Cpu, rng, faces, poses, requireMatch: false);

        for (int b = 0; b < faces.Length; b++)
        {
            int row = b * layout.Stride;
            var written = got.AsSpan(row + layout.FaceCam, 3660).ToArray()
                .Concat(got.AsSpan(row + layout.Rotations, 9 * 2).ToArray()).Concat(got.AsSpan(row + layout.Translations, 3 * 2).ToArray());
            Assert.All(written, v => Assert.True(float.IsFinite(v), $"face {b} (rot6d {string.Join(", ", rot6d[b])}): non-finite output {v}"));
        }
    }

    /// <summary>Runs FinalGeometry on rows holding a face and a pose history; checks T always, R and the vertices when <paramref name="requireMatch"/>.</summary>
    private static (float[] Results, ResultLayout Layout) Run(DeviceUnderTest device, TestRandom rng, FaceParams[] faces, float[][][] poses, bool requireMatch)
    {
        int batch = faces.Length, iterations = poses[0].Length;
        var layout = new ResultLayout { Iterations = iterations };
        var state = Poison.Array((long)batch * layout.Stride);
        for (int b = 0; b < batch; b++)
        {
            TestScenes.Mesh(rng).CopyTo(state, b * layout.Stride + layout.FaceHead);
            for (int i = 0; i < iterations; i++) poses[b][i].CopyTo(state, b * layout.Stride + layout.PoseHistory + 9 * i);
        }

        var rotations = new RefTensor(batch * iterations * 9);
        var translations = new RefTensor(batch * iterations * 3);
        var faceCam = new RefTensor(batch * 3660);
        var firstColumns = new RefTensor(batch * iterations * 3);
        for (int b = 0; b < batch; b++)
        {
            for (int i = 0; i < iterations; i++)
            {
                var pose = poses[b][i];
                var r = RefPose.Rot6dToMatrix(pose);
                double cond = RefPose.Rot6dConditioning(pose);
                for (int k = 0; k < 9; k++) rotations.Set((b * iterations + i) * 9 + k, r[k], cond);
                for (int k = 0; k < 3; k++) firstColumns.Set((b * iterations + i) * 3 + k, r[3 * k], 1);
                var (t, tScale) = RefPose.Translation(faces[b], pose[6], pose[7], pose[8]);
                for (int k = 0; k < 3; k++) translations.Set((b * iterations + i) * 3 + k, t[k], tScale[k]);
            }
            var last = poses[b][iterations - 1];
            var (tl, tlScale) = RefPose.Translation(faces[b], last[6], last[7], last[8]);
            var rl = RefPose.Rot6dToMatrix(last);
            double condLast = RefPose.Rot6dConditioning(last);
            int h = b * layout.Stride + layout.FaceHead;
            for (int v = 0; v < 1220; v++)
            {
                var (c, cScale) = RefPose.Transform(rl, condLast, tl, tlScale, state[h + 3 * v], state[h + 3 * v + 1], state[h + 3 * v + 2]);
                for (int k = 0; k < 3; k++) faceCam.Set(b * 3660 + 3 * v + k, c[k], cScale[k]);
            }
        }

        using var d = device.Begin();
        var results = d.Upload(state);
        d.Kernels.FinalGeometry(d.Stream, d.Config(batch * 1220), d.Upload(faces).View, results.View, layout, batch);
        var got = d.Download(results);

        string what = $"FinalGeometry batch {batch}, {iterations} iterations on {device.Description}";
        int RotAt(int i) => i / (9 * iterations) * layout.Stride + layout.Rotations + i % (9 * iterations);
        int TransAt(int i) => i / (3 * iterations) * layout.Stride + layout.Translations + i % (3 * iterations);
        int CamAt(int i) => i / 3660 * layout.Stride + layout.FaceCam + i % 3660;
        Expect.Close(what + ": T", got, translations, 1e-6, at: TransAt, name: i => $"[face {i / (3 * iterations)}, iteration {i / 3 % iterations}, T{"xyz"[i % 3]}]");
        if (requireMatch)
        {
            Expect.Close(what + ": R", got, rotations, 1e-6, at: RotAt, name: i => $"[face {i / (9 * iterations)}, iteration {i / 9 % iterations}, R{i % 9 / 3}{i % 3}]");
            Expect.Close(what + ": camera-space vertices", got, faceCam, 1e-6, at: CamAt, name: i => $"[face {i / 3660}, vertex {i % 3660 / 3}.{"xyz"[i % 3]}]");
        }
        else
        {
            // b1 = a1 / |a1| is well defined whenever a1 is not zero.
            var defined = Enumerable.Range(0, firstColumns.Length).Where(i => poses[i / (3 * iterations)][i / 3 % iterations] is var p && (p[0] != 0 || p[2] != 0 || p[4] != 0)).ToArray();
            var b1 = new RefTensor(defined.Length);
            for (int j = 0; j < defined.Length; j++) b1.Set(j, firstColumns.Value[defined[j]], 1);
            Expect.Close(what + ": R's first column", got, b1, 1e-6, at: j => RotAt(defined[j] / 3 * 9 + defined[j] % 3 * 3),
                name: j => $"[face {defined[j] / (3 * iterations)}, iteration {defined[j] / 3 % iterations}, R{defined[j] % 3}0]");
        }

        var written = new HashSet<int>();
        for (int b = 0; b < batch; b++)
        {
            int row = b * layout.Stride;
            for (int k = 0; k < 3660; k++) written.Add(row + layout.FaceCam + k);
            for (int k = 0; k < 9 * iterations; k++) written.Add(row + layout.Rotations + k);
            for (int k = 0; k < 3 * iterations; k++) written.Add(row + layout.Translations + k);
        }
        Expect.Unchanged(what + ": results other than R, T and the camera-space vertices", got, state, i => !written.Contains(i));
        return (got, layout);
    }
}
