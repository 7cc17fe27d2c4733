using System.IO.Compression;
using TrgIlgpu.Cli.Estimate;
using TrgIlgpu.Formats;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Fuzz;

/// <summary>
/// One entry point per parser that takes outside bytes. A target returns normally or throws a
/// <see cref="TrgException"/> of one of its documented kinds; anything else (another exception type, another kind) is a
/// crash. The fuzzer (Program.cs), the corpus replay and the regression tests all run inputs through these.
/// </summary>
internal static class FuzzTargets
{
    /// <summary>Limits small enough that a fuzzer's inputs stay fast, with the same code paths as the defaults. Made on
    /// first use: instrumented code (TrgIlgpu.dll) must not run before SharpFuzz has set up AFL's shared memory.</summary>
    public static InputLimits Limits => _limits ??= new()
    {
        MaxPickleOps = 200_000, MaxPickleMemoEntries = 10_000, MaxTensorElements = 1 << 22,
        MaxDataFileBytes = 8 << 20, MaxModelBytes = 64 << 20, MaxPickleBytes = 8 << 20, MaxFacesPerImage = 64,
    };

    private static InputLimits? _limits;

    /// <summary>The image target's pixel limit (ImageLoadOptions.MaxPixels), small for the same reason.</summary>
    public const long MaxPixels = 4_000_000;

    /// <summary>A parser under test: its name, the error kinds it may throw, and how to feed it bytes.</summary>
    public sealed record Target(string Name, ErrorKind[] Kinds, Action<byte[]> Run);

    private static readonly Lazy<string> Scratch = new(() => Directory.CreateTempSubdirectory("trg-fuzz-").FullName);

    public static readonly IReadOnlyList<Target> All =
    [
        new("safetensors", [ErrorKind.InvalidModel], data => SafeTensors.Read(File("model.safetensors", data), Limits)),
        new("checkpoint", [ErrorKind.InvalidModel, ErrorKind.UnsafeCheckpoint], data => Checkpoint.ReadStateDict(File("model.pt", data), Limits)),
        new("torch-pickle", [ErrorKind.InvalidModel, ErrorKind.UnsafeCheckpoint], data => Checkpoint.ReadStateDict(TorchZip(data), Limits)),
        new("numpy-pickle", [ErrorKind.InvalidModel, ErrorKind.UnsafeCheckpoint], data => NumpyPickle.ReadArrays(File("data.pkl", data), Limits)),
        new("npy", [ErrorKind.InvalidModel], data => Npy.Parse(data, "fuzz", "fuzz.npy", Limits)),
        new("tfjs", [ErrorKind.InvalidModel], Tfjs),
        new("image", [ErrorKind.InvalidImage], data => ImageLoader.Load(data, "fuzz.img", new ImageLoadOptions { MaxPixels = MaxPixels })),
        new("calibration", [ErrorKind.Usage], data => CameraCalibration.Parse(data, "fuzz.json")),
        new("boxes", [ErrorKind.InvalidBox], data => BoxesFile.Load(File("boxes.json", data), Limits)),
    ];

    public static Target Find(string name) => All.FirstOrDefault(t => t.Name == name)
        ?? throw new ArgumentException($"unknown target '{name}' (targets: {string.Join(", ", All.Select(t => t.Name))})");

    /// <summary>
    /// Runs one input; returns null when the outcome is allowed (success or a documented TrgException), else the
    /// exception that escaped (the crash).
    /// </summary>
    public static Exception? Check(Target target, byte[] data)
    {
        try
        {
            target.Run(data);
            return null;
        }
        catch (TrgException e) when (target.Kinds.Contains(e.Kind))
        {
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    /// <summary>Name of the zip archive folder the torch-pickle target wraps its input in.</summary>
    public const string TorchArchive = "archive";

    /// <summary>Storage keys "0".."3" of float32, 16 elements each, beside the fuzzed data.pkl.</summary>
    public const int TorchStorages = 4, TorchStorageElements = 16;

    /// <summary>A PyTorch zip checkpoint whose data.pkl is <paramref name="pickle"/>, with small storages beside it, so
    /// mutations reach the unpickler instead of stopping at the zip's CRC check.</summary>
    private static string TorchZip(byte[] pickle)
    {
        var bytes = new MemoryStream();
        using (var zip = new ZipArchive(bytes, ZipArchiveMode.Create, leaveOpen: true))
        {
            Entry(zip, $"{TorchArchive}/data.pkl", pickle);
            for (int i = 0; i < TorchStorages; i++)
                Entry(zip, $"{TorchArchive}/data/{i}", new byte[TorchStorageElements * 4].Select((_, j) => (byte)(j * 7 + i)).ToArray());
        }
        return File("torch.pt", bytes.ToArray());

        static void Entry(ZipArchive zip, string name, byte[] data)
        {
            using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
            s.Write(data);
        }
    }

    /// <summary>TF.js: the input is the manifest JSON, a NUL byte, then the weight file "w.bin".</summary>
    private static void Tfjs(byte[] data)
    {
        int split = Array.IndexOf(data, (byte)0);
        var manifest = split < 0 ? data : data[..split];
        var weights = split < 0 ? [] : data[(split + 1)..];
        TfjsWeights.Decode(manifest, file => file == "w.bin" ? weights
            : throw new TrgException(ErrorKind.InvalidModel, "no such weight file", file), "fuzz-manifest.json", Limits);
    }

    private static string File(string name, byte[] data)
    {
        var path = Path.Combine(Scratch.Value, name);
        System.IO.File.WriteAllBytes(path, data);
        return path;
    }
}
