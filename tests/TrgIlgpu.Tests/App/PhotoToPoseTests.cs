using System.Text.Json;
using TrgIlgpu.Cli;
using TrgIlgpu.Engine;
using TrgIlgpu.Faces;
using TrgIlgpu.Imaging;
using TrgIlgpu.Tests.FaceApi;

using static TrgIlgpu.Tests.App.AppTestData;

namespace TrgIlgpu.Tests.App;

/// <summary>
/// Photo in, poses out, as a user runs it: `trg estimate photo` with no box (face-api's networks on the engine find the
/// faces) and no model (the landmark fit), or with a TRG model; checked against face-api's own detections and
/// landmarks (tests/TrgIlgpu.Tests/Fixtures/faceapi) and against the same run with the box given.
/// </summary>
public sealed class PhotoToPoseTests : IDisposable
{
    private const string Model = "synthetic:trgv2:3";
    private readonly string _dir = Directory.CreateTempSubdirectory("trg-photo-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static double Iou(float[] a, double[] b)
    {
        double w = Math.Max(0, Math.Min(a[2], b[2]) - Math.Max(a[0], b[0]));
        double h = Math.Max(0, Math.Min(a[3], b[3]) - Math.Max(a[1], b[1]));
        double inter = w * h;
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
    }

    private JsonElement Run(string image, params string[] extra)
    {
        var json = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".json");
        var (code, _, err) = Trg(["estimate", image, "--device", "opencl", "--json", json, .. extra]);
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        return doc.RootElement.Clone();
    }

