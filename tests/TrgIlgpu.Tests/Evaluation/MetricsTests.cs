using System.Text.Json;
using TrgIlgpu.Cli;
using TrgIlgpu.Evaluation;

namespace TrgIlgpu.Tests.Evaluation;

/// <summary>
/// Metrics.Compute and `trg metrics` against the independent SciPy implementation (tools/eval_reference.py): random
/// samples incl. the +-180 degree seams, near-identity rotations, rotations beyond 75 degrees, rounded (non-orthonormal)
/// matrices and ids on one side only; every number to 1e-6 relative / 1e-9 absolute.
/// </summary>
public class MetricsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trg-metrics-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Fixture(string name) => Path.Combine(TestPaths.Fixtures, "Evaluation", name);

    private static JsonElement Expected(string section)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixture("expected.json")));
        return doc.RootElement.GetProperty(section).Clone();
    }

    /// <summary>Every number of <paramref name="expected"/> (nested objects too) is in <paramref name="actual"/> and agrees.</summary>
    private static void AssertAgrees(JsonElement expected, JsonElement actual, string path = "")
    {
        foreach (var p in expected.EnumerateObject())
        {
            Assert.True(actual.TryGetProperty(p.Name, out var a), $"missing key {path}{p.Name}");
            if (p.Value.ValueKind == JsonValueKind.Object) { AssertAgrees(p.Value, a, $"{path}{p.Name}."); continue; }
            double e = p.Value.GetDouble(), v = a.GetDouble();
            Assert.True(Math.Abs(e - v) <= 1e-9 + 1e-6 * Math.Abs(e), $"{path}{p.Name}: C# {v:R}, SciPy {e:R}");
        }
    }

    private static JsonElement Json(MetricsReport report)
    {
        using var doc = JsonDocument.Parse(MetricsFormat.ToJson(report));
        return doc.RootElement.Clone();
    }

    [Fact]
    public void Library_agrees_with_scipy_without_and_with_alignment()
    {
        var pred = PoseFile.Read(Fixture("pred.jsonl")).Samples;
        var gt = PoseFile.Read(Fixture("gt.jsonl")).Samples;
        var plain = Metrics.Compute(pred, gt);
        AssertAgrees(Expected("plain"), Json(plain));
        Assert.Equal(3, plain.MissingPredictions.Count);
        Assert.Equal(["extra-1", "extra-2"], plain.MissingTruth);
        // The fixture holds seam crossings (errors near 360 degrees: no wrap-around) and empty bins.
        Assert.True(plain.Errors.Yaw > 5 && plain.Errors.BmaeEmptyBins > 0);
        Assert.NotNull(plain.Errors.AddMm);
        Assert.NotNull(plain.Errors.DenseMedianMm);

        var aligned = Metrics.Compute(pred, gt, new MetricsOptions { Alignment = MetricsFormat.ReadOffset(Fixture("dt.json")) });
        AssertAgrees(Expected("aligned"), Json(aligned));
        Assert.Equal(plain.Errors, aligned.Unaligned! with { BinCounts = plain.Errors.BinCounts, BinMaeR = plain.Errors.BinMaeR });
    }

    [Fact]
    public void Cli_writes_json_and_markdown_that_agree_with_scipy()
    {
        var json = Path.Combine(_dir, "m.json");
        var md = Path.Combine(_dir, "m.md");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(["metrics", "--pred", Fixture("pred.jsonl"), "--gt", Fixture("gt.jsonl"), "--align", Fixture("dt.json"),
            "--json", json, "--markdown", md], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        AssertAgrees(Expected("aligned"), doc.RootElement);
        Assert.Contains("3 ground-truth sample(s) have no prediction", stderr.ToString());
        Assert.Contains("2 prediction(s) have no ground truth", stderr.ToString());
        var text = File.ReadAllText(md);
        Assert.Contains("| without alignment |", text);
        Assert.Contains("| with alignment (dT = 3.10, -12.40, 20.70 mm, head frame) |", text);
        Assert.Contains("| Yaw | Pitch | Roll | MAE_r | GE |", text);
        Assert.Contains("| t_x | t_y | t_z | MAE_t | ADD |", text);
    }

    [Fact]
    public void Strict_makes_one_sided_ids_an_error()
    {
        var stderr = new StringWriter();
        int code = CliApp.Run(["metrics", "--pred", Fixture("pred.jsonl"), "--gt", Fixture("gt.jsonl"), "--strict"], new StringWriter(), stderr);
        Assert.Equal((int)ErrorKind.InvalidData, code);
        Assert.Contains("3 ground-truth id(s) have no prediction", stderr.ToString());
    }

    [Fact]
    public void Estimate_jsonl_ids_are_paths_with_a_face_index_when_an_image_has_several()
    {
        var face = """{"rotation": [[1,0,0],[0,1,0],[0,0,1]], "translation": [0.01, 0.02, 0.9]}""";
        var pred = Path.Combine(_dir, "est.jsonl");
        File.WriteAllLines(pred,
        [
            $$"""{"image": {"path": "a.png", "width": 10, "height": 10}, "faces": [{{face}}], "device": "x"}""",
            $$"""{"image": {"path": "b.png", "width": 10, "height": 10}, "faces": [{{face}}, {{face}}]}""",
            """{"image": {"path": "c.png"}, "error": {"kind": "InvalidImage", "exit_code": 6, "message": "bad"}}""",
            """{"image": {"path": "d.png", "width": 10, "height": 10}, "faces": []}""",
        ]);
        var contents = PoseFile.Read(pred);
        Assert.Equal(["a.png", "b.png#0", "b.png#1"], contents.Samples.Select(s => s.Id));
        Assert.Equal(["c.png"], contents.FailedImages);
        Assert.Equal(0.9, contents.Samples[2].Translation[2]);
    }

    [Theory]
    [InlineData("""{"id": "a", "rotation": [[1,0,0],[0,1,0]], "translation": [0,0,1]}""", "\"rotation\" must be 3x3")]
    [InlineData("""{"id": "a", "rotation": [[1,0,0],[0,1,0],[0,0,1]], "translation": [0,"x",1]}""", "element 1 is not a finite number")]
    [InlineData("""{"rotation": [[1,0,0],[0,1,0],[0,0,1]], "translation": [0,0,1]}""", "no \"id\"")]
    [InlineData("""{"id": "a", "rotation": [[1,0,0],[0,1,0],[0,0,1]], "translation": [0,0,1], "vertices_head": [[1,2]]}""", "row 0 has 2 numbers")]
    [InlineData("not json", "not JSON")]
    public void Malformed_lines_name_the_file_and_line(string line, string problem)
    {
        var path = Path.Combine(_dir, "bad.jsonl");
        File.WriteAllLines(path, ["""{"id": "ok", "rotation": [[1,0,0],[0,1,0],[0,0,1]], "translation": [0,0,1]}""", line]);
        var e = Assert.Throws<TrgException>(() => PoseFile.Read(path));
        Assert.Equal(ErrorKind.InvalidData, e.Kind);
        Assert.Contains(path, e.Message);
        Assert.Contains("line 2", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void Repeated_ids_and_no_common_id_are_errors()
    {
        var s = new PoseSample("a", [1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 1]);
        Assert.Contains("appears twice", Assert.Throws<TrgException>(() => Metrics.Compute([s, s], [s])).Message);
        var e = Assert.Throws<TrgException>(() => Metrics.Compute([s], [s with { Id = "b" }]));
        Assert.Equal(ErrorKind.InvalidData, e.Kind);
        Assert.Contains("no id in common", e.Message);
    }

    [Fact]
    public void Written_pose_files_read_back_exactly()
    {
        var rng = new Random(3);
        var samples = Enumerable.Range(0, 5).Select(i => new PoseSample($"x{i}", SyntheticDatasets.RandomRotation(rng, 170),
            [rng.NextDouble(), rng.NextDouble(), rng.NextDouble()]) { VerticesCam = Enumerable.Range(0, 9).Select(_ => rng.NextDouble()).ToArray() }).ToList();
        var path = Path.Combine(_dir, "w.jsonl");
        PoseFile.Write(path, samples);
        var back = PoseFile.Read(path).Samples;
        Assert.Equal(samples.Select(s => s.Rotation), back.Select(s => s.Rotation));
        Assert.Equal(samples.Select(s => s.Translation), back.Select(s => s.Translation));
        Assert.Equal(samples.Select(s => s.VerticesCam), back.Select(s => s.VerticesCam));
        Assert.All(back, s => Assert.Null(s.VerticesHead));
    }
}
