using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace TrgIlgpu.Formats;

/// <summary>What one kind of pickle file may contain: the globals it may name and how persistent ids resolve.</summary>
internal sealed class PickleProfile
{
    /// <summary>What the file is, for messages ("PyTorch checkpoint").</summary>
    public required string Description { get; init; }
    /// <summary>"module.name" of every global the file may name. Anything else is refused on sight.</summary>
    public required IReadOnlySet<string> AllowedGlobals { get; init; }
    /// <summary>Resolves a BINPERSID id (torch storages); null where persistent ids are not expected.</summary>
    public Func<object?, object?>? PersistentLoad { get; init; }
}

/// <summary>
/// A small pickle machine (protocols 0-5, the opcodes real checkpoints and numpy pickles use) that only ever builds
/// plain data (PickleValues.cs). A global outside the profile's allow-list is refused the moment the stream names it,
/// before any later opcode runs; calls (REDUCE) are interpreted here for the few allowed functions, never executed.
/// Malformed or truncated streams raise InvalidModel; lengths are checked against the bytes left before allocating.
/// The work is bounded too (<see cref="InputLimits.MaxPickleOps"/>, <see cref="InputLimits.MaxPickleMemoEntries"/>):
/// each opcode pushes at most one value, so the opcode bound also bounds the references a DUP / BINGET flood can make
/// it keep, and every byte string it builds is a slice of the input, so what it retains is O(ops + input bytes).
/// </summary>
/// <remarks>Razorvine.Pickle was evaluated and not used: it turns unknown globals into ClassDict objects instead of
/// refusing them, keeps its constructor registry in process-wide static state, and invokes __setstate__ by reflection.</remarks>
internal sealed class RestrictedUnpickler
{
    private const int HighestProtocol = 5;

    private readonly byte[] _data;
    private readonly string _file;
    private readonly string _where;
    private readonly PickleProfile _profile;
    private readonly InputLimits _limits;
    private readonly List<object?> _stack = [];
    private readonly List<int> _marks = [];
    private readonly Dictionary<long, object?> _memo = [];
    private int _pos;
    private int _opAt;
    private long _ops;

    private RestrictedUnpickler(byte[] data, string file, string where, PickleProfile profile, InputLimits limits)
    {
        _data = data; _file = file; _where = where; _profile = profile; _limits = limits;
    }

    /// <summary>Unpickles <paramref name="data"/> within <paramref name="limits"/>. <paramref name="where"/> names the
    /// part of the file in messages (e.g. "entry archive/data.pkl"); errors carry <paramref name="file"/>.</summary>
    public static object? Load(byte[] data, string file, PickleProfile profile, InputLimits limits, string? where = null)
    {
        if (data.Length > limits.MaxPickleBytes)
            throw new TrgException(ErrorKind.InvalidModel,
                $"{where ?? "pickle"} is {data.Length} bytes, over the {limits.MaxPickleBytes}-byte pickle limit (InputLimits.MaxPickleBytes)", file);
        return new RestrictedUnpickler(data, file, where ?? "pickle", profile, limits).Run();
    }

    private object? Run()
    {
        while (true)
        {
            if (_pos >= _data.Length) throw Malformed("the stream ends without a STOP opcode (truncated file)");
            if (++_ops > _limits.MaxPickleOps)
                throw Malformed($"more than {_limits.MaxPickleOps} opcodes (InputLimits.MaxPickleOps); real checkpoints and data pickles need a few thousand");
            _opAt = _pos;
            byte op = _data[_pos++];
            switch (op)
            {
                case 0x80: // PROTO
                    int proto = ReadByte();
                    if (proto > HighestProtocol) throw Malformed($"pickle protocol {proto} is newer than 5");
                    break;
                case 0x95: // FRAME: framing is only a read-ahead hint
                    ReadLength(8);
                    break;
                case (byte)'.': // STOP
                    if (_marks.Count > 0) throw Malformed("STOP with an unclosed MARK");
                    return Pop();
                case (byte)'(': _marks.Add(_stack.Count); break; // MARK
                case (byte)'0': // POP (a MARK on top is popped like a value)
                    if (_marks.Count > 0 && _marks[^1] == _stack.Count) _marks.RemoveAt(_marks.Count - 1);
                    else Pop();
                    break;
                case (byte)'1': PopMark(); break; // POP_MARK
                case (byte)'2': Push(Peek()); break; // DUP

                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break; // NEWTRUE
                case 0x89: Push(false); break; // NEWFALSE
                case (byte)'I': Push(ParseTextInt(ReadLine())); break; // INT (protocol 0; "01"/"00" are booleans)
                case (byte)'L': Push(ParseLong(ReadLine().TrimEnd('L'))); break; // LONG (protocol 0)
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadSpan(4))); break; // BININT
                case (byte)'K': Push((long)ReadByte()); break; // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadSpan(2))); break; // BININT2
                case 0x8a: Push(DecodeLong(ReadSpan(ReadByte()))); break; // LONG1
                case 0x8b: Push(DecodeLong(ReadSpan(ReadLength(4)))); break; // LONG4
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(ReadSpan(8))); break; // BINFLOAT
                case (byte)'F': Push(ParseDouble(ReadLine())); break; // FLOAT (protocol 0)

