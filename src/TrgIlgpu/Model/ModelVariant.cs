namespace TrgIlgpu.Model;

/// <summary>The two model variants of MODEL_SPEC.md section 1.</summary>
public enum ModelVariant { Trg, TrgV2 }

/// <summary>Element type of a stored tensor.</summary>
public enum TensorDType { F32, F16, BF16, F64, I64, I32, U8 }

/// <summary>One tensor the official state dict holds: its key, shape and element type.</summary>
public sealed record TensorSpec(string Key, int[] Shape, TensorDType DType = TensorDType.F32)
{
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);
    public string ShapeText => "[" + string.Join(",", Shape) + "]";
}

/// <summary>
/// Static description of a variant: the official state-dict keys and shapes (checked against the
/// spec's element counts: 37,653,936 for TRG, 29,810,433 for TRGv2) and the derived sizes.
/// </summary>
public sealed class VariantInfo
{
    public const int InputSize = 192;
    public const int Vertices = 1220;
    public const int SubsampledVertices = 305;
    public const int GridPoints = 324;
    public const int Landmarks = 68;
    public const int Hidden = 1024;

    public ModelVariant Variant { get; }
    public string Name => Variant == ModelVariant.Trg ? "trg" : "trgv2";
    public int DeconvStages => Variant == ModelVariant.Trg ? 3 : 2;
    public int Iterations => Variant == ModelVariant.Trg ? 3 : 2;
    /// <summary>Side of the feature map iteration <paramref name="i"/> samples (12/24/48 for TRG, 24 for TRGv2).</summary>
    public int IterationMapSize(int i) => Variant == ModelVariant.Trg ? 12 << i : 24;
    /// <summary>Side of the heatmaps (48 for TRG, 24 for TRGv2).</summary>
    public int HeatmapSize => Variant == ModelVariant.Trg ? 48 : 24;
    public int PointCount(int i) => i == 0 ? GridPoints : SubsampledVertices;
    public int RegressorInput(int i) => PointCount(i) * 5 + SubsampledVertices * 3 + 9 + 3;

    /// <summary>Every tensor of the official state dict, in the official order. num_batches_tracked included (int64 scalars).</summary>
    public IReadOnlyList<TensorSpec> Tensors { get; }

    public static readonly VariantInfo Trg = new(ModelVariant.Trg);
    public static readonly VariantInfo TrgV2 = new(ModelVariant.TrgV2);
    public static VariantInfo Of(ModelVariant v) => v == ModelVariant.Trg ? Trg : TrgV2;

    public static VariantInfo? FromName(string name) => name.ToLowerInvariant() switch
    {
        "trg" => Trg,
        "trgv2" => TrgV2,
        _ => null,
    };

    /// <summary>Detects the variant from state-dict keys (spec section 1), or null when neither marker is present.</summary>
    public static VariantInfo? Detect(IEnumerable<string> keys)
    {
        var set = keys.ToHashSet();
        if (set.Contains("deconv_layers.6.weight")) return Trg;
        if (set.Contains("predict_68_lmk.3.weight")) return TrgV2;
        return null;
    }

    private VariantInfo(ModelVariant v)
    {
        Variant = v;
        var t = new List<TensorSpec>();
        void Conv(string p, int o, int i, int k, bool bias = false)
        {
            t.Add(new(p + ".weight", [o, i, k, k]));
            if (bias) t.Add(new(p + ".bias", [o]));
        }
        void Bn(string p, int c)
        {
            foreach (var n in new[] { "weight", "bias", "running_mean", "running_var" }) t.Add(new($"{p}.{n}", [c]));
            t.Add(new(p + ".num_batches_tracked", [], TensorDType.I64));
        }
        const string fe = "feature_extractor";
        Conv(fe + ".conv1", 64, 3, 7); Bn(fe + ".bn1", 64);
        int inp = 64;
        (int planes, int stride)[] layers = [(64, 1), (128, 2), (256, 2), (512, 2)];
        for (int li = 0; li < 4; li++)
            for (int b = 0; b < 2; b++)
            {
                var p = $"{fe}.layer{li + 1}.{b}";
                int pl = layers[li].planes, s = b == 0 ? layers[li].stride : 1;
                Conv(p + ".conv1", pl, inp, 3); Bn(p + ".bn1", pl);
                Conv(p + ".conv2", pl, pl, 3); Bn(p + ".bn2", pl);
                if (b == 0 && (s != 1 || inp != pl)) { Conv(p + ".downsample.0", pl, inp, 1); Bn(p + ".downsample.1", pl); }
                inp = pl;
            }
        int c = 512;
        for (int k = 0; k < DeconvStages; k++)
        {
            t.Add(new($"deconv_layers.{3 * k}.weight", [c, 256, 4, 4]));
            Bn($"deconv_layers.{3 * k + 1}", 256);
            c = 256;
        }
        for (int i = 0; i < Iterations; i++)
        {
            var p = $"laf_extractor.{i}";
            t.Add(new(p + ".conv0.weight", [128, 256, 1])); t.Add(new(p + ".conv0.bias", [128]));
            t.Add(new(p + ".conv1.weight", [64, 384, 1])); t.Add(new(p + ".conv1.bias", [64]));
            t.Add(new(p + ".conv2.weight", [5, 320, 1])); t.Add(new(p + ".conv2.bias", [5]));
        }
        t.Add(new("points_grid", [1, 2, GridPoints]));
        for (int i = 0; i < Iterations; i++)
        {
            var p = $"regressor.{i}";
            t.Add(new(p + ".fc1.weight", [Hidden, RegressorInput(i)])); t.Add(new(p + ".fc1.bias", [Hidden]));
            t.Add(new(p + ".fc2.weight", [Hidden, Hidden])); t.Add(new(p + ".fc2.bias", [Hidden]));
            t.Add(new(p + ".decshape.weight", [Vertices * 3, Hidden])); t.Add(new(p + ".decshape.bias", [Vertices * 3]));
            t.Add(new(p + ".decpose.weight", [9, Hidden])); t.Add(new(p + ".decpose.bias", [9]));
            t.Add(new(p + ".init_face", [1, Vertices, 3])); t.Add(new(p + ".init_head_pose", [1, 9]));
        }
        if (v == ModelVariant.Trg)
        {
            Conv("predict_68_lmk.0", Landmarks, 256, 1, bias: true);
        }
        else
        {
            Conv("predict_68_lmk.0", 256, 256, 3, bias: true);
            Bn("predict_68_lmk.1", 256);
            Conv("predict_68_lmk.3", Landmarks, 256, 1, bias: true);
        }
        Tensors = t;
    }

    /// <summary>Extra tensors a TrgIlgpu model file carries beside the state dict.</summary>
    public static readonly TensorSpec Subsample = new("subsample", [SubsampledVertices], TensorDType.I64);
    public static readonly TensorSpec Triangles = new("triangles", [2304, 3], TensorDType.I32);
}
