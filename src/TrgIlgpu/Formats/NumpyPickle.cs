using System.Runtime.InteropServices;
using TrgIlgpu.Model;

namespace TrgIlgpu.Formats;

/// <summary>
/// Plain data pickles of the official release (data/arkit_subsample.pkl, data/init_vtx_cam.pkl): dicts of lists and
/// numpy arrays. Read with the restricted unpickler; only numpy's array-rebuilding globals are allowed.
/// </summary>
public static class NumpyPickle
{
    /// <summary>The official key of the 305 subsampled vertex indices in arkit_subsample.pkl.</summary>
    public const string SubsampleKey = "1220_to_305";

    internal static readonly PickleProfile Profile = new()
    {
        Description = "numpy data pickle",
        AllowedGlobals = new HashSet<string>
        {
            "collections.OrderedDict",
            "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
            "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
            "numpy.ndarray", "numpy.dtype",
        },
    };

    /// <summary>Unpickles the file into plain values (PyDict, List, long, string, NumpyArray...).</summary>
    internal static object? Load(string path, InputLimits? limits = null)
    {
        limits ??= InputLimits.Default;
        var data = ReadAllBounded(path, limits.MaxPickleBytes, "pickle");
        if (data.Length == 0) throw new TrgException(ErrorKind.InvalidModel, "empty file, expected a pickle", path);
        return RestrictedUnpickler.Load(data, path, Profile, limits);
    }

    /// <summary>
    /// The 305 vertex indices of arkit_subsample.pkl (key 1220_to_305: a list of ints or an integer numpy array),
    /// checked: 305 distinct values in [0, 1220).
    /// </summary>
    public static long[] ReadSubsample(string path, InputLimits? limits = null)
    {
        if (Load(path, limits) is not PyDict dict)
            throw new TrgException(ErrorKind.InvalidModel, $"expected a dict holding '{SubsampleKey}' (the official arkit_subsample.pkl)", path);
        if (!dict.TryGet(SubsampleKey, out var value))
            throw new TrgException(ErrorKind.InvalidModel,
                $"no '{SubsampleKey}' key (keys: {string.Join(", ", dict.Items.Select(kv => kv.Key))}); pass the official data/arkit_subsample.pkl", path);
        long[] indices = value switch
        {
            List<object?> list => list.Select(v => v is long l ? l
                : throw new TrgException(ErrorKind.InvalidModel, $"'{SubsampleKey}' holds a non-integer", path)).ToArray(),
            NumpyArray arr => ToHostTensor(arr, SubsampleKey, path) switch
            {
                { I64: { } wide } => wide,
                { I32: { } narrow } => narrow.Select(v => (long)v).ToArray(),
                _ => throw new TrgException(ErrorKind.InvalidModel, $"'{SubsampleKey}' is not an integer array", path),
            },
            _ => throw new TrgException(ErrorKind.InvalidModel, $"'{SubsampleKey}' is neither a list nor an array", path),
        };
        var problem = CheckSubsample(indices);
        if (problem is not null) throw new TrgException(ErrorKind.InvalidModel, $"'{SubsampleKey}': {problem}", path);
        return indices;
    }

    /// <summary>Null when the indices are 305 distinct vertex numbers below 1220, else what is wrong.</summary>
    public static string? CheckSubsample(IReadOnlyList<long> indices)
    {
        if (indices.Count != VariantInfo.SubsampledVertices)
            return $"{indices.Count} indices, expected {VariantInfo.SubsampledVertices}";
        var seen = new HashSet<long>();
        foreach (var i in indices)
        {
            if (i < 0 || i >= VariantInfo.Vertices) return $"index {i} outside [0,{VariantInfo.Vertices})";
            if (!seen.Add(i)) return $"index {i} appears twice";
        }
        return null;
    }

