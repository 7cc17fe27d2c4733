using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Kernels;
using TrgIlgpu.Model;

namespace TrgIlgpu.Engine;

/// <summary>
/// The packed-weights cache (docs/startup.md): a model file's weights after load-time packing (BatchNorm folded,
/// Winograd transforms, the regressor's fc2 · fc1 product), stored once per model content, packing and engine build,
/// so that later processes stream them from one file straight to the device instead of reading and packing the model.
/// </summary>
/// <remarks>
/// <para><b>Key.</b> The model file's content (<see cref="ModelWeights.ContentHash"/>, XxHash128 of its bytes), the
/// variant, the convolution algorithm the weights are packed for and the Winograd form rule (the parts of the device's
/// <see cref="Backends.KernelPolicy"/> that change the layout; the layout is otherwise the same on every device), the entry format version and the
/// engine build (the module version ids of the engine and kernel assemblies, which change with any change to their
/// code). The whole key is stored in the entry and compared, not only its hash in the file name.</para>
/// <para><b>Entries</b> are written to a temporary file and renamed into place (readers see the old entry or the
/// whole new one; concurrent writers each rename a complete file). Reading checks the magic, version, key, every
/// length against the file, and an XxHash128 of the whole entry at the end; an entry that fails any check (truncated,
/// corrupt, another version) is ignored — whatever it uploaded is released — and rebuilt from the model file.</para>
/// <para>Entries of the same model and packing made by other engine builds are deleted when a new one is written.</para>
/// </remarks>
public sealed class PackCache
{
    /// <summary>Environment variable naming the cache folder (default: <c>$XDG_CACHE_HOME/trg-ilgpu</c>, else <c>~/.cache/trg-ilgpu</c>).</summary>
    public const string DirectoryVariable = "TRG_CACHE_DIR";

    /// <summary>Environment variable that turns the cache off when set to <c>off</c>.</summary>
    public const string SwitchVariable = "TRG_CACHE";

    /// <summary>Entry format version: part of the key (3: the transposed convolutions' 16-channel weight layout, round eight).</summary>
    internal const int FormatVersion = 3;

    private static ReadOnlySpan<byte> Magic => "TRGPACK\0"u8;
    private const int ChunkBytes = 4 << 20;
    private const string Extension = ".trgpack";

    /// <summary>The folder holding the entries (created when the first entry is written).</summary>
    public string Directory { get; }

    /// <summary>The subfolder of OpenCL kernel sources (<see cref="KernelSourceCache"/>).</summary>
    public string KernelDirectory => Path.Combine(Directory, "kernels");

    /// <summary>A cache in <paramref name="directory"/>.</summary>
    public PackCache(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = Path.GetFullPath(directory);
    }

