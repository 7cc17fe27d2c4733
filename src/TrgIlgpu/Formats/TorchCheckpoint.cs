using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using TrgIlgpu.Model;

namespace TrgIlgpu.Formats;

/// <summary>
/// Reads a PyTorch (>= 1.6) zip checkpoint: ARCHIVE/data.pkl (the object, unpickled with an allow-list) plus
/// ARCHIVE/data/KEY raw little-endian storages. Every size is checked before anything is allocated; storages are
/// read once, straight into the float arrays when a tensor covers its whole storage.
/// </summary>
internal static class TorchCheckpoint
{
    /// <summary>
    /// A compressed entry may not claim more than this many bytes per compressed byte (torch never compresses; real
    /// weights shrink about 1.1x), nor more than <see cref="SmallEntryAllowance"/> when smaller. This bounds what a small
    /// hostile file can make the reader allocate.
    /// </summary>
    private const long MaxCompressionRatio = 64;
    private const long SmallEntryAllowance = 1L << 20;

    /// <summary>Storage classes a checkpoint may name, with their element type.</summary>
    internal static readonly IReadOnlyDictionary<string, TensorDType> StorageTypes = new Dictionary<string, TensorDType>
    {
        ["torch.FloatStorage"] = TensorDType.F32,
        ["torch.HalfStorage"] = TensorDType.F16,
        ["torch.BFloat16Storage"] = TensorDType.BF16,
        ["torch.DoubleStorage"] = TensorDType.F64,
        ["torch.LongStorage"] = TensorDType.I64,
        ["torch.IntStorage"] = TensorDType.I32,
    };

    /// <summary>Every global a checkpoint's data.pkl may name (MODEL_SPEC section 7, plus the parameter form).</summary>
    internal static readonly IReadOnlySet<string> AllowedGlobals = new HashSet<string>(
        ["collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter", .. StorageTypes.Keys]);

    /// <summary>Keys under which a training checkpoint nests its state dict.</summary>
    internal static readonly string[] NestedKeys = ["state_dict", "model"];

    public static StateDict Read(string path, FileStream file, InputLimits limits)
    {
        try
        {
            using var zip = new ZipArchive(file, ZipArchiveMode.Read, leaveOpen: true);
            return ReadArchive(path, file.Length, zip, limits);
        }
        catch (InvalidDataException e)
        {
            throw new TrgException(ErrorKind.InvalidModel, $"corrupt or truncated zip archive: {e.Message}", path, e);
        }
        catch (EndOfStreamException e)
        {
            throw new TrgException(ErrorKind.InvalidModel, $"truncated zip archive: {e.Message}", path, e);
        }
    }

