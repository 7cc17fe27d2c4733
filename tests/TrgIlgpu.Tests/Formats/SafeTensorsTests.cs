using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using TrgIlgpu.Formats;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.Formats;

public class SafeTensorsTests
{
    private static void WriteRaw(string path, string json, byte[] data, ulong? headerLength = null)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var len = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, headerLength ?? (ulong)header.Length);
        File.WriteAllBytes(path, [.. len, .. header, .. data]);
    }

    [Fact]
    public void WriteThenRead_KeepsValuesOrderAndMetadata()
    {
        using var tmp = new TempFolder();
        var rng = new Random(11);
        var f = Enumerable.Range(0, 7 * 5).Select(_ => rng.NextSingle() * 10 - 5).ToArray();
        var l = Enumerable.Range(0, 9).Select(_ => rng.NextInt64(long.MinValue, long.MaxValue)).ToArray();
        var i = Enumerable.Range(0, 6).Select(_ => rng.Next(int.MinValue, int.MaxValue)).ToArray();
        var tensors = new[]
        {
            new HostTensor("z.last", [7, 5], f), new HostTensor("a.first", [9], l), new HostTensor("m.mid", [2, 3], i),
            new HostTensor("scalar", [], [rng.NextInt64(1, 99)]),
        };
        var path = tmp.File("t.safetensors");
        SafeTensors.Write(path, tensors, new Dictionary<string, string> { ["format"] = "test", ["note"] = "héllo" });

        var (read, md) = SafeTensors.Read(path);
        Assert.Equal(["z.last", "a.first", "m.mid", "scalar"], read.Keys.ToArray());
        Assert.Equal(f, read["z.last"].F32);
        Assert.Equal([7, 5], read["z.last"].Shape);
        Assert.Equal(l, read["a.first"].I64);
        Assert.Equal(i, read["m.mid"].I32);
        Assert.Equal(tensors[3].I64, read["scalar"].I64);
        Assert.Empty(read["scalar"].Shape);
        Assert.Equal("test", md["format"]);
        Assert.Equal("héllo", md["note"]);
        // Header padded to 8 bytes so data is aligned.
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes) % 8);
        Assert.Equal(["t.safetensors"], tmp.Files());
    }

    [Fact]
    public void Read_ConvertsHalfBFloat16AndDoubleToFloat32()
    {
        using var tmp = new TempFolder();
        var rng = new Random(12);
        var halves = Enumerable.Range(0, 5).Select(_ => (Half)(rng.NextSingle() * 8 - 4)).ToArray();
        var bf = Enumerable.Range(0, 4).Select(_ => rng.NextSingle() * 100 - 50).ToArray();
        var bfBits = bf.Select(x => (ushort)(BitConverter.SingleToUInt32Bits(x) >> 16)).ToArray();
        var doubles = Enumerable.Range(0, 3).Select(_ => rng.NextDouble() * 1e3).ToArray();
        var data = new List<byte>();
        data.AddRange(MemoryMarshal.AsBytes(halves.AsSpan()).ToArray());
        data.AddRange(MemoryMarshal.AsBytes(bfBits.AsSpan()).ToArray());
        data.AddRange(MemoryMarshal.AsBytes(doubles.AsSpan()).ToArray());
        var path = tmp.File("mixed.safetensors");
        WriteRaw(path, """{"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},"b":{"dtype":"BF16","shape":[2,2],"data_offsets":[10,18]},"d":{"dtype":"F64","shape":[3],"data_offsets":[18,42]}}""", data.ToArray());

        var (t, md) = SafeTensors.Read(path);
        Assert.Empty(md);
        Assert.Equal(halves.Select(h => (float)h), t["h"].F32!);
        Assert.Equal(bfBits.Select(b => BitConverter.UInt32BitsToSingle((uint)b << 16)), t["b"].F32!);
        Assert.Equal(doubles.Select(d => (float)d), t["d"].F32!);
        Assert.Equal([2, 2], t["b"].Shape);
    }

    public static TheoryData<string, string, int, string> BadHeaders => new()
    {
        { "invalid json", "{\"a\":", 0, "not valid JSON" },
        { "not an object", "[1,2]", 0, "not a JSON object" },
        { "overlap", """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12, "overlaps" },
        { "hole", """{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "unused bytes" },
        { "trailing", """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 8, "after the last tensor" },
        { "past end", """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8, "outside" },
        { "byte count", """{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, "needs 12 bytes" },
        { "dtype", """{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}""", 4, "dtype U8" },
        { "duplicate", """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "twice" },
        { "metadata", """{"__metadata__":{"x":1}}""", 0, "not a string" },
        { "negative shape", """{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}""", 0, "bad shape" },
        { "missing offsets", """{"a":{"dtype":"F32","shape":[1]}}""", 4, "data_offsets" },
        { "huge shape", """{"a":{"dtype":"F32","shape":[2000000000,2000000000],"data_offsets":[0,4]}}""", 4, "impossibly large" },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void Read_RefusesMalformedHeaders(string why, string json, int dataBytes, string expected)
    {
        using var tmp = new TempFolder();
        var path = tmp.File(why.Replace(' ', '_') + ".safetensors");
        var rng = new Random(13);
        var data = new byte[dataBytes];
        rng.NextBytes(data);
        WriteRaw(path, json, data);
        var e = Assert.Throws<TrgException>(() => SafeTensors.Read(path));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Equal(path, e.FilePath);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Read_RefusesShortFilesAndImpossibleHeaderLengths()
    {
        using var tmp = new TempFolder();
        var tiny = tmp.File("tiny.safetensors");
        File.WriteAllBytes(tiny, [1, 2, 3]);
        Assert.Equal(ErrorKind.InvalidModel, Assert.Throws<TrgException>(() => SafeTensors.Read(tiny)).Kind);

        var lying = tmp.File("lying.safetensors");
        WriteRaw(lying, "{}", [], headerLength: ulong.MaxValue);
        var e = Assert.Throws<TrgException>(() => SafeTensors.Read(lying));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Contains("header length", e.Message);
    }

    [Fact]
    public void Read_TruncatedFileIsInvalidModel()
    {
        using var tmp = new TempFolder();
        var path = tmp.File("t.safetensors");
        var rng = new Random(14);
        SafeTensors.Write(path, [new HostTensor("w", [100], Enumerable.Range(0, 100).Select(_ => rng.NextSingle()).ToArray())], new Dictionary<string, string>());
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^40]);
        var e = Assert.Throws<TrgException>(() => SafeTensors.Read(path));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Contains("outside", e.Message);
    }

    [Fact]
    public void Read_MissingFileIsNotFound()
    {
        var e = Assert.Throws<TrgException>(() => SafeTensors.Read("/nonexistent/dir/model.safetensors"));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
    }

    [Fact]
    public void AtomicWrite_FailureLeavesNoFileAndKeepsTheOldOne()
    {
        using var tmp = new TempFolder();
        var target = tmp.File("model.safetensors");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(target, s => { s.Write(new byte[1000]); throw new InvalidOperationException("disk trouble"); }));
        Assert.Empty(tmp.Files());

        File.WriteAllText(target, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(target, s => { s.Write(new byte[10]); throw new InvalidOperationException("again"); }));
        Assert.Equal(["model.safetensors"], tmp.Files());
        Assert.Equal("old", File.ReadAllText(target));

        AtomicFile.Write(target, s => s.Write("new"u8));
        Assert.Equal("new", File.ReadAllText(target));
        Assert.Equal(["model.safetensors"], tmp.Files());
    }

    [Fact]
    public void AtomicWrite_MissingFolderIsNotFound()
    {
        var e = Assert.Throws<TrgException>(() => AtomicFile.Write("/nonexistent/dir/x.safetensors", s => s.WriteByte(1)));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
    }
}
