using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using TrgIlgpu.Cli.Serve;
using TrgIlgpu.Tests.App;
using TrgIlgpu.Tests.Kernels;

namespace TrgIlgpu.Tests.Hostile;

/// <summary>
/// Hostile face requests (issue 9, item 2): non-finite and absurd numbers in boxes, focal lengths and intrinsics,
/// generated and sent through the real CLI (and the library and the server's query parser), each refused with its
/// documented exit code, in one message style, with no stack trace; and a face whose outputs are not finite is a
/// failure, never a success.
/// </summary>
public sealed class HostileRequestTests : IDisposable
{
    private readonly HardeningCli _cli = new();
    public void Dispose() => _cli.Dispose();

    /// <summary>Every spelling of a non-finite number a user might type (float overflow included).</summary>
    public static readonly string[] NonFinite = ["inf", "-inf", "+inf", "Infinity", "-Infinity", "INFINITY", "nan", "NaN", "-nan", "1e999", "-1e999", "3.5e38", "∞"];

    public static TheoryData<string, string> NonFiniteOptions()
    {
        var data = new TheoryData<string, string>();
        foreach (var v in NonFinite)
        {
            data.Add("--focal", v);
            data.Add("--bbox", $"10,10,{v},60");
            data.Add("--camera", $"{v},1000,40,40");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(NonFiniteOptions))]
    public void Non_finite_numbers_give_one_exit_code_and_message_style_before_any_work(string option, string value)
    {
        var image = _cli.WritePng("a.png");
        var r = _cli.Trg("estimate", image, "-m", "fake", option, value);
        HardeningCli.AssertRefused(r, ErrorKind.Usage, $"{option} '{value}'", "is not a finite number");
        Assert.Equal(0, _cli.EstimatorsCreated);
        Assert.Equal("", r.Out);
    }

    [Theory]
    [InlineData("--focal", "abc")]
    [InlineData("--bbox", "1,2,3")]
    [InlineData("--bbox", "1,2,3,x")]
    [InlineData("--camera", "1000,1000,40")]
    public void Malformed_numbers_are_usage_errors_in_the_same_style(string option, string value)
    {
        var image = _cli.WritePng("a.png");
        HardeningCli.AssertRefused(_cli.Trg("estimate", image, "-m", "fake", option, value), ErrorKind.Usage, $"{option} '{value}'", "expected");
        Assert.Equal(0, _cli.EstimatorsCreated);
    }

    public static TheoryData<string, string> AbsurdBoxes() => new()
    {
        // The issue's case: finite, but a crop warp of 1e30 pixels.
        { "0,0,1e30,1e30", "more than 8 times" },
        { "-1e30,0,40,40", "more than 8 times" },
        // right - left overflows float to infinity.
        { "-3e38,0,3e38,40", "more than 8 times" },
        { "1000,1000,1100,1100", "wholly outside" },
        { "-500,-500,-10,-10", "wholly outside" },
        { "40,40,40.5,80", "empty or inverted" },
        { "60,60,20,20", "empty or inverted" },
    };

    [Theory]
    [MemberData(nameof(AbsurdBoxes))]
    public void Absurd_boxes_fail_their_face_with_InvalidBox_and_the_other_faces_still_run(string box, string why)
    {
        var image = _cli.WritePng("a.png");
        var alone = _cli.Trg("estimate", image, "-m", "fake", "--bbox", box);
        HardeningCli.AssertRefused(alone, ErrorKind.InvalidBox, why);
        using (var doc = JsonDocument.Parse(alone.Out))
        {
            Assert.Empty(doc.RootElement.GetProperty("faces").EnumerateArray());
            Assert.Equal("InvalidBox", doc.RootElement.GetProperty("errors")[0].GetProperty("kind").GetString());
        }

        var mixed = _cli.Trg("estimate", image, "-m", "fake", "--bbox", box, "--bbox", "10,10,70,70");
        Assert.Equal((int)ErrorKind.PartialFailure, mixed.Code);
        HardeningCli.AssertNoStackTrace(mixed.Err);
        using var both = JsonDocument.Parse(mixed.Out);
        var face = Assert.Single(both.RootElement.GetProperty("faces").EnumerateArray());
        AssertFinite(face);
    }