    [Fact]
    public void Photo_without_box_or_model_finds_the_face_and_fits_the_landmarks()
    {
        var fixture = FaceApiFixture.Load("astronaut");
        var expected = fixture.Detections.First(d => d.Options.Detector == DetectorKind.Ssd).Faces;
        var overlay = Path.Combine(_dir, "astronaut.overlay.png");
        var root = Run(AppTestData.AstronautPath, "--overlay", overlay);

        Assert.Equal("landmarks", root.GetProperty("method").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("model").ValueKind);
        Assert.Equal("ssd", root.GetProperty("face_finding").GetProperty("detector").GetString());
        var faces = root.GetProperty("faces").EnumerateArray().ToArray();
        Assert.Equal(expected.Count, faces.Length);
        for (int i = 0; i < faces.Length; i++)
        {
            var f = faces[i];
            Assert.Equal("landmarks", f.GetProperty("method").GetString());
            var det = f.GetProperty("detection");
            var box = Floats(det.GetProperty("box"));
            Assert.True(Iou(box, expected[i].Box) >= 0.95, $"IoU {Iou(box, expected[i].Box)}");
            Assert.InRange(det.GetProperty("score").GetDouble() - expected[i].Score, -0.02, 0.02);
            var landmarks = Floats(det.GetProperty("landmarks68"));
            Assert.Equal(136, landmarks.Length);
            for (int k = 0; k < 68; k++)
            {
                double d = Math.Sqrt(Math.Pow(landmarks[2 * k] - expected[i].Landmarks![k][0], 2) + Math.Pow(landmarks[2 * k + 1] - expected[i].Landmarks![k][1], 2));
                Assert.True(d <= 1.0, $"landmark {k} is {d:0.000} px from face-api's");
            }
            // The TRG box is the official rule applied to the detected landmarks.
            var rule = FaceBoxRule.FromLandmarks(landmarks);
            Assert.Equal(new[] { rule.Left, rule.Top, rule.Right, rule.Bottom }, Floats(f.GetProperty("bbox")));

            // A real pose: a rotation matrix, the head in front of the camera at a plausible distance, a small fit error.
            var r = Floats(f.GetProperty("rotation"));
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                {
                    double dot = r[a] * r[b] + r[3 + a] * r[3 + b] + r[6 + a] * r[6 + b];
                    Assert.InRange(dot, (a == b ? 1 : 0) - 1e-5, (a == b ? 1 : 0) + 1e-5);
                }
            var t = Floats(f.GetProperty("translation"));
            Assert.InRange(t[2], 0.2, 5.0);
            double side = rule.Right - rule.Left;
            Assert.InRange(f.GetProperty("fit_rms_px").GetDouble(), 0, side * 0.05);
            Assert.Equal(1220 * 3, Floats(f.GetProperty("vertices_cam")).Length);
            var e = f.GetProperty("euler");
            Assert.InRange(Math.Abs(e.GetProperty("yaw").GetDouble()), 0, 45);
        }
        Assert.True(File.Exists(overlay));
        using var drawn = SixLabors.ImageSharp.Image.Load<SixLabors.ImageSharp.PixelFormats.Rgb24>(overlay);
        var c = Overlay.DetectionColor;
        bool found = false;
        drawn.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height && !found; y++)
                foreach (var p in rows.GetRowSpan(y))
                    if (p.R == c.R && p.G == c.G && p.B == c.B) { found = true; break; }
        });
        Assert.True(found, "the overlay draws the detection");
    }

    [Fact]
    public void With_a_model_and_no_box_the_result_equals_the_run_with_the_reported_box()
    {
        var found = Run(AppTestData.AstronautPath, "--model", Model);
        Assert.Equal("trg", found.GetProperty("method").GetString());
        var face = Assert.Single(found.GetProperty("faces").EnumerateArray());
        Assert.Equal("trg", face.GetProperty("method").GetString());
        var box = Floats(face.GetProperty("bbox"));
        string boxText = string.Join(',', box.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));

        var given = Run(AppTestData.AstronautPath, "--model", Model, "--bbox", boxText);
        var same = Assert.Single(given.GetProperty("faces").EnumerateArray());
        Assert.False(same.TryGetProperty("detection", out _));
        foreach (var key in new[] { "bbox", "rotation", "translation", "vertices_cam", "landmarks68" })
            Assert.Equal(Floats(same.GetProperty(key)), Floats(face.GetProperty(key)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_face_free_picture_gives_no_face_and_exit_0(bool withModel)
    {
        var image = Path.Combine(TestPaths.Fixtures, "faceapi", "no_face.png");
        var root = withModel ? Run(image, "--model", Model) : Run(image);
        Assert.Empty(root.GetProperty("faces").EnumerateArray());
    }

    [Fact]
    public void Every_face_of_a_group_photo_is_found_once_and_estimated()
    {
        var fixture = FaceApiFixture.Load("sample1");
        var expected = fixture.Detections.First(d => d.Options.Detector == DetectorKind.Ssd).Faces;
        using var estimator = HeadPoseEstimator.Create(new HeadPoseOptions { Device = DeviceKind.OpenCL });
        Assert.Equal(PoseMethod.Landmarks, estimator.Method);
        var result = estimator.Estimate(fixture.LoadImage());
        Assert.Empty(result.Failures);
        Assert.Equal(expected.Count, result.Faces.Length);
        foreach (var want in expected)
        {
            var matches = result.Faces.Where(f =>
            {
                var b = f.Detection!.Detection.Box;
                return Iou([b.Left, b.Top, b.Right, b.Bottom], want.Box) >= 0.95;
            }).ToList();
            Assert.Single(matches);
            Assert.True(float.IsFinite(matches[0].Translation[2]) && matches[0].Translation[2] > 0);
        }
    }

    [Fact]
    public void Given_boxes_without_a_model_run_the_landmark_net_on_them()
    {
        var fixture = FaceApiFixture.Load("astronaut");
        var want = fixture.Detections.First(d => d.Options.Detector == DetectorKind.Ssd).Faces[0];
        var box = new FaceBox((float)want.Box[0], (float)want.Box[1], (float)want.Box[2], (float)want.Box[3]);
        using var estimator = HeadPoseEstimator.Create(new HeadPoseOptions { Device = DeviceKind.OpenCL });
        var result = estimator.Estimate(fixture.LoadImage(), boxes: [box]);
        var face = Assert.Single(result.Faces);
        Assert.Equal(PoseMethod.Landmarks, face.Method);
        Assert.Equal(box, face.Detection!.Detection.Box);
        Assert.True(float.IsNaN(face.Detection.Detection.Score));
        for (int k = 0; k < 68; k++)
        {
            double d = Math.Sqrt(Math.Pow(face.Detection.Landmarks68[2 * k] - want.Landmarks![k][0], 2) + Math.Pow(face.Detection.Landmarks68[2 * k + 1] - want.Landmarks![k][1], 2));
            Assert.True(d <= 1.0, $"landmark {k}: {d:0.000} px");
        }
    }
}
