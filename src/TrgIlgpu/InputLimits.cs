namespace TrgIlgpu;

/// <summary>
/// Bounds on what bytes from outside (model files, checkpoints, pickles, .npy, images, boxes) may make the engine
/// do: every size, count and offset a file states is checked against these before anything is allocated, so a small
/// hostile file cannot claim gigabytes or minutes. The defaults fit every real TRG input with a wide margin;
/// docs/limits.md gives what each one bounds and the peak memory measured at the default. A broken limit is a
/// <see cref="TrgException"/> naming the file (<see cref="ErrorKind.InvalidModel"/> for model, checkpoint and data
/// files, <see cref="ErrorKind.InvalidImage"/> for images, <see cref="ErrorKind.InvalidBox"/> for boxes files).
/// </summary>
public sealed record InputLimits
{
    /// <summary>
    /// Default pixel limit of images: 100 megapixels (300 MB as RGB24). Images take their limit from
    /// <see cref="Imaging.ImageLoadOptions.MaxPixels"/> (CLI <c>--max-pixels</c>), whose default this is; width x height
    /// is checked from the file header before any pixel is decoded.
    /// </summary>
    public const long DefaultMaxPixels = 100_000_000;

    /// <summary>The defaults.</summary>
    public static InputLimits Default { get; } = new();

    /// <summary>Largest model file or checkpoint (safetensors or PyTorch zip), bytes. Default 4 GiB (a full TRG model is ~150 MB).</summary>
    public long MaxModelBytes { get; init; } = 4L << 30;

    /// <summary>Largest pickle (a checkpoint's data.pkl, arkit_subsample.pkl), bytes. Default 64 MiB (real ones: ~100 kB).</summary>
    public long MaxPickleBytes { get; init; } = 64L << 20;

    /// <summary>
    /// Most opcodes the unpickler executes for one pickle. Every value it keeps was pushed by one opcode, so this also
    /// bounds the references a pickle can make it retain (DUP / BINGET amplification). Default 1,000,000 (a TRG
    /// state dict takes about 5,000).
    /// </summary>
    public long MaxPickleOps { get; init; } = 1_000_000;

    /// <summary>Most memo entries one pickle may define. Default 262,144.</summary>
    public int MaxPickleMemoEntries { get; init; } = 1 << 18;

    /// <summary>Most elements of one tensor or array (safetensors, checkpoint view, .npy, numpy pickle, TF.js).
    /// Default 2^27 (512 MB as float32; TRG's tensors have a few million at most).</summary>
    public long MaxTensorElements { get; init; } = 1L << 27;

    /// <summary>Largest small data file (.npy, TF.js weights and manifest, boxes JSON), bytes. Default 256 MiB.</summary>
    public long MaxDataFileBytes { get; init; } = 256L << 20;

    /// <summary>Most face boxes one image may be given (a boxes file entry). Default 1,024.</summary>
    public int MaxFacesPerImage { get; init; } = 1024;

    /// <summary>
    /// Largest magnitude a model weight may have. Real weights stay below about 1e3; a value like 3e38 is finite but
    /// overflows the first convolution, so it is refused (with the tensor named) rather than giving a plausible-looking
    /// pose from garbage. Default 1e6.
    /// </summary>
    public float MaxAbsWeight { get; init; } = 1e6f;
}
