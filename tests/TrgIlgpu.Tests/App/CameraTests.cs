using System.Text;

namespace TrgIlgpu.Tests.App;

/// <summary><see cref="CameraIntrinsics"/> validation, <see cref="CameraCalibration"/> files (every layout, hostile input) and the API overloads.</summary>
public class CameraTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trg-camera-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void FromFocal_and_Default_put_the_principal_point_at_the_image_centre()
    {
        var c = CameraIntrinsics.FromFocal(900, 641, 359);
        Assert.Equal((900f, 900f, 320.5f, 179.5f), (c.Fx, c.Fy, c.Cx, c.Cy));
        Assert.Equal(900f, c.Focal);
        var d = CameraIntrinsics.Default(640, 480);
        Assert.Equal((1120f, 1120f, 320f, 240f), (d.Fx, d.Fy, d.Cx, d.Cy));
        Assert.Equal(CameraIntrinsics.FromFocal(1120, 640, 480), d);
        Assert.Equal("1120,1120,320,240", d.ToString());
    }

    [Fact]
    public void Intrinsics_accept_an_off_image_principal_point_and_calibration_round_off()
    {
        var c = new CameraIntrinsics(1000, 1000.0005f, -50.25f, 2000.5f);
        Assert.Equal((1000f, 1000.0005f, -50.25f, 2000.5f), (c.Fx, c.Fy, c.Cx, c.Cy));
        Assert.Equal(1000f, c.Focal);
    }

    public static TheoryData<float, float, float, float, string> BadIntrinsics => new()
    {
        { 0, 0, 10, 10, "positive" },
        { -5, -5, 10, 10, "positive" },
        { float.NaN, float.NaN, 10, 10, "positive" },
        { float.PositiveInfinity, float.PositiveInfinity, 10, 10, "positive" },
        { 1000, 1000, float.NaN, 10, "principal point" },
        { 1000, 1000, 10, float.NegativeInfinity, "principal point" },
        { 1000, 1001, 10, 10, "square pixels" },
        { 1000, 1000.01f, 10, 10, "square pixels" },
    };

    [Theory]
    [MemberData(nameof(BadIntrinsics))]
    public void Bad_intrinsics_are_a_usage_error_that_says_why(float fx, float fy, float cx, float cy, string mentions)
    {
        var e = Assert.Throws<TrgException>(() => new CameraIntrinsics(fx, fy, cx, cy));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains(mentions, e.Message);
        Assert.NotNull(CameraIntrinsics.Problem(fx, fy, cx, cy));
    }

    [Fact]
    public void Non_square_pixels_are_refused_with_what_to_do()
    {
        var e = Assert.Throws<TrgException>(() => new CameraIntrinsics(1200, 1000, 320, 240));
        Assert.Contains("one focal length", e.Message);
        Assert.Contains("Resample the image", e.Message);
    }

    [Fact]
    public void Scaled_multiplies_focal_and_principal_point()
    {
        var c = new CameraIntrinsics(1000, 1000, 640.5f, 360.25f).Scaled(0.5);
        Assert.Equal((500f, 500f, 320.25f, 180.125f), (c.Fx, c.Fy, c.Cx, c.Cy));
        // The image centre stays the image centre: W/2 scales to (s W)/2.
        Assert.Equal(CameraIntrinsics.FromFocal(450, 320, 240), CameraIntrinsics.FromFocal(900, 640, 480).Scaled(0.5));
    }

    [Fact]
    public void OpenCV_FileStorage_layout_with_distortion_and_size()
    {
        var path = Write("cv.json", """
            {
                "image_width": 1920,
                "image_height": 1080,
                "camera_matrix": { "type_id": "opencv-matrix", "rows": 3, "cols": 3, "dt": "d",
                    "data": [ 1.4e+03, 0.0, 9.655e+02, 0.0, 1.4e+03, 5.4025e+02, 0.0, 0.0, 1.0 ] },
                "distortion_coefficients": { "type_id": "opencv-matrix", "rows": 1, "cols": 5, "dt": "d",
                    "data": [ -0.12, 0.03, 0.0, 0.0, 0.0 ] }
            }
            """);
        var cal = CameraCalibration.Load(path);
        Assert.Equal(new CameraIntrinsics(1400, 1400, 965.5f, 540.25f), cal.Intrinsics);
        Assert.Equal((1920, 1080), (cal.ImageWidth, cal.ImageHeight));
        Assert.Equal([-0.12, 0.03, 0, 0, 0], cal.Distortion);
        Assert.True(cal.HasDistortion);
        Assert.Equal(path, cal.Source);
    }

    [Theory]
    [InlineData("""{"K": [[800, 0, 310.5], [0, 800, 250.25], [0, 0, 1]]}""")]
    [InlineData("""{"K": [800, 0, 310.5, 0, 800, 250.25, 0, 0, 1], "D": [0, 0, 0, 0]}""")]
    [InlineData("""{"camera_matrix": [[800, 0, 310.5], [0, 800, 250.25], [0, 0, 1]], "dist_coeffs": []}""")]
    [InlineData("""{"fx": 800, "fy": 800, "cx": 310.5, "cy": 250.25}""")]
    [InlineData("""{"fx": 800, "fy": 800.0000001, "cx": 310.5, "cy": 250.25, "note": "extra keys are ignored"} """)]
    public void Plain_layouts(string json)
    {
        var cal = CameraCalibration.Load(Write("plain.json", json));
        Assert.Equal(800f, cal.Intrinsics.Fx);
        Assert.Equal((310.5f, 250.25f), (cal.Intrinsics.Cx, cal.Intrinsics.Cy));
        Assert.Null(cal.ImageWidth);
        Assert.False(cal.HasDistortion);
        // Without a calibrated size the intrinsics hold for any image as given.
        Assert.Same(cal.Intrinsics, cal.For(123, 45));
    }

    [Fact]
    public void Calibrated_size_scales_to_a_resized_image_and_refuses_another_shape()
    {
        var cal = CameraCalibration.Load(Write("s.json", """{"fx": 1400, "fy": 1400, "cx": 965.5, "cy": 540.25, "image_width": 1920, "image_height": 1080}"""));
        Assert.Same(cal.Intrinsics, cal.For(1920, 1080));
        Assert.Equal(new CameraIntrinsics(700, 700, 482.75f, 270.125f), cal.For(960, 540));
        // Rounded resize (641 x 361 is 1920 x 1080 scaled by 641/1920, height rounded): one scale for all four.
        var r = cal.For(641, 361);
        Assert.Equal(1400 * 641 / 1920.0, r.Fx, 3);
        Assert.Equal(r.Fx, r.Fy);
        foreach (var (w, h) in new[] { (1080, 1920), (1440, 1080), (960, 600) })
        {
            var e = Assert.Throws<TrgException>(() => cal.For(w, h));
            Assert.Equal(ErrorKind.Usage, e.Kind);
            Assert.Contains("s.json", e.Message);
            Assert.Contains("aspect ratio", e.Message);
        }
    }

    public static TheoryData<string, string> HostileFiles => new()
    {
        { "", "not valid JSON" },
        { "{\"fx\": 1000, \"fy\": 1000, \"cx\": 1", "not valid JSON" },
        { "[1, 2, 3]", "expected a JSON object" },
        { "{}", "no camera" },
        { "{\"fx\": NaN, \"fy\": 1000, \"cx\": 1, \"cy\": 1}", "not valid JSON" },
        { "{\"fx\": \"NaN\", \"fy\": 1000, \"cx\": 1, \"cy\": 1}", "finite number" },
        { "{\"fx\": 1e999, \"fy\": 1e999, \"cx\": 1, \"cy\": 1}", "finite number" },
        { "{\"fx\": 1e300, \"fy\": 1e300, \"cx\": 1, \"cy\": 1}", "positive finite" },
        { "{\"fx\": 1000, \"fy\": 1000, \"cx\": 1}", "'cy' is missing" },
        { "{\"fx\": -1000, \"fy\": -1000, \"cx\": 1, \"cy\": 1}", "positive" },
        { "{\"fx\": 1000, \"fy\": 900, \"cx\": 1, \"cy\": 1}", "square pixels" },
        { "{\"K\": [[1000, 0, 1], [0, 1000, 1]]}", "3x3" },
        { "{\"K\": [[1000, 0, 1], [0, 1000], [0, 0, 1]]}", "equal length" },
        { "{\"K\": [1000, 0, 1, 0, 1000, 1, 0, 0]}", "3x3" },
        { "{\"K\": [[1000, 5, 1], [0, 1000, 1], [0, 0, 1]]}", "skew" },
        { "{\"K\": [[1000, 0, 1], [0, 1000, 1], [0, 0, 2]]}", "not a camera matrix" },
        { "{\"K\": [[1000, 0, 1], [0, 1000, 1], [0, 0, null]]}", "finite number" },
        { "{\"K\": \"1000 0 1 0 1000 1 0 0 1\"}", "expected a matrix" },
        { "{\"K\": [[1000, 0, 1], [0, 1000, 1], [0, 0, 1]], \"fx\": 1000}", "several camera descriptions" },
        { "{\"camera_matrix\": {\"rows\": 3, \"cols\": 3, \"data\": [1000, 0, 1, 0, 1000, 1, 0, 0, 1]}}", "opencv-matrix" },
        { "{\"camera_matrix\": {\"type_id\": \"opencv-matrix\", \"rows\": 3, \"cols\": 3, \"data\": [1000, 0, 1, 0, 1000, 1]}}", "data holds 6" },
        { "{\"camera_matrix\": {\"type_id\": \"opencv-matrix\", \"rows\": -3, \"cols\": 3, \"data\": []}}", "rows" },
        { "{\"camera_matrix\": {\"type_id\": \"opencv-matrix\", \"cols\": 3, \"data\": []}}", "no 'rows'" },
        { "{\"fx\": 1000, \"fy\": 1000, \"cx\": 1, \"cy\": 1, \"D\": [0.1, \"x\"]}", "D[1]" },
        { "{\"fx\": 1000, \"fy\": 1000, \"cx\": 1, \"cy\": 1, \"D\": [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}", "at most 14" },
        { "{\"fx\": 1000, \"fy\": 1000, \"cx\": 1, \"cy\": 1, \"D\": [0], \"dist_coeffs\": [0]}", "several distortion" },
        { "{\"fx\": 1000, \"fy\": 1000, \"cx\": 1, \"cy\": 1, \"image_width\": 640}", "go together" },
        { "{\"fx\": 1000, \"fy\": 1000, \"cx\": 1, \"cy\": 1, \"image_width\": 640.5, \"image_height\": 480}", "whole number" },
        { "{\"fx\": 1000, \"fy\": 1000, \"cx\": 1, \"cy\": 1, \"image_width\": 0, \"image_height\": 480}", "whole number" },
        { new string('[', 100) + new string(']', 100), "not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(HostileFiles))]
    public void Hostile_calibration_files_are_a_usage_error_naming_the_file(string text, string mentions)
    {
        var path = Write("bad.json", text);
        var e = Assert.Throws<TrgException>(() => CameraCalibration.Load(path));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Equal(path, e.FilePath);
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(mentions, e.Message);
    }

    [Fact]
    public void Huge_calibration_files_are_refused_before_reading_and_missing_ones_are_not_found()
    {
        var path = Path.Combine(_dir, "huge.json");
        using (var fs = File.Create(path)) fs.SetLength(CameraCalibration.MaxFileBytes + 1);
        var e = Assert.Throws<TrgException>(() => CameraCalibration.Load(path));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("larger than", e.Message);
        var big = Encoding.UTF8.GetBytes("{\"fx\": 1000, \"fy\": 1000, \"cx\": 1, \"cy\": 1, \"pad\": \"" + new string(' ', CameraCalibration.MaxFileBytes) + "\"}");
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => CameraCalibration.Parse(big, "text")).Kind);

        // A device without a length (endless zeros) is read only up to the limit.
        if (File.Exists("/dev/zero"))
            Assert.Contains("larger than", Assert.Throws<TrgException>(() => CameraCalibration.Load("/dev/zero")).Message);
        var folder = Assert.Throws<TrgException>(() => CameraCalibration.Load(_dir));
        Assert.Equal(ErrorKind.NotFound, folder.Kind);

        var missing = Assert.Throws<TrgException>(() => CameraCalibration.Load(Path.Combine(_dir, "nope.json")));
        Assert.Equal(ErrorKind.NotFound, missing.Kind);
        Assert.Contains("nope.json", missing.Message);
    }

    [Fact]
    public void Estimator_overloads_pass_the_camera_through()
    {
        var engine = new AppTestData.FakeEngine();
        using var est = AppTestData.FakeEstimator(engine);
        var img = new RgbImage(64, 48, new byte[64 * 48 * 3]);
        var camera = new CameraIntrinsics(700, 700, 20.5f, 30.25f);
        var r = est.Estimate(img, [new FaceBox(10, 10, 40, 40)], camera);
        Assert.Same(camera, engine.Seen[^1].Camera);
        Assert.Same(camera, r[0].Camera);
        Assert.Equal(700f, r[0].Focal);

        est.Estimate(img, [new FaceBox(10, 10, 40, 40)], focal: 500f);
        Assert.Equal(CameraIntrinsics.FromFocal(500, 64, 48), engine.Seen[^1].Camera);
        est.Estimate(img, [new FaceBox(10, 10, 40, 40)]);
        Assert.Equal(CameraIntrinsics.Default(64, 48), engine.Seen[^1].Camera);

        est.EstimateFile(AppTestData.AstronautPath, [AppTestData.AstronautBox], image => camera.Scaled(image.Width / 64.0));
        Assert.Equal(camera.Scaled(8), engine.Seen[^1].Camera);

        var batch = est.EstimateBatch([new ImageFaces(img, [new FaceBox(10, 10, 40, 40)], Camera: camera), new ImageFaces(img, [new FaceBox(5, 5, 30, 30)], Focal: 600f)]);
        Assert.Same(camera, batch[0][0].Camera);
        Assert.Equal(CameraIntrinsics.FromFocal(600, 64, 48), batch[1][0].Camera);

        var both = Assert.Throws<TrgException>(() => est.EstimateBatch([new ImageFaces(img, [new FaceBox(10, 10, 40, 40)], 600f, camera)]));
        Assert.Equal(ErrorKind.Usage, both.Kind);
        Assert.Contains("not both", both.Message);
    }

    [Fact]
    public void Focal_only_FaceRequest_is_FromFocal()
    {
        var img = new RgbImage(30, 20, new byte[30 * 20 * 3]);
        var request = new FaceRequest(img, new FaceBox(1, 1, 10, 10), 123f);
        Assert.Equal(CameraIntrinsics.FromFocal(123, 30, 20), request.Camera);
        Assert.Equal(123f, request.Focal);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => new FaceRequest(img, new FaceBox(1, 1, 10, 10), float.NaN)).Kind);
    }
}
