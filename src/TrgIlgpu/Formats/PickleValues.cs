using TrgIlgpu.Model;

namespace TrgIlgpu.Formats;

// The only kinds of value the restricted unpickler ever builds. Python ints are long, floats double, str string,
// bytes/bytearray byte[], tuples PyTuple, lists List<object?>, dicts (and OrderedDict) PyDict, None null.
// Nothing here has behaviour beyond holding data: unpickling never runs code.

/// <summary>A reference to an allow-listed global (a class or function), as the pickle named it.</summary>
internal sealed record PyGlobal(string Module, string Name)
{
    public string FullName => Module + "." + Name;
    public override string ToString() => FullName;
}

/// <summary>A Python tuple.</summary>
internal sealed class PyTuple(object?[] items)
{
    public object?[] Items { get; } = items;
    public int Count => Items.Length;
    public object? this[int i] => Items[i];
}

/// <summary>A Python dict or OrderedDict: insertion-ordered, keys limited to str/int/float/bool.</summary>
internal sealed class PyDict
{
    private readonly List<KeyValuePair<object, object?>> _items = [];
    private readonly Dictionary<object, int> _index = [];

    public int Count => _items.Count;
    public IEnumerable<KeyValuePair<object, object?>> Items => _items;

    /// <summary>Sets a key, keeping the first insertion position like Python does. Returns false for unhashable keys.</summary>
    public bool Set(object? key, object? value)
    {
        if (key is not (string or long or double or bool)) return false;
        if (_index.TryGetValue(key, out int at)) _items[at] = new(key, value);
        else { _index[key] = _items.Count; _items.Add(new(key, value)); }
        return true;
    }

    public bool TryGet(object key, out object? value)
    {
        if (_index.TryGetValue(key, out int at)) { value = _items[at].Value; return true; }
        value = null;
        return false;
    }
}

/// <summary>A torch storage named by a checkpoint's persistent id: archive entry data/KEY holding NUMEL elements.</summary>
internal sealed record TorchStorage(string Key, TensorDType DType, long Numel, string Location);

/// <summary>A tensor view over a storage (torch._utils._rebuild_tensor_v2 arguments); no data yet.</summary>
internal sealed record TorchTensor(TorchStorage Storage, long Offset, long[] Size, long[] Stride)
{
    public string ShapeText => "[" + string.Join(",", Size) + "]";
}

/// <summary>A numpy dtype (numpy.dtype('f4')): kind letter and item size; byte order fixed by BUILD.</summary>
internal sealed class NumpyDType(string code)
{
    public string Code { get; } = code;
    public char ByteOrder { get; set; } = '=';
    public char Kind => Code[0];
    public int ItemSize => int.Parse(Code.AsSpan(1));
    public override string ToString() => (ByteOrder == '>' ? ">" : ItemSize == 1 ? "|" : "<") + Code;
}

/// <summary>A numpy array made by numpy.core.multiarray._reconstruct and filled by BUILD.</summary>
internal sealed class NumpyArray
{
    public long[] Shape { get; set; } = [0];
    public NumpyDType? DType { get; set; }
    public bool Fortran { get; set; }
    public byte[] Data { get; set; } = [];
    public bool Filled { get; set; }
    public string ShapeText => "[" + string.Join(",", Shape) + "]";
}