    [Theory]
    [InlineData("--focal", "1e-30", "sane range")]
    [InlineData("--focal", "0.5", "sane range")]
    [InlineData("--focal", "1e12", "sane range")]
    [InlineData("--focal", "-5", "positive")]
    [InlineData("--focal", "0", "positive")]
    [InlineData("--camera", "1000,1000,1e9,40", "principal point")]
    [InlineData("--camera", "1e-20,1e-20,40,40", "sane range")]
    public void Focal_lengths_and_intrinsics_outside_the_sane_range_for_the_image_are_refused(string option, string value, string why)
    {
        var image = _cli.WritePng("a.png", 100, 80);
        var r = _cli.Trg("estimate", image, "-m", "fake", "--bbox", "10,10,70,70", option, value);
        HardeningCli.AssertRefused(r, ErrorKind.Usage, why);
        Assert.Empty(_cli.Engine.BatchSizes); // nothing ran on the engine
    }

    [Fact]
    public void A_face_whose_outputs_are_not_finite_is_a_failure_never_a_success()
    {
        var image = _cli.WritePng("a.png");
        var poison = $"{HardeningCli.PoisonLeft.ToString(CultureInfo.InvariantCulture)},10,70,70";

        var alone = _cli.Trg("estimate", image, "-m", "fake", "--bbox", poison);
        HardeningCli.AssertRefused(alone, ErrorKind.InvalidModel, "translation is not finite");
        Assert.DoesNotContain("null", alone.Out);
        Assert.Contains("0 faces (1 failed)", alone.Err);

        var mixed = _cli.Trg("estimate", image, "-m", "fake", "--bbox", poison, "--bbox", "20,20,60,60", "--jsonl", "-");
        Assert.Equal((int)ErrorKind.PartialFailure, mixed.Code);
        Assert.DoesNotContain("null", mixed.Out);
        using var doc = JsonDocument.Parse(mixed.Out);
        AssertFinite(Assert.Single(doc.RootElement.GetProperty("faces").EnumerateArray()));
        var error = Assert.Single(doc.RootElement.GetProperty("errors").EnumerateArray());
        Assert.Equal("InvalidModel", error.GetProperty("kind").GetString());
        Assert.Equal(4, error.GetProperty("exit_code").GetInt32());
    }

    [Fact]
    public void An_option_with_an_empty_value_after_equals_does_not_swallow_the_next_option()
    {
        var image = _cli.WritePng("a.png");
        foreach (var args in new[] { new[] { "--bbox=", "--focal", "500" }, ["--focal=", "--bbox", "1,1,50,50"], ["--json=", "-q"] })
        {
            var r = _cli.Trg(["estimate", image, "-m", "fake", .. args]);
            HardeningCli.AssertRefused(r, ErrorKind.Usage, $"'{args[0][..^1]}' has an empty value");
            Assert.DoesNotContain($"'{args[1]}'", r.Err);
        }
        Assert.Equal(0, _cli.EstimatorsCreated);
    }

