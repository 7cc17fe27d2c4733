using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using TrgIlgpu.Model;

namespace TrgIlgpu.Formats;

/// <summary>
/// NumPy .npy files (format versions 1-3): little-endian float32/float64 (read as float32), int64 and int32, in C or
/// Fortran order (returned in C order).
/// </summary>
public static partial class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")] private static partial Regex DescrRegex();
    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")] private static partial Regex FortranRegex();
    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")] private static partial Regex ShapeRegex();

    /// <summary>Reads the array as a tensor named <paramref name="name"/> (default: the file name without extension),
    /// within <paramref name="limits"/> (default: <see cref="InputLimits.Default"/>; the official triangles file is 28 kB).</summary>
    public static HostTensor Read(string path, string? name = null, InputLimits? limits = null)
    {
        limits ??= InputLimits.Default;
        name ??= Path.GetFileNameWithoutExtension(path);
        return Parse(NumpyPickle.ReadAllBounded(path, limits.MaxDataFileBytes, ".npy file"), name, path, limits);
    }

    /// <summary>Parses the bytes of a .npy file (e.g. a member of an .npz archive); <paramref name="source"/> names it in errors.</summary>
    public static HostTensor Parse(byte[] data, string name, string source, InputLimits? limits = null)
    {
        limits ??= InputLimits.Default;
        var path = source;
        if (data.Length < 10 || !data.AsSpan(0, 6).SequenceEqual(Magic))
            throw Invalid("not a .npy file (no \\x93NUMPY magic)", path);
        int major = data[6];
        int headerLength, headerStart;
        switch (major)
        {
            case 1: headerLength = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(8)); headerStart = 10; break;
            case 2:
            case 3:
                if (data.Length < 12) throw Invalid("truncated header", path);
                uint n = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(8));
                if (n > int.MaxValue) throw Invalid("header length out of range", path);
                headerLength = (int)n; headerStart = 12;
                break;
            default: throw Invalid($".npy format version {major} is not supported (1-3 are)", path);
        }
        if ((long)headerStart + headerLength > data.Length) throw Invalid("truncated header", path);
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(data, headerStart, headerLength);

        var descr = DescrRegex().Match(header);
        var fortran = FortranRegex().Match(header);
        var shapeMatch = ShapeRegex().Match(header);
        if (!descr.Success || !fortran.Success || !shapeMatch.Success) throw Invalid($"unreadable header {Shorten(header.Trim())}", path);

        var dims = shapeMatch.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var shape = new int[dims.Length];
        long numel = 1;
        for (int i = 0; i < dims.Length; i++)
        {
            if (!int.TryParse(dims[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out shape[i]))
                throw Invalid($"bad shape ({Shorten(shapeMatch.Groups[1].Value)})", path);
            numel = checked(numel * shape[i]); // numel <= limit < 2^31 before, shape[i] < 2^31: no overflow
            if (numel > Math.Min(limits.MaxTensorElements, Array.MaxLength))
                throw Invalid($"shape ({Shorten(shapeMatch.Groups[1].Value)}) is over the limit of {limits.MaxTensorElements} elements (InputLimits.MaxTensorElements)", path);
        }

        (TensorDType dtype, int size) = descr.Groups[1].Value switch
        {
            "<f4" => (TensorDType.F32, 4),
            "<f8" => (TensorDType.F64, 8),
            "<i8" => (TensorDType.I64, 8),
            "<i4" => (TensorDType.I32, 4),
            var d => throw Invalid($"dtype '{Shorten(d)}' is not supported ('<f4', '<f8', '<i8', '<i4' are)", path),
        };
        long payload = (long)data.Length - headerStart - headerLength;
        if (payload != checked(numel * size))
            throw Invalid($"shape ({string.Join(",", shape)}) of {descr.Groups[1].Value} needs {numel * size} data bytes, the file holds {payload}", path);
        ReadOnlySpan<byte> raw = data.AsSpan(headerStart + headerLength);
        if (fortran.Groups[1].Value == "True")
        {
            // Column-major on disk (the official triangles file is): gather into row-major order.
            var size64 = shape.Select(d => (long)d).ToArray();
            var stride = new long[shape.Length];
            long step = 1;
            for (int d = 0; d < shape.Length; d++) { stride[d] = step; step *= shape[d]; }
            raw = TensorData.Gather(raw, size, 0, size64, stride, numel);
        }
        return TensorData.FromBytes(name, shape, dtype, raw);
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..80] + "...";

    private static TrgException Invalid(string message, string path) => new(ErrorKind.InvalidModel, message, path);
}
