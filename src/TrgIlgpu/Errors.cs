namespace TrgIlgpu;

/// <summary>What went wrong, as a user sees it. The value is the CLI's exit code (README: exit codes).</summary>
public enum ErrorKind
{
    /// <summary>Bad command-line arguments or API arguments.</summary>
    Usage = 2,
    /// <summary>An input file or folder does not exist or cannot be read.</summary>
    NotFound = 3,
    /// <summary>A model or checkpoint file is malformed, truncated, or misses/misshapes tensors.</summary>
    InvalidModel = 4,
    /// <summary>A checkpoint or pickle reaches for something outside the allow-list; nothing was executed.</summary>
    UnsafeCheckpoint = 5,
    /// <summary>An image cannot be decoded or breaks a limit (pixel count).</summary>
    InvalidImage = 6,
    /// <summary>A face box is empty, inverted or not finite.</summary>
    InvalidBox = 7,
    /// <summary>The requested compute device is not available.</summary>
    Device = 8,
    /// <summary>A batch finished, but some of its items failed (each reported; every other result written).</summary>
    PartialFailure = 9,
    /// <summary>A kernel does not compile (ILGPU) or assemble (ptxas) for the requested target.</summary>
    KernelCompile = 10,
    /// <summary>A data file (poses, landmarks, a dataset's annotation or calibration) is malformed.</summary>
    InvalidData = 11,
    /// <summary>Device (or host) memory is exhausted for what was asked (e.g. a batch too large for the device).</summary>
    OutOfMemory = 12,
    /// <summary>A video, frame source or capture device cannot be opened, decoded or encoded (ffmpeg).</summary>
    Video = 13,
    /// <summary>The run was cancelled (Ctrl+C / SIGINT); finished outputs are complete, nothing half-written is left.</summary>
    Cancelled = 130,
}

/// <summary>An error with a kind (its exit code) and, where one is involved, the file it concerns.</summary>
public class TrgException : Exception
{
    public ErrorKind Kind { get; }
    public string? FilePath { get; }

    public TrgException(ErrorKind kind, string message, string? filePath = null, Exception? inner = null)
        : base(filePath is null ? message : $"{filePath}: {message}", inner)
    {
        Kind = kind;
        FilePath = filePath;
    }
}
