using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using TrgIlgpu.Formats;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.Formats;

public class NpyTests
{
    private static void WriteNpy(string path, string descr, bool fortran, int[] shape, byte[] data, int version = 1)
    {
        var shapeText = shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        var dict = $"{{'descr': '{descr}', 'fortran_order': {(fortran ? "True" : "False")}, 'shape': {shapeText}, }}";
        int prefix = version == 1 ? 10 : 12;
        int padded = (prefix + dict.Length + 1 + 63) / 64 * 64 - prefix;
        var header = Encoding.ASCII.GetBytes(dict.PadRight(padded - 1) + "\n");
        var head = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)version, 0 };
        if (version == 1) head.AddRange(BitConverter.GetBytes((ushort)header.Length));
        else head.AddRange(BitConverter.GetBytes((uint)header.Length));
        File.WriteAllBytes(path, [.. head, .. header, .. data]);
    }

    [Fact]
    public void OfficialTriangles_FortranOrderIsReadInCOrder()
    {
        var t = Npy.Read(FormatsTestFiles.SharedData("triangles_1220.npy"));
        Assert.Equal(TensorDType.I32, t.DType);
        Assert.Equal([2304, 3], t.Shape);
        // Values checked against numpy.load of the same file.
        Assert.Equal([1201, 44, 45, 1200, 1201, 45], t.I32![..6]);
        Assert.Equal([246, 1219, 122], t.I32[^3..]);
        Assert.Equal(4142826L, t.I32.Sum(x => (long)x));
    }

    [Fact]
    public void OfficialPose_Float32()
    {
        var t = Npy.Read(FormatsTestFiles.SharedData("init_pose_Rt.npy"));
        Assert.Equal([4, 4], t.Shape);
        Assert.Equal(0.9992630481719971f, t.F32![0]);
        Assert.Equal(0.567517101764679f, t.F32[14]);
        Assert.Equal(1.0f, t.F32[15]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Versions_AndDtypes_RoundTrip(int version)
    {
        using var tmp = new TempFolder();
        var rng = new Random(20 + version);
        var f = Enumerable.Range(0, 12).Select(_ => rng.NextSingle() - 0.5f).ToArray();
        var d = Enumerable.Range(0, 5).Select(_ => rng.NextDouble() * 100).ToArray();
        var l = Enumerable.Range(0, 4).Select(_ => rng.NextInt64()).ToArray();
        var i = Enumerable.Range(0, 6).Select(_ => rng.Next()).ToArray();
        WriteNpy(tmp.File("f.npy"), "<f4", false, [3, 4], MemoryMarshal.AsBytes(f.AsSpan()).ToArray(), version);
        WriteNpy(tmp.File("d.npy"), "<f8", false, [5], MemoryMarshal.AsBytes(d.AsSpan()).ToArray(), version);
        WriteNpy(tmp.File("l.npy"), "<i8", false, [2, 2], MemoryMarshal.AsBytes(l.AsSpan()).ToArray(), version);
        WriteNpy(tmp.File("i.npy"), "<i4", true, [2, 3], MemoryMarshal.AsBytes(i.AsSpan()).ToArray(), version);

        Assert.Equal(f, Npy.Read(tmp.File("f.npy")).F32);
        Assert.Equal(d.Select(x => (float)x), Npy.Read(tmp.File("d.npy")).F32!);
        Assert.Equal(l, Npy.Read(tmp.File("l.npy")).I64);
        // Fortran [2,3]: column-major i[0..5] -> row-major a[r,c] = i[c*2 + r].
        Assert.Equal([i[0], i[2], i[4], i[1], i[3], i[5]], Npy.Read(tmp.File("i.npy")).I32!);
        Assert.Equal("i", Npy.Read(tmp.File("i.npy")).Name);
    }

    [Fact]
    public void Malformed_AreInvalidModel()
    {
        using var tmp = new TempFolder();
        var rng = new Random(25);
        var payload = new byte[16];
        rng.NextBytes(payload);
        File.WriteAllBytes(tmp.File("magic.npy"), [.. "NOTNUMPY"u8, .. payload]);
        WriteNpy(tmp.File("dtype.npy"), "<u2", false, [8], payload);
        WriteNpy(tmp.File("short.npy"), "<f4", false, [5], payload);
        WriteNpy(tmp.File("big.npy"), ">f4", false, [4], payload);
        WriteNpy(tmp.File("version.npy"), "<f4", false, [4], payload, version: 2);
        var v = File.ReadAllBytes(tmp.File("version.npy"));
        v[6] = 4;
        File.WriteAllBytes(tmp.File("version.npy"), v);
        foreach (var (file, text) in new[] { ("magic.npy", "magic"), ("dtype.npy", "'<u2'"), ("short.npy", "needs 20 data bytes"), ("big.npy", "'>f4'"), ("version.npy", "version 4") })
        {
            var e = Assert.Throws<TrgException>(() => Npy.Read(tmp.File(file)));
            Assert.Equal(ErrorKind.InvalidModel, e.Kind);
            Assert.Contains(text, e.Message);
            Assert.Equal(tmp.File(file), e.FilePath);
        }
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<TrgException>(() => Npy.Read(tmp.File("absent.npy"))).Kind);
    }
}