    private static StateDict ReadArchive(string path, long fileBytes, ZipArchive zip, InputLimits limits)
    {
        var entries = new Dictionary<string, ZipArchiveEntry>(StringComparer.Ordinal);
        foreach (var e in zip.Entries)
        {
            if (!entries.TryAdd(e.FullName, e))
                throw new TrgException(ErrorKind.InvalidModel, $"zip entry '{e.FullName}' appears twice", path);
            if (e.CompressedLength < 0 || e.CompressedLength > fileBytes)
                throw new TrgException(ErrorKind.InvalidModel, $"zip entry '{e.FullName}' claims {e.CompressedLength} stored bytes in a {fileBytes}-byte file", path);
            if (e.Length < 0 || e.Length > Math.Max(e.CompressedLength * MaxCompressionRatio, SmallEntryAllowance))
                throw new TrgException(ErrorKind.InvalidModel,
                    $"zip entry '{e.FullName}' claims {e.Length} bytes from {e.CompressedLength} compressed bytes; refused", path);
        }
        var pickles = entries.Keys.Where(n => n.EndsWith("/data.pkl", StringComparison.Ordinal) && n.IndexOf('/') == n.Length - "/data.pkl".Length).ToList();
        if (pickles.Count != 1)
            throw new TrgException(ErrorKind.InvalidModel,
                pickles.Count == 0 ? "zip archive without an ARCHIVE/data.pkl entry: not a PyTorch checkpoint"
                                   : $"zip archive with {pickles.Count} data.pkl entries", path);
        string prefix = pickles[0][..^"data.pkl".Length];

        var metadata = new Dictionary<string, string> { ["format"] = "pytorch-zip", ["archive"] = prefix.TrimEnd('/') };
        if (entries.TryGetValue(prefix + "version", out var versionEntry) && versionEntry.Length < 64)
            metadata["serialization_version"] = Encoding.ASCII.GetString(ReadSmall(versionEntry, path)).Trim();
        if (entries.TryGetValue(prefix + "byteorder", out var orderEntry) && orderEntry.Length < 64)
        {
            var order = Encoding.ASCII.GetString(ReadSmall(orderEntry, path)).Trim();
            if (order != "little") throw new TrgException(ErrorKind.InvalidModel, $"storages are {order}-endian; only little-endian is supported", path);
        }

        var pklEntry = entries[pickles[0]];
        if (pklEntry.Length > limits.MaxPickleBytes)
            throw new TrgException(ErrorKind.InvalidModel,
                $"'{pklEntry.FullName}' is {pklEntry.Length} bytes, over the {limits.MaxPickleBytes}-byte pickle limit (InputLimits.MaxPickleBytes)", path);
        var pkl = ReadSmall(pklEntry, path);

        var storages = new Dictionary<string, TorchStorage>(StringComparer.Ordinal);
        var profile = new PickleProfile
        {
            Description = "PyTorch checkpoint",
            AllowedGlobals = AllowedGlobals,
            PersistentLoad = pid => LoadStorage(pid, storages, path),
        };
        var root = RestrictedUnpickler.Load(pkl, path, profile, limits, $"entry {pklEntry.FullName}");

        var notes = new List<string>();
        var (dict, nestedUnder) = FindStateDict(root, path, notes);
        if (nestedUnder is not null) { metadata["nested_under"] = nestedUnder; notes.Add($"state dict read from key '{nestedUnder}'"); }

        // Check every tensor against its storage and every storage against its entry before reading any data.
        var views = new List<(string Key, TorchTensor Tensor, long Numel)>();
        foreach (var (k, v) in dict.Items)
        {
            if (v is not TorchTensor t) { notes.Add($"ignored non-tensor entry '{k}'"); continue; }
            if (k is not string key) throw new TrgException(ErrorKind.InvalidModel, $"state dict key {k} is not a string", path);
            views.Add((key, t, CheckView(key, t, path, limits)));
        }
        var storageEntries = new Dictionary<string, ZipArchiveEntry>();
        foreach (var s in views.Select(v => v.Tensor.Storage).Distinct())
        {
            if (!entries.TryGetValue(prefix + "data/" + s.Key, out var entry))
                throw new TrgException(ErrorKind.InvalidModel, $"storage '{s.Key}' has no archive entry {prefix}data/{s.Key}", path);
            // Checked: a declared element count whose byte size wraps around to the entry's real size must not pass.
            long bytes = TensorData.ByteCount(s.Numel, s.DType)
                ?? throw new TrgException(ErrorKind.InvalidModel, $"storage '{s.Key}' declares {s.Numel} {TensorData.Name(s.DType)} elements, an impossible size", path);
            if (entry.Length != bytes)
                throw new TrgException(ErrorKind.InvalidModel,
                    $"storage '{s.Key}' declares {s.Numel} {TensorData.Name(s.DType)} elements ({bytes} bytes) but its archive entry holds {entry.Length} bytes", path);
            if (bytes > Array.MaxLength)
                throw new TrgException(ErrorKind.InvalidModel, $"storage '{s.Key}' is {bytes} bytes; storages over 2 GiB are not supported", path);
            storageEntries[s.Key] = entry;
        }

        // Read each storage once; a float32 tensor that is its whole storage is read straight into its array.
        var result = new HostTensor?[views.Count];
        foreach (var group in views.Select((v, i) => (v, i)).GroupBy(x => x.v.Tensor.Storage))
        {
            var storage = group.Key;
            var entry = storageEntries[storage.Key];
            var users = group.ToList();
            var first = users[0].v;
            if (users.Count == 1 && storage.DType == TensorDType.F32 && first.Tensor.Offset == 0 && first.Numel == storage.Numel
                && TensorData.IsRowMajor(first.Tensor.Size, first.Tensor.Stride))
            {
                var data = new float[first.Numel];
                ReadEntry(entry, MemoryMarshal.AsBytes(data.AsSpan()), path);
                result[users[0].i] = new HostTensor(first.Key, ToShape(first.Tensor), data);
                continue;
            }
            var raw = new byte[entry.Length];
            ReadEntry(entry, raw, path);
            int size = TensorData.ElementSize(storage.DType);
            foreach (var (v, i) in users)
            {
                var bytes = TensorData.Gather(raw, size, v.Tensor.Offset, v.Tensor.Size, v.Tensor.Stride, v.Numel);
                result[i] = TensorData.FromBytes(v.Key, ToShape(v.Tensor), storage.DType, bytes);
            }
            if (users.Count > 1) notes.Add($"storage '{storage.Key}' shared by {string.Join(", ", users.Select(u => u.v.Key))}");
        }

        return new StateDict
        {
            Tensors = result.Select(t => t!).ToList(),
            Metadata = metadata,
            Notes = notes,
            FileBytes = fileBytes,
        };
    }

