using System.Numerics;
using TrgIlgpu.Kernels;
using TrgIlgpu.Model;

namespace TrgIlgpu.Engine;

/// <summary>Which weights a packed convolution holds: the direct kernels' taps, or Winograd U = G g G^T of one form.</summary>
public enum WinogradForm
{
    /// <summary>Direct taps (<see cref="Convolution.WeightIndex"/>).</summary>
    None,
    /// <summary>F(2x2, 3x3): 16 components a filter (<see cref="WinogradConvolution.WeightIndex"/>).</summary>
    F2,
    /// <summary>F(4x4, 3x3): 36 components a filter (<see cref="WinogradConvolution.WeightIndexF4"/>).</summary>
    F4,
}

/// <summary>
/// A layer's weights after load-time folding, in the layout its kernel reads. <paramref name="Winograd"/>: for a 3x3
/// stride-1 convolution, whether <paramref name="Weight"/> holds Winograd U = G g G^T of F(2x2, 3x3) or F(4x4, 3x3)
/// instead of the direct kernel's taps (bias and shortcut weights are the same).
/// </summary>
public sealed record PackedLayer(string Name, int OutChannels, float[] Weight, float[] Bias, float[]? ShortcutWeight = null,
    WinogradForm Winograd = WinogradForm.None);

/// <summary>
/// Load-time transformation of the official weights into kernel layouts (host side, done once):
/// BatchNorm folded into the preceding convolution (scale in float64, rounded once), a ResNet block's projection
/// shortcut folded into its second convolution, the regressor's fc2 · fc1 multiplied out (no activation between them),
/// decshape and decpose stacked into one output layer; with <c>winograd</c>, every 3x3 stride-1 convolution's weights
/// transformed for Winograd (in float64, after the BatchNorm scale, rounded once): F(2x2, 3x3), or F(4x4, 3x3) where the
/// form rule (<see cref="Backends.KernelPolicy.WinogradFormFor"/>) says so for the layer's shape.
/// </summary>
public sealed class PackedModel
{
    public VariantInfo Variant { get; }
    public Dictionary<string, PackedLayer> Layers { get; } = new();
    public float[] InitFace { get; }
    public float[] InitPose { get; }
    public float[] PointsGrid { get; }
    public int[] Subsample { get; }

    private readonly bool _winograd;
    private readonly Func<ConvParams, WinogradForm>? _form;

    /// <param name="w">The model's tensors.</param>
    /// <param name="winograd">Pack the 3x3 stride-1 convolutions for <see cref="WinogradConvolution"/>.</param>
    /// <param name="form">With <paramref name="winograd"/>, the form of each such convolution from its shape (batch 1;
    /// <see cref="Backends.KernelPolicy.WinogradFormFor"/>); null: F(2x2, 3x3) for all.</param>
    public PackedModel(ModelWeights w, bool winograd = false, Func<ConvParams, WinogradForm>? form = null)
    {
        Variant = w.Variant;
        _winograd = winograd;
        _form = form;
        const string fe = "feature_extractor";
        AddConv(w, "conv1", fe + ".conv1", fe + ".bn1");
        for (int li = 1; li <= 4; li++)
            for (int b = 0; b < 2; b++)
            {
                var p = $"{fe}.layer{li}.{b}";
                // The first block of layers 2-4 downsamples in its conv1 (stride 2); every other 3x3 has stride 1.
                bool conv1Stride1 = li == 1 || b == 1;
                // Layer li's maps are InputSize / 2^(li + 1) a side (stem and max-pool /4, then /2 a layer from layer 2).
                int map = VariantInfo.InputSize >> (li + 1);
                AddConv(w, $"layer{li}.{b}.conv1", p + ".conv1", p + ".bn1", stride1: conv1Stride1, map: map);
                var ds = w.Tensors.ContainsKey(p + ".downsample.0.weight") ? p + ".downsample" : null;
                AddConv(w, $"layer{li}.{b}.conv2", p + ".conv2", p + ".bn2", ds, stride1: true, map: map);
            }
        for (int k = 0; k < Variant.DeconvStages; k++)
            AddDeconv(w, $"deconv{k}", $"deconv_layers.{3 * k}.weight", $"deconv_layers.{3 * k + 1}");
        if (Variant.Variant == ModelVariant.TrgV2)
        {
            AddConv(w, "heatmap.conv3x3", "predict_68_lmk.0", "predict_68_lmk.1", convBias: true, stride1: true, map: Variant.HeatmapSize);
            AddConv(w, "heatmap.conv1x1", "predict_68_lmk.3", null, convBias: true);
        }
        else
        {
            AddConv(w, "heatmap.conv1x1", "predict_68_lmk.0", null, convBias: true);
        }
        for (int i = 0; i < Variant.Iterations; i++)
        {
            for (int l = 0; l < 3; l++)
            {
                var key = $"laf_extractor.{i}.conv{l}";
                var t = w.Tensors[key + ".weight"];
                Layers[$"mlp{i}.{l}"] = new(key, t.Shape[0], PackTransposed(t.F32!, t.Shape[0], t.Shape[1]),
                    Pad(w.F32(key + ".bias"), Tiling.PadChannels(t.Shape[0], PointFeatures.ChannelTile)));
            }
            AddRegressor(w, i);
        }
        InitFace = (float[])w.F32("regressor.0.init_face").Clone();
        InitPose = (float[])w.F32("regressor.0.init_head_pose").Clone();
        PointsGrid = (float[])w.F32("points_grid").Clone();
        Subsample = w.Subsample.Select(v => (int)v).ToArray();
    }

