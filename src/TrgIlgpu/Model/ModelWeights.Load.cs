using System.Globalization;

namespace TrgIlgpu.Model;

public sealed partial class ModelWeights
{
    public const string SyntheticPrefix = "synthetic:";

    /// <summary>
    /// Loads weights from a model file path, or builds deterministic random ones from
    /// <c>synthetic:trgv2[:SEED]</c> / <c>synthetic:trg[:SEED]</c> (seed 0 when omitted; docs/synthetic-weights.md).
    /// A file is read within <paramref name="limits"/> (default: <see cref="InputLimits.Default"/>).
    /// </summary>
    /// <summary>
    /// Like <see cref="Load"/>, but a model file is only opened (<see cref="OpenFile"/>: header checked, content
    /// hashed, weights not read): the engine reads them when it packs them, or not at all on a packed-weights cache hit.
    /// </summary>
    public static ModelWeights Open(string source, InputLimits? limits = null) =>
        source.StartsWith(SyntheticPrefix, StringComparison.OrdinalIgnoreCase) ? Load(source, limits) : OpenFile(source, limits);

    public static ModelWeights Load(string source, InputLimits? limits = null)
    {
        if (!source.StartsWith(SyntheticPrefix, StringComparison.OrdinalIgnoreCase)) return LoadFile(source, limits);
        var parts = source[SyntheticPrefix.Length..].Split(':');
        var variant = VariantInfo.FromName(parts[0]);
        ulong seed = 0;
        if (variant is null || parts.Length > 2 || (parts.Length == 2 && !ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out seed)))
            throw new TrgException(ErrorKind.Usage, $"'{source}' is not a synthetic model: use synthetic:trg[:SEED] or synthetic:trgv2[:SEED]");
        var tensors = SyntheticWeights.Create(variant, seed);
        var meta = new Dictionary<string, string> { ["format"] = "trg-ilgpu", ["variant"] = variant.Name, ["source"] = $"synthetic:{variant.Name}:{seed}" };
        return FromTensors(tensors, meta, $"synthetic:{variant.Name}:{seed}");
    }
}
