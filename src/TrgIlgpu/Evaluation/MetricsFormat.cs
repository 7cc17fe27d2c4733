using System.Globalization;
using System.Text;
using System.Text.Json;

namespace TrgIlgpu.Evaluation;

/// <summary>Frame counts of a dataset run (<c>trg eval</c>), reported beside the metrics.</summary>
public sealed record FrameCounts(int Listed, int Skipped, int Failed);

/// <summary>The metrics report as JSON (docs/evaluation.md) and as Markdown laid out like the paper's Tables 4 and 5.</summary>
public static class MetricsFormat
{
    /// <summary>The JSON report: the errors at the top level (aligned when an offset was given), then the counts, bins and alignment.</summary>
    public static string ToJson(MetricsReport report, FrameCounts? frames = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            WriteErrors(w, report.Errors);
            w.WriteNumber("missing_predictions", report.MissingPredictions.Count);
            w.WriteNumber("missing_ground_truth", report.MissingTruth.Count);
            if (frames is not null)
            {
                w.WriteStartObject("frames");
                w.WriteNumber("listed", frames.Listed);
                w.WriteNumber("skipped", frames.Skipped);
                w.WriteNumber("failed", frames.Failed);
                w.WriteEndObject();
            }
            w.WriteStartArray("bmae_bins");
            for (int b = 0; b < Metrics.BinCount; b++)
            {
                w.WriteStartObject();
                w.WriteNumber("from_deg", b * Metrics.BinWidth);
                w.WriteNumber("to_deg", (b + 1) * Metrics.BinWidth);
                w.WriteNumber("n", report.Errors.BinCounts[b]);
                Number(w, "mae_r", report.Errors.BinMaeR[b]);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (report.Alignment is { } a)
            {
                w.WriteStartObject("alignment");
                w.WriteStartArray("dt_mm");
                foreach (var v in new[] { a.X, a.Y, a.Z }) w.WriteNumberValue(v * 1000);
                w.WriteEndArray();
                w.WriteString("frame", a.Frame == OffsetFrame.Head ? "head" : "camera");
                w.WriteEndObject();
                w.WriteStartObject("unaligned");
                WriteErrors(w, report.Unaligned!);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteErrors(Utf8JsonWriter w, PoseErrors e)
    {
        Number(w, "yaw", e.Yaw); Number(w, "pitch", e.Pitch); Number(w, "roll", e.Roll);
        Number(w, "mae_r", e.MaeR); Number(w, "ge", e.Ge);
        Number(w, "tx_mm", e.TxMm); Number(w, "ty_mm", e.TyMm); Number(w, "tz_mm", e.TzMm); Number(w, "mae_t_mm", e.MaeTMm);
        Number(w, "bmae", e.Bmae);
        w.WriteNumber("bmae_empty_bins", e.BmaeEmptyBins);
        if (e.AddMm is { } add) Number(w, "add_mm", add);
        if (e.DenseMedianMm is { } median) Number(w, "dense_median_mm", median);
        if (e.DenseMeanMm is { } mean) Number(w, "dense_mean_mm", mean);
        w.WriteNumber("n", e.N);
    }

    private static void Number(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    /// <summary>
    /// Markdown: rotation (Table 4: yaw, pitch, roll, MAE_r, GE) and translation (Table 5: t_x, t_y, t_z, MAE_t, ADD)
    /// errors, a row without and a row with alignment when an offset was given, then BMAE and the dense error.
    /// </summary>
    public static string ToMarkdown(MetricsReport report, string title, FrameCounts? frames = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        var rows = report.Unaligned is { } u
            ? new[] { ("without alignment", u), ($"with alignment (dT = {Mm(report.Alignment!)} mm, {Frame(report.Alignment!)})", report.Errors) }
            : new[] { ("all samples", report.Errors) };
        var sb = new StringBuilder();
        sb.Append("# ").Append(title).Append("\n\n");
        sb.Append($"{report.Errors.N} samples");
        if (report.MissingPredictions.Count + report.MissingTruth.Count > 0)
            sb.Append($"; {report.MissingPredictions.Count} ground-truth sample(s) without prediction and {report.MissingTruth.Count} prediction(s) without ground truth, not scored");
        if (frames is not null) sb.Append($"; frames: {frames.Listed} listed, {frames.Skipped} skipped (missing or malformed files), {frames.Failed} failed (no face or an engine error)");
        sb.Append(".\n\n## Rotation (degrees; Table 4)\n\n| | Yaw | Pitch | Roll | MAE_r | GE |\n|---|---|---|---|---|---|\n");
        foreach (var (label, e) in rows) sb.Append($"| {label} | {F(e.Yaw)} | {F(e.Pitch)} | {F(e.Roll)} | {F(e.MaeR)} | {F(e.Ge)} |\n");
        sb.Append("\n## Translation (mm; Table 5)\n\n| | t_x | t_y | t_z | MAE_t | ADD |\n|---|---|---|---|---|---|\n");
        foreach (var (label, e) in rows)
            sb.Append($"| {label} | {F(e.TxMm)} | {F(e.TyMm)} | {F(e.TzMm)} | {F(e.MaeTMm)} | {(e.AddMm is { } add ? F(add) : "n/a")} |\n");
        var errors = report.Errors;
        sb.Append($"\nBMAE (DD-Pose, bins of {Metrics.BinWidth:0} degrees up to {Metrics.BinRange:0}): {F(errors.Bmae)}");
        sb.Append(errors.BmaeEmptyBins > 0 ? $" ({errors.BmaeEmptyBins} of {Metrics.BinCount} bins empty, counted as zero)\n" : "\n");
        if (errors.DenseMedianMm is { } median)
            sb.Append($"\nDense vertex error (mm): median {F(median)}, mean {F(errors.DenseMeanMm!.Value)}\n");
        return sb.ToString();
    }

    private static string F(double v) => v.ToString("0.00", CultureInfo.InvariantCulture);
    private static string Mm(TranslationOffset a) => string.Join(", ", new[] { a.X, a.Y, a.Z }.Select(v => F(v * 1000)));
    private static string Frame(TranslationOffset a) => a.Frame == OffsetFrame.Head ? "head frame" : "camera frame";

    /// <summary>Reads an offset file written by <c>trg align --json</c>: <c>{"dt_m": [x, y, z], "frame": "head"|"camera", ...}</c>.</summary>
    public static TranslationOffset ReadOffset(string path)
    {
        if (!File.Exists(path)) throw new TrgException(ErrorKind.NotFound, "file not found", path);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("dt_m", out var dt) || dt.ValueKind != JsonValueKind.Array
                || dt.GetArrayLength() != 3 || dt.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.Number || !double.IsFinite(v.GetDouble())))
                throw new TrgException(ErrorKind.InvalidData, "expected {\"dt_m\": [x, y, z], \"frame\": \"head\"|\"camera\"} (metres), as `trg align --json` writes", path);
            var frame = root.TryGetProperty("frame", out var f) ? f.GetString() : "head";
            var kind = frame switch
            {
                "head" => OffsetFrame.Head,
                "camera" => OffsetFrame.Camera,
                _ => throw new TrgException(ErrorKind.InvalidData, $"\"frame\" must be \"head\" or \"camera\", not '{frame}'", path),
            };
            var v = dt.EnumerateArray().Select(x => x.GetDouble()).ToArray();
            return new TranslationOffset(v[0], v[1], v[2], kind);
        }
        catch (JsonException e) { throw new TrgException(ErrorKind.InvalidData, $"not JSON ({e.Message})", path); }
        catch (InvalidOperationException e) { throw new TrgException(ErrorKind.InvalidData, $"\"frame\" must be a string ({e.Message})", path); }
    }

    /// <summary>The offset file <c>trg align --json</c> writes (<see cref="ReadOffset"/> reads it).</summary>
    public static string AlignmentToJson(AlignmentResult a)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            Array(w, "dt_m", a.Offset);
            Array(w, "dt_mm", a.OffsetMm);
            w.WriteString("frame", "head");
            w.WriteString("fit", a.Fit == AlignmentFit.Similarity ? "similarity" : "rigid");
            w.WriteString("method", "iteratively reweighted closed-form fit (Horn quaternion, weights 1/residual) with dT the geometric median (Weiszfeld)");
            w.WriteNumber("scale", a.Scale);
            Array(w, "rotation", a.Rotation);
            w.WriteNumber("tolerance_m", a.Tolerance);
            w.WriteNumber("iterations", a.Iterations);
            w.WriteBoolean("converged", a.Converged);
            Array(w, "mean_offset_mm", a.MeanOffset.Select(v => v * 1000).ToArray());
            Array(w, "residuals_mm", a.Residuals.Select(v => v * 1000).ToArray());
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void Array(Utf8JsonWriter w, string name, double[] values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }
}