                case (byte)'X': Push(DecodeUtf8(ReadSpan(ReadLength(4)))); break; // BINUNICODE
                case 0x8c: Push(DecodeUtf8(ReadSpan(ReadByte()))); break; // SHORT_BINUNICODE
                case 0x8d: Push(DecodeUtf8(ReadSpan(ReadLength(8)))); break; // BINUNICODE8
                case (byte)'T': Push(Encoding.Latin1.GetString(ReadSpan(ReadLength(4)))); break; // BINSTRING (py2 str)
                case (byte)'U': Push(Encoding.Latin1.GetString(ReadSpan(ReadByte()))); break; // SHORT_BINSTRING
                case (byte)'B': Push(ReadSpan(ReadLength(4)).ToArray()); break; // BINBYTES
                case (byte)'C': Push(ReadSpan(ReadByte()).ToArray()); break; // SHORT_BINBYTES
                case 0x8e: // BINBYTES8
                case 0x96: // BYTEARRAY8
                    Push(ReadSpan(ReadLength(8)).ToArray());
                    break;

                case (byte)')': Push(new PyTuple([])); break; // EMPTY_TUPLE
                case (byte)'t': Push(new PyTuple(PopMark())); break; // TUPLE
                case 0x85: Push(new PyTuple([Pop()])); break; // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); Push(new PyTuple([a, b])); break; } // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new PyTuple([a, b, c])); break; } // TUPLE3
                case (byte)']': Push(new List<object?>()); break; // EMPTY_LIST
                case (byte)'l': Push(new List<object?>(PopMark())); break; // LIST
                case (byte)'a': { var v = Pop(); PeekAs<List<object?>>("APPEND").Add(v); break; } // APPEND
                case (byte)'e': { var items = PopMark(); PeekAs<List<object?>>("APPENDS").AddRange(items); break; } // APPENDS
                case (byte)'}': Push(new PyDict()); break; // EMPTY_DICT
                case (byte)'d': { var d = new PyDict(); SetItems(d, PopMark()); Push(d); break; } // DICT
                case (byte)'s': { var v = Pop(); var k = Pop(); SetItems(PeekAs<PyDict>("SETITEM"), [k, v]); break; } // SETITEM
                case (byte)'u': { var items = PopMark(); SetItems(PeekAs<PyDict>("SETITEMS"), items); break; } // SETITEMS

                case (byte)'c': { var module = ReadLine(); var name = ReadLine(); Push(Global(module, name)); break; } // GLOBAL
                case 0x93: { var name = PopAs<string>("STACK_GLOBAL"); var module = PopAs<string>("STACK_GLOBAL"); Push(Global(module, name)); break; }
                case (byte)'i': // INST: global + call in one opcode
                {
                    var g = Global(ReadLine(), ReadLine());
                    Push(Call(g, PopMark()));
                    break;
                }
                case (byte)'o': // OBJ
                {
                    var items = PopMark();
                    if (items.Length == 0 || items[0] is not PyGlobal g) throw Malformed("OBJ without a class");
                    Push(Call(g, items[1..]));
                    break;
                }
                case (byte)'R': // REDUCE
                case 0x81: // NEWOBJ (cls.__new__(cls, *args): the same for the allowed globals)
                {
                    var args = PopAs<PyTuple>("REDUCE");
                    if (Pop() is not PyGlobal g) throw Malformed("REDUCE/NEWOBJ on something that is not an allowed global");
                    Push(Call(g, args.Items));
                    break;
                }
                case 0x92: // NEWOBJ_EX
                {
                    var kwargs = PopAs<PyDict>("NEWOBJ_EX");
                    var args = PopAs<PyTuple>("NEWOBJ_EX");
                    if (Pop() is not PyGlobal g) throw Malformed("NEWOBJ_EX on something that is not an allowed global");
                    if (kwargs.Count > 0) throw Malformed("NEWOBJ_EX with keyword arguments");
                    Push(Call(g, args.Items));
                    break;
                }
                case (byte)'b': { var state = Pop(); Build(Peek(), state); break; } // BUILD

