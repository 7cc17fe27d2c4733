using System.Text.Json;
using TrgIlgpu.Cli;
using TrgIlgpu.Evaluation;

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
}
