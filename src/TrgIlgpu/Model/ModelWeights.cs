namespace TrgIlgpu.Model;

/// <summary>
/// A validated set of TRG / TRGv2 weights in host memory: the official state dict plus the subsample indices
/// (and optionally the mesh triangles). Produced from a model file, a checkpoint export, or the synthetic generator.
/// </summary>
public sealed partial class ModelWeights
{
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
    /// metadata "variant" when present, else from the keys. Throws TrgException(InvalidModel) listing ALL problems.
    /// </summary>
    public static ModelWeights FromTensors(IEnumerable<HostTensor> tensors, IReadOnlyDictionary<string, string>? metadata, string source)
        => throw new NotImplementedException("formats branch");

    /// <summary>Loads a TrgIlgpu model file (.safetensors, MODEL_SPEC keys + subsample).</summary>
    public static ModelWeights LoadFile(string path) => throw new NotImplementedException("formats branch");
}
