namespace TrgIlgpu.Model;

/// <summary>Deterministic random weights in official format (docs/synthetic-weights.md), identical to tools/synthetic_weights.py.</summary>
public static class SyntheticWeights
{
    /// <summary>Every state-dict tensor of the variant plus `subsample` (and `triangles` is not produced).</summary>
    public static List<HostTensor> Create(VariantInfo variant, ulong seed) => throw new NotImplementedException("reference branch");
}