    private static object? LoadStorage(object? pid, Dictionary<string, TorchStorage> storages, string path)
    {
        // ('storage', <StorageType>, <key>, <location>, <numel>)
        if (pid is not PyTuple { Count: 5 } t || t[0] is not "storage" || t[1] is not PyGlobal type || t[2] is not string key
            || t[3] is not string location || t[4] is not long numel)
            throw new TrgException(ErrorKind.InvalidModel, "malformed PyTorch checkpoint: a persistent id is not ('storage', type, key, location, numel)", path);
        if (!StorageTypes.TryGetValue(type.FullName, out var dt))
            throw new TrgException(ErrorKind.InvalidModel, $"malformed PyTorch checkpoint: '{type.FullName}' is not a storage type", path);
        if (numel < 0) throw new TrgException(ErrorKind.InvalidModel, $"storage '{key}' declares {numel} elements", path);
        if (storages.TryGetValue(key, out var known))
        {
            if (known.DType != dt || known.Numel != numel)
                throw new TrgException(ErrorKind.InvalidModel, $"storage '{key}' is declared twice with different types or sizes", path);
            return known;
        }
        return storages[key] = new TorchStorage(key, dt, numel, location);
    }

    /// <summary>Elements of the view, after checking it lies inside its storage.</summary>
    private static long CheckView(string key, TorchTensor t, string path, InputLimits limits)
    {
        try
        {
            long numel = 1, last = t.Offset;
            for (int d = 0; d < t.Size.Length; d++)
            {
                if (t.Size[d] > int.MaxValue) throw new OverflowException();
                numel = checked(numel * t.Size[d]);
                if (t.Size[d] > 0) last = checked(last + (t.Size[d] - 1) * t.Stride[d]);
            }
            if (numel > Array.MaxLength) throw new OverflowException();
            if (numel > limits.MaxTensorElements)
                throw new TrgException(ErrorKind.InvalidModel,
                    $"tensor '{key}' {t.ShapeText} has {numel} elements, over the limit of {limits.MaxTensorElements} (InputLimits.MaxTensorElements)", path);
            if (numel > 0 && last >= t.Storage.Numel)
                throw new TrgException(ErrorKind.InvalidModel,
                    $"tensor '{key}' {t.ShapeText} (offset {t.Offset}, stride [{string.Join(",", t.Stride)}]) needs storage element {last}, " +
                    $"but storage '{t.Storage.Key}' holds only {t.Storage.Numel} elements (storage shorter than tensor)", path);
            return numel;
        }
        catch (OverflowException)
        {
            throw new TrgException(ErrorKind.InvalidModel, $"tensor '{key}' {t.ShapeText} is impossibly large", path);
        }
    }

    private static int[] ToShape(TorchTensor t) => t.Size.Select(s => (int)s).ToArray();

    private static (PyDict Dict, string? Under) FindStateDict(object? root, string path, List<string> notes)
    {
        if (root is not PyDict top)
            throw new TrgException(ErrorKind.InvalidModel,
                $"the checkpoint holds {(root is TorchTensor ? "a single tensor" : "no dict")}, not a state dict; save model.state_dict()", path);
        foreach (var key in NestedKeys)
            if (top.TryGet(key, out var inner) && inner is PyDict nested && nested.Items.Any(kv => kv.Value is TorchTensor))
                return (nested, key);
        if (!top.Items.Any(kv => kv.Value is TorchTensor))
            throw new TrgException(ErrorKind.InvalidModel,
                $"no tensors found: top-level keys are {string.Join(", ", top.Items.Take(12).Select(kv => $"'{kv.Key}'"))}; " +
                $"expected a state dict at the top level or under {string.Join(" or ", NestedKeys.Select(k => $"'{k}'"))}", path);
        return (top, null);
    }

    private static byte[] ReadSmall(ZipArchiveEntry entry, string path)
    {
        var data = new byte[entry.Length];
        ReadEntry(entry, data, path);
        return data;
    }

    /// <summary>
    /// Reads exactly the entry's declared bytes into <paramref name="dst"/> and checks them against the entry's CRC-32;
    /// a short or long entry, or one whose bytes do not match its checksum, is an error.
    /// </summary>
    private static void ReadEntry(ZipArchiveEntry entry, Span<byte> dst, string path)
    {
        using var s = entry.Open();
        int got = 0;
        while (got < dst.Length)
        {
            int n = s.Read(dst[got..]);
            if (n == 0) throw new TrgException(ErrorKind.InvalidModel, $"zip entry '{entry.FullName}' ends after {got} of {dst.Length} bytes (truncated)", path);
            got += n;
        }
        Span<byte> probe = stackalloc byte[1];
        if (s.Read(probe) != 0) throw new TrgException(ErrorKind.InvalidModel, $"zip entry '{entry.FullName}' holds more than its declared {dst.Length} bytes", path);
        uint crc = Crc32.Compute(dst);
        if (crc != entry.Crc32)
            throw new TrgException(ErrorKind.InvalidModel,
                $"zip entry '{entry.FullName}' is corrupt: its CRC-32 is {crc:x8}, the archive says {entry.Crc32:x8}", path);
    }
}