    public PackedLayer this[string name] => Layers[name];

    private static double[] BnScale(ModelWeights w, string bn, out double[] shift)
    {
        var g = w.F32(bn + ".weight"); var b = w.F32(bn + ".bias");
        var m = w.F32(bn + ".running_mean"); var v = w.F32(bn + ".running_var");
        var scale = new double[g.Length];
        shift = new double[g.Length];
        for (int c = 0; c < g.Length; c++)
        {
            scale[c] = g[c] / Math.Sqrt(v[c] + 1e-5);
            shift[c] = b[c] - m[c] * scale[c];
        }
        return scale;
    }

    /// <summary>
    /// Conv [Cout, Cin, K, K] (+ optional BN, conv bias, projection shortcut) -> block-major (<see cref="Convolution.WeightIndex"/>), or the
    /// Winograd layout for a 3x3 stride-1 convolution when this model packs for Winograd (the form from its shape:
    /// <paramref name="map"/> x <paramref name="map"/> outputs).
    /// </summary>
    private void AddConv(ModelWeights w, string name, string conv, string? bn, string? downsample = null, bool convBias = false,
        bool stride1 = false, int map = 0)
    {
        var t = w.Tensors[conv + ".weight"];
        int cout = t.Shape[0], cin = t.Shape[1], k = t.Shape[2], pad = Tiling.PadChannels(cout, Convolution.ChannelTile);
        var src = t.F32!;
        double[] scale = Enumerable.Repeat(1.0, cout).ToArray();
        double[] shift = new double[cout];
        if (bn is not null) scale = BnScale(w, bn, out shift);
        var bias = new double[cout];
        var cb = convBias ? w.F32(conv + ".bias") : null;
        for (int c = 0; c < cout; c++) bias[c] = shift[c] + (cb is null ? 0 : cb[c] * scale[c]);

        var form = !(_winograd && stride1 && k == 3) ? WinogradForm.None
            : _form?.Invoke(new ConvParams
            {
                Batch = 1, InChannels = cin, InHeight = map, InWidth = map, OutChannels = cout, OutHeight = map, OutWidth = map,
                Kernel = 3, Stride = 1, Pad = 1,
                ShortcutMode = downsample is null ? Convolution.ShortcutNone : Convolution.ShortcutProjection,
            }) ?? WinogradForm.F2;
        float[] packed = form switch
        {
            WinogradForm.F2 => PackWinograd(WinogradG, src, scale, cout, cin, pad),
            WinogradForm.F4 => PackWinograd(WinogradF4G, src, scale, cout, cin, pad),
            _ => new float[k * k * cin * pad],
        };
        if (form == WinogradForm.None)
            for (int co = 0; co < cout; co++)
                for (int ci = 0; ci < cin; ci++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                            packed[Convolution.WeightIndex(ky * k + kx, ci, co, cin, k * k)] = (float)(src[((co * cin + ci) * k + ky) * k + kx] * scale[co]);

        float[]? shortcut = null;
        if (downsample is not null)
        {
            var d = w.Tensors[downsample + ".0.weight"];
            int dcin = d.Shape[1];
            var dscale = BnScale(w, downsample + ".1", out var dshift);
            shortcut = new float[dcin * pad];
            for (int co = 0; co < cout; co++)
            {
                for (int ci = 0; ci < dcin; ci++) shortcut[Convolution.WeightIndex(0, ci, co, dcin, 1)] = (float)(d.F32![co * dcin + ci] * dscale[co]);
                bias[co] += dshift[co];
            }
        }
        Layers[name] = new(conv, cout, packed, Pad(bias.Select(v => (float)v).ToArray(), pad), shortcut, form);
    }

    /// <summary>G of Winograd F(2x2, 3x3): U = G g G^T.</summary>
    private static readonly double[,] WinogradG = { { 1, 0, 0 }, { 0.5, 0.5, 0.5 }, { 0.5, -0.5, 0.5 }, { 0, 0, 1 } };

    /// <summary>
    /// G of Winograd F(4x4, 3x3) with the points of <see cref="WinogradConvolution.WinogradInputF4"/> (0, 1, -1, 1/2,
    /// -2, infinity): row j of a finite point a is (1, a, a^2) / prod_{l != j} (a - a_l), the last row (0, 0, 1).
    /// </summary>
    private static readonly double[,] WinogradF4G = ToomCookG([0, 1, -1, 0.5, -2]);

    private static double[,] ToomCookG(double[] points)
    {
        var g = new double[points.Length + 1, 3];
        for (int j = 0; j < points.Length; j++)
        {
            double a = points[j], f = 1;
            for (int l = 0; l < points.Length; l++)
                if (l != j) f *= a - points[l];
            for (int k = 0; k < 3; k++) g[j, k] = Math.Pow(a, k) / f;
        }
        g[points.Length, 2] = 1;
        return g;
    }

    /// <summary>
    /// U = G (scale g) G^T per (co, ci) in float64, rounded once, packed component-major per 8-channel block
    /// (<see cref="WinogradConvolution.WeightIndex"/> for F2's 4x3 G, <see cref="WinogradConvolution.WeightIndexF4"/> for F4's 6x3):
    /// <c>((block * n^2 + n i + j) * Cin + ci) * 8 + c</c> with n the rows of <paramref name="gm"/>.
    /// </summary>
    private static float[] PackWinograd(double[,] gm, float[] src, double[] scale, int cout, int cin, int pad)
    {
        const int tile = WinogradConvolution.ChannelTile;
        int n = gm.GetLength(0), components = n * n;
        var packed = new float[components * cin * pad];
        Parallel.For(0, cout, co =>
        {
            var g = new double[3, 3];
            int block = co / tile, c = co % tile;
            for (int ci = 0; ci < cin; ci++)
            {
                for (int a = 0; a < 3; a++)
                    for (int b = 0; b < 3; b++)
                        g[a, b] = src[((co * cin + ci) * 3 + a) * 3 + b] * scale[co];
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++)
                    {
                        double u = 0;
                        for (int a = 0; a < 3; a++)
                            for (int b = 0; b < 3; b++)
                                u += gm[i, a] * g[a, b] * gm[j, b];
                        packed[((block * components + n * i + j) * cin + ci) * tile + c] = (float)u;
                    }
            }
        });
        return packed;
    }

