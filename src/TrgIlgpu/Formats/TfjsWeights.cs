using System.Buffers.Binary;
using System.Text.Json;
using TrgIlgpu.Model;

namespace TrgIlgpu.Formats;

/// <summary>
/// TensorFlow.js weights: a manifest (JSON array of groups, each with <c>paths</c> to weight files and <c>weights</c>:
/// name, shape, dtype and optional <c>quantization</c>) plus the group's files concatenated. Decoded exactly as
/// <c>tf.io.decodeWeights</c>: uint8/uint16 values become <c>scale * q + min</c> computed in double and stored as
/// float32 (int32 weights: that value rounded as JavaScript's Math.round does), float16 values widen to float32,
/// unquantised float32 and int32 weights are read as they are (little-endian).
/// </summary>
public static class TfjsWeights
{
    /// <summary>
    /// Reads the manifest at <paramref name="manifestPath"/> and the weight files it names (plain file names, looked up
    /// beside the manifest), within <paramref name="limits"/> (default: <see cref="InputLimits.Default"/>; each file and
    /// each group's files together at most <see cref="InputLimits.MaxDataFileBytes"/>).
    /// </summary>
    public static IReadOnlyDictionary<string, HostTensor> Read(string manifestPath, InputLimits? limits = null)
    {
        limits ??= InputLimits.Default;
        var manifest = NumpyPickle.ReadAllBounded(manifestPath, limits.MaxDataFileBytes, "TF.js weights manifest");
        var folder = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        return Decode(manifest, file => NumpyPickle.ReadAllBounded(Path.Combine(folder, file), limits.MaxDataFileBytes, "TF.js weight file"), manifestPath, limits);
    }

