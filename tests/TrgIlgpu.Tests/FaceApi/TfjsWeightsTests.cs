using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using TrgIlgpu.Faces;
using TrgIlgpu.Formats;
using TrgIlgpu.Model;
using TrgIlgpu.Tests.Kernels;

namespace TrgIlgpu.Tests.FaceApi;

/// <summary>
/// The TF.js weight loader: dequantisation as tf.io.decodeWeights (checked against a plain double computation on
/// random bytes), group files concatenated, hostile manifests rejected with InvalidModel naming the source; the
/// embedded face-api files match PROVENANCE.md; the typed models load with the expected architecture.
/// </summary>
public sealed class TfjsWeightsTests
{
    private const string Source = "test-manifest.json";

    private static IReadOnlyDictionary<string, HostTensor> Decode(string manifest, Dictionary<string, byte[]> files) =>
        TfjsWeights.Decode(Encoding.UTF8.GetBytes(manifest), f => files[f], Source);

    [Fact]
    public void DequantisesLikeTfjsAcrossConcatenatedFiles()
    {
        var r = new TestRandom(TestRandom.SeedOf(nameof(DequantisesLikeTfjsAcrossConcatenatedFiles)));
        // a: uint8 [3,5] (15 bytes), b: uint16 [7] (14), c: float32 [2,3] (24), d: int32 via uint8 [5] (5), e: float16 [3] (6), f: int32 [2] (8)
        var bytes = r.Bytes(15 + 14 + 24 + 5 + 6 + 8);
        var floats = r.Gaussian(6);
        for (int i = 0; i < 6; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(29 + 4 * i), floats[i]);
        var halves = new[] { (Half)1.5, (Half)(-0.3333), (Half)1000.0 };
        for (int i = 0; i < 3; i++) BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(58 + 2 * i), halves[i]);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(64), -123456);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(68), 7);
        const double sa = 0.0123456789, ma = -1.37, sb = 3.1e-5, mb = 0.25, sd = 0.5, md = -3;
        string manifest = $$$"""
            [{"paths": ["p1.bin", "p2.bin"], "weights": [
              {"name": "a", "shape": [3, 5], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": {{{sa:R}}}, "min": {{{ma:R}}}}},
              {"name": "b", "shape": [7], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": {{{sb:R}}}, "min": {{{mb:R}}}}},
              {"name": "c", "shape": [2, 3], "dtype": "float32"},
              {"name": "d", "shape": [5], "dtype": "int32", "quantization": {"dtype": "uint8", "scale": {{{sd:R}}}, "min": {{{md:R}}}}},
              {"name": "e", "shape": [3], "dtype": "float32", "quantization": {"dtype": "float16"}},
              {"name": "f", "shape": [2], "dtype": "int32"}]}]
            """;
        var t = Decode(manifest, new() { ["p1.bin"] = bytes[..20], ["p2.bin"] = bytes[20..] });

        Assert.Equal([3, 5], t["a"].Shape);
        for (int i = 0; i < 15; i++) Assert.Equal((float)(bytes[i] * sa + ma), t["a"].F32![i]);
        for (int i = 0; i < 7; i++) Assert.Equal((float)(BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(15 + 2 * i)) * sb + mb), t["b"].F32![i]);
        Assert.Equal(floats, t["c"].F32);
        for (int i = 0; i < 5; i++) Assert.Equal((int)Math.Floor(bytes[53 + i] * sd + md + 0.5), t["d"].I32![i]);
        Assert.Equal(halves.Select(h => (float)h), t["e"].F32);
        Assert.Equal([-123456, 7], t["f"].I32!);
    }

    public static TheoryData<string, string> HostileManifests => new()
    {
        { "not json", "not valid JSON" },
        { "{}", "non-empty JSON array" },
        { "[]", "non-empty JSON array" },
        { """[{"paths": ["w.bin"]}]""", "no 'weights' array" },
        { """[{"paths": [], "weights": []}]""", "names no weight files" },
        { """[{"paths": ["../w.bin"], "weights": []}]""", "plain file name" },
        { """[{"paths": ["w.bin"], "weights": [{"name": "a", "shape": [2], "dtype": "bool"}]}]""", "dtype 'bool' is not supported" },
        { """[{"paths": ["w.bin"], "weights": [{"name": "a", "shape": [-1], "dtype": "float32"}]}]""", "non-negative integers" },
        { """[{"paths": ["w.bin"], "weights": [{"name": "a", "shape": [2.5], "dtype": "float32"}]}]""", "non-negative integers" },
        { """[{"paths": ["w.bin"], "weights": [{"name": "a", "shape": [2147483647, 2147483647, 2147483647], "dtype": "float32"}]}]""", "too large" },
        { """[{"paths": ["w.bin"], "weights": [{"name": "a", "shape": [5], "dtype": "float32"}]}]""", "needs 20 bytes" },
        { """[{"paths": ["w.bin"], "weights": [{"name": "a", "shape": [2], "dtype": "float32"}]}]""", "files hold 16" },
        { """[{"paths": ["w.bin"], "weights": [{"name": "a", "shape": [16], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 1}}]}]""", "needs numeric 'scale' and 'min'" },
        { """[{"paths": ["w.bin"], "weights": [{"name": "a", "shape": [16], "dtype": "float32", "quantization": {"dtype": "int4", "scale": 1, "min": 0}}]}]""", "quantization dtype 'int4'" },
        { """[{"paths": ["w.bin"], "weights": [{"name": "a", "shape": [8], "dtype": "int32", "quantization": {"dtype": "float16"}}]}]""", "float32 weights only" },
        { """[{"paths": ["w.bin"], "weights": [{"name": "a", "shape": [2], "dtype": "float32"}, {"name": "a", "shape": [2], "dtype": "float32"}]}]""", "appears twice" },
        { """[{"paths": ["w.bin"], "weights": [{"shape": [4], "dtype": "float32"}]}]""", "has no name" },
        { """[{"paths": ["w.bin"], "weights": [{"name": "a", "shape": [16], "dtype": "int32", "quantization": {"dtype": "uint8", "scale": 1e300, "min": 0}}]}]""", "out of range" },
    };

    [Theory]
    [MemberData(nameof(HostileManifests))]
    public void HostileManifestsAreInvalidModel(string manifest, string expected)
    {
        var e = Assert.Throws<TrgException>(() => Decode(manifest, new() { ["w.bin"] = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray() }));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Equal(Source, e.FilePath);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ReadFromDiskNamesMissingWeightFile()
    {
        var dir = Directory.CreateTempSubdirectory("tfjs");
        try
        {
            var manifest = Path.Combine(dir.FullName, "m.json");
            File.WriteAllText(manifest, """[{"paths": ["absent.bin"], "weights": []}]""");
            var e = Assert.Throws<TrgException>(() => TfjsWeights.Read(manifest));
            Assert.Equal(ErrorKind.NotFound, e.Kind);
            Assert.EndsWith("absent.bin", e.FilePath);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void EmbeddedFilesMatchProvenanceSha256()
    {
        var provenance = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "weights", "faceapi", "PROVENANCE.md"));
        var rows = Regex.Matches(provenance, @"\| (\S+\.(?:json|bin)) \| (\d+) \| ([0-9a-f]{64}) \|");
        Assert.Equal(6, rows.Count);
        foreach (Match row in rows)
        {
            var bytes = FaceApiModels.ReadEmbeddedFile(row.Groups[1].Value);
            Assert.Equal(long.Parse(row.Groups[2].Value), bytes.Length);
            Assert.Equal(row.Groups[3].Value, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        }
    }

    [Fact]
    public void EmbeddedModelsHaveTheExpectedArchitecture()
    {
        var m = FaceApiModels.LoadEmbedded();
        Assert.Equal(13, m.Ssd.ConvPairs.Count);
        Assert.Equal([1, 1, 1024, 1024], m.Ssd.ConvPairs[12].Pointwise.Filters.Shape);
        Assert.Equal([5118, 4], m.Ssd.Anchors.Shape);
        Assert.Equal(6, m.Ssd.BoxPredictors.Count);
        Assert.Equal([1, 1, 512, 25], m.Tiny.Conv8.Filters.Shape);
        Assert.Equal(5, m.Tiny.Separable.Count);
        Assert.Equal([256, 136], m.Landmarks.FcWeights.Shape);
        Assert.NotNull(m.Landmarks.DenseBlocks[0].Conv0);
        Assert.All(m.Landmarks.DenseBlocks.Skip(1), b => Assert.NotNull(b.SeparableConv0));
        // anchors are real boxes: ymin < ymax, xmin < xmax
        var a = m.Ssd.Anchors.F32!;
        for (int i = 0; i < 5118; i++) Assert.True(a[i * 4] < a[i * 4 + 2] && a[i * 4 + 1] < a[i * 4 + 3], $"anchor {i}");
        // the folder loader reads the same bytes
        var fromDisk = FaceApiModels.Load(Path.Combine(TestPaths.RepoRoot, "weights", "faceapi"));
        Assert.Equal(m.Ssd.Anchors.F32, fromDisk.Ssd.Anchors.F32);
    }

    [Fact]
    public void WrongArchitectureIsInvalidModelNamingTensor()
    {
        var t = TfjsWeights.Decode(FaceApiModels.ReadEmbeddedFile("tiny_face_detector_model-weights_manifest.json"), FaceApiModels.ReadEmbeddedFile, "tiny");
        var e = Assert.Throws<TrgException>(() => FaceApiModels.ReadLandmarks(t, "tiny"));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Contains("missing tensor 'dense0/conv0/filters'", e.Message);
        var reshaped = t.ToDictionary(kv => kv.Key, kv => kv.Key == "conv8/bias" ? new HostTensor(kv.Key, [5, 5], kv.Value.F32!) : kv.Value);
        e = Assert.Throws<TrgException>(() => FaceApiModels.ReadTiny(reshaped, "tiny"));
        Assert.Contains("'conv8/bias' is F32 [5,5], expected F32 [25]", e.Message);
    }
}
