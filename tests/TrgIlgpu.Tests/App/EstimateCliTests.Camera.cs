using System.Text.Json;

namespace TrgIlgpu.Tests.App;

/// <summary>`trg estimate --camera / --calibration / --focal`: what reaches the engine, the JSON "camera" object, errors.</summary>
public partial class EstimateCliTests
{
    private static (float Fx, float Fy, float Cx, float Cy) CameraJson(JsonElement image)
    {
        var c = image.GetProperty("camera");
        return (F(c.GetProperty("fx")), F(c.GetProperty("fy")), F(c.GetProperty("cx")), F(c.GetProperty("cy")));
    }

    [Fact]
    public void Camera_option_reaches_the_engine_and_the_json()
    {
        var a = WritePng("a.png", 60, 40, 21);
        var (code, stdout, stderr) = Cli("estimate", a, "-m", "fake", "--bbox", "5,5,35,35", "--camera", "810.5,810.5,22.25,31");
        Assert.True(code == 0, stderr);
        Assert.Equal(new CameraIntrinsics(810.5f, 810.5f, 22.25f, 31f), _engine.Seen.Single().Camera);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal((810.5f, 810.5f, 22.25f, 31f), CameraJson(doc.RootElement));
        Assert.Equal(810.5f, F(doc.RootElement.GetProperty("focal")));
    }

    [Fact]
    public void Default_and_focal_report_the_centred_camera()
    {
        var a = WritePng("a.png", 60, 40, 22);
        var (code, stdout, stderr) = Cli("estimate", a, "-m", "fake", "--bbox", "5,5,35,35");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout)) Assert.Equal((100f, 100f, 30f, 20f), CameraJson(doc.RootElement));
        (code, stdout, stderr) = Cli("estimate", a, "-m", "fake", "--bbox", "5,5,35,35", "--focal", "900");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout)) Assert.Equal((900f, 900f, 30f, 20f), CameraJson(doc.RootElement));
        Assert.Equal(CameraIntrinsics.FromFocal(900, 60, 40), _engine.Seen[^1].Camera);
    }

    [Fact]
    public void Calibration_file_is_scaled_per_image_and_its_distortion_is_reported_not_applied()
    {
        var a = WritePng("a.png", 60, 40, 23);
        var b = WritePng("b.png", 120, 80, 24);
        var cal = P("cal.json");
        File.WriteAllText(cal, """
            {"image_width": 120, "image_height": 80,
             "camera_matrix": {"type_id": "opencv-matrix", "rows": 3, "cols": 3, "dt": "d", "data": [200, 0, 70.5, 0, 200, 35.25, 0, 0, 1]},
             "distortion_coefficients": {"type_id": "opencv-matrix", "rows": 5, "cols": 1, "dt": "d", "data": [0.1, 0, 0, 0, 0]}}
            """);
        var (code, stdout, stderr) = Cli("estimate", a, b, "-m", "fake", "--bbox", "5,5,35,35", "--calibration", cal, "--jsonl", "-");
        Assert.True(code == 0, stderr);
        Assert.Contains("distortion coefficients are not applied", stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal((100f, 100f, 35.25f, 17.625f), CameraJson(lines[0]));
        Assert.Equal((200f, 200f, 70.5f, 35.25f), CameraJson(lines[1]));
        Assert.Equal([new CameraIntrinsics(100, 100, 35.25f, 17.625f), new CameraIntrinsics(200, 200, 70.5f, 35.25f)], _engine.Seen.Select(r => r.Camera));
    }

    [Fact]
    public void Calibration_for_another_aspect_ratio_fails_that_image_only()
    {
        var a = WritePng("a.png", 60, 40, 25);
        var square = WritePng("square.png", 40, 40, 26);
        var cal = P("cal.json");
        File.WriteAllText(cal, """{"fx": 100, "fy": 100, "cx": 30, "cy": 20, "image_width": 60, "image_height": 40}""");
        var (code, stdout, stderr) = Cli("estimate", a, square, "-m", "fake", "--bbox", "5,5,35,35", "--calibration", cal, "--jsonl", "-");
        Assert.Equal((int)ErrorKind.PartialFailure, code);
        Assert.Contains("aspect ratio", stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal((100f, 100f, 30f, 20f), CameraJson(lines[0]));
        Assert.Equal("Usage", lines[1].GetProperty("error").GetProperty("kind").GetString());
        Assert.Single(_engine.Seen);
    }

    public static TheoryData<string[], string> CameraUsageErrors => new()
    {
        { ["--camera", "1000,1000,320"], "four numbers" },
        { ["--camera", "a,b,c,d"], "four numbers" },
        { ["--camera", "1000,900,320,240"], "square pixels" },
        { ["--camera", "NaN,NaN,320,240"], "is not a finite number" },
        { ["--camera", "1000,1000,Infinity,240"], "is not a finite number" },
        { ["--camera", "1000,1000,320,240", "--focal", "900"], "cannot be combined" },
        { ["--camera", "1000,1000,320,240", "--calibration", "c.json"], "cannot be combined" },
        { ["--focal", "900", "--calibration", "c.json"], "cannot be combined" },
        { ["--focal", "NaN"], "--focal" },
    };

    [Theory]
    [MemberData(nameof(CameraUsageErrors))]
    public void Camera_argument_errors_exit_2(string[] options, string mentions)
    {
        var (code, stdout, stderr) = Cli(["estimate", "x.png", "-m", "fake", "--bbox", "1,2,30,40", .. options]);
        Assert.Equal((int)ErrorKind.Usage, code);
        Assert.Equal("", stdout);
        Assert.Contains(mentions, stderr);
        Assert.Empty(_engine.Seen);
    }

    [Fact]
    public void Bad_calibration_files_stop_the_run_before_the_engine_with_the_file_named()
    {
        var a = WritePng("a.png", 60, 40, 27);
        var bad = P("bad.json");
        File.WriteAllText(bad, """{"K": [[100, 0, 30], [0, 100, 20]]}""");
        var (code, stdout, stderr) = Cli("estimate", a, "-m", "fake", "--bbox", "5,5,35,35", "--calibration", bad);
        Assert.Equal((int)ErrorKind.Usage, code);
        Assert.Equal("", stdout);
        Assert.Contains(bad, stderr);
        Assert.Contains("3x3", stderr);
        (code, _, stderr) = Cli("estimate", a, "-m", "fake", "--bbox", "5,5,35,35", "--calibration", P("missing.json"));
        Assert.Equal((int)ErrorKind.NotFound, code);
        Assert.Contains("missing.json", stderr);
        Assert.Empty(_engine.Seen);
    }
}
