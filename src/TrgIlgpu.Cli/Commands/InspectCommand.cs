using System.CommandLine;
using System.Globalization;
using TrgIlgpu.Formats;
using TrgIlgpu.Model;

namespace TrgIlgpu.Cli.Commands;

/// <summary>
/// `trg inspect FILE`: what a checkpoint, model file, safetensors state dict or data pickle holds, and every problem
/// that would stop `trg export` or the engine. Exit 0 when valid, 4 (InvalidModel) when there are problems.
/// </summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "checkpoint (.bin/.pt/.pth), model or state dict (.safetensors), or data pickle (.pkl)" };
        var cmd = new Command("inspect", "Describe a checkpoint, model file or data pickle and list every validation problem.") { file };
        cmd.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            var o = parse.InvocationConfiguration.Output;
            var report = path.EndsWith(".pkl", StringComparison.OrdinalIgnoreCase) ? InspectPickle(path) : InspectWeights(path);
            foreach (var (label, value) in report.Lines) o.WriteLine($"{label + ":",-12}{value}");
            if (report.Problems.Count == 0)
            {
                o.WriteLine($"{"problems:",-12}none");
                return 0;
            }
            o.WriteLine($"{"problems:",-12}{report.Problems.Count}");
            foreach (var p in report.Problems) o.WriteLine($"  - {p}");
            parse.InvocationConfiguration.Error.WriteLine($"trg: error: {path}: {report.Problems.Count} validation problem(s), listed above");
            return (int)ErrorKind.InvalidModel;
        });
        return cmd;
    }

    private sealed record Report(List<(string, string)> Lines, IReadOnlyList<string> Problems);

    private static Report InspectWeights(string path)
    {
        if (!File.Exists(path)) throw new TrgException(ErrorKind.NotFound, "file not found", path);
        var sd = Checkpoint.ReadStateDict(path);
        var md = sd.Metadata;
        bool modelFile = md.GetValueOrDefault("format") == ModelWeights.FileFormat;
        var tensors = new Dictionary<string, HostTensor>();
        var duplicate = new List<string>();
        foreach (var t in sd.Tensors) if (!tensors.TryAdd(t.Name, t)) duplicate.Add($"tensor '{t.Name}' appears twice");
        var v = ModelWeights.Validate(tensors, md, requireSubsample: modelFile);

        var extra = new HashSet<string> { VariantInfo.Subsample.Key, VariantInfo.Triangles.Key };
        var stateTensors = sd.Tensors.Where(t => !extra.Contains(t.Name)).ToList();
        long elements = stateTensors.Sum(t => t.Elements);
        long bytes = sd.Tensors.Sum(t => t.Elements * TensorData.ElementSize(t.DType));
        var kind = modelFile ? "TrgIlgpu model file (safetensors)"
            : md.GetValueOrDefault("format") == "pytorch-zip" ? $"PyTorch zip checkpoint (archive '{md.GetValueOrDefault("archive")}')"
            : "safetensors state dict";
        var lines = new List<(string, string)>
        {
            ("file", $"{path} ({sd.FileBytes:N0} bytes)"),
            ("kind", kind),
            ("variant", v.Variant is null ? "unknown" : $"{v.Variant.Name} ({v.Variant.DeconvStages} deconvolution stages, {v.Variant.Iterations} iterations)"),
            ("tensors", $"{sd.Tensors.Count} ({string.Join(", ", sd.Tensors.GroupBy(t => t.DType).Select(g => $"{g.Count()} {TensorData.Name(g.Key)}"))})"),
            ("parameters", $"{elements.ToString("N0", CultureInfo.InvariantCulture)} state-dict elements (weights and buffers)"
                           + (v.Variant is null ? "" : $", expected {v.Variant.Tensors.Sum(s => s.Elements).ToString("N0", CultureInfo.InvariantCulture)}")),
            ("bytes", $"{bytes.ToString("N0", CultureInfo.InvariantCulture)} as loaded (floats as float32)"),
        };
        if (tensors.TryGetValue(VariantInfo.Subsample.Key, out var sub)) lines.Add(("subsample", $"{TensorData.Name(sub.DType)} {sub.ShapeText}"));
        if (tensors.TryGetValue(VariantInfo.Triangles.Key, out var tri)) lines.Add(("triangles", $"{TensorData.Name(tri.DType)} {tri.ShapeText}"));
        foreach (var (k, val) in md) lines.Add(("metadata", $"{k} = {val}"));
        foreach (var note in sd.Notes) lines.Add(("note", note));
        if (v.UnexpectedKeys.Count > 0)
            lines.Add(("unexpected", $"{v.UnexpectedKeys.Count} keys, ignored when loading: {string.Join(", ", v.UnexpectedKeys.Take(20))}{(v.UnexpectedKeys.Count > 20 ? ", ..." : "")}"));
        return new Report(lines, duplicate.Concat(v.Problems).ToList());
    }

    private static Report InspectPickle(string path)
    {
        var root = NumpyPickle.Load(path);
        var lines = new List<(string, string)> { ("file", $"{path} ({new FileInfo(path).Length:N0} bytes)"), ("kind", "data pickle (numpy allow-list)") };
        var problems = new List<string>();
        if (root is not PyDict dict)
        {
            lines.Add(("content", Describe(root)));
            return new Report(lines, problems);
        }
        lines.Add(("keys", dict.Count.ToString(CultureInfo.InvariantCulture)));
        foreach (var (k, val) in dict.Items) lines.Add(("entry", $"{k}: {Describe(val)}"));
        if (dict.TryGet(NumpyPickle.SubsampleKey, out _))
        {
            try { NumpyPickle.ReadSubsample(path); lines.Add(("subsample", $"'{NumpyPickle.SubsampleKey}' is valid (305 distinct indices below 1220)")); }
            catch (TrgException e) when (e.Kind == ErrorKind.InvalidModel) { problems.Add(e.Message); }
        }
        return new Report(lines, problems);
    }

    private static string Describe(object? v) => v switch
    {
        List<object?> list when list.All(x => x is long) && list.Count > 0 =>
            $"list of {list.Count} ints in [{list.Cast<long>().Min()}, {list.Cast<long>().Max()}]",
        List<object?> list => $"list of {list.Count} items",
        NumpyArray a => $"numpy {a.DType} {a.ShapeText}",
        PyDict d => $"dict of {d.Count} items",
        PyTuple t => $"tuple of {t.Count} items",
        string s => $"'{s}'",
        null => "None",
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "?",
    };
}