    /// <summary>
    /// The cache the environment asks for: none when <see cref="SwitchVariable"/> is <c>off</c>, else in
    /// <see cref="DirectoryVariable"/>, <c>$XDG_CACHE_HOME/trg-ilgpu</c> or <c>~/.cache/trg-ilgpu</c>
    /// (<c>%LOCALAPPDATA%\trg-ilgpu</c> on Windows); null when no folder can be named.
    /// </summary>
    public static PackCache? FromEnvironment()
    {
        if (string.Equals(Environment.GetEnvironmentVariable(SwitchVariable)?.Trim(), "off", StringComparison.OrdinalIgnoreCase)) return null;
        var dir = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (string.IsNullOrWhiteSpace(dir))
        {
            var root = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (string.IsNullOrWhiteSpace(root))
            {
                root = OperatingSystem.IsWindows()
                    ? Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData)
                    : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            }
            if (string.IsNullOrWhiteSpace(root) || root == ".cache") return null;
            dir = Path.Combine(root, "trg-ilgpu");
        }
        return new PackCache(dir);
    }

    /// <summary>
    /// The full cache key of <paramref name="weights"/> packed for <paramref name="convolutions"/> with the Winograd form rule
    /// <paramref name="winogradF4MinMap"/> (<see cref="Backends.KernelPolicy.WinogradF4MinMap"/>); null for weights without a file.
    /// </summary>
    internal static string? Key(ModelWeights weights, ConvAlgorithm convolutions, int winogradF4MinMap = 0) => weights.ContentHash is null ? null :
        $"trg-packed-weights {FormatVersion}\nmodel {weights.ContentHash}\nvariant {weights.Variant.Name}\nconvolutions {convolutions}\n" +
        $"winograd-f4-min-map {winogradF4MinMap}\n" +
        $"engine {typeof(PackCache).Module.ModuleVersionId:N} {typeof(Tiling).Module.ModuleVersionId:N}\n";

    /// <summary>The entry file of a key: model hash, packing, then a hash of the whole key.</summary>
    internal string EntryPath(ModelWeights weights, ConvAlgorithm convolutions, string key) =>
        Path.Combine(Directory, $"{Prefix(weights, convolutions)}{Convert.ToHexStringLower(XxHash128.Hash(Encoding.UTF8.GetBytes(key)))[..16]}{Extension}");

    private static string Prefix(ModelWeights weights, ConvAlgorithm convolutions) =>
        $"{weights.Variant.Name}-{weights.ContentHash![..16]}-{convolutions.ToString().ToLowerInvariant()}-";

    /// <summary>
    /// The weights uploaded from the entry of <paramref name="key"/>, or null when there is none or it fails a check
    /// (then nothing stays allocated on the device and <paramref name="log"/> says why).
    /// </summary>
    internal DeviceWeights? TryLoad(Accelerator accelerator, ModelWeights weights, ConvAlgorithm convolutions, string key, TextWriter? log)
    {
        var path = EntryPath(weights, convolutions, key);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log?.WriteLine($"trg: packed-weights cache entry {path} cannot be read ({e.Message}); packing the model instead");
            return null;
        }
        DeviceWeights? result = null;
        try
        {
            using (stream)
            {
                var reader = new EntryReader(stream);
                reader.Expect(Magic, "not a packed-weights entry");
                if (reader.Int32() != FormatVersion) throw new InvalidDataException("another entry format version");
                if (reader.Text() != key) throw new InvalidDataException("the entry's key differs (another model, packing or engine build)");
                result = new DeviceWeights(accelerator, weights.Variant);
                int layers = reader.Count(1 << 16);
                for (int i = 0; i < layers; i++)
                {
                    string name = reader.Text();
                    int outChannels = reader.Int32();
                    var winograd = (WinogradForm)reader.Int32();
                    if (!Enum.IsDefined(winograd)) throw new InvalidDataException($"layer {name}: unknown Winograd form {(int)winograd}");
                    var weight = reader.Floats(accelerator, result);
                    var bias = reader.Floats(accelerator, result);
                    var shortcut = reader.Int32() != 0 ? reader.Floats(accelerator, result) : null;
                    result.Add(name, new DeviceLayer(weight, bias, shortcut, outChannels, winograd));
                }
                result.SetConstants(reader.Floats(accelerator, result), reader.Floats(accelerator, result), reader.Floats(accelerator, result),
                    result.Track(accelerator.Allocate1D(reader.Ints())));
                reader.ExpectChecksum();
                accelerator.DefaultStream.Synchronize();
                return result;
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or InvalidOperationException)
        {
            result?.Dispose();
            log?.WriteLine($"trg: ignoring packed-weights cache entry {path}: {e.Message}; it is rebuilt from the model");
            return null;
        }
    }

    /// <summary>
    /// Writes the entry of <paramref name="key"/> atomically, unless the model file changed since it was hashed
    /// (then the packed weights may not be those of the key). Failures are logged, never thrown: the cache is optional.
    /// </summary>
    internal void Store(ModelWeights weights, ConvAlgorithm convolutions, string key, PackedModel packed, TextWriter? log)
    {
        var path = EntryPath(weights, convolutions, key);
        try
        {
            if (ModelWeights.HashFile(weights.Source) != weights.ContentHash)
            {
                log?.WriteLine($"trg: {weights.Source} changed while it was loaded; not caching its packed weights");
                return;
            }
            System.IO.Directory.CreateDirectory(Directory);
            using (var pending = new AtomicFile.Pending(path))
            {
                var writer = new EntryWriter(pending.Stream);
                writer.Bytes(Magic);
                writer.Int32(FormatVersion);
                writer.Text(key);
                writer.Int32(packed.Layers.Count);
                foreach (var (name, layer) in packed.Layers)
                {
                    writer.Text(name);
                    writer.Int32(layer.OutChannels);
                    writer.Int32((int)layer.Winograd);
                    writer.Floats(layer.Weight);
                    writer.Floats(layer.Bias);
                    writer.Int32(layer.ShortcutWeight is null ? 0 : 1);
                    if (layer.ShortcutWeight is not null) writer.Floats(layer.ShortcutWeight);
                }
                writer.Floats(packed.InitFace);
                writer.Floats(packed.InitPose);
                writer.Floats(packed.PointsGrid);
                writer.Ints(packed.Subsample);
                writer.Checksum();
                pending.Commit(durable: false);
            }
            RemoveOtherBuilds(weights, convolutions, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or TrgException)
        {
            log?.WriteLine($"trg: cannot write the packed-weights cache entry {path}: {e.Message}");
        }
    }

    /// <summary>Deletes the entries of the same model and packing that other engine builds wrote.</summary>
    private void RemoveOtherBuilds(ModelWeights weights, ConvAlgorithm convolutions, string keep)
    {
        foreach (var stale in System.IO.Directory.EnumerateFiles(Directory, Prefix(weights, convolutions) + "*" + Extension))
            if (!string.Equals(stale, keep, StringComparison.Ordinal))
                try { File.Delete(stale); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>Reads an entry while hashing every byte; lengths are checked against what the file still holds.</summary>
    private sealed class EntryReader(FileStream stream)
    {
        private readonly XxHash128 _hash = new();
        private readonly byte[] _chunk = new byte[ChunkBytes];
        private readonly long _length = stream.Length;
        private const int ChecksumBytes = 16;

        private long Remaining => _length - stream.Position - ChecksumBytes;

        private void Fill(Span<byte> dst)
        {
            stream.ReadExactly(dst);
            _hash.Append(dst);
        }

        public void Expect(ReadOnlySpan<byte> expected, string problem)
        {
            Span<byte> got = stackalloc byte[expected.Length];
            if (Remaining < expected.Length) throw new InvalidDataException("truncated");
            Fill(got);
            if (!got.SequenceEqual(expected)) throw new InvalidDataException(problem);
        }

        public int Int32()
        {
            Span<byte> b = stackalloc byte[4];
            if (Remaining < 4) throw new InvalidDataException("truncated");
            Fill(b);
            return BinaryPrimitives.ReadInt32LittleEndian(b);
        }

        public long Int64()
        {
            Span<byte> b = stackalloc byte[8];
            if (Remaining < 8) throw new InvalidDataException("truncated");
            Fill(b);
            return BinaryPrimitives.ReadInt64LittleEndian(b);
        }

        /// <summary>A count in [0, max].</summary>
        public int Count(int max)
        {
            int n = Int32();
            return n >= 0 && n <= max ? n : throw new InvalidDataException($"a count of {n} is out of range");
        }

        private long Elements(int size)
        {
            long n = Int64();
            if (n <= 0 || n > Remaining / size) throw new InvalidDataException($"an array of {n} elements does not fit the rest of the entry (truncated?)");
            return n;
        }

        public string Text()
        {
            int n = Count(1 << 16);
            if (n > Remaining) throw new InvalidDataException("truncated");
            var b = new byte[n];
            Fill(b);
            return Encoding.UTF8.GetString(b);
        }

        /// <summary>A float array streamed to a new device buffer in chunks (tracked by <paramref name="owner"/>).</summary>
        public MemoryBuffer1D<float, Stride1D.Dense> Floats(Accelerator accelerator, DeviceLayers owner)
        {
            long n = Elements(sizeof(float));
            var buffer = owner.Track(accelerator.Allocate1D<float>(n));
            var stream = accelerator.DefaultStream;
            for (long at = 0; at < n;)
            {
                int count = (int)Math.Min(n - at, ChunkBytes / sizeof(float));
                var bytes = _chunk.AsSpan(0, count * sizeof(float));
                Fill(bytes);
                buffer.View.SubView(at, count).CopyFromCPU(stream, MemoryMarshal.Cast<byte, float>(bytes));
                stream.Synchronize(); // the chunk is reused: the copy must be done with it
                at += count;
            }
            return buffer;
        }

        public int[] Ints()
        {
            long n = Elements(sizeof(int));
            var values = new int[n];
            Fill(MemoryMarshal.AsBytes(values.AsSpan()));
            return values;
        }

        public void ExpectChecksum()
        {
            if (Remaining != 0) throw new InvalidDataException("unexpected bytes after the last array");
            Span<byte> stored = stackalloc byte[ChecksumBytes];
            stream.ReadExactly(stored);
            if (!stored.SequenceEqual(_hash.GetCurrentHash())) throw new InvalidDataException("checksum mismatch (corrupt entry)");
        }
    }

    /// <summary>Writes an entry while hashing every byte (little-endian, as the engine's hosts are).</summary>
    private sealed class EntryWriter(Stream stream)
    {
        private readonly XxHash128 _hash = new();

        public void Bytes(ReadOnlySpan<byte> b)
        {
            stream.Write(b);
            _hash.Append(b);
        }

        public void Int32(int v)
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, v);
            Bytes(b);
        }

        private void Int64(long v)
        {
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(b, v);
            Bytes(b);
        }

        public void Text(string s)
        {
            var b = Encoding.UTF8.GetBytes(s);
            Int32(b.Length);
            Bytes(b);
        }

        public void Floats(float[] values)
        {
            Int64(values.Length);
            Bytes(MemoryMarshal.AsBytes(values.AsSpan()));
        }

        public void Ints(int[] values)
        {
            Int64(values.Length);
            Bytes(MemoryMarshal.AsBytes(values.AsSpan()));
        }

        public void Checksum() => stream.Write(_hash.GetCurrentHash());
    }
}
