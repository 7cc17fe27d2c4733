using TrgIlgpu.Formats;

namespace TrgIlgpu.Model;

/// <summary>
/// The outcome of checking a set of tensors against a variant: which variant, every problem found, and keys that
/// belong to neither the state dict nor the model file (reported, otherwise ignored).
/// </summary>
public sealed record ModelValidation(VariantInfo? Variant, IReadOnlyList<string> Problems, IReadOnlyList<string> UnexpectedKeys)
{
    public bool IsValid => Problems.Count == 0;
}

/// <summary>
/// A validated set of TRG / TRGv2 weights in host memory: the official state dict plus the subsample indices
/// (and optionally the mesh triangles). Produced from a model file, a checkpoint export, or the synthetic generator.
/// </summary>
public sealed partial class ModelWeights
{
    /// <summary>Metadata "format" value of a TrgIlgpu model file.</summary>
    public const string FileFormat = "trg-ilgpu";

    public required VariantInfo Variant { get; init; }
    /// <summary>State-dict tensors by official key (float32; num_batches_tracked int64).</summary>
    public required IReadOnlyDictionary<string, HostTensor> Tensors { get; init; }
    /// <summary>The 305 vertex indices (official arkit_subsample.pkl key 1220_to_305).</summary>
    public required long[] Subsample { get; init; }
    /// <summary>Optional [2304,3] triangles over the 1220 vertices, for drawing.</summary>
    public int[]? Triangles { get; init; }
    public required IReadOnlyDictionary<string, string> Metadata { get; init; }
    /// <summary>Where the weights came from (a path, or synthetic:VARIANT:SEED).</summary>
    public required string Source { get; init; }

    public float[] F32(string key) => Tensors[key].F32 ?? throw new InvalidOperationException($"{key} is not float32");

    /// <summary>
    /// Validates tensors (every expected key present with its shape and dtype; extras such as num_batches_tracked
    /// ignored; `subsample` required, `triangles` optional) and builds the weights. The variant comes from
    /// metadata "variant" when present, else from the keys. Throws TrgException(InvalidModel) listing ALL problems,
    /// including weights that are finite but unusable under <paramref name="limits"/> (see <see cref="Validate"/>).
    /// </summary>
    public static ModelWeights FromTensors(IEnumerable<HostTensor> tensors, IReadOnlyDictionary<string, string>? metadata, string source,
        InputLimits? limits = null)
    {
        var byName = new Dictionary<string, HostTensor>();
        var duplicates = new List<string>();
        foreach (var t in tensors)
            if (!byName.TryAdd(t.Name, t)) duplicates.Add($"tensor '{t.Name}' appears twice");
        var v = Validate(byName, metadata, requireSubsample: true, limits);
        var problems = duplicates.Concat(v.Problems).ToList();
        if (problems.Count > 0 || v.Variant is null) throw new TrgException(ErrorKind.InvalidModel, DescribeProblems(problems), source);

        var state = new Dictionary<string, HostTensor>();
        foreach (var spec in v.Variant.Tensors)
            if (byName.TryGetValue(spec.Key, out var t)) state[spec.Key] = t;
        return new ModelWeights
        {
            Variant = v.Variant,
            Tensors = state,
            Subsample = byName[VariantInfo.Subsample.Key].I64!,
            Triangles = byName.TryGetValue(VariantInfo.Triangles.Key, out var tri) ? tri.I32 : null,
            Metadata = metadata is null ? new Dictionary<string, string>() : new Dictionary<string, string>(metadata),
            Source = source,
        };
    }

    /// <summary>Loads a TrgIlgpu model file (.safetensors, MODEL_SPEC keys + subsample) within <paramref name="limits"/>
    /// (default: <see cref="InputLimits.Default"/>).</summary>
    public static ModelWeights LoadFile(string path, InputLimits? limits = null)
    {
        if (!File.Exists(path)) throw new TrgException(ErrorKind.NotFound, "model file not found", path);
        var (tensors, metadata) = SafeTensors.Read(path, limits);
        CheckFormat(metadata, path);
        return FromTensors(tensors.Values, metadata, path, limits);
    }

    /// <summary>
    /// Checks tensors against a variant and reports every problem at once: missing, misshaped or mistyped state-dict
    /// tensors, non-finite weights, weights that are finite but unusable (a magnitude over
    /// <see cref="InputLimits.MaxAbsWeight"/>, a negative BatchNorm running variance), a bad or (when
    /// <paramref name="requireSubsample"/>) missing `subsample`, bad `triangles`. num_batches_tracked buffers are
    /// optional (inference does not use them).
    /// </summary>
    public static ModelValidation Validate(IReadOnlyDictionary<string, HostTensor> tensors, IReadOnlyDictionary<string, string>? metadata,
        bool requireSubsample = true, InputLimits? limits = null)
    {
        limits ??= InputLimits.Default;
        var problems = new List<string>();
        var variant = ResolveVariant(tensors.Keys, metadata, problems);
        if (variant is null)
        {
            // Check against the closer variant so every missing key is still listed.
            var closest = new[] { VariantInfo.Trg, VariantInfo.TrgV2 }.MaxBy(vi => vi.Tensors.Count(s => tensors.ContainsKey(s.Key)))!;
            problems.Add("cannot tell the variant: neither 'deconv_layers.6.weight' (TRG) nor 'predict_68_lmk.3.weight' (TRGv2) is present; " +
                         $"listing what {closest.Name} would need");
            CheckStateDict(tensors, closest, problems, limits);
        }
        else CheckStateDict(tensors, variant, problems, limits);
        CheckExtras(tensors, requireSubsample, problems);

        var known = (variant ?? VariantInfo.Trg).Tensors.Select(s => s.Key)
            .Concat([VariantInfo.Subsample.Key, VariantInfo.Triangles.Key]).ToHashSet();
        var unexpected = tensors.Keys.Where(k => !known.Contains(k)).ToList();
        return new ModelValidation(variant, problems, unexpected);
    }

