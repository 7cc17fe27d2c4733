using TrgIlgpu.Evaluation;

namespace TrgIlgpu.Tests.Evaluation;

/// <summary>The BIWI and ARKitFace readers on synthetic datasets in the published layouts, faults included.</summary>
public class DatasetTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trg-datasets-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>x = R v + T for a row-major R.</summary>
    private static double[] Apply(double[] r, double[] v, double[] t) =>
        Enumerable.Range(0, 3).Select(i => r[i * 3] * v[0] + r[i * 3 + 1] * v[1] + r[i * 3 + 2] * v[2] + t[i]).ToArray();

    [Fact]
    public void Biwi_frames_have_the_camera_frame_pose_in_metres_and_the_calibrated_camera()
    {
        var written = SyntheticDatasets.WriteBiwi(_dir, frames: 5, seed: 11);
        foreach (var root in new[] { _dir, Path.Combine(_dir, "hpdb") })
        {
            var data = Datasets.Read(DatasetKind.Biwi, root);
            Assert.Equal(written.Select(f => f.Id), data.Frames.Select(f => f.Id));
            var rng = new Random(5);
            foreach (var (frame, w) in data.Frames.Zip(written))
            {
                Assert.EndsWith(w.Id.Replace('/', Path.DirectorySeparatorChar), frame.ImagePath);
                // A head-space point (mm) through the head pose then the extrinsics, as the official loader composes them.
                var v = new[] { rng.NextDouble() * 100 - 50, rng.NextDouble() * 100 - 50, rng.NextDouble() * 100 - 50 };
                var expected = Apply(w.RExt, Apply(w.RHead, v, w.THeadMm), w.TExtMm).Select(x => x / 1000).ToArray();
                var actual = Apply(frame.Truth.Rotation, v.Select(x => x / 1000).ToArray(), frame.Truth.Translation);
                for (int i = 0; i < 3; i++) Assert.Equal(expected[i], actual[i], 12);
                var camera = frame.Camera.For(w.Width, w.Height);
                Assert.Equal((float)w.K[0], camera.Fx);
                Assert.Equal((float)w.K[2], camera.Cx);
                Assert.Equal((float)w.K[5], camera.Cy);
                Assert.Equal(30, frame.Truth.VerticesHead!.Length);
                Assert.All(frame.Truth.VerticesHead, x => Assert.InRange(x, -0.1, 0.1)); // mm in the file, metres here
            }
            // The missing pose file and every frame of the subject with the malformed calibration: reported, skipped.
            Assert.Equal(2, data.Skipped.Count);
            var missing = Assert.Single(data.Skipped, s => s.Id == "01/frame_00003_rgb.png");
            Assert.Equal(ErrorKind.NotFound, missing.Error.Kind);
            Assert.Contains("frame_00003_pose.txt", missing.Error.Message);
            var malformed = Assert.Single(data.Skipped, s => s.Id == "02/frame_00001_rgb.png");
            Assert.Equal(ErrorKind.InvalidData, malformed.Error.Kind);
            Assert.Contains("rgb.cal", malformed.Error.Message);
            Assert.Contains("'zero' is not a finite number", malformed.Error.Message);
        }
    }

    [Fact]
    public void Biwi_calibration_with_a_missing_section_names_the_layout()
    {
        SyntheticDatasets.WriteBiwi(_dir, frames: 1, seed: 2);
        var cal = Path.Combine(_dir, "hpdb", "01", "rgb.cal");
        File.WriteAllLines(cal, File.ReadAllLines(cal).Take(8));
        var data = Datasets.Read(DatasetKind.Biwi, _dir);
        Assert.Empty(data.Frames);
        var e = data.Skipped.First(s => s.Id.StartsWith("01/")).Error;
        Assert.Equal(ErrorKind.InvalidData, e.Kind);
        Assert.Contains("expected 9 rows", e.Message);
    }

    [Fact]
    public void Arkit_frames_turn_the_opengl_pose_into_the_opencv_camera()
    {
        var written = SyntheticDatasets.WriteArkit(_dir, frames: 3, seed: 4);
        var data = Datasets.Read(DatasetKind.ArkitFace, _dir);
        Assert.Equal(written.Select(f => f.Id), data.Frames.Select(f => f.Id));
        foreach (var (frame, w) in data.Frames.Zip(written))
        {
            Assert.True(File.Exists(frame.ImagePath), frame.ImagePath);
            var t = frame.Truth;
            for (int k = 0; k < SyntheticDatasets.ArkitVertices; k++)
            {
                // The official loader: [v 1] @ R_t in the ARKit (OpenGL) camera, y and z flipped into OpenCV's.
                var gl = Enumerable.Range(0, 3).Select(c => (double)w.Verts[k * 3] * w.Rt[c] + (double)w.Verts[k * 3 + 1] * w.Rt[4 + c]
                    + (double)w.Verts[k * 3 + 2] * w.Rt[8 + c] + w.Rt[12 + c]).ToArray();
                double[] cv = [gl[0], -gl[1], -gl[2]];
                Assert.True(cv[2] > 0);
                var head = t.VerticesHead!.AsSpan(k * 3, 3).ToArray();
                var cam = Apply(t.Rotation, head, t.Translation);
                for (int c = 0; c < 3; c++)
                {
                    Assert.Equal(cv[c], cam[c], 6);
                    Assert.Equal(cv[c], t.VerticesCam![k * 3 + c], 6);
                }
            }
            Assert.Equal(1.0, SmallDeterminant(t.Rotation), 5);
            var camera = frame.Camera.For(w.Width, w.Height);
            Assert.Equal((float)(1.57443701 * w.Width / 2), camera.Fx);
            Assert.Equal(w.Width / 2f, camera.Cx);
            Assert.Equal(w.Height / 2f, camera.Cy);
        }
        Assert.Equal(2, data.Skipped.Count);
        Assert.Equal(ErrorKind.NotFound, data.Skipped[0].Error.Kind);
        Assert.Contains("_info.npz", data.Skipped[0].Error.Message);
        Assert.Equal(ErrorKind.InvalidData, data.Skipped[1].Error.Kind);
        Assert.Contains("no 'R_t' array", data.Skipped[1].Error.Message);
    }

    private static double SmallDeterminant(double[] m) =>
        m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);

    [Fact]
    public void Arkit_info_that_is_not_a_zip_is_skipped_with_the_reason()
    {
        var written = SyntheticDatasets.WriteArkit(_dir, frames: 2, seed: 9);
        var info = Directory.GetFiles(Path.Combine(_dir, "ARKitFace_info_test"), "*_info.npz", SearchOption.AllDirectories).Order().First();
        File.WriteAllText(info, "not a zip");
        var data = Datasets.Read(DatasetKind.ArkitFace, _dir);
        Assert.Single(data.Frames);
        Assert.Contains(data.Skipped, s => s.Error.Kind == ErrorKind.InvalidData && s.Error.Message.Contains("not an .npz archive"));
    }

    [Fact]
    public void Missing_roots_and_lists_are_not_found_errors()
    {
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<TrgException>(() => Datasets.Read(DatasetKind.Biwi, Path.Combine(_dir, "none"))).Kind);
        var e = Assert.Throws<TrgException>(() => Datasets.Read(DatasetKind.ArkitFace, _dir));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Contains("ARKitFace_test.csv", e.Message);
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<TrgException>(() => Datasets.Read(DatasetKind.Biwi, _dir)).Kind);
    }
}
