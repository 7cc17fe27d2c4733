using TrgIlgpu.Engine;
using TrgIlgpu.Kernels;
using TrgIlgpu.Model;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// The kernel tests pack weights with <see cref="Pack"/>; these tests hold it to <see cref="PackedModel"/> itself on a
/// miniature TRGv2 (every key PackedModel reads, tiny channel counts), and check PackedModel's merged regressor
/// layer (fc2 · fc1, no activation between) through the Dense kernel against fc2(fc1(x)) in float64.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class PackingTests(KernelDevices devices)
{
    private const int Hidden = 8;

    private sealed class MiniModel
    {
        public readonly Dictionary<string, HostTensor> Tensors = new();
        private readonly TestRandom _rng;

        public MiniModel(int seed)
        {
            _rng = new TestRandom(seed);
            const string fe = "feature_extractor";
            Conv(fe + ".conv1", 5, 3, 7); Bn(fe + ".bn1", 5);
            int inp = 5;
            int[] planes = [5, 6, 7, 9];
            for (int li = 0; li < 4; li++)
                for (int b = 0; b < 2; b++)
                {
                    var p = $"{fe}.layer{li + 1}.{b}";
                    Conv(p + ".conv1", planes[li], inp, 3); Bn(p + ".bn1", planes[li]);
                    Conv(p + ".conv2", planes[li], planes[li], 3); Bn(p + ".bn2", planes[li]);
                    if (b == 0 && li > 0) { Conv(p + ".downsample.0", planes[li], inp, 1); Bn(p + ".downsample.1", planes[li]); }
                    inp = planes[li];
                }
            Add("deconv_layers.0.weight", [9, 6, 4, 4]); Bn("deconv_layers.1", 6);
            Add("deconv_layers.3.weight", [6, 6, 4, 4]); Bn("deconv_layers.4", 6);
            Conv("predict_68_lmk.0", 6, 6, 3, bias: true); Bn("predict_68_lmk.1", 6);
            Conv("predict_68_lmk.3", 12, 6, 1, bias: true); // 12: padded differently by 4- and 8-channel tiles
            for (int i = 0; i < 2; i++)
            {
                var p = $"laf_extractor.{i}";
                Add(p + ".conv0.weight", [4, 6, 1]); Add(p + ".conv0.bias", [4]);
                Add(p + ".conv1.weight", [3, 10, 1]); Add(p + ".conv1.bias", [3]);
                Add(p + ".conv2.weight", [5, 9, 1]); Add(p + ".conv2.bias", [5]);
                var r = $"regressor.{i}";
                Add(r + ".fc1.weight", [Hidden, 11]); Add(r + ".fc1.bias", [Hidden]);
                Add(r + ".fc2.weight", [Hidden, Hidden]); Add(r + ".fc2.bias", [Hidden]);
                Add(r + ".decshape.weight", [3660, Hidden]); Add(r + ".decshape.bias", [3660]);
                Add(r + ".decpose.weight", [9, Hidden]); Add(r + ".decpose.bias", [9]);
                Add(r + ".init_face", [1, 1220, 3]); Add(r + ".init_head_pose", [1, 9]);
            }
            Add("points_grid", [1, 2, 324]);
        }

        public float[] this[string key] => Tensors[key].F32!;

        public BatchNorm BnOf(string p) => new(this[p + ".weight"], this[p + ".bias"], this[p + ".running_mean"], this[p + ".running_var"]);

        public ModelWeights Weights() => new()
        {
            Variant = VariantInfo.TrgV2,
            Tensors = Tensors,
            Subsample = Enumerable.Range(0, 305).Select(i => (long)(i * 4)).ToArray(),
            Metadata = new Dictionary<string, string>(),
            Source = "miniature test model",
        };

        private void Add(string key, int[] shape)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            Tensors[key] = new HostTensor(key, shape, _rng.Gaussian(n, 0.5));
        }

        private void Conv(string p, int o, int i, int k, bool bias = false)
        {
            Add(p + ".weight", [o, i, k, k]);
            if (bias) Add(p + ".bias", [o]);
        }

        private void Bn(string p, int c)
        {
            var bn = _rng.BatchNorm(c);
            Tensors[p + ".weight"] = new HostTensor(p + ".weight", [c], bn.Weight);
            Tensors[p + ".bias"] = new HostTensor(p + ".bias", [c], bn.Bias);
            Tensors[p + ".running_mean"] = new HostTensor(p + ".running_mean", [c], bn.Mean);
            Tensors[p + ".running_var"] = new HostTensor(p + ".running_var", [c], bn.Var);
            Tensors[p + ".num_batches_tracked"] = new HostTensor(p + ".num_batches_tracked", [], new long[] { 7 });
        }
    }

    [Fact]
    public void Pack_MatchesPackedModel_ConvDeconvPointMlpAndOutputLayers()
    {
        var m = new MiniModel(1300);
        var packed = new PackedModel(m.Weights());
        const string fe = "feature_extractor";

        Same("conv1", packed["conv1"], Pack.Conv(m[fe + ".conv1.weight"], 5, 3, 7, m.BnOf(fe + ".bn1")));
        Same("layer1.0.conv2 (identity shortcut)", packed["layer1.0.conv2"],
            Pack.Conv(m[fe + ".layer1.0.conv2.weight"], 5, 5, 3, m.BnOf(fe + ".layer1.0.bn2")));
        Same("layer3.0.conv2 (projection shortcut)", packed["layer3.0.conv2"],
            Pack.Conv(m[fe + ".layer3.0.conv2.weight"], 7, 7, 3, m.BnOf(fe + ".layer3.0.bn2"),
                shortcutWeight: m[fe + ".layer3.0.downsample.0.weight"], shortcutIn: 6, shortcutBn: m.BnOf(fe + ".layer3.0.downsample.1")));
        Same("deconv0", packed["deconv0"], Pack.Deconv(m["deconv_layers.0.weight"], 9, 6, m.BnOf("deconv_layers.1")));
        Same("heatmap.conv3x3 (conv bias + BN)", packed["heatmap.conv3x3"],
            Pack.Conv(m["predict_68_lmk.0.weight"], 6, 6, 3, m.BnOf("predict_68_lmk.1"), m["predict_68_lmk.0.bias"]));
        Same("heatmap.conv1x1", packed["heatmap.conv1x1"], Pack.Conv(m["predict_68_lmk.3.weight"], 12, 6, 1, null, m["predict_68_lmk.3.bias"]));
        Same("mlp1.1", packed["mlp1.1"], Pack.Transposed(m["laf_extractor.1.conv1.weight"], m["laf_extractor.1.conv1.bias"], 3, 10, PointFeatures.ChannelTile));

        var dec = m["regressor.1.decshape.weight"].Concat(m["regressor.1.decpose.weight"]).ToArray();
        var decBias = m["regressor.1.decshape.bias"].Concat(m["regressor.1.decpose.bias"]).ToArray();
        Same("regressor1.out", packed["regressor1.out"], Pack.Dense(dec, decBias, 3669, Hidden));

        Assert.Equal(12, packed["heatmap.conv1x1"].OutChannels);
        Assert.Equal(3669, packed["regressor1.out"].OutChannels);
    }

    /// <summary>
    /// With Winograd, PackedModel transforms exactly the 3x3 stride-1 convolutions (every conv2, the conv1 of blocks
    /// without downsampling, the heatmap 3x3) like <see cref="Pack.Winograd"/>, and leaves the others as they were.
    /// </summary>
    [Fact]
    public void PackWinograd_MatchesPackedModel_OnlyFor3x3Stride1()
    {
        var m = new MiniModel(1303);
        var direct = new PackedModel(m.Weights());
        var packed = new PackedModel(m.Weights(), winograd: true);
        const string fe = "feature_extractor";

        Same("layer1.0.conv1", packed["layer1.0.conv1"],
            Pack.Winograd(m[fe + ".layer1.0.conv1.weight"], 5, 5, m.BnOf(fe + ".layer1.0.bn1")));
        Same("layer1.0.conv2 (identity shortcut)", packed["layer1.0.conv2"],
            Pack.Winograd(m[fe + ".layer1.0.conv2.weight"], 5, 5, m.BnOf(fe + ".layer1.0.bn2")));
        Same("layer3.0.conv2 (projection shortcut)", packed["layer3.0.conv2"],
            Pack.Winograd(m[fe + ".layer3.0.conv2.weight"], 7, 7, m.BnOf(fe + ".layer3.0.bn2"),
                shortcutWeight: m[fe + ".layer3.0.downsample.0.weight"], shortcutIn: 6, shortcutBn: m.BnOf(fe + ".layer3.0.downsample.1")));
        Same("layer4.1.conv1", packed["layer4.1.conv1"],
            Pack.Winograd(m[fe + ".layer4.1.conv1.weight"], 9, 9, m.BnOf(fe + ".layer4.1.bn1")));
        Same("heatmap.conv3x3 (conv bias + BN)", packed["heatmap.conv3x3"],
            Pack.Winograd(m["predict_68_lmk.0.weight"], 6, 6, m.BnOf("predict_68_lmk.1"), m["predict_68_lmk.0.bias"]));

        var winograd = new List<string>();
        foreach (var (name, layer) in packed.Layers)
        {
            if (layer.Winograd != WinogradForm.None) { Assert.Equal(WinogradForm.F2, layer.Winograd); winograd.Add(name); continue; }
            Same($"{name} (not Winograd)", layer, direct[name]);
        }
        string[] expected = ["heatmap.conv3x3", "layer1.0.conv1", "layer1.0.conv2", "layer1.1.conv1", "layer1.1.conv2",
            "layer2.0.conv2", "layer2.1.conv1", "layer2.1.conv2", "layer3.0.conv2", "layer3.1.conv1", "layer3.1.conv2",
            "layer4.0.conv2", "layer4.1.conv1", "layer4.1.conv2"];
        Assert.Equal(expected, winograd.Order(StringComparer.Ordinal));
        Assert.DoesNotContain(direct.Layers.Values, l => l.Winograd != WinogradForm.None);
    }

    /// <summary>
    /// With a form rule, PackedModel asks it once per 3x3 stride-1 convolution with that layer's shape (batch 1; maps
    /// InputSize / 4, / 8, / 16, / 32 for layers 1-4, the heatmap's size for the heatmap 3x3; the projection shortcut
    /// of layers 2-4's first conv2) and packs each as told: the F4 layers like <see cref="Pack.WinogradF4"/>, the F2
    /// ones like <see cref="Pack.Winograd"/>, the rest as without Winograd.
    /// </summary>
    [Fact]
    public void PackWinogradF4_MatchesPackedModel_WhereTheRuleSaysF4()
    {
        var m = new MiniModel(1307);
        var direct = new PackedModel(m.Weights());
        var asked = new Dictionary<(int Cin, int Cout, int Map, int Shortcut), int>();
        // F4 for maps of 12 or more a side: layers 1-3 and the heatmap 3x3 (24 a side, as layer 2), F2 for layer 4.
        var packed = new PackedModel(m.Weights(), winograd: true, form: p =>
        {
            Assert.Equal(1, p.Batch);
            Assert.True(p.Kernel == 3 && p.Stride == 1 && p.Pad == 1 && p.InHeight == p.OutHeight && p.InWidth == p.OutWidth && p.OutHeight == p.OutWidth);
            var key = (p.InChannels, p.OutChannels, p.OutHeight, p.ShortcutMode);
            asked[key] = asked.GetValueOrDefault(key) + 1;
            return p.OutHeight >= 12 ? WinogradForm.F4 : WinogradForm.F2;
        });
        const string fe = "feature_extractor";
        Assert.Equal(24, m.Weights().Variant.HeatmapSize);
        Assert.Equal(new Dictionary<(int, int, int, int), int>
        {
            [(5, 5, 48, Convolution.ShortcutNone)] = 4,                                       // layer1: 2 blocks x 2
            [(6, 6, 24, Convolution.ShortcutProjection)] = 1,
            [(6, 6, 24, Convolution.ShortcutNone)] = 3,                                       // layer2.1's two, the heatmap 3x3
            [(7, 7, 12, Convolution.ShortcutProjection)] = 1, [(7, 7, 12, Convolution.ShortcutNone)] = 2,
            [(9, 9, 6, Convolution.ShortcutProjection)] = 1, [(9, 9, 6, Convolution.ShortcutNone)] = 2,
        }, asked);

        Same("layer1.0.conv1 (F4)", packed["layer1.0.conv1"], Pack.WinogradF4(m[fe + ".layer1.0.conv1.weight"], 5, 5, m.BnOf(fe + ".layer1.0.bn1")));
        Same("layer1.1.conv2 (F4)", packed["layer1.1.conv2"], Pack.WinogradF4(m[fe + ".layer1.1.conv2.weight"], 5, 5, m.BnOf(fe + ".layer1.1.bn2")));
        Same("layer3.1.conv1 (F4)", packed["layer3.1.conv1"], Pack.WinogradF4(m[fe + ".layer3.1.conv1.weight"], 7, 7, m.BnOf(fe + ".layer3.1.bn1")));
        Same("layer3.0.conv2 (F4, projection shortcut)", packed["layer3.0.conv2"],
            new Packed(Pack.WinogradF4(m[fe + ".layer3.0.conv2.weight"], 7, 7, m.BnOf(fe + ".layer3.0.bn2")).Weight,
                direct["layer3.0.conv2"].Bias, direct["layer3.0.conv2"].ShortcutWeight));
        Same("heatmap.conv3x3 (F4, conv bias + BN)", packed["heatmap.conv3x3"],
            Pack.WinogradF4(m["predict_68_lmk.0.weight"], 6, 6, m.BnOf("predict_68_lmk.1"), m["predict_68_lmk.0.bias"]));
        Same("layer4.1.conv1 (F2)", packed["layer4.1.conv1"], Pack.Winograd(m[fe + ".layer4.1.conv1.weight"], 9, 9, m.BnOf(fe + ".layer4.1.bn1")));
        Assert.Equal(WinogradForm.F4, packed["layer1.0.conv1"].Winograd);
        Assert.Equal(WinogradForm.F4, packed["heatmap.conv3x3"].Winograd);
        Assert.Equal(WinogradForm.F2, packed["layer4.1.conv1"].Winograd);
        Assert.Equal(WinogradForm.F4, packed["layer2.1.conv1"].Winograd);
        Assert.Equal(WinogradForm.None, packed["layer2.0.conv1"].Winograd);
        Same("layer2.0.conv1 (stride 2, direct)", packed["layer2.0.conv1"], direct["layer2.0.conv1"]);
    }

    /// <summary>PackedModel's regressor hidden layer through Dense equals fc2(fc1(x)) with no activation between.</summary>
    [Fact]
    public void PackedRegressorHidden_ThroughDense_Cpu_EqualsFc2OfFc1()
    {
        var m = new MiniModel(1301);
        var layer = new PackedModel(m.Weights())["regressor0.hidden"];
        const int batch = 5, ins = 11;
        var x = new TestRandom(1302).Gaussian(batch * ins);

        var h = RefLinear.Linear(x, batch, ins, ins, m["regressor.0.fc1.weight"], m["regressor.0.fc1.bias"], Hidden);
        var w2 = m["regressor.0.fc2.weight"];
        var b2 = m["regressor.0.fc2.bias"];
        var expected = new RefTensor(batch * Hidden);
        for (int b = 0; b < batch; b++)
            for (int o = 0; o < Hidden; o++)
            {
                double sum = b2[o], scale = Math.Abs(b2[o]);
                for (int j = 0; j < Hidden; j++)
                {
                    sum += w2[o * Hidden + j] * h.Value[b * Hidden + j];
                    scale += Math.Abs(w2[o * Hidden + j]) * h.Scale[b * Hidden + j];
                }
                expected.Set(b * Hidden + o, sum, scale);
            }

        using var d = devices.Cpu.Begin();
        var p = new LinearParams { Batch = batch, In = ins, Out = Hidden, InStride = ins, OutStride = Hidden };
        var y = d.Poisoned(batch * Hidden);
        d.Kernels.Dense(d.Stream, d.Config(p.ThreadCount), d.Upload(x).View, d.Upload(layer.Weight).View, d.Upload(layer.Bias).View, y.View, p);
        Expect.Close("Dense with PackedModel's regressor0.hidden vs fc2(fc1(x))", d.Download(y), expected, 1e-5);
    }

    private static void Same(string what, PackedLayer actual, PackedLayer expected) =>
        Same(what, actual, new Packed(expected.Weight, expected.Bias, expected.ShortcutWeight));

    private static void Same(string what, PackedLayer actual, Packed expected)
    {
        Assert.True(expected.Weight.AsSpan().SequenceEqual(actual.Weight), $"{what}: packed weights differ from PackedModel's");
        Assert.True(expected.Bias.AsSpan().SequenceEqual(actual.Bias), $"{what}: packed bias differs from PackedModel's");
        Assert.Equal(expected.ShortcutWeight is null, actual.ShortcutWeight is null);
        if (expected.ShortcutWeight is not null)
            Assert.True(expected.ShortcutWeight.AsSpan().SequenceEqual(actual.ShortcutWeight), $"{what}: packed shortcut weights differ from PackedModel's");
    }
}
