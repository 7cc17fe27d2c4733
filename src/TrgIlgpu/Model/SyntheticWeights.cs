using System.Text;

namespace TrgIlgpu.Model;

/// <summary>Deterministic random weights in official format (docs/synthetic-weights.md), identical to tools/synthetic_weights.py.</summary>
public static class SyntheticWeights
{
    private const ulong Golden = 0x9E3779B97F4A7C15UL;
    private const ulong Mix1 = 0xBF58476D1CE4E5B9UL;
    private const ulong Mix2 = 0x94D049BB133111EBUL;

    /// <summary>Every state-dict tensor of the variant plus `subsample` (and `triangles` is not produced).</summary>
    public static List<HostTensor> Create(VariantInfo variant, ulong seed)
    {
        var bnModules = variant.Tensors.Where(t => Leaf(t.Key) == "running_mean").Select(t => Module(t.Key)).ToHashSet();
        var result = new HostTensor[variant.Tensors.Count];
        // Tensors are independent; generate them in parallel (37M elements for TRG).
        Parallel.For(0, result.Length, i => result[i] = Make(variant.Tensors[i], seed, bnModules));
        var list = result.ToList();
        var subsample = new long[VariantInfo.SubsampledVertices];
        for (int j = 0; j < subsample.Length; j++) subsample[j] = 4L * j;
        list.Add(new HostTensor(VariantInfo.Subsample.Key, VariantInfo.Subsample.Shape, subsample));
        return list;
    }

    /// <summary>FNV-1a 64 over the UTF-8 bytes of the key.</summary>
    internal static ulong Fnv1a64(string key)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (byte b in Encoding.UTF8.GetBytes(key)) h = (h ^ b) * 0x100000001B3UL;
        return h;
    }

    /// <summary>u_j in [-1, 1), exact float32: the 24 high bits of the splitmix64 finaliser of base + (j+1)*golden.</summary>
    internal static float Uniform(ulong baseValue, long j)
    {
        ulong z = baseValue + (ulong)(j + 1) * Golden;
        z = (z ^ (z >> 30)) * Mix1;
        z = (z ^ (z >> 27)) * Mix2;
        z ^= z >> 31;
        return (float)((z >> 40) * (1.0 / (1 << 23)) - 1.0);
    }

    internal static ulong Base(ulong seed, string key) => (seed * Golden) ^ Fnv1a64(key);

    /// <summary>float32(float32(u * scale) + offset). Two statements with a store so nothing contracts them into an FMA.</summary>
    private static void Affine(float[] dst, ulong baseValue, float scale, float offset)
    {
        for (int j = 0; j < dst.Length; j++)
        {
            float product = Uniform(baseValue, j) * scale;
            dst[j] = product;
            dst[j] += offset;
        }
    }

    private static string Leaf(string key) => key[(key.LastIndexOf('.') + 1)..];
    private static string Module(string key) => key.LastIndexOf('.') is var i and >= 0 ? key[..i] : "";

    private static HostTensor Make(TensorSpec spec, ulong seed, HashSet<string> bnModules)
    {
        string key = spec.Key, leaf = Leaf(key), module = Module(key);
        if (spec.DType == TensorDType.I64) return new HostTensor(key, spec.Shape, new long[spec.Elements]); // num_batches_tracked = 0
        var data = new float[spec.Elements];
        if (key == "points_grid")
        {
            for (int n = 0; n < VariantInfo.GridPoints; n++)
            {
                data[n] = GridValue(n / 18);
                data[VariantInfo.GridPoints + n] = GridValue(n % 18);
            }
        }
        else if (leaf == "init_face")
        {
            // Same for every regressor: generated from the key "init_face", not the full key.
            ulong b = Base(seed, "init_face");
            float sx = (float)0.078, sy = (float)0.09, sz = (float)0.05, oz = (float)0.02;
            for (int j = 0; j < data.Length; j++)
            {
                float u = Uniform(b, j);
                float v = (j % 3) switch { 0 => u * sx, 1 => u * sy, _ => u * sz };
                data[j] = v;
                if (j % 3 == 2) data[j] -= oz;
            }
        }
        else if (leaf == "init_head_pose")
        {
            float[] pose = [1, 0, 0, 1, 0, 0, 1, 0, 0];
            pose.CopyTo(data, 0);
        }
        else
        {
            var (scale, offset) = Rule(spec, leaf, module, bnModules);
            Affine(data, Base(seed, key), (float)scale, (float)offset);
        }
        return new HostTensor(key, spec.Shape, data);
    }

    /// <summary>g[k] = -1 + 2k/17 in float64, rounded to float32 (the official linspace(-1, 1, 18)).</summary>
    private static float GridValue(int k) => (float)(-1.0 + 2.0 * k / 17.0);

    private static (double Scale, double Offset) Rule(TensorSpec spec, string leaf, string module, HashSet<string> bnModules)
    {
        if (bnModules.Contains(module))
            return leaf switch
            {
                "weight" => (0.1, 1.0),
                "bias" => (0.1, 0.0),
                "running_mean" => (0.1, 0.0),
                "running_var" => (0.25, 1.0),
                _ => throw new InvalidOperationException($"no synthetic rule for BatchNorm tensor '{spec.Key}'"),
            };
        if (leaf is not ("weight" or "bias")) throw new InvalidOperationException($"no synthetic rule for tensor '{spec.Key}'");
        // Small regressor outputs keep the iteration loop's rounding gain low (docs/synthetic-weights.md).
        if (module.StartsWith("regressor.") && Leaf(module) is "decshape" or "decpose")
            return leaf == "weight" ? (0.03 * Math.Sqrt(3.0 / 1024.0), 0.0) : (0.03, 0.0);
        if (leaf == "bias") return (0.1, 0.0);
        long fanIn = module.StartsWith("deconv_layers.")
            ? spec.Shape[0] * 16L / 4 // stride-2 4x4 transposed conv: each output sees Cin * 4 taps
            : spec.Shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        return (Math.Sqrt(3.0 / fanIn), 0.0);
    }
}