    /// <summary>The variant named by the metadata, else detected from the keys; a contradiction is a problem.</summary>
    private static VariantInfo? ResolveVariant(IEnumerable<string> keys, IReadOnlyDictionary<string, string>? metadata, List<string> problems)
    {
        var detected = VariantInfo.Detect(keys);
        VariantInfo? variant = detected;
        if (metadata is not null && metadata.TryGetValue("variant", out var named))
        {
            variant = VariantInfo.FromName(named);
            if (variant is null) problems.Add($"metadata variant '{named}' is neither 'trg' nor 'trgv2'");
            else if (detected is not null && detected != variant)
                problems.Add($"metadata says variant '{variant.Name}' but the keys are those of '{detected.Name}'");
        }
        return variant;
    }

    /// <summary>Checks `subsample` (required when <paramref name="requireSubsample"/>) and the optional `triangles`.</summary>
    private static void CheckExtras(IReadOnlyDictionary<string, HostTensor> tensors, bool requireSubsample, List<string> problems)
    {
        if (tensors.TryGetValue(VariantInfo.Subsample.Key, out var sub))
        {
            if (sub.DType != TensorDType.I64 || !sub.Shape.SequenceEqual(VariantInfo.Subsample.Shape))
                problems.Add($"'subsample' is {TensorData.Name(sub.DType)} {sub.ShapeText}, expected int64 {VariantInfo.Subsample.ShapeText}");
            else if (NumpyPickle.CheckSubsample(sub.I64!) is { } why) problems.Add($"'subsample': {why}");
        }
        else if (requireSubsample)
            problems.Add("missing 'subsample' (int64 [305]; `trg export` adds it from arkit_subsample.pkl)");

        if (tensors.TryGetValue(VariantInfo.Triangles.Key, out var tri))
        {
            if (tri.DType != TensorDType.I32 || !tri.Shape.SequenceEqual(VariantInfo.Triangles.Shape))
                problems.Add($"'triangles' is {TensorData.Name(tri.DType)} {tri.ShapeText}, expected int32 {VariantInfo.Triangles.ShapeText}");
            else if (tri.I32!.Any(i => i < 0 || i >= VariantInfo.Vertices))
                problems.Add($"'triangles' holds vertex numbers outside [0,{VariantInfo.Vertices})");
        }
    }

    private static void CheckStateDict(IReadOnlyDictionary<string, HostTensor> tensors, VariantInfo variant, List<string> problems, InputLimits limits)
    {
        foreach (var spec in variant.Tensors)
        {
            bool optional = spec.Key.EndsWith(".num_batches_tracked", StringComparison.Ordinal);
            if (!tensors.TryGetValue(spec.Key, out var t))
            {
                if (!optional) problems.Add($"missing tensor '{spec.Key}' {spec.ShapeText}");
                continue;
            }
            if (optional) continue;
            if (t.DType != TensorDType.F32)
                problems.Add($"tensor '{spec.Key}' is {TensorData.Name(t.DType)}, expected a floating type");
            else if (!t.Shape.SequenceEqual(spec.Shape))
                problems.Add($"tensor '{spec.Key}' has shape {t.ShapeText}, expected {spec.ShapeText}");
            else if (CheckValues(spec.Key, t.F32!, limits.MaxAbsWeight) is { } problem)
                problems.Add(problem);
        }
    }

    /// <summary>
    /// Null when every value is usable, else what is wrong: NaN or infinite values, finite values beyond
    /// <paramref name="maxAbs"/> (3e38 in a convolution overflows its sum), or a negative BatchNorm running variance
    /// (its square root is NaN, or near zero it divides by ~0).
    /// </summary>
    private static string? CheckValues(string key, float[] data, float maxAbs)
    {
        long nonFinite = 0, huge = 0, negative = 0;
        float largest = 0, smallest = 0;
        bool variance = key.EndsWith(".running_var", StringComparison.Ordinal);
        foreach (var x in data)
        {
            if (!float.IsFinite(x)) { nonFinite++; continue; }
            if (Math.Abs(x) > maxAbs) { huge++; largest = Math.Max(largest, Math.Abs(x)); }
            if (variance && x < 0) { negative++; smallest = Math.Min(smallest, x); }
        }
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        if (nonFinite > 0) return $"tensor '{key}' holds {nonFinite} NaN or infinite values";
        if (huge > 0)
            return $"tensor '{key}' holds {huge} values beyond ±{maxAbs.ToString("G3", inv)} (largest magnitude {largest.ToString("G3", inv)}): " +
                   "finite but unusable, the network would overflow (InputLimits.MaxAbsWeight)";
        if (negative > 0)
            return $"tensor '{key}' holds {negative} negative running variances (smallest {smallest.ToString("G3", inv)}): " +
                   "BatchNorm would take the square root of a negative number";
        return null;
    }

    /// <summary>One message listing every problem, one per line.</summary>
    public static string DescribeProblems(IReadOnlyList<string> problems)
        => problems.Count == 1 ? problems[0] : $"{problems.Count} problems:\n  - " + string.Join("\n  - ", problems);
}