    [Fact]
    public void The_library_refuses_non_finite_outputs_the_same_way()
    {
        var image = new RgbImage(80, 80, new byte[80 * 80 * 3]);
        var poisonBox = new FaceBox(HardeningCli.PoisonLeft, 10, 70, 70);
        var good = new FaceBox(20, 20, 60, 60);
        using var trg = new TrgEstimator(AppTestData.FakeWeights(), "Fake", (faces, ct) =>
            faces.Select(f => f.Box.Left == HardeningCli.PoisonLeft
                ? Poison(AppTestData.Place(f.Box, f.Camera))
                : AppTestData.Place(f.Box, f.Camera)).ToArray());

        // TrgEstimator: the call fails, naming the face; nothing non-finite is returned.
        var e = Assert.Throws<TrgException>(() => trg.Estimate(image, [good, poisonBox]));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Contains("face 1", e.Message);
        Assert.Equal(ErrorKind.InvalidBox, Assert.Throws<TrgException>(() => trg.Estimate(image, [new FaceBox(0, 0, 1e30f, 1e30f)])).Kind);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => trg.Estimate(image, [good], 1e-30f)).Kind);

        // HeadPoseEstimator: the face is a failure of its photo, the other face a result.
        using var estimator = HeadPoseEstimator.ForTrg(trg, new HeadPoseOptions());
        var result = estimator.Estimate(image, boxes: [poisonBox, good]);
        Assert.Equal(good, Assert.Single(result.Faces).Box);
        var failure = Assert.Single(result.Failures);
        Assert.Equal((poisonBox, ErrorKind.InvalidModel), (failure.Box, failure.Error.Kind));
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() =>
            estimator.Estimate(image, CameraIntrinsics.FromFocal(1e-30f, 80, 80), [good])).Kind);
    }

    private static FaceResult Poison(FaceResult r) => new()
    {
        Box = r.Box, Camera = r.Camera, Rotation = [.. r.Rotation[..8], float.NaN], Translation = r.Translation,
        VerticesCam = r.VerticesCam, VerticesHead = r.VerticesHead, Landmarks68Norm = r.Landmarks68Norm, Landmarks68 = r.Landmarks68,
        Iterations = r.Iterations, SamplingPoints = r.SamplingPoints,
    };

    [Fact]
    public void Generated_requests_inside_the_rules_keep_every_derived_number_finite_and_those_outside_are_refused()
    {
        var rng = new Random(9);
        int accepted = 0, refused = 0;
        for (int n = 0; n < 20000; n++)
        {
            int w = rng.Next(1, 5000), h = rng.Next(1, 5000), side = Math.Max(w, h);
            FaceBox box;
            float focal;
            if (rng.Next(2) == 0)
            {
                // Near the rules' edges: boxes up to 8.5 image sides anywhere around the image, focal 0.005 to 2000 sides.
                float l = (float)((rng.NextDouble() * 10 - 5) * side), t = (float)((rng.NextDouble() * 10 - 5) * side);
                box = new FaceBox(l, t, l + (float)(rng.NextDouble() * 8.5 * side), t + (float)(rng.NextDouble() * 8.5 * side));
                focal = (float)(side * Math.Pow(10, rng.NextDouble() * 5.6 - 2.3));
            }
            else
            {
                // Hostile: any magnitude up to float's range.
                float Coord() => rng.Next(3) switch
                {
                    0 => (float)Math.ScaleB(rng.NextDouble() - 0.5, rng.Next(0, 128)),
                    1 => float.MaxValue * (rng.Next(2) * 2 - 1),
                    _ => (float)(rng.NextDouble() * 20 * side - 10 * side),
                };
                box = new FaceBox(Coord(), Coord(), Coord(), Coord());
                focal = (float)Math.ScaleB(rng.NextDouble() + 0.5, rng.Next(-120, 120));
            }
            var camera = CameraIntrinsics.FromFocal(focal, w, h);
            bool boxOk = FaceRequestChecks.BoxProblem(box, w, h) is null;
            bool cameraOk = FaceRequestChecks.CameraProblem(camera, w, h) is null;
            if (!(boxOk && cameraOk)) { refused++; continue; }
            accepted++;
            // What the engine derives from the request (crop warp, box information, Tz), in float as on the device.
            float bw = box.Right - box.Left, bh = box.Bottom - box.Top;
            float[] derived =
            [
                192f / bw, 192f / bh, (box.Left + box.Right) / 2f, (box.Top + box.Bottom) / 2f,
                ((box.Left + box.Right) / 2f - camera.Cx) / camera.Focal, bw / camera.Focal, 0.2f * camera.Focal / bw,
            ];
            Assert.All(derived, v => Assert.True(float.IsFinite(v), $"{box} f={focal}: {v}"));
        }
        Assert.True(accepted > 1000 && refused > 1000, $"{accepted} accepted, {refused} refused: the generator misses a side");
    }

    [Theory]
    [InlineData("inf")]
    [InlineData("-Infinity")]
    [InlineData("nan")]
    [InlineData("1e999")]
    public void The_server_parses_a_focal_length_like_the_cli(string value)
    {
        var query = new QueryCollection(new Dictionary<string, StringValues> { ["focal"] = value });
        var e = Assert.Throws<TrgException>(() => EstimateQuery.Parse(query));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains($"--focal '{value}': '{value}' is not a finite number", e.Message);
    }

    [OpenCLFact]
    public void The_issues_absurd_box_and_smallest_focal_on_the_real_engine()
    {
        // Synthetic TRGv2 weights on PoCL: the 1e30 box is refused, the other face near the smallest accepted focal
        // length (0.01 image sides: 5.12 px) comes back finite.
        var r = _cli.Trg("estimate", AppTestData.AstronautPath, "-m", "synthetic:trgv2", "--device", "opencl", "-q",
            "--bbox", "0,0,1e30,1e30", "--bbox", "153,49,295,191", "--focal", "5.2");
        Assert.True(r.Code == (int)ErrorKind.PartialFailure, r.Err);
        HardeningCli.AssertNoStackTrace(r.Err);
        Assert.Contains("more than 8 times", r.Err);
        Assert.DoesNotContain("null", r.Out);
        using var doc = JsonDocument.Parse(r.Out);
        AssertFinite(Assert.Single(doc.RootElement.GetProperty("faces").EnumerateArray()));
    }

    /// <summary>Every number of a face in the JSON is finite (a non-finite float would be written as null or fail to write).</summary>
    private static void AssertFinite(JsonElement face)
    {
        foreach (var key in new[] { "rotation", "translation", "vertices_cam", "vertices_head", "landmarks68", "landmarks68_norm" })
            Assert.All(AppTestData.Floats(face.GetProperty(key)), v => Assert.True(float.IsFinite(v), key));
    }
}