    /// <summary>ConvTranspose2d [Cin, Cout, 4, 4] + BN -> <see cref="TransposedConvolution.WeightIndex"/>'s layout.</summary>
    private void AddDeconv(ModelWeights w, string name, string weightKey, string bn)
    {
        var t = w.Tensors[weightKey];
        int cin = t.Shape[0], cout = t.Shape[1], pad = Tiling.PadChannels(cout, TransposedConvolution.ChannelTile);
        var scale = BnScale(w, bn, out var shift);
        var packed = new float[16 * cin * pad];
        var src = t.F32!;
        for (int ci = 0; ci < cin; ci++)
            for (int co = 0; co < cout; co++)
                for (int kk = 0; kk < 16; kk++)
                    packed[TransposedConvolution.WeightIndex(ci, co, kk / 4, kk % 4, cin, pad)] = (float)(src[(ci * cout + co) * 16 + kk] * scale[co]);
        Layers[name] = new(weightKey, cout, packed, Pad(shift.Select(v => (float)v).ToArray(), pad));
    }

    /// <summary>
    /// fc2 · fc1 multiplied out in float64 (hidden = W x + b with W = fc2 fc1, b = fc2 b1 + b2), and [decshape; decpose];
    /// both in <see cref="Linear.WeightIndex"/>'s block-major layout.
    /// </summary>
    private void AddRegressor(ModelWeights w, int i)
    {
        var p = $"regressor.{i}";
        var fc1 = w.Tensors[p + ".fc1.weight"];
        int hidden = fc1.Shape[0], inDim = fc1.Shape[1];
        var w1 = fc1.F32!; var b1 = w.F32(p + ".fc1.bias");
        var w2 = w.F32(p + ".fc2.weight"); var b2 = w.F32(p + ".fc2.bias");

        // Product W[o, k] = sum_j w2[o, j] w1[j, k] in float64, packed for Linear.Dense (Linear.WeightIndex). Blocks
        // of 8 output rows share each streamed row of w1, which keeps the 1024 x 1024 x inDim product memory-friendly.
        var packed = new float[inDim * Tiling.PadChannels(hidden, Linear.ChannelTile)];
        var w1d = new double[w1.Length];
        for (int n = 0; n < w1.Length; n++) w1d[n] = w1[n];
        const int block = 8;
        Parallel.For(0, hidden / block, ob =>
        {
            var acc = new double[block][];
            for (int r = 0; r < block; r++) acc[r] = new double[inDim];
            int vec = Vector<double>.Count, whole = inDim - inDim % vec;
            for (int j = 0; j < hidden; j++)
            {
                var row = w1d.AsSpan(j * inDim, inDim);
                for (int r = 0; r < block; r++)
                {
                    double a = w2[(ob * block + r) * hidden + j];
                    var av = new Vector<double>(a);
                    var dst = acc[r].AsSpan();
                    for (int k = 0; k < whole; k += vec)
                        (new Vector<double>(dst.Slice(k)) + av * new Vector<double>(row.Slice(k))).CopyTo(dst.Slice(k));
                    for (int k = whole; k < inDim; k++) dst[k] += a * row[k];
                }
            }
            for (int r = 0; r < block; r++)
                for (int k = 0; k < inDim; k++) packed[Linear.WeightIndex(k, ob * block + r, inDim)] = (float)acc[r][k];
        });
        var bias = new float[Tiling.PadChannels(hidden, Linear.ChannelTile)];
        for (int o = 0; o < hidden; o++)
        {
            double s = b2[o];
            for (int j = 0; j < hidden; j++) s += (double)w2[o * hidden + j] * b1[j];
            bias[o] = (float)s;
        }
        Layers[$"regressor{i}.hidden"] = new(p + ".fc2*fc1", hidden, packed, bias);

        var ds = w.F32(p + ".decshape.weight"); var dp = w.F32(p + ".decpose.weight");
        int outs = VariantInfo.Vertices * 3 + 9, pad = Tiling.PadChannels(outs, Linear.ChannelTile);
        var dec = new float[hidden * pad];
        for (int j = 0; j < outs; j++)
            for (int k = 0; k < hidden; k++)
                dec[Linear.WeightIndex(k, j, hidden)] = j < 3660 ? ds[j * hidden + k] : dp[(j - 3660) * hidden + k];
        var decBias = w.F32(p + ".decshape.bias").Concat(w.F32(p + ".decpose.bias")).ToArray();
        Layers[$"regressor{i}.out"] = new(p + ".decshape|decpose", outs, dec, Pad(decBias, pad));
    }

    /// <summary>[O, K(, 1)] -> [K][OPad], OPad a multiple of <see cref="PointFeatures.ChannelTile"/> (the point MLP's layout).</summary>
    private static float[] PackTransposed(float[] src, int o, int k)
    {
        int pad = Tiling.PadChannels(o, PointFeatures.ChannelTile);
        var dst = new float[k * pad];
        for (int r = 0; r < o; r++)
            for (int c = 0; c < k; c++)
                dst[c * pad + r] = src[r * k + c];
        return dst;
    }

    private static float[] Pad(float[] bias, int? length = null)
    {
        var dst = new float[length ?? Tiling.PadChannels(bias.Length)];
        bias.CopyTo(dst, 0);
        return dst;
    }
}
