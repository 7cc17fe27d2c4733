using System.Text.Json;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.Model;

/// <summary>
/// SyntheticWeights.Create against Fixtures/synthetic/synthetic_weights.json, written by the Python twin
/// (tools/make_synthetic_fixture.py): every tensor's first/last 16 values bit for bit, an exact checksum over all
/// elements, and the float64 sum.
/// </summary>
public class SyntheticWeightsTests
{
    private static JsonElement LoadCases()
    {
        var path = Path.Combine(TestPaths.Fixtures, "synthetic", "synthetic_weights.json");
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty("cases");
    }

    public static IEnumerable<object[]> Cases()
    {
        foreach (var c in LoadCases().EnumerateArray())
            yield return [c.GetProperty("variant").GetString()!, c.GetProperty("seed").GetString()!];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesPythonTwin(string variantName, string seedText)
    {
        var variant = VariantInfo.FromName(variantName)!;
        ulong seed = ulong.Parse(seedText);
        var expected = LoadCases().EnumerateArray()
            .Single(c => c.GetProperty("variant").GetString() == variantName && c.GetProperty("seed").GetString() == seedText);

        var tensors = SyntheticWeights.Create(variant, seed);
        var fixtureTensors = expected.GetProperty("tensors").EnumerateArray().ToList();

        // Same keys in the same order: the variant's tensors, then subsample.
        Assert.Equal(fixtureTensors.Select(t => t.GetProperty("key").GetString()), tensors.Select(t => t.Name));
        Assert.Equal(variant.Tensors.Select(t => t.Key).Append("subsample"), tensors.Select(t => t.Name));
        Assert.Equal(expected.GetProperty("elements").GetInt64(), tensors.Take(variant.Tensors.Count).Sum(t => t.Elements));

        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            var f = fixtureTensors[i];
            Assert.Equal(f.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()), t.Shape);
            Assert.True(ulong.Parse(f.GetProperty("checksum").GetString()!) == Checksum(t), $"{t.Name}: checksum differs");
            if (t.F32 is { } data)
            {
                Assert.Equal(f.GetProperty("first").EnumerateArray().Select(e => e.GetSingle()), data.Take(16));
                Assert.Equal(f.GetProperty("last").EnumerateArray().Select(e => e.GetSingle()), data.Skip(Math.Max(0, data.Length - 16)));
                double sum = 0, sumAbs = 0;
                foreach (float v in data) { sum += v; sumAbs += Math.Abs(v); }
                Assert.True(Math.Abs(sum - f.GetProperty("sum").GetDouble()) <= 1e-12 * sumAbs + 1e-300, $"{t.Name}: sum {sum}");
            }
            else
            {
                var ints = t.I64!;
                Assert.Equal(f.GetProperty("first").EnumerateArray().Select(e => e.GetInt64()), ints.Take(16));
            }
        }
    }

    [Fact]
    public void ElementCountsMatchSpec()
    {
        Assert.Equal(29_810_433L, SyntheticWeights.Create(VariantInfo.TrgV2, 3).Where(t => t.Name != "subsample").Sum(t => t.Elements));
        Assert.Equal(37_653_936L, SyntheticWeights.Create(VariantInfo.Trg, 3).Where(t => t.Name != "subsample").Sum(t => t.Elements));
    }

    [Fact]
    public void StructuredTensorsFollowTheDefinition()
    {
        var byName = SyntheticWeights.Create(VariantInfo.Trg, 11).ToDictionary(t => t.Name);
        // points_grid: row 0 = g[n / 18], row 1 = g[n % 18], g = linspace(-1, 1, 18).
        var grid = byName["points_grid"].F32!;
        Assert.Equal(-1f, grid[0]);
        Assert.Equal(1f, grid[323]);
        Assert.Equal((float)(-1.0 + 2.0 * 5 / 17.0), grid[5 * 18 + 7]);
        Assert.Equal((float)(-1.0 + 2.0 * 7 / 17.0), grid[324 + 5 * 18 + 7]);
        // init_face and init_head_pose are the same for every regressor.
        Assert.Equal(byName["regressor.0.init_face"].F32!, byName["regressor.2.init_face"].F32!);
        Assert.Equal([1f, 0, 0, 1, 0, 0, 1, 0, 0], byName["regressor.1.init_head_pose"].F32!);
        var face = byName["regressor.0.init_face"].F32!;
        for (int j = 0; j < face.Length; j++)
        {
            float bound = (j % 3) switch { 0 => 0.078f, 1 => 0.09f, _ => 0.05f };
            float centre = j % 3 == 2 ? -0.02f : 0f;
            Assert.InRange(face[j], centre - bound - 1e-6f, centre + bound + 1e-6f);
        }
        Assert.Equal(Enumerable.Range(0, 305).Select(j => 4L * j), byName["subsample"].I64!);
        Assert.All(byName.Values.Where(t => t.Name.EndsWith("num_batches_tracked")), t => Assert.Equal(0L, t.I64!.Single()));
        // A different seed changes random tensors.
        var other = SyntheticWeights.Create(VariantInfo.Trg, 12).Single(t => t.Name == "regressor.0.fc1.weight").F32!;
        Assert.NotEqual(byName["regressor.0.fc1.weight"].F32!.Take(64), other.Take(64));
    }

    [Fact]
    public void UniformIsInRangeAndScaledWeightsRespectTheirBound()
    {
        var w = SyntheticWeights.Create(VariantInfo.TrgV2, 5).Single(t => t.Name == "feature_extractor.layer4.0.conv1.weight").F32!;
        float bound = (float)Math.Sqrt(3.0 / (256 * 9));
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        double mean = w.Average(v => (double)v), var = w.Average(v => (double)v * v);
        Assert.InRange(mean, -0.01 * bound, 0.01 * bound);
        Assert.InRange(var, 0.98 * bound * bound / 3, 1.02 * bound * bound / 3);
    }

    /// <summary>Same as tools/synthetic_weights.py checksum(): sum bits_j * (2j+1) mod 2^64.</summary>
    private static ulong Checksum(HostTensor t)
    {
        ulong acc = 0;
        if (t.F32 is { } f)
            for (int j = 0; j < f.Length; j++) acc += BitConverter.SingleToUInt32Bits(f[j]) * (2UL * (ulong)j + 1);
        else
            for (int j = 0; j < t.I64!.Length; j++) acc += (ulong)t.I64[j] * (2UL * (ulong)j + 1);
        return acc;
    }
}
