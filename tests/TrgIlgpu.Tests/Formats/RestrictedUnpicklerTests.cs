using TrgIlgpu.Formats;

namespace TrgIlgpu.Tests.Formats;

public class RestrictedUnpicklerTests
{
    private static object? Load(byte[] data) => RestrictedUnpickler.Load(data, "mem.pkl", NumpyPickle.Profile, InputLimits.Default);

    private static TrgException Refused(byte[] data, ErrorKind kind, string text)
    {
        var e = Assert.Throws<TrgException>(() => Load(data));
        Assert.Equal(kind, e.Kind);
        Assert.Contains(text, e.Message);
        Assert.Equal("mem.pkl", e.FilePath);
        return e;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void PlainValues_AllProtocols(int protocol)
    {
        // tools/make_checkpoint_fixtures.py: pickle.dump of these literals with the given protocol.
        var root = Assert.IsType<PyDict>(NumpyPickle.Load(FormatsTestFiles.Fixture($"plain_p{protocol}.pkl")));
        Assert.True(root.TryGet("ints", out var ints));
        Assert.Equal(new object[] { 0L, 1L, -1L, 255L, 256L, 65535L, 65536L, -2147483648L, 2147483647L, 2147483648L, long.MaxValue, long.MinValue },
            Assert.IsType<List<object?>>(ints));
        Assert.True(root.TryGet("floats", out var floats));
        Assert.Equal(new object[] { 0.5, -1e300, double.PositiveInfinity }, Assert.IsType<List<object?>>(floats));
        Assert.True(root.TryGet("text", out var text));
        Assert.Equal("h\u00e9llo \u2713", text);
        Assert.True(root.TryGet("tuple", out var tuple));
        var t = Assert.IsType<PyTuple>(tuple);
        Assert.Equal(1L, t[0]);
        Assert.Equal(new object?[] { 2L, 3L }, Assert.IsType<PyTuple>(t[1]).Items);
        Assert.Equal(0, Assert.IsType<PyTuple>(t[2]).Count);
        Assert.True(root.TryGet("nested", out var nested));
        Assert.True(Assert.IsType<PyDict>(nested).TryGet("k", out var k));
        Assert.Equal(new object?[] { null, true, false }, Assert.IsType<List<object?>>(k));
        Assert.True(root.TryGet("shared", out var shared));
        var s = Assert.IsType<List<object?>>(shared);
        Assert.Same(s[0], s[1]); // the memo keeps shared references shared
        if (protocol >= 3)
        {
            Assert.True(root.TryGet("bytes", out var bytes));
            Assert.Equal(new byte[] { 0, 0xff }, bytes);
        }
    }

    [Fact]
    public void Truncated_Empty_AndUnderflow_AreInvalidModel()
    {
        Refused([], ErrorKind.InvalidModel, "without a STOP");
        Refused([0x80, 2, (byte)'K'], ErrorKind.InvalidModel, "truncated");
        Refused([0x80, 2, (byte)'.'], ErrorKind.InvalidModel, "stack underflow");
        Refused([0x80, 2, (byte)'(', (byte)'.'], ErrorKind.InvalidModel, "MARK");
        Refused([0x80, 2, (byte)'t', (byte)'.'], ErrorKind.InvalidModel, "no MARK");
        Refused([0x80, 2, (byte)'K', 1, (byte)'(', (byte)'a', (byte)'.'], ErrorKind.InvalidModel, "stack underflow");
    }

    [Fact]
    public void BadLengthsMemoAndTypes_AreInvalidModel()
    {
        Refused([0x80, 2, (byte)'X', 0xff, 0xff, 0xff, 0x7f, (byte)'a'], ErrorKind.InvalidModel, "runs past the end");
        Refused([0x80, 4, 0x8e, 0, 0, 0, 0, 0, 0, 0, 0x80, (byte)'.'], ErrorKind.InvalidModel, "runs past the end");
        Refused([0x80, 2, (byte)'h', 5, (byte)'.'], ErrorKind.InvalidModel, "memo entry 5");
        Refused([0x80, 6, (byte)'.'], ErrorKind.InvalidModel, "protocol 6");
        Refused([0x80, 2, (byte)'K', 1, (byte)'K', 2, (byte)'K', 3, (byte)'s', (byte)'.'], ErrorKind.InvalidModel, "SETITEM");
        Refused([0x80, 2, 0x8a, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, (byte)'.'], ErrorKind.InvalidModel, "wider than 64 bits");
        Refused([0x80, 2, (byte)'}', (byte)']', (byte)'K', 1, (byte)'s', (byte)'.'], ErrorKind.InvalidModel, "unsupported dict key");
        Refused([0x80, 2, 0xfe, (byte)'.'], ErrorKind.InvalidModel, "unsupported opcode 0xfe");
        Refused([0x80, 2, (byte)'X', 2, 0, 0, 0, 0xc3, 0x28, (byte)'.'], ErrorKind.InvalidModel, "UTF-8");
        Refused([0x80, 2, (byte)'K', 1, (byte)'Q', (byte)'.'], ErrorKind.InvalidModel, "persistent id");
    }

    [Fact]
    public void Globals_OutsideTheAllowList_AreRefusedByName()
    {
        static byte[] Global(string module, string name) => [0x80, 2, (byte)'c', .. System.Text.Encoding.ASCII.GetBytes($"{module}\n{name}\n"), (byte)')', (byte)'R', (byte)'.'];
        Refused(Global("os", "system"), ErrorKind.UnsafeCheckpoint, "refused global 'os.system'");
        Refused(Global("builtins", "eval"), ErrorKind.UnsafeCheckpoint, "refused global 'builtins.eval'");
        Refused(Global("__builtin__", "getattr"), ErrorKind.UnsafeCheckpoint, "refused global '__builtin__.getattr'");
        Refused(Global("torch", "FloatStorage"), ErrorKind.UnsafeCheckpoint, "refused global 'torch.FloatStorage'"); // not in a data pickle
        // STACK_GLOBAL (protocol 4): module and name come from the stack.
        Refused([0x80, 4, 0x8c, 10, .. "subprocess"u8, 0x8c, 5, .. "Popen"u8, 0x93, (byte)'.'], ErrorKind.UnsafeCheckpoint, "refused global 'subprocess.Popen'");
        // INST names its class inline (protocol 0).
        Refused([(byte)'(', (byte)'i', .. "os\nsystem\n"u8, (byte)'.'], ErrorKind.UnsafeCheckpoint, "refused global 'os.system'");
        // EXT opcodes reach globals through copyreg's registry: refused outright.
        var e = Refused([0x80, 2, 0x82, 1, (byte)'.'], ErrorKind.UnsafeCheckpoint, "EXT1");
        Assert.Contains("nothing was executed", e.Message);
    }

    [Fact]
    public void AllowedGlobals_CanOnlyBeUsedAsIntended()
    {
        // numpy.ndarray may appear as _reconstruct's argument, never be called itself.
        Refused([0x80, 2, (byte)'c', .. "numpy\nndarray\n"u8, (byte)')', (byte)'R', (byte)'.'], ErrorKind.InvalidModel, "may be named but not called");
        // numpy.dtype of an object or structured type is refused.
        Refused([0x80, 2, (byte)'c', .. "numpy\ndtype\n"u8, (byte)'X', 2, 0, 0, 0, .. "O8"u8, 0x85, (byte)'R', (byte)'.'], ErrorKind.InvalidModel, "not a supported plain dtype");
        // BUILD on a plain value.
        Refused([0x80, 2, (byte)'K', 1, (byte)'K', 2, (byte)'b', (byte)'.'], ErrorKind.InvalidModel, "BUILD on 1");
        // OrderedDict() works and is an ordinary dict.
        Assert.IsType<PyDict>(Load([0x80, 2, (byte)'c', .. "collections\nOrderedDict\n"u8, (byte)')', (byte)'R', (byte)'.']));
    }

    [Fact]
    public void SelfReferencingList_DoesNotRecurse()
    {
        // l = []; l.append(l)
        var list = Assert.IsType<List<object?>>(Load([0x80, 2, (byte)']', (byte)'q', 0, (byte)'h', 0, (byte)'a', (byte)'.']));
        Assert.Same(list, list[0]);
    }
}
