using System.Text.Json;
using TrgIlgpu.Cli;
using TrgIlgpu.Evaluation;
using TrgIlgpu.Tests.App;

namespace TrgIlgpu.Tests.Evaluation;

/// <summary>
/// `trg eval` end to end: a tiny synthetic BIWI dataset, the real engine (synthetic TRGv2 weights) on OpenCL (PoCL on a
/// machine without a GPU), batched, with progress, predictions, ground truth and the metrics report written.
/// </summary>
public class EvalCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trg-eval-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Biwi_run_is_batched_reports_skipped_frames_and_writes_the_report()
    {
        var written = SyntheticDatasets.WriteBiwi(_dir, frames: 5, seed: 21); // 4 usable; frame 3 and subject 02 skipped
        var hpdb = Path.Combine(_dir, "hpdb");
        var boxes = Path.Combine(hpdb, "boxes.json");
        File.WriteAllText(boxes, JsonSerializer.Serialize(written.ToDictionary(f => f.Id, _ => new[] { new[] { 30, 10, 130, 110 } })));
        var output = Path.Combine(_dir, "out");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(["eval", _dir, "--dataset", "biwi", "--model", "synthetic:trgv2:3", "--boxes", boxes, "--device", "opencl",
            "--batch", "3", "--out", output], stdout, stderr);
        var err = stderr.ToString();
        Assert.True(code == (int)ErrorKind.PartialFailure, $"exit {code}: {err}");
        // Two engine passes (3 + 1 frames), each reported.
        Assert.Contains("trg eval: 3/4 frames", err);
        Assert.Contains("trg eval: 4/4 frames", err);
        Assert.Contains("01/frame_00003_rgb.png: ", err);
        Assert.Contains("pose file missing (skipped)", err);
        Assert.Contains("02/frame_00001_rgb.png: ", err);

        var predictions = PoseFile.Read(Path.Combine(output, "predictions.jsonl")).Samples;
        var truth = PoseFile.Read(Path.Combine(output, "ground_truth.jsonl")).Samples;
        Assert.Equal(written.Select(f => f.Id), predictions.Select(p => p.Id));
        Assert.Equal(written.Select(f => f.Id), truth.Select(p => p.Id));
        Assert.All(predictions, p => Assert.Equal(1220 * 3, p.VerticesCam!.Length));
        Assert.All(predictions, p => Assert.True(p.Translation.All(double.IsFinite) && p.Translation[2] > 0));

        // The report is Metrics.Compute over the written files, with the frame counts.
        var expected = Metrics.Compute(predictions, truth);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        var root = doc.RootElement;
        Assert.Equal(4, root.GetProperty("n").GetInt32());
        Assert.Equal(expected.Errors.MaeR, root.GetProperty("mae_r").GetDouble(), 12);
        Assert.Equal(expected.Errors.AddMm!.Value, root.GetProperty("add_mm").GetDouble(), 9);
        Assert.Equal(6, root.GetProperty("frames").GetProperty("listed").GetInt32()); // 5 + 1 image files
        Assert.Equal(2, root.GetProperty("frames").GetProperty("skipped").GetInt32());
        Assert.Equal(0, root.GetProperty("frames").GetProperty("failed").GetInt32());
        Assert.Contains("TRG evaluation on BIWI", File.ReadAllText(Path.Combine(output, "metrics.md")));
        Assert.Contains("| Yaw | Pitch | Roll | MAE_r | GE |", stdout.ToString());
    }

    [Fact]
    public void Frames_without_a_box_entry_fail_and_are_counted()
    {
        var written = SyntheticDatasets.WriteBiwi(_dir, frames: 2, seed: 22);
        var boxes = Path.Combine(_dir, "hpdb", "boxes.json");
        File.WriteAllText(boxes, JsonSerializer.Serialize(new Dictionary<string, int[][]> { [written[0].Id] = [[30, 10, 130, 110]] }));
        var output = Path.Combine(_dir, "out");
        var stderr = new StringWriter();
        int code = CliApp.Run(["eval", _dir, "--dataset", "biwi", "--model", "synthetic:trgv2:3", "--boxes", boxes, "--device", "opencl",
            "--out", output, "--quiet"], new StringWriter(), stderr);
        Assert.Equal((int)ErrorKind.PartialFailure, code);
        Assert.Contains("no entry in the boxes file", stderr.ToString());
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        Assert.Equal(1, doc.RootElement.GetProperty("n").GetInt32());
        Assert.Equal(1, doc.RootElement.GetProperty("frames").GetProperty("failed").GetInt32());
        Assert.Equal(1, doc.RootElement.GetProperty("missing_predictions").GetInt32());
    }

    [Fact]
    public void Metrics_read_what_trg_estimate_jsonl_wrote()
    {
        var jsonl = Path.Combine(_dir, "est.jsonl");
        var (box, other) = (AppTestData.AstronautBox, new FaceBox(300, 300, 400, 400));
        var stderr = new StringWriter();
        int code = CliApp.Run(["estimate", AppTestData.AstronautPath, "--model", "synthetic:trgv2:3", "--device", "opencl",
            "--bbox", box.ToString(), "--bbox", other.ToString(), "--jsonl", jsonl, "--quiet"], new StringWriter(), stderr);
        Assert.True(code == 0, stderr.ToString());
        var predictions = PoseFile.Read(jsonl).Samples;
        Assert.Equal([AppTestData.AstronautPath + "#0", AppTestData.AstronautPath + "#1"], predictions.Select(p => p.Id));
        // Ground truth: the first face moved 10 mm along x, the second one as predicted, one more id with no prediction.
        var gt = Path.Combine(_dir, "gt.jsonl");
        var first = predictions[0];
        PoseFile.Write(gt, [first with
            {
                Translation = [first.Translation[0] + 0.01, first.Translation[1], first.Translation[2]],
                VerticesCam = first.VerticesCam!.Select((v, i) => i % 3 == 0 ? v + 0.01 : v).ToArray(),
            }, predictions[1],
            first with { Id = "other.png" }]);
        var json = Path.Combine(_dir, "m.json");
        code = CliApp.Run(["metrics", "--pred", jsonl, "--gt", gt, "--json", json], new StringWriter(), stderr = new StringWriter());
        Assert.True(code == 0, stderr.ToString());
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal(2, root.GetProperty("n").GetInt32());
        Assert.Equal(1, root.GetProperty("missing_predictions").GetInt32());
        Assert.Equal(5.0, root.GetProperty("tx_mm").GetDouble(), 9);
        Assert.Equal(0.0, root.GetProperty("ty_mm").GetDouble());
        Assert.Equal(0.0, root.GetProperty("mae_r").GetDouble());
        Assert.Equal(5.0, root.GetProperty("dense_mean_mm").GetDouble(), 9);
    }

    [Fact]
    public void Arkit_run_uses_each_image_size_for_the_camera_and_scores_the_dense_error()
    {
        var written = SyntheticDatasets.WriteArkit(_dir, frames: 2, seed: 23);
        var boxes = Path.Combine(_dir, "boxes.json");
        File.WriteAllText(boxes, JsonSerializer.Serialize(written.ToDictionary(
            f => string.Join('/', ["ARKitFace_image_test", "image", .. f.Id.Split('/')]) + "_ar.jpg", _ => new[] { new[] { 10, 30, 110, 130 } })));
        var output = Path.Combine(_dir, "out");
        var stderr = new StringWriter();
        int code = CliApp.Run(["eval", _dir, "--dataset", "arkitface", "--model", "synthetic:trgv2:3", "--boxes", boxes, "--device", "opencl",
            "--out", output, "--limit", "2"], new StringWriter(), stderr);
        Assert.True(code == (int)ErrorKind.PartialFailure, $"exit {code}: {stderr}"); // the missing and the malformed info file
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        var root = doc.RootElement;
        Assert.Equal(2, root.GetProperty("n").GetInt32());
        Assert.Equal(2, root.GetProperty("frames").GetProperty("skipped").GetInt32());
        Assert.True(root.GetProperty("dense_mean_mm").GetDouble() > 0);
        Assert.True(root.GetProperty("add_mm").GetDouble() > 0);
    }
}
