using System.CommandLine;
using System.Text;
using TrgIlgpu.Evaluation;

namespace TrgIlgpu.Cli.Commands;

/// <summary>`trg metrics`: the paper's errors between a predictions file and a ground-truth file (docs/evaluation.md).</summary>
internal static class MetricsCommand
{
    public static Command Create()
    {
        var pred = new Option<string>("--pred") { Description = "Predictions, JSON Lines (pose lines, or what `trg estimate --jsonl` writes)", Required = true };
        var gt = new Option<string>("--gt") { Description = "Ground truth, JSON Lines of pose lines", Required = true };
        var align = new Option<string?>("--align") { Description = "dT file from `trg align --json`: report the errors with and without this correction" };
        var json = new Option<string?>("--json") { Description = "Write the JSON report to this file (- = stdout)" };
        var markdown = new Option<string?>("--markdown") { Description = "Write the Markdown report (Tables 4 and 5 layout) to this file (- = stdout)" };
        var strict = new Option<bool>("--strict") { Description = "Fail when an id is on one side only (default: count and report it)" };
        var cmd = new Command("metrics", "Yaw/pitch/roll, MAE_r, GE, translation, BMAE, ADD and dense errors of predictions against ground truth.")
        {
            pred, gt, align, json, markdown, strict,
        };
        cmd.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            var predictions = PoseFile.Read(parse.GetValue(pred)!);
            var truth = PoseFile.Read(parse.GetValue(gt)!);
            var offset = parse.GetValue(align) is { } a ? MetricsFormat.ReadOffset(a) : null;
            var report = Metrics.Compute(predictions.Samples, truth.Samples, new MetricsOptions { Alignment = offset, Strict = parse.GetValue(strict) });
            foreach (var image in predictions.FailedImages) stderr.WriteLine($"trg metrics: {image}: the estimate failed on this image (its faces are missing)");
            ReportMissing(stderr, "trg metrics", report);
            string? jsonPath = parse.GetValue(json), markdownPath = parse.GetValue(markdown);
            var text = MetricsFormat.ToMarkdown(report, "TRG evaluation");
            Write(jsonPath, MetricsFormat.ToJson(report), stdout);
            Write(markdownPath, text, stdout);
            if (jsonPath is null && markdownPath is null) stdout.Write(text);
            return 0;
        });
        return cmd;
    }

    /// <summary>Ids on one side only, counted on stderr with a few examples.</summary>
    public static void ReportMissing(TextWriter stderr, string who, MetricsReport report)
    {
        if (report.MissingPredictions.Count > 0)
            stderr.WriteLine($"{who}: {report.MissingPredictions.Count} ground-truth sample(s) have no prediction (not scored), e.g. {string.Join(", ", report.MissingPredictions.Take(3))}");
        if (report.MissingTruth.Count > 0)
            stderr.WriteLine($"{who}: {report.MissingTruth.Count} prediction(s) have no ground truth (not scored), e.g. {string.Join(", ", report.MissingTruth.Take(3))}");
    }

    /// <summary>Text to a file (written whole) or, for "-", to stdout; nothing for null.</summary>
    public static void Write(string? path, string text, TextWriter stdout)
    {
        if (path is null) return;
        if (path == "-") { stdout.Write(text); return; }
        AtomicFile.Write(path, s => s.Write(new UTF8Encoding(false).GetBytes(text)));
    }
}
