using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using TrgIlgpu.Model;

namespace TrgIlgpu.Formats;

/// <summary>
/// The safetensors format (huggingface/safetensors): u64 little-endian header length, a JSON header
/// {"__metadata__": {str: str}, NAME: {"dtype", "shape", "data_offsets": [begin, end]}}, then the packed data.
/// Reading checks the header against the file (bounds, no overlaps or holes, byte counts) before allocating, and reads
/// each tensor straight into its array. F32/F16/BF16/F64 become float32; I64 and I32 stay integers.
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest JSON header accepted (a TRG header is about 20 kB).</summary>
    public const long MaxHeaderBytes = 16L << 20;

    private static readonly Dictionary<string, TensorDType> DTypes = new()
    {
        ["F32"] = TensorDType.F32, ["F16"] = TensorDType.F16, ["BF16"] = TensorDType.BF16,
        ["F64"] = TensorDType.F64, ["I64"] = TensorDType.I64, ["I32"] = TensorDType.I32,
    };

    private sealed record Entry(string Name, TensorDType DType, int[] Shape, long Begin, long End);

    /// <summary>Reads every tensor (in header order) and the metadata within <paramref name="limits"/> (default:
    /// <see cref="InputLimits.Default"/>). Errors: NotFound, InvalidModel.</summary>
    public static (Dictionary<string, HostTensor> Tensors, Dictionary<string, string> Metadata) Read(string path, InputLimits? limits = null)
    {
        limits ??= InputLimits.Default;
        if (!File.Exists(path)) throw new TrgException(ErrorKind.NotFound, "file not found", path);
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
            long length = RandomAccess.GetLength(handle);
            if (length > limits.MaxModelBytes)
                throw Invalid($"{length} bytes is over the model file limit of {limits.MaxModelBytes} bytes (InputLimits.MaxModelBytes)", path);
            var (entries, metadata, dataStart) = ReadHeader(handle, length, path, limits);
            var tensors = new Dictionary<string, HostTensor>(entries.Count);
            foreach (var e in entries) tensors[e.Name] = ReadTensor(handle, e, dataStart, path);
            return (tensors, metadata);
        }
        catch (IOException e) { throw new TrgException(ErrorKind.NotFound, $"cannot read: {e.Message}", path, e); }
        catch (UnauthorizedAccessException e) { throw new TrgException(ErrorKind.NotFound, $"cannot read: {e.Message}", path, e); }
    }

    /// <summary>Reads only the header: tensor names, dtypes and shapes, and the metadata (for inspect).</summary>
    internal static (List<(string Name, TensorDType DType, int[] Shape)> Tensors, Dictionary<string, string> Metadata) ReadHeaderOnly(string path, InputLimits? limits = null)
    {
        if (!File.Exists(path)) throw new TrgException(ErrorKind.NotFound, "file not found", path);
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var (entries, metadata, _) = ReadHeader(handle, RandomAccess.GetLength(handle), path, limits ?? InputLimits.Default);
        return (entries.Select(e => (e.Name, e.DType, e.Shape)).ToList(), metadata);
    }

    /// <summary>
    /// Reads the header and only the tensors named in <paramref name="wanted"/> (those present): the small tensors a
    /// model file's description needs, without reading its weights. Errors as <see cref="Read"/>.
    /// </summary>
    internal static (List<(string Name, TensorDType DType, int[] Shape)> All, Dictionary<string, HostTensor> Wanted, Dictionary<string, string> Metadata)
        ReadSelected(string path, IReadOnlySet<string> wanted, InputLimits? limits = null)
    {
        limits ??= InputLimits.Default;
        if (!File.Exists(path)) throw new TrgException(ErrorKind.NotFound, "file not found", path);
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            long length = RandomAccess.GetLength(handle);
            if (length > limits.MaxModelBytes)
                throw Invalid($"{length} bytes is over the model file limit of {limits.MaxModelBytes} bytes (InputLimits.MaxModelBytes)", path);
            var (entries, metadata, dataStart) = ReadHeader(handle, length, path, limits);
            var selected = new Dictionary<string, HostTensor>();
            foreach (var e in entries)
                if (wanted.Contains(e.Name)) selected[e.Name] = ReadTensor(handle, e, dataStart, path);
            return (entries.Select(e => (e.Name, e.DType, e.Shape)).ToList(), selected, metadata);
        }
        catch (IOException e) { throw new TrgException(ErrorKind.NotFound, $"cannot read: {e.Message}", path, e); }
        catch (UnauthorizedAccessException e) { throw new TrgException(ErrorKind.NotFound, $"cannot read: {e.Message}", path, e); }
    }

    private static (List<Entry> Entries, Dictionary<string, string> Metadata, long DataStart) ReadHeader(SafeFileHandle handle, long length, string path, InputLimits limits)
    {
        if (length < 8) throw Invalid($"{length} bytes is too short for a safetensors file", path);
        Span<byte> head = stackalloc byte[8];
        ReadExactly(handle, head, 0, path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(head);
        if (headerLength > (ulong)(length - 8) || headerLength > MaxHeaderBytes)
            throw Invalid($"header length {headerLength} does not fit the file ({length} bytes): not a safetensors file, or truncated", path);
        var json = new byte[headerLength];
        ReadExactly(handle, json, 8, path);
        if (!System.Text.Unicode.Utf8.IsValid(json)) throw Invalid("the header is not valid UTF-8", path);
        long dataStart = 8 + (long)headerLength, dataLength = length - dataStart;

        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>();
        var names = new HashSet<string>();
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Invalid("the header is not a JSON object", path);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!names.Add(prop.Name)) throw Invalid($"key '{prop.Name}' appears twice in the header", path);
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Invalid("__metadata__ is not an object", path);
                    foreach (var m in prop.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()!
                            : throw Invalid($"metadata '{m.Name}' is not a string", path);
                    continue;
                }
                entries.Add(ParseEntry(prop, dataLength, path, limits));
            }
        }
        catch (JsonException e) { throw new TrgException(ErrorKind.InvalidModel, $"the header is not valid JSON: {e.Message}", path, e); }

        // The data must be tiled exactly: no overlaps, no holes, nothing after the last tensor.
        long cursor = 0;
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.Begin != cursor)
                throw Invalid(e.Begin < cursor ? $"tensor '{e.Name}' overlaps the tensor before it" : $"{e.Begin - cursor} unused bytes before tensor '{e.Name}'", path);
            cursor = e.End;
        }
        if (cursor != dataLength) throw Invalid($"{dataLength - cursor} bytes after the last tensor", path);
        return (entries, metadata, dataStart);
    }

    private static Entry ParseEntry(JsonProperty prop, long dataLength, string path, InputLimits limits)
    {
        var name = prop.Name;
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object
            || !v.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String
            || !v.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array
            || !v.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw Invalid($"tensor '{name}' needs dtype, shape and data_offsets [begin, end]", path);
        var dtypeName = dtypeEl.GetString()!;
        if (!DTypes.TryGetValue(dtypeName, out var dtype))
            throw Invalid($"tensor '{name}' has dtype {dtypeName}; supported: {string.Join(", ", DTypes.Keys)}", path);
        var shape = new int[shapeEl.GetArrayLength()];
        long numel = 1;
        int d = 0;
        foreach (var s in shapeEl.EnumerateArray())
        {
            if (s.ValueKind != JsonValueKind.Number || !s.TryGetInt32(out shape[d]) || shape[d] < 0)
                throw Invalid($"tensor '{name}' has a bad shape", path);
            // numel <= 2^31 and shape[d] < 2^31 here, so the product cannot overflow.
            numel = numel * shape[d] > Array.MaxLength ? throw Invalid($"tensor '{name}' is impossibly large", path) : numel * shape[d];
            d++;
        }
        if (numel > limits.MaxTensorElements)
            throw Invalid($"tensor '{name}' has {numel} elements, over the limit of {limits.MaxTensorElements} (InputLimits.MaxTensorElements)", path);
        long[] off = new long[2];
        int j = 0;
        foreach (var o in offEl.EnumerateArray())
            if (o.ValueKind != JsonValueKind.Number || !o.TryGetInt64(out off[j++]) || off[j - 1] < 0)
                throw Invalid($"tensor '{name}' has bad data_offsets", path);
        if (off[0] > off[1] || off[1] > dataLength)
            throw Invalid($"tensor '{name}' data_offsets [{off[0]}, {off[1]}] lie outside the {dataLength} data bytes (truncated file?)", path);
        long expected = checked(numel * TensorData.ElementSize(dtype));
        if (off[1] - off[0] != expected)
            throw Invalid($"tensor '{name}' {dtypeName} [{string.Join(",", shape)}] needs {expected} bytes but data_offsets span {off[1] - off[0]}", path);
        return new Entry(name, dtype, shape, off[0], off[1]);
    }

    private static HostTensor ReadTensor(SafeFileHandle handle, Entry e, long dataStart, string path)
    {
        long at = dataStart + e.Begin;
        long numel = (e.End - e.Begin) / TensorData.ElementSize(e.DType);
        switch (e.DType)
        {
            case TensorDType.F32:
            {
                var a = new float[numel];
                ReadExactly(handle, MemoryMarshal.AsBytes(a.AsSpan()), at, path);
                return new HostTensor(e.Name, e.Shape, a);
            }
            case TensorDType.I64:
            {
                var a = new long[numel];
                ReadExactly(handle, MemoryMarshal.AsBytes(a.AsSpan()), at, path);
                return new HostTensor(e.Name, e.Shape, a);
            }
            case TensorDType.I32:
            {
                var a = new int[numel];
                ReadExactly(handle, MemoryMarshal.AsBytes(a.AsSpan()), at, path);
                return new HostTensor(e.Name, e.Shape, a);
            }
            default:
            {
                // Narrow or wide floats: convert through a bounded buffer, never a second full-size copy.
                var a = new float[numel];
                int size = TensorData.ElementSize(e.DType);
                const int chunkElements = 1 << 20;
                var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(numel, chunkElements) * size + 8);
                try
                {
                    for (long done = 0; done < numel; done += chunkElements)
                    {
                        int n = (int)Math.Min(chunkElements, numel - done);
                        var chunk = buffer.AsSpan(0, n * size);
                        ReadExactly(handle, chunk, at + done * size, path);
                        TensorData.ToFloat(chunk, e.DType, a.AsSpan((int)done, n));
                    }
                }
                finally { ArrayPool<byte>.Shared.Return(buffer); }
                return new HostTensor(e.Name, e.Shape, a);
            }
        }
    }

    /// <summary>
    /// Writes tensors (in the given order) and metadata, all-or-nothing (temporary file + rename). The header is padded
    /// with spaces to a multiple of 8 bytes so every tensor starts 8-byte aligned.
    /// </summary>
    public static void Write(string path, IEnumerable<HostTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var list = tensors.ToList();
        var seen = new HashSet<string>();
        foreach (var t in list)
            if (t.Name == "__metadata__" || !seen.Add(t.Name)) throw new ArgumentException($"tensor name '{t.Name}' is reserved or repeated");

        var header = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(header))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            foreach (var (k, v) in metadata) w.WriteString(k, v);
            w.WriteEndObject();
            long offset = 0;
            foreach (var t in list)
            {
                long bytes = t.Elements * TensorData.ElementSize(t.DType);
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType switch { TensorDType.F32 => "F32", TensorDType.I64 => "I64", _ => "I32" });
                w.WriteStartArray("shape");
                foreach (var s in t.Shape) w.WriteNumberValue(s);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        int padded = (header.WrittenCount + 7) / 8 * 8;

        AtomicFile.Write(path, fs =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
            fs.Write(len);
            fs.Write(header.WrittenSpan);
            for (int i = header.WrittenCount; i < padded; i++) fs.WriteByte((byte)' ');
            foreach (var t in list)
            {
                switch (t.DType)
                {
                    case TensorDType.F32: fs.Write(MemoryMarshal.AsBytes(t.F32.AsSpan())); break;
                    case TensorDType.I64: fs.Write(MemoryMarshal.AsBytes(t.I64.AsSpan())); break;
                    default: fs.Write(MemoryMarshal.AsBytes(t.I32.AsSpan())); break;
                }
            }
        });
    }

    private static void ReadExactly(SafeFileHandle handle, Span<byte> dst, long at, string path)
    {
        while (dst.Length > 0)
        {
            int n = RandomAccess.Read(handle, dst, at);
            if (n == 0) throw Invalid("the file ends early (truncated)", path);
            dst = dst[n..];
            at += n;
        }
    }

    private static TrgException Invalid(string message, string path) => new(ErrorKind.InvalidModel, message, path);
}