                case (byte)'Q': // BINPERSID
                {
                    var pid = Pop();
                    if (_profile.PersistentLoad is null) throw Malformed($"a persistent id in a {_profile.Description}, which has none");
                    Push(_profile.PersistentLoad(pid));
                    break;
                }
                case (byte)'P': throw Malformed("text persistent ids (PERSID) are not used by PyTorch");

                case (byte)'h': Push(MemoGet(ReadByte())); break; // BINGET
                case (byte)'j': Push(MemoGet(BinaryPrimitives.ReadUInt32LittleEndian(ReadSpan(4)))); break; // LONG_BINGET
                case (byte)'g': Push(MemoGet(ParseLong(ReadLine()))); break; // GET
                case (byte)'q': MemoPut(ReadByte()); break; // BINPUT
                case (byte)'r': MemoPut(BinaryPrimitives.ReadUInt32LittleEndian(ReadSpan(4))); break; // LONG_BINPUT
                case (byte)'p': MemoPut(ParseLong(ReadLine())); break; // PUT
                case 0x94: MemoPut(_memo.Count); break; // MEMOIZE

                case 0x82: case 0x83: case 0x84: // EXT1/2/4 name a global through the copyreg registry
                    throw new TrgException(ErrorKind.UnsafeCheckpoint,
                        $"refused opcode EXT{(op == 0x82 ? 1 : op == 0x83 ? 2 : 4)} in {_where} at byte {_opAt}: it names a global indirectly " +
                        "(copyreg extension registry), which is never allowed; nothing was executed", _file);