    /// <summary>Every numpy array at the top level of a dict pickle (e.g. init_vtx_cam.pkl), as host tensors.</summary>
    public static Dictionary<string, HostTensor> ReadArrays(string path, InputLimits? limits = null)
    {
        if (Load(path, limits) is not PyDict dict) throw new TrgException(ErrorKind.InvalidModel, "expected a dict pickle", path);
        var r = new Dictionary<string, HostTensor>();
        foreach (var (k, v) in dict.Items)
            if (k is string key && v is NumpyArray arr) r[key] = ToHostTensor(arr, key, path);
        return r;
    }

    /// <summary>Converts a numpy array: floats to float32, int64/uint32 to int64, smaller integers to int32.</summary>
    internal static HostTensor ToHostTensor(NumpyArray arr, string name, string path)
    {
        var dt = arr.DType ?? throw new TrgException(ErrorKind.InvalidModel, $"array '{name}' was never filled", path);
        if (arr.Fortran && arr.Shape.Count(d => d > 1) > 1)
            throw new TrgException(ErrorKind.InvalidModel, $"array '{name}' is Fortran-ordered; save it in C order", path);
        if (arr.Shape.Any(d => d > int.MaxValue)) throw new TrgException(ErrorKind.InvalidModel, $"array '{name}' is too large", path);
        var shape = arr.Shape.Select(d => (int)d).ToArray();
        ReadOnlySpan<byte> raw = arr.Data;
        switch (dt.Code)
        {
            case "f4": return new HostTensor(name, shape, MemoryMarshal.Cast<byte, float>(raw).ToArray());
            case "f8": return new HostTensor(name, shape, Convert(MemoryMarshal.Cast<byte, double>(raw), d => (float)d));
            case "f2": return new HostTensor(name, shape, Convert(MemoryMarshal.Cast<byte, Half>(raw), h => (float)h));
            case "i8": return new HostTensor(name, shape, MemoryMarshal.Cast<byte, long>(raw).ToArray());
            case "u4": return new HostTensor(name, shape, Convert(MemoryMarshal.Cast<byte, uint>(raw), u => (long)u));
            case "i4": return new HostTensor(name, shape, MemoryMarshal.Cast<byte, int>(raw).ToArray());
            case "i2": return new HostTensor(name, shape, Convert(MemoryMarshal.Cast<byte, short>(raw), v => (int)v));
            case "u2": return new HostTensor(name, shape, Convert(MemoryMarshal.Cast<byte, ushort>(raw), v => (int)v));
            case "i1": return new HostTensor(name, shape, Convert(MemoryMarshal.Cast<byte, sbyte>(raw), v => (int)v));
            case "u1" or "b1": return new HostTensor(name, shape, Convert(raw, v => (int)v));
            default: throw new TrgException(ErrorKind.InvalidModel, $"array '{name}' has numpy dtype {dt}, which has no tensor equivalent here", path);
        }
    }

    private static TOut[] Convert<TIn, TOut>(ReadOnlySpan<TIn> src, Func<TIn, TOut> f)
    {
        var r = new TOut[src.Length];
        for (int i = 0; i < r.Length; i++) r[i] = f(src[i]);
        return r;
    }

    /// <summary>Reads a whole small file, mapping a missing file to NotFound and an oversized one to InvalidModel.</summary>
    internal static byte[] ReadAllBounded(string path, long maxBytes, string what)
    {
        if (!File.Exists(path)) throw new TrgException(ErrorKind.NotFound, "file not found", path);
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (fs.Length > maxBytes)
                throw new TrgException(ErrorKind.InvalidModel, $"{fs.Length} bytes is larger than any {what} this tool reads ({maxBytes} bytes, InputLimits)", path);
            var data = new byte[fs.Length];
            fs.ReadExactly(data);
            return data;
        }
        catch (IOException e) { throw new TrgException(ErrorKind.NotFound, $"cannot read: {e.Message}", path, e); }
        catch (UnauthorizedAccessException e) { throw new TrgException(ErrorKind.NotFound, $"cannot read: {e.Message}", path, e); }
    }
}
