using System.IO.Compression;
using TrgIlgpu.Formats;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.Formats;

/// <summary>
/// Seeded random corruption of real files: every reader must either succeed or throw TrgException (never an
/// InvalidCastException, IndexOutOfRangeException, OutOfMemoryException...).
/// </summary>
public class FuzzTests
{
    /// <summary>TRG_FUZZ_SCALE=N runs N times as many mutations (for a longer hunt than the default suite does).</summary>
    private static readonly int Scale = int.TryParse(Environment.GetEnvironmentVariable("TRG_FUZZ_SCALE"), out var s) && s > 0 ? s : 1;

    private static byte[] Mutate(byte[] original, Random rng)
    {
        var b = (byte[])original.Clone();
        switch (rng.Next(3))
        {
            case 0: // a few random bytes
                for (int k = rng.Next(1, 5); k > 0; k--) b[rng.Next(b.Length)] = (byte)rng.Next(256);
                return b;
            case 1: // truncation
                return b[..rng.Next(b.Length)];
            default: // a byte set to an extreme that often becomes a length or an opcode
                b[rng.Next(b.Length)] = rng.Next(2) == 0 ? (byte)0xff : (byte)0x80;
                return b;
        }
    }

    private static void ExpectCleanOutcome(Action read, string what)
    {
        try { read(); }
        catch (TrgException e) { Assert.True(e.Kind is ErrorKind.InvalidModel or ErrorKind.UnsafeCheckpoint, $"{what}: {e.Kind} {e.Message}"); }
        catch (Exception e) { Assert.Fail($"{what}: {e.GetType().Name}: {e.Message}"); }
    }

    [Fact]
    public void CorruptedCheckpointPickles_FailCleanly()
    {
        using var tmp = new TempFolder();
        byte[] pkl, storage0;
        using (var zip = ZipFile.OpenRead(FormatsTestFiles.Fixture("views.pt")))
        {
            pkl = ReadEntry(zip, "views/data.pkl");
            storage0 = ReadEntry(zip, "views/data/0");
        }
        var storage1 = ReadEntry(ZipFile.OpenRead(FormatsTestFiles.Fixture("views.pt")), "views/data/1");
        var rng = new Random(71);
        for (int i = 0; i < 300 * Scale; i++)
        {
            var path = tmp.File($"f{i}.pt");
            using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
            {
                Write(zip, "views/data.pkl", Mutate(pkl, rng));
                Write(zip, "views/data/0", storage0);
                Write(zip, "views/data/1", storage1);
            }
            ExpectCleanOutcome(() => Checkpoint.ReadStateDict(path), $"mutation {i}");
            File.Delete(path);
        }
    }

    [Fact]
    public void CorruptedCheckpointFiles_FailCleanly()
    {
        using var tmp = new TempFolder();
        var original = File.ReadAllBytes(FormatsTestFiles.Fixture("dtypes.pt"));
        var rng = new Random(72);
        for (int i = 0; i < 200 * Scale; i++)
        {
            var path = tmp.File($"f{i}.pt");
            File.WriteAllBytes(path, Mutate(original, rng));
            ExpectCleanOutcome(() => Checkpoint.ReadStateDict(path), $"mutation {i}");
        }
    }

    [Fact]
    public void CorruptedNumpyPickles_FailCleanly()
    {
        using var tmp = new TempFolder();
        var sources = new[] { File.ReadAllBytes(FormatsTestFiles.SharedData("init_vtx_cam.pkl")), File.ReadAllBytes(FormatsTestFiles.Fixture("plain_p5.pkl")) };
        var rng = new Random(73);
        for (int i = 0; i < 400 * Scale; i++)
        {
            var path = tmp.File($"f{i}.pkl");
            File.WriteAllBytes(path, Mutate(sources[i % 2], rng));
            ExpectCleanOutcome(() => NumpyPickle.ReadArrays(path), $"mutation {i}");
        }
    }

    [Fact]
    public void CorruptedSafeTensorsAndNpy_FailCleanly()
    {
        using var tmp = new TempFolder();
        var rng = new Random(74);
        var st = tmp.File("good.safetensors");
        SafeTensors.Write(st, [new HostTensor("a", [3, 2], Enumerable.Range(0, 6).Select(_ => rng.NextSingle()).ToArray()), new HostTensor("b", [2], [rng.NextInt64(), 5L])],
            new Dictionary<string, string> { ["format"] = "x" });
        var sources = new[] { File.ReadAllBytes(st), File.ReadAllBytes(FormatsTestFiles.SharedData("triangles_1220.npy")) };
        for (int i = 0; i < 300 * Scale; i++)
        {
            bool npy = i % 2 == 1;
            var path = tmp.File(npy ? $"f{i}.npy" : $"f{i}.safetensors");
            File.WriteAllBytes(path, Mutate(sources[i % 2], rng));
            ExpectCleanOutcome(() => { if (npy) Npy.Read(path); else SafeTensors.Read(path); }, $"mutation {i}");
        }
    }

    private static byte[] ReadEntry(ZipArchive zip, string name)
    {
        using var s = zip.GetEntry(name)!.Open();
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }

    private static void Write(ZipArchive zip, string name, byte[] data)
    {
        using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
        s.Write(data);
    }
}