                default:
                    throw Malformed($"unsupported opcode 0x{op:x2}");
            }
        }
    }

    // ---- globals and the few calls a checkpoint or numpy pickle may make ----

    private PyGlobal Global(string module, string name)
    {
        var full = module + "." + name;
        if (!_profile.AllowedGlobals.Contains(full))
            throw new TrgException(ErrorKind.UnsafeCheckpoint,
                $"refused global '{full}' in {_where} at byte {_opAt}: a {_profile.Description} may only name " +
                $"{string.Join(", ", _profile.AllowedGlobals.Order())}; nothing was executed", _file);
        return new PyGlobal(module, name);
    }

    private object? Call(PyGlobal g, object?[] args)
    {
        switch (g.FullName)
        {
            case "collections.OrderedDict":
            {
                var d = new PyDict();
                if (args.Length == 0) return d;
                if (args is [List<object?> pairs])
                {
                    foreach (var p in pairs)
                    {
                        if (p is not PyTuple { Count: 2 } kv) throw Malformed("OrderedDict() with an item that is not a pair");
                        SetItems(d, [kv[0], kv[1]]);
                    }
                    return d;
                }
                throw Malformed("OrderedDict() with unexpected arguments");
            }
            case "torch._utils._rebuild_tensor_v2":
                return RebuildTensor(args);
            case "torch._utils._rebuild_parameter":
                // Parameter(data, requires_grad, backward_hooks): the data tensor is all inference needs.
                if (args.Length != 3 || args[0] is not TorchTensor t) throw Malformed("_rebuild_parameter expects (tensor, requires_grad, hooks)");
                return t;
            case "numpy.core.multiarray._reconstruct":
            case "numpy._core.multiarray._reconstruct":
                if (args.Length != 3 || args[0] is not PyGlobal { FullName: "numpy.ndarray" })
                    throw Malformed("_reconstruct expects (numpy.ndarray, shape, typecode)");
                return new NumpyArray();
            case "numpy.dtype":
            {
                if (args.Length is < 1 or > 3 || args[0] is not string code || !IsSupportedNumpyCode(code))
                    throw Malformed($"numpy.dtype({Describe(args.Length > 0 ? args[0] : null)}) is not a supported plain dtype");
                return new NumpyDType(code);
            }
            case "numpy.core.multiarray.scalar":
            case "numpy._core.multiarray.scalar":
                return NumpyScalar(args);
            default:
                throw Malformed($"'{g.FullName}' may be named but not called");
        }
    }

    private TorchTensor RebuildTensor(object?[] args)
    {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (args.Length is not (6 or 7)) throw Malformed($"_rebuild_tensor_v2 with {args.Length} arguments, expected 6 or 7");
        if (args[0] is not TorchStorage storage) throw Malformed("_rebuild_tensor_v2 without a storage");
        if (args[1] is not long offset || offset < 0) throw Malformed("_rebuild_tensor_v2 with a bad storage offset");
        var size = LongTuple(args[2], "size");
        var stride = LongTuple(args[3], "stride");
        if (size.Length != stride.Length) throw Malformed($"tensor size has {size.Length} dimensions but stride {stride.Length}");
        if (size.Any(s => s < 0) || stride.Any(s => s < 0)) throw Malformed("negative tensor size or stride");
        if (args[4] is not bool) throw Malformed("_rebuild_tensor_v2 with a non-boolean requires_grad");
        if (args[5] is not (PyDict or null)) throw Malformed("_rebuild_tensor_v2 with bad backward hooks");
        return new TorchTensor(storage, offset, size, stride);
    }

    private long[] LongTuple(object? value, string what)
    {
        if (value is not PyTuple t) throw Malformed($"tensor {what} is not a tuple");
        var r = new long[t.Count];
        for (int i = 0; i < r.Length; i++) r[i] = t[i] is long v ? v : throw Malformed($"tensor {what} holds a non-integer");
        return r;
    }

    private static bool IsSupportedNumpyCode(string code)
        => code is "f2" or "f4" or "f8" or "i1" or "i2" or "i4" or "i8" or "u1" or "u2" or "u4" or "u8" or "b1";

    private object NumpyScalar(object?[] args)
    {
        if (args.Length != 2 || args[0] is not NumpyDType dt || args[1] is not byte[] raw || raw.Length != dt.ItemSize)
            throw Malformed("numpy scalar with unexpected arguments");
        if (dt.ByteOrder == '>') throw Malformed("big-endian numpy scalar");
        return dt.Code switch
        {
            "f2" => (double)BitConverter.ToHalf(raw),
            "f4" => (double)BitConverter.ToSingle(raw),
            "f8" => BitConverter.ToDouble(raw),
            "b1" => raw[0] != 0,
            "u8" => BitConverter.ToUInt64(raw) <= long.MaxValue ? (long)BitConverter.ToUInt64(raw) : throw Malformed("uint64 scalar above int64 range"),
            _ => dt.Kind == 'u' ? (long)DecodeUnsigned(raw) : DecodeLong(raw),
        };
    }

    private static ulong DecodeUnsigned(ReadOnlySpan<byte> raw)
    {
        ulong v = 0;
        for (int i = raw.Length - 1; i >= 0; i--) v = (v << 8) | raw[i];
        return v;
    }

    private void Build(object? target, object? state)
    {
        switch (target)
        {
            case PyDict:
                // OrderedDict instance attributes (state_dict()._metadata): not needed, dropped.
                if (state is not (PyDict or PyTuple or null)) throw Malformed("BUILD on a dict with unexpected state");
                return;
            case NumpyDType dt:
            {
                // (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
                if (state is not PyTuple { Count: 8 or 9 } s || s[1] is not string order)
                    throw Malformed("numpy dtype with unexpected state");
                if (s[2] is not null || s[3] is not null || s[4] is not null) throw Malformed("structured numpy dtypes are not supported");
                if (order is not ("<" or "|" or "=" or ">")) throw Malformed($"numpy byte order '{order}'");
                if (order == ">") throw Malformed("big-endian numpy arrays are not supported");
                dt.ByteOrder = order[0];
                return;
            }
            case NumpyArray arr:
            {
                // (version, shape, dtype, is_fortran, raw bytes)
                if (arr.Filled || state is not PyTuple { Count: 5 } s || s[2] is not NumpyDType dt || s[3] is not bool fortran)
                    throw Malformed("numpy array with unexpected state");
                if (s[4] is not byte[] raw) throw Malformed("numpy object arrays are not supported");
                var shape = LongTuple(s[1], "shape");
                long n = 1;
                foreach (var d in shape)
                {
                    if (d < 0) throw Malformed("negative numpy dimension");
                    n = MulChecked(n, d);
                }
                if (MulChecked(n, dt.ItemSize) != raw.Length)
                    throw Malformed($"numpy array {arr.ShapeText} of {dt} declares {n} elements but holds {raw.Length} bytes");
                arr.Shape = shape; arr.DType = dt; arr.Fortran = fortran; arr.Data = raw; arr.Filled = true;
                return;
            }
            default:
                throw Malformed($"BUILD on {Describe(target)}");
        }
    }

    private long MulChecked(long a, long b)
    {
        try { return checked(a * b); }
        catch (OverflowException) { throw Malformed("array size overflows 64 bits"); }
    }

    // ---- stack, marks, memo ----

    private void Push(object? v) => _stack.Add(v);

    private object? Pop()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor) throw Malformed("stack underflow");
        var v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private object? Peek()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor) throw Malformed("stack underflow");
        return _stack[^1];
    }

    private T PopAs<T>(string op) => Pop() is T t ? t : throw Malformed($"{op} on the wrong kind of value");
    private T PeekAs<T>(string op) => Peek() is T t ? t : throw Malformed($"{op} on the wrong kind of value");

    private object?[] PopMark()
    {
        if (_marks.Count == 0) throw Malformed("no MARK to pop to");
        int at = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        var items = _stack.GetRange(at, _stack.Count - at).ToArray();
        _stack.RemoveRange(at, _stack.Count - at);
        return items;
    }

    private void SetItems(PyDict d, object?[] items)
    {
        if (items.Length % 2 != 0) throw Malformed("odd number of items for a dict");
        for (int i = 0; i < items.Length; i += 2)
            if (!d.Set(items[i], items[i + 1])) throw Malformed($"unsupported dict key {Describe(items[i])}");
    }

    private object? MemoGet(long index)
        => _memo.TryGetValue(index, out var v) ? v : throw Malformed($"memo entry {index} read before it was written");

    private void MemoPut(long index)
    {
        if (index < 0) throw Malformed("negative memo index");
        if (_memo.Count >= _limits.MaxPickleMemoEntries && !_memo.ContainsKey(index))
            throw Malformed($"more than {_limits.MaxPickleMemoEntries} memo entries (InputLimits.MaxPickleMemoEntries)");
        _memo[index] = Peek();
    }

    // ---- reading ----

    private int ReadByte()
    {
        if (_pos >= _data.Length) throw Malformed("the stream ends inside an opcode (truncated file)");
        return _data[_pos++];
    }

    /// <summary>Reads a little-endian length of 4 or 8 bytes and checks it against what is left.</summary>
    private int ReadLength(int width)
    {
        var s = ReadSpan(width);
        long n = width == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(s) : (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(s), long.MaxValue);
        if (n > _data.Length - _pos) throw Malformed($"a length of {n} bytes runs past the end of the stream ({_data.Length - _pos} left)");
        return (int)n;
    }

    private ReadOnlySpan<byte> ReadSpan(int n)
    {
        if (n > _data.Length - _pos) throw Malformed("the stream ends inside an opcode (truncated file)");
        var s = _data.AsSpan(_pos, n);
        _pos += n;
        return s;
    }

    private string ReadLine()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos, Math.Min(_data.Length - _pos, 4096));
        if (end < 0) throw Malformed("unterminated text argument");
        var s = Encoding.ASCII.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }

    private string DecodeUtf8(ReadOnlySpan<byte> bytes)
    {
        try { return new UTF8Encoding(false, true).GetString(bytes); }
        catch (DecoderFallbackException) { throw Malformed("invalid UTF-8 in a string"); }
    }

    private long DecodeLong(ReadOnlySpan<byte> bytes)
    {
        // Little-endian two's complement, as LONG1/LONG4 store Python ints.
        if (bytes.Length > 8) throw Malformed("integer wider than 64 bits");
        if (bytes.Length == 0) return 0;
        long v = (sbyte)bytes[^1];
        for (int i = bytes.Length - 2; i >= 0; i--) v = (v << 8) | bytes[i];
        return v;
    }

    private object ParseTextInt(string s) => s switch
    {
        "00" => false,
        "01" => true,
        _ => ParseLong(s),
    };

    private long ParseLong(string s)
        => long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : throw Malformed($"bad integer '{Trim(s)}'");

    private double ParseDouble(string s)
        => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw Malformed($"bad float '{Trim(s)}'");

    private static string Trim(string s) => s.Length > 40 ? s[..40] + "..." : s;

    private static string Describe(object? v) => v switch
    {
        null => "None",
        string s => $"'{Trim(s)}'",
        long or double or bool => Convert.ToString(v, CultureInfo.InvariantCulture)!,
        PyGlobal g => g.FullName,
        PyTuple => "a tuple",
        List<object?> => "a list",
        PyDict => "a dict",
        byte[] => "bytes",
        _ => "a " + v.GetType().Name,
    };

    private TrgException Malformed(string what)
        => new(ErrorKind.InvalidModel, $"malformed {_profile.Description} ({_where}, byte {_opAt}): {what}", _file);
}
