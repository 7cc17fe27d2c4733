using System.Diagnostics;
using TrgIlgpu.Model;

namespace TrgIlgpu.Formats;

/// <summary>What an export wrote.</summary>
public sealed record ExportSummary(string OutPath, VariantInfo Variant, int TensorCount, long StateDictElements, long FileBytes,
    IReadOnlyList<string> Notes, TimeSpan Elapsed);

/// <summary>
/// `trg export`: official checkpoint + arkit_subsample.pkl (+ triangles.npy) to a TrgIlgpu model file
/// (safetensors: official keys in official order, `subsample` int64 [305], optional `triangles` int32 [2304,3],
/// metadata format/variant/source). Everything is read and validated before the output is written atomically.
/// </summary>
public static class ModelExport
{
    public static ExportSummary Run(string checkpointPath, string subsamplePath, string? trianglesPath, string? variantName, string outPath)
    {
        var clock = Stopwatch.StartNew();
        VariantInfo? requested = null;
        if (variantName is not null)
            requested = VariantInfo.FromName(variantName) ?? throw new TrgException(ErrorKind.Usage, $"unknown variant '{variantName}' (trg or trgv2)");
        foreach (var input in new[] { checkpointPath, subsamplePath, trianglesPath })
            if (input is not null && !File.Exists(input)) throw new TrgException(ErrorKind.NotFound, "file not found", input);
        var outDir = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
        if (!Directory.Exists(outDir)) throw new TrgException(ErrorKind.NotFound, "output folder does not exist", outPath);

        // The small inputs first, so their mistakes show before the big read.
        var subsample = NumpyPickle.ReadSubsample(subsamplePath);
        var triangles = trianglesPath is null ? null : ReadTriangles(trianglesPath);
        var sd = Checkpoint.ReadStateDict(checkpointPath);

        var notes = new List<string>(sd.Notes);
        var extra = new HashSet<string> { VariantInfo.Subsample.Key, VariantInfo.Triangles.Key };
        var tensors = new List<HostTensor>();
        foreach (var t in sd.Tensors)
        {
            if (extra.Contains(t.Name)) { notes.Add($"ignored the checkpoint's own '{t.Name}'; the one given on the command line is used"); continue; }
            tensors.Add(t);
        }
        tensors.Add(new HostTensor(VariantInfo.Subsample.Key, VariantInfo.Subsample.Shape, subsample));
        if (triangles is not null) tensors.Add(triangles);

        var variant = requested ?? VariantInfo.Detect(tensors.Select(t => t.Name));
        var metadata = new Dictionary<string, string> { ["format"] = ModelWeights.FileFormat };
        if (variant is not null) metadata["variant"] = variant.Name;
        metadata["source"] = Path.GetFileName(checkpointPath);

        // Validates everything (all problems in one message) against the requested or detected variant.
        var weights = ModelWeights.FromTensors(tensors, metadata, checkpointPath);
        var specKeys = weights.Variant.Tensors.Select(s => s.Key).ToHashSet();
        var unexpected = tensors.Select(t => t.Name).Where(k => !specKeys.Contains(k) && !extra.Contains(k)).ToList();
        if (unexpected.Count > 0) notes.Add($"ignored {unexpected.Count} keys that are not part of {weights.Variant.Name}: {string.Join(", ", unexpected.Take(8))}{(unexpected.Count > 8 ? ", ..." : "")}");

        var output = new List<HostTensor>();
        foreach (var spec in weights.Variant.Tensors)
        {
            if (!weights.Tensors.TryGetValue(spec.Key, out var t)) continue;
            if (spec.DType == TensorDType.I64 && (t.DType != TensorDType.I64 || t.Elements != 1)) { notes.Add($"dropped '{spec.Key}' ({TensorData.Name(t.DType)} {t.ShapeText}), unused by inference"); continue; }
            output.Add(t);
        }
        output.Add(new HostTensor(VariantInfo.Subsample.Key, VariantInfo.Subsample.Shape, weights.Subsample));
        if (weights.Triangles is not null) output.Add(new HostTensor(VariantInfo.Triangles.Key, VariantInfo.Triangles.Shape, weights.Triangles));

        SafeTensors.Write(outPath, output, metadata);
        long elements = weights.Tensors.Values.Sum(t => t.Elements);
        return new ExportSummary(outPath, weights.Variant, output.Count, elements, new FileInfo(outPath).Length, notes, clock.Elapsed);
    }

    /// <summary>Triangles from a .npy: int32 or int64 [2304,3] over the 1220 vertices, stored as int32.</summary>
    public static HostTensor ReadTriangles(string path)
    {
        var t = Npy.Read(path, VariantInfo.Triangles.Key);
        if (!t.Shape.SequenceEqual(VariantInfo.Triangles.Shape) || t.DType == TensorDType.F32)
            throw new TrgException(ErrorKind.InvalidModel, $"triangles must be an integer array {VariantInfo.Triangles.ShapeText}, got {TensorData.Name(t.DType)} {t.ShapeText}", path);
        var data = t.I32 ?? t.I64!.Select(v => v is >= 0 and < VariantInfo.Vertices ? (int)v : -1).ToArray();
        if (data.Any(i => i < 0 || i >= VariantInfo.Vertices))
            throw new TrgException(ErrorKind.InvalidModel, $"triangles hold vertex numbers outside [0,{VariantInfo.Vertices})", path);
        return new HostTensor(VariantInfo.Triangles.Key, VariantInfo.Triangles.Shape, data);
    }
}