    /// <summary>
    /// Decodes a manifest (UTF-8 JSON bytes) whose weight files <paramref name="readFile"/> returns by their plain
    /// name. <paramref name="source"/> names the manifest in errors (<see cref="ErrorKind.InvalidModel"/>).
    /// </summary>
    public static IReadOnlyDictionary<string, HostTensor> Decode(ReadOnlySpan<byte> manifestJson, Func<string, byte[]> readFile, string source,
        InputLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(readFile);
        limits ??= InputLimits.Default;
        // JsonDocument checks UTF-8 only where a string is read; a bad byte in a name would escape as InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(manifestJson)) throw Invalid("manifest is not valid UTF-8", source);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(manifestJson.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Invalid($"manifest is not valid JSON: {e.Message}", source);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array || doc.RootElement.GetArrayLength() == 0)
                throw Invalid("manifest must be a non-empty JSON array of weight groups", source);
            var tensors = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
            int groupIndex = 0;
            foreach (var group in doc.RootElement.EnumerateArray())
                DecodeGroup(group, groupIndex++, readFile, source, tensors, limits);
            return tensors;
        }
    }

    private static void DecodeGroup(JsonElement group, int index, Func<string, byte[]> readFile, string source, Dictionary<string, HostTensor> tensors,
        InputLimits limits)
    {
        string where = $"weight group {index}";
        if (group.ValueKind != JsonValueKind.Object) throw Invalid($"{where} is not an object", source);
        var paths = RequireArray(group, "paths", where, source);
        var specs = RequireArray(group, "weights", where, source);
        if (paths.GetArrayLength() == 0) throw Invalid($"{where} names no weight files", source);

        var parts = new List<byte[]>();
        long total = 0;
        foreach (var p in paths.EnumerateArray())
        {
            if (p.ValueKind != JsonValueKind.String) throw Invalid($"{where}: paths must be strings", source);
            string file = p.GetString()!;
            if (file.Length == 0 || file != Path.GetFileName(file) || file is "." or "..")
                throw Invalid($"{where}: weight file '{file}' must be a plain file name beside the manifest", source);
            var bytes = readFile(file);
            parts.Add(bytes);
            total += bytes.Length;
            if (total > limits.MaxDataFileBytes) throw Invalid($"{where}: weight files exceed {limits.MaxDataFileBytes} bytes (InputLimits.MaxDataFileBytes)", source);
        }
        var data = new byte[total];
        int at = 0;
        foreach (var part in parts) { part.CopyTo(data, at); at += part.Length; }

        long offset = 0;
        foreach (var spec in specs.EnumerateArray())
        {
            var tensor = DecodeWeight(spec, data, ref offset, where, source, limits);
            if (!tensors.TryAdd(tensor.Name, tensor)) throw Invalid($"weight '{tensor.Name}' appears twice", source);
        }
        if (offset != data.Length)
            throw Invalid($"{where}: its weights take {offset} bytes, its files hold {data.Length}", source);
    }

    private static HostTensor DecodeWeight(JsonElement spec, byte[] data, ref long offset, string where, string source, InputLimits limits)
    {
        if (spec.ValueKind != JsonValueKind.Object) throw Invalid($"{where}: a weight entry is not an object", source);
        string name = spec.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String && n.GetString()!.Length > 0
            ? n.GetString()! : throw Invalid($"{where}: a weight entry has no name", source);
        string what = $"weight '{name}'";
        string dtype = spec.TryGetProperty("dtype", out var d) && d.ValueKind == JsonValueKind.String
            ? d.GetString()! : throw Invalid($"{what} has no dtype", source);
        var shape = ReadShape(RequireArray(spec, "shape", what, source), what, source);
        long elements;
        try
        {
            elements = checked(shape.Aggregate(1L, (a, b) => a * b));
        }
        catch (OverflowException)
        {
            throw Invalid($"{what}: shape [{string.Join(",", shape)}] is too large", source);
        }
        if (elements > Math.Min(limits.MaxTensorElements, Array.MaxLength))
            throw Invalid($"{what}: shape [{string.Join(",", shape)}] is over the limit of {limits.MaxTensorElements} elements (InputLimits.MaxTensorElements)", source);
        if (dtype is not ("float32" or "int32"))
            throw Invalid($"{what}: dtype '{dtype}' is not supported (float32 and int32 are)", source);

        Quantization? q = spec.TryGetProperty("quantization", out var qe) ? ReadQuantization(qe, dtype, what, source) : null;
        int width = q?.Width ?? 4;
        long bytes = checked(elements * width);
        if (bytes > data.Length - offset)
            throw Invalid($"{what}: shape [{string.Join(",", shape)}] needs {bytes} bytes at offset {offset}, the weight files hold {data.Length}", source);
        var raw = data.AsSpan((int)offset, (int)bytes);
        offset += bytes;

        if (dtype == "int32")
        {
            var ints = new int[elements];
            for (int i = 0; i < ints.Length; i++)
                ints[i] = q is null ? BinaryPrimitives.ReadInt32LittleEndian(raw[(i * 4)..]) : JsRound(q.Value.Dequantise(raw, i), what, source);
            return new HostTensor(name, shape, ints);
        }
        var values = new float[elements];
        for (int i = 0; i < values.Length; i++)
            values[i] = q is null ? BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]) : (float)q.Value.Dequantise(raw, i);
        return new HostTensor(name, shape, values);
    }

    private static int[] ReadShape(JsonElement array, string what, string source)
    {
        var shape = new int[array.GetArrayLength()];
        int i = 0;
        foreach (var dim in array.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt32(out shape[i]) || shape[i] < 0)
                throw Invalid($"{what}: shape entries must be non-negative integers, found {dim.GetRawText()}", source);
            i++;
        }
        return shape;
    }

    private static Quantization ReadQuantization(JsonElement q, string dtype, string what, string source)
    {
        if (q.ValueKind != JsonValueKind.Object) throw Invalid($"{what}: quantization is not an object", source);
        string qtype = q.TryGetProperty("dtype", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()! : throw Invalid($"{what}: quantization has no dtype", source);
        switch (qtype)
        {
            case "uint8":
            case "uint16":
                if (!q.TryGetProperty("scale", out var s) || s.ValueKind != JsonValueKind.Number ||
                    !q.TryGetProperty("min", out var m) || m.ValueKind != JsonValueKind.Number)
                    throw Invalid($"{what}: {qtype} quantization needs numeric 'scale' and 'min'", source);
                double scale = s.GetDouble(), min = m.GetDouble();
                if (!double.IsFinite(scale) || !double.IsFinite(min)) throw Invalid($"{what}: quantization scale/min must be finite", source);
                return new Quantization(qtype == "uint8" ? QuantisedType.UInt8 : QuantisedType.UInt16, scale, min);
            case "float16":
                if (dtype != "float32") throw Invalid($"{what}: float16 quantization applies to float32 weights only, not {dtype}", source);
                return new Quantization(QuantisedType.Float16, 1, 0);
            default:
                throw Invalid($"{what}: quantization dtype '{qtype}' is not supported (uint8, uint16 and float16 are)", source);
        }
    }

    // JavaScript's Math.round: the nearest integer, halves toward +infinity.
    private static int JsRound(double v, string what, string source)
    {
        double r = Math.Floor(v + 0.5);
        if (!(r >= int.MinValue && r <= int.MaxValue)) throw Invalid($"{what}: dequantised int32 value {v} is out of range", source);
        return (int)r;
    }

    private static JsonElement RequireArray(JsonElement obj, string property, string where, string source) =>
        obj.TryGetProperty(property, out var a) && a.ValueKind == JsonValueKind.Array
            ? a : throw Invalid($"{where} has no '{property}' array", source);

    private static TrgException Invalid(string message, string source) => new(ErrorKind.InvalidModel, message, source);

    private enum QuantisedType { UInt8, UInt16, Float16 }

    private readonly record struct Quantization(QuantisedType Type, double Scale, double Min)
    {
        public int Width => Type == QuantisedType.UInt8 ? 1 : 2;

        public double Dequantise(ReadOnlySpan<byte> raw, int i) => Type switch
        {
            QuantisedType.UInt8 => raw[i] * Scale + Min,
            QuantisedType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..]) * Scale + Min,
            _ => (double)BinaryPrimitives.ReadHalfLittleEndian(raw[(i * 2)..]),
        };
    }
}
