using System.Buffers.Binary;
using System.Text;

namespace TrgIlgpu.Fuzz;

/// <summary>
/// Writes pickle opcodes (protocol 2) for the state dicts a PyTorch checkpoint holds: exactly what torch.save writes
/// for {key: tensor} (GLOBAL, BINPERSID storages, _rebuild_tensor_v2 REDUCE), so a test can state any storage size,
/// offset or stride, plus raw opcode floods.
/// </summary>
internal sealed class PickleWriter
{
    private readonly MemoryStream _s = new();

    public PickleWriter() => _s.Write([0x80, 2]);

    public PickleWriter Op(byte op) { _s.WriteByte(op); return this; }
    public PickleWriter Bytes(ReadOnlySpan<byte> b) { _s.Write(b); return this; }

    public PickleWriter Str(string v)
    {
        var b = Encoding.UTF8.GetBytes(v);
        _s.WriteByte((byte)'X');
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, b.Length);
        _s.Write(len);
        _s.Write(b);
        return this;
    }

    /// <summary>A Python int of any 64-bit value (LONG1, 8 bytes two's complement).</summary>
    public PickleWriter Long(long v)
    {
        _s.Write([0x8a, 8]);
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, v);
        _s.Write(b);
        return this;
    }

    public PickleWriter Global(string module, string name) { _s.WriteByte((byte)'c'); _s.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n")); return this; }

    public PickleWriter Tuple(params long[] values)
    {
        Op((byte)'(');
        foreach (var v in values) Long(v);
        return Op((byte)'t');
    }

    /// <summary>One `key: tensor` item: storage (key, float32, numel), offset, size, stride.</summary>
    public PickleWriter Tensor(string key, string storageKey, long storageNumel, long offset, long[] size, long[] stride)
    {
        Str(key);
        Global("torch._utils", "_rebuild_tensor_v2");
        Op((byte)'(');
        // BINPERSID ('storage', torch.FloatStorage, key, 'cpu', numel)
        Op((byte)'('); Str("storage"); Global("torch", "FloatStorage"); Str(storageKey); Str("cpu"); Long(storageNumel); Op((byte)'t'); Op((byte)'Q');
        Long(offset); Tuple(size); Tuple(stride); Op(0x89); Global("collections", "OrderedDict"); Op((byte)')'); Op((byte)'R');
        Op((byte)'t');
        return Op((byte)'R');
    }

    /// <summary>A state dict {key: tensor, ...} as torch.save writes it: EMPTY_DICT, MARK, items, SETITEMS, STOP.</summary>
    public static byte[] StateDict(Action<PickleWriter> items)
    {
        var w = new PickleWriter();
        w.Op((byte)'}').Op((byte)'(');
        items(w);
        return w.Op((byte)'u').Op((byte)'.').ToArray();
    }

    public byte[] ToArray() => _s.ToArray();
}
