using System.IO.Hashing;
using TrgIlgpu.Formats;

namespace TrgIlgpu.Model;

public sealed partial class ModelWeights
{
    /// <summary>
    /// True when <see cref="Tensors"/> holds the state dict. False for a description (<see cref="OpenFile"/>,
    /// <see cref="WithoutTensors"/>): variant, subsample, triangles, metadata and source only; the engine reads the
    /// weights from the file when it packs them, and keeps no host copy after the upload (docs/startup.md).
    /// </summary>
    public bool HasTensors => Tensors.Count > 0;

    /// <summary>XxHash128 of the model file's bytes (hex), for files; null for weights made in memory. The packed-weights cache key.</summary>
    public string? ContentHash { get; init; }

    /// <summary>
    /// Opens a model file without reading its weights: the header is checked (format, variant, every state-dict tensor
    /// present with its shape and a floating type; all problems at once), `subsample` and `triangles` are read, and
    /// the file's content is hashed (<see cref="ContentHash"/>). <see cref="ReadTensors"/> reads the weights.
    /// Errors: NotFound, InvalidModel.
    /// </summary>
    public static ModelWeights OpenFile(string path, InputLimits? limits = null)
    {
        if (!File.Exists(path)) throw new TrgException(ErrorKind.NotFound, "model file not found", path);
        var small = new HashSet<string> { VariantInfo.Subsample.Key, VariantInfo.Triangles.Key };
        var (all, selected, metadata) = SafeTensors.ReadSelected(path, small, limits);
        CheckFormat(metadata, path);
        var header = all.ToDictionary(t => t.Name, t => (t.DType, t.Shape));
        var problems = new List<string>();
        var variant = ResolveVariant(header.Keys, metadata, problems);
        if (variant is null)
            problems.Add("cannot tell the variant: neither 'deconv_layers.6.weight' (TRG) nor 'predict_68_lmk.3.weight' (TRGv2) is present");
        else
            foreach (var spec in variant.Tensors)
            {
                if (spec.Key.EndsWith(".num_batches_tracked", StringComparison.Ordinal)) continue;
                if (!header.TryGetValue(spec.Key, out var t)) problems.Add($"missing tensor '{spec.Key}' {spec.ShapeText}");
                else if (!TensorData.IsFloating(t.DType)) problems.Add($"tensor '{spec.Key}' is {TensorData.Name(t.DType)}, expected a floating type");
                else if (!t.Shape.SequenceEqual(spec.Shape)) problems.Add($"tensor '{spec.Key}' has shape [{string.Join(",", t.Shape)}], expected {spec.ShapeText}");
            }
        CheckExtras(selected, requireSubsample: true, problems);
        if (problems.Count > 0 || variant is null) throw new TrgException(ErrorKind.InvalidModel, DescribeProblems(problems), path);
        return new ModelWeights
        {
            Variant = variant,
            Tensors = new Dictionary<string, HostTensor>(),
            Subsample = selected[VariantInfo.Subsample.Key].I64!,
            Triangles = selected.TryGetValue(VariantInfo.Triangles.Key, out var tri) ? tri.I32 : null,
            Metadata = metadata,
            Source = path,
            ContentHash = HashFile(path),
            ReadLimits = limits,
        };
    }

    /// <summary>
    /// The weights with their tensors: these weights when they hold them, else the file read and validated in full
    /// (<see cref="LoadFile"/>; non-finite weights are found here). Throws InvalidOperationException for a
    /// description made in memory (<see cref="WithoutTensors"/> of weights that had no file).
    /// </summary>
    public ModelWeights ReadTensors()
    {
        if (HasTensors) return this;
        if (ContentHash is null) throw new InvalidOperationException($"the weights of '{Source}' were released and have no file to read them from");
        return Copy(LoadFile(Source, ReadLimits).Tensors, ContentHash);
    }

    /// <summary>A description of these weights (variant, subsample, triangles, metadata, source, content hash) without the tensors.</summary>
    public ModelWeights WithoutTensors() => HasTensors ? Copy(new Dictionary<string, HostTensor>(), ContentHash) : this;

    private ModelWeights Copy(IReadOnlyDictionary<string, HostTensor> tensors, string? contentHash) => new()
    {
        Variant = Variant, Tensors = tensors, Subsample = Subsample, Triangles = Triangles, Metadata = Metadata, Source = Source,
        ContentHash = contentHash, ReadLimits = ReadLimits,
    };

    /// <summary>The limits <see cref="OpenFile"/> was given, for <see cref="ReadTensors"/> (null: the defaults).</summary>
    private InputLimits? ReadLimits { get; init; }

    /// <summary>XxHash128 of a file's bytes as 32 hex digits, read in 1 MiB blocks (no copy of the file is kept).</summary>
    internal static string HashFile(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            var hash = new XxHash128();
            var block = new byte[1 << 20];
            int n;
            while ((n = stream.Read(block)) > 0) hash.Append(block.AsSpan(0, n));
            return Convert.ToHexStringLower(hash.GetCurrentHash());
        }
        catch (IOException e) { throw new TrgException(ErrorKind.NotFound, $"cannot read: {e.Message}", path, e); }
        catch (UnauthorizedAccessException e) { throw new TrgException(ErrorKind.NotFound, $"cannot read: {e.Message}", path, e); }
    }

    private static void CheckFormat(IReadOnlyDictionary<string, string> metadata, string path)
    {
        if (metadata.GetValueOrDefault("format") != FileFormat)
            throw new TrgException(ErrorKind.InvalidModel,
                $"not a TrgIlgpu model file (metadata format is '{metadata.GetValueOrDefault("format", "missing")}', expected '{FileFormat}'); " +
                "make one with `trg export --checkpoint ... --subsample arkit_subsample.pkl --out model.safetensors`", path);
    }
}
