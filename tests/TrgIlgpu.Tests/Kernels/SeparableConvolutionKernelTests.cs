using ILGPU;
using TrgIlgpu.Engine;
using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// SeparableConvolution.DepthwiseConv3x3 and PointwiseConv (packed by FacePacking from TF layouts) against TF's
/// depthwiseConv2d / conv2d 1x1 + batchNorm / bias + activation in float64, alone, as the Tiny Face Detector's
/// separable conv, and as FaceLandmark68Net's dense block run by the running-sum recipe.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class SeparableConvolutionKernelTests(KernelDevices devices)
{
    private const double Rtol = 1e-5;

    /// <summary>Input [B, C, H, W], stride, BatchNorm folded or none, input ReLU on read, activation.</summary>
    public sealed record DwCase(int Batch, int C, int H, int W, int Stride, bool Bn, ReadActivation InputAct, Activation Act)
    {
        public override string ToString() => $"dw [{Batch},{C},{H},{W}]/{Stride}{(Bn ? " bn" : "")} in:{InputAct} {Act}";
    }

    public static TheoryData<int> DwCpuCases => new(Enumerable.Range(0, DwCpu.Length));

    private static readonly DwCase[] DwCpu =
    [
        new(2, 3, 7, 5, 1, true, ReadActivation.None, Activation.Relu6),     // odd map, stride 1, SSD layer
        new(3, 2, 8, 6, 2, true, ReadActivation.None, Activation.Relu6),     // even map, stride 2: pad 0 before, 1 after
        new(2, 5, 9, 11, 2, false, ReadActivation.None, Activation.None),    // odd map, stride 2: pad 1 before and after
        new(2, 4, 6, 9, 1, false, ReadActivation.Relu, Activation.None),     // dense-block step: ReLU on read, no bias
        new(1, 3, 1, 2, 1, true, ReadActivation.Relu, Activation.Relu),      // one row, shorter than a column group
        new(2, 2, 5, 13, 2, true, ReadActivation.Relu, Activation.LeakyRelu01),
        new(2, 3, 4, 29, 1, true, ReadActivation.Relu, Activation.Relu6),   // interior threads (unmasked loads) between edge ones
        new(3, 2, 3, 38, 2, false, ReadActivation.None, Activation.None),   // stride 2 interior, a partial last group
    ];

    [Theory]
    [MemberData(nameof(DwCpuCases))]
    public void DepthwiseConv3x3_Cpu_MatchesReference(int i) => RunDepthwise(devices.Cpu, DwCpu[i], seed: 1100 + i);

    /// <summary>SSD MobileNet v1's depthwise layers: 512 channels at 32x32 stride 1, stride 2 from 64x64, 1024 at 16x16; the landmark net's stride 2 from 56.</summary>
    [OpenCLFact]
    public void DepthwiseConv3x3_OpenCL_NetworkShapes_MatchReference()
    {
        var cl = devices.OpenCL;
        RunDepthwise(cl, new(2, 512, 32, 32, 1, true, ReadActivation.None, Activation.Relu6), seed: 1150);
        RunDepthwise(cl, new(2, 256, 64, 64, 2, true, ReadActivation.None, Activation.Relu6), seed: 1151);
        RunDepthwise(cl, new(2, 1024, 16, 16, 1, true, ReadActivation.None, Activation.Relu6), seed: 1152);
        RunDepthwise(cl, new(3, 32, 56, 56, 2, false, ReadActivation.Relu, Activation.None), seed: 1153);
        RunDepthwise(cl, new(2, 32, 207, 207, 1, false, ReadActivation.None, Activation.None), seed: 1154); // tiny detector conv1
    }

    private static void RunDepthwise(DeviceUnderTest device, DwCase c, int seed)
    {
        var rng = new TestRandom(seed);
        var xs = new Shape4(c.Batch, c.C, c.H, c.W);
        var x = rng.Gaussian(xs.Length);
        var filter = rng.Gaussian(9L * c.C, 0.4);
        var bn = c.Bn ? TfBn(rng, c.C) : null;

        var input = RefActivation.Apply(RefTf.Exact(x), c.InputAct == ReadActivation.Relu ? Activation.Relu : Activation.None);
        var y = RefTf.DepthwiseConv2d(input, xs, filter, c.Stride, same: true, out var ys);
        if (bn is not null) y = RefTf.BatchNorm(y, ys, bn);
        y = RefActivation.Apply(y, c.Act);

        var packed = FacePacking.Depthwise("test", filter, c.C, bn);
        var p = DepthwiseFor(xs, c.Stride, c.InputAct, c.Act);
        Assert.Equal((ys.H, ys.W), (p.OutHeight, p.OutWidth));
        using var d = device.Begin();
        const int guard = 19;
        var output = d.Poisoned(ys.Length + guard);
        d.Kernels.DepthwiseConv3x3(d.Stream, d.Config(p.ThreadCount), d.Upload(x).View, d.Upload(packed.Weight).View,
            d.Upload(packed.Bias).View, output.View, p);
        var got = d.Download(output);
        string what = $"DepthwiseConv3x3 {c} on {device.Description}";
        Expect.Close(what, got, y, Rtol, name: i => ConvolutionKernelTests.Where(ys, i));
        Expect.Untouched(what + ": past the output", got, i => i < ys.Length);
    }

    /// <summary>[B, Cin, H, W] -> Cout, bias or none, accumulate (same shape as the output) or none, activation.</summary>
    public sealed record PwCase(int Batch, int Cin, int H, int W, int Cout, bool Bias, bool Accumulate, Activation Act)
    {
        public override string ToString() => $"pw [{Batch},{Cin},{H},{W}]->{Cout}{(Bias ? " bias" : "")}{(Accumulate ? " +acc" : "")} {Act}";
    }

    public static TheoryData<int> PwCpuCases => new(Enumerable.Range(0, PwCpu.Length));

    private static readonly PwCase[] PwCpu =
    [
        new(2, 5, 7, 3, 9, true, false, Activation.Relu6),        // Cout 9: one whole and one padded 16-tile... of 16
        new(3, 3, 5, 5, 17, true, true, Activation.Relu),         // Cin 3, Cout 17: a second tile with one channel
        new(2, 16, 3, 2, 12, true, false, Activation.None),       // a box predictor's 12 outputs, 6 positions
        new(2, 7, 1, 1, 33, false, true, Activation.LeakyRelu01), // one position per map
        new(1, 9, 4, 5, 16, true, true, Activation.None),         // whole tile
    ];

    [Theory]
    [MemberData(nameof(PwCpuCases))]
    public void PointwiseConv_Cpu_MatchesReference(int i) => RunPointwise(devices.Cpu, PwCpu[i], inPlace: false, seed: 1200 + i);

    /// <summary>The accumulate tensor may be the output buffer (the dense blocks' running sum, updated in place).</summary>
    [Fact]
    public void PointwiseConv_Cpu_AccumulateInPlace_MatchesReference() =>
        RunPointwise(devices.Cpu, new(2, 6, 5, 3, 19, true, true, Activation.None), inPlace: true, seed: 1210);

    /// <summary>SSD MobileNet v1: pointwise 512 -> 1024 at 16x16, 1024 -> 256 (Prediction conv_0), the box / class predictors of the 32x32 map; tiny conv8.</summary>
    [OpenCLFact]
    public void PointwiseConv_OpenCL_NetworkShapes_MatchReference()
    {
        var cl = devices.OpenCL;
        RunPointwise(cl, new(2, 512, 16, 16, 1024, true, false, Activation.Relu6), inPlace: false, seed: 1250);
        RunPointwise(cl, new(2, 1024, 16, 16, 256, true, false, Activation.Relu6), inPlace: false, seed: 1251);
        RunPointwise(cl, new(2, 512, 32, 32, 12, true, false, Activation.None), inPlace: false, seed: 1252);
        RunPointwise(cl, new(2, 512, 32, 32, 9, true, false, Activation.None), inPlace: false, seed: 1253);
        RunPointwise(cl, new(3, 512, 13, 13, 25, true, false, Activation.None), inPlace: false, seed: 1254);
        RunPointwise(cl, new(2, 64, 28, 28, 64, true, true, Activation.None), inPlace: true, seed: 1255);
    }

    private static void RunPointwise(DeviceUnderTest device, PwCase c, bool inPlace, int seed)
    {
        var rng = new TestRandom(seed);
        var xs = new Shape4(c.Batch, c.Cin, c.H, c.W);
        var x = rng.Gaussian(xs.Length);
        var filter = rng.Gaussian((long)c.Cin * c.Cout, Math.Sqrt(2.0 / c.Cin));
        var bias = c.Bias ? rng.Gaussian(c.Cout, 0.5) : null;
        var ys = new Shape4(c.Batch, c.Cout, c.H, c.W);
        var acc = c.Accumulate ? rng.Gaussian(ys.Length) : null;

        var y = RefTf.Conv2d(RefTf.Exact(x), xs, filter, 1, c.Cout, 1, same: true, bias, out var rs);
        Assert.Equal(ys, rs);
        if (acc is not null) y += RefTf.Exact(acc);
        y = RefActivation.Apply(y, c.Act);

        var packed = FacePacking.Pointwise("test", filter, c.Cin, c.Cout, bias);
        var p = new PointwiseParams
        {
            Batch = c.Batch, InChannels = c.Cin, OutChannels = c.Cout, Positions = c.H * c.W,
            Accumulate = acc is null ? PointwiseAccumulate.None : PointwiseAccumulate.Add, Activation = c.Act,
        };
        using var d = device.Begin();
        const int guard = 23;
        var output = inPlace ? d.Upload(Guarded(acc!, guard)) : d.Poisoned(ys.Length + guard);
        ArrayView<float> accumulate = acc is null ? d.Unused : inPlace ? output.View : d.Upload(acc).View;
        d.Kernels.PointwiseConv(d.Stream, d.Config(p.ThreadCount), d.Upload(x).View, d.Upload(packed.Weight).View,
            d.Upload(packed.Bias).View, accumulate, output.View, p);
        var got = d.Download(output);
        string what = $"PointwiseConv {c}{(inPlace ? " in place" : "")} on {device.Description}";
        Expect.Close(what, got, y, Rtol, name: i => ConvolutionKernelTests.Where(ys, i));
        Expect.Untouched(what + ": past the output", got, i => i < ys.Length);
    }

    /// <summary>Tiny Face Detector separable conv: pad 1, depthwise 'valid', pointwise + bias, face-api leaky (0.1).</summary>
    [Fact]
    public void TinySeparableConv_Cpu_MatchesReference() => RunTinySeparable(devices.Cpu, 2, 5, 9, 7, 11, seed: 1300);

    [OpenCLFact]
    public void TinySeparableConv_OpenCL_NetworkShape_MatchesReference() => RunTinySeparable(devices.OpenCL, 2, 128, 26, 26, 256, seed: 1301);

    private static void RunTinySeparable(DeviceUnderTest device, int batch, int cin, int h, int w, int cout, int seed)
    {
        var rng = new TestRandom(seed);
        var xs = new Shape4(batch, cin, h, w);
        var x = rng.Gaussian(xs.Length);
        var dwFilter = rng.Gaussian(9L * cin, 0.4);
        var pwFilter = rng.Gaussian((long)cin * cout, Math.Sqrt(2.0 / cin));
        var bias = rng.Gaussian(cout, 0.5);

        // tf.pad 1 then 'valid' 3x3: the reference pads explicitly.
        var padded = new Shape4(batch, cin, h + 2, w + 2);
        var px = new float[padded.Length];
        for (int nc = 0; nc < batch * cin; nc++)
            for (int yy = 0; yy < h; yy++)
                for (int xx = 0; xx < w; xx++)
                    px[(nc * padded.H + yy + 1) * padded.W + xx + 1] = x[(nc * h + yy) * w + xx];
        var t = RefTf.DepthwiseConv2d(RefTf.Exact(px), padded, dwFilter, 1, same: false, out var ts);
        var y = RefActivation.Apply(RefTf.Conv2d(t, ts, pwFilter, 1, cout, 1, same: false, bias, out var ys), Activation.LeakyRelu01);

        var dw = FacePacking.Depthwise("test.dw", dwFilter, cin);
        var pw = FacePacking.Pointwise("test.pw", pwFilter, cin, cout, bias);
        var dp = DepthwiseFor(xs, 1, ReadActivation.None, Activation.None);
        var pp = new PointwiseParams { Batch = batch, InChannels = cin, OutChannels = cout, Positions = h * w, Activation = Activation.LeakyRelu01 };
        using var d = device.Begin();
        var mid = d.Poisoned(ts.Length);
        var output = d.Poisoned(ys.Length + 7);
        d.Kernels.DepthwiseConv3x3(d.Stream, d.Config(dp.ThreadCount), d.Upload(x).View, d.Upload(dw.Weight).View, d.Upload(dw.Bias).View, mid.View, dp);
        d.Kernels.PointwiseConv(d.Stream, d.Config(pp.ThreadCount), mid.View, d.Upload(pw.Weight).View, d.Upload(pw.Bias).View, d.Unused, output.View, pp);
        var got = d.Download(output);
        string what = $"tiny separable conv [{batch},{cin},{h},{w}]->{cout} on {device.Description}";
        Expect.Close(what, got, y, Rtol, name: i => ConvolutionKernelTests.Where(ys, i));
        Expect.Untouched(what + ": past the output", got, i => i < ys.Length);
    }

    /// <summary>denseBlock4 (not the first): the recipe of SeparableConvolution's summary against TF's graph, ReLU'd by the reader (here: relu of S4).</summary>
    [Fact]
    public void DenseBlock_Cpu_RunningSumRecipe_MatchesReference() => RunDenseBlock(devices.Cpu, 2, 5, 9, 7, 8, seed: 1400);

    /// <summary>dense1 of FaceLandmark68Net: 32 -> 64 channels, 56x56 -> 28x28.</summary>
    [OpenCLFact]
    public void DenseBlock_OpenCL_LandmarkDense1_MatchesReference() => RunDenseBlock(devices.OpenCL, 2, 32, 56, 56, 64, seed: 1401);

    private static void RunDenseBlock(DeviceUnderTest device, int batch, int cin, int h, int w, int cout, int seed)
    {
        var rng = new TestRandom(seed);
        var xs = new Shape4(batch, cin, h, w);
        // The previous block's pre-activation sum S4: its ReLU is applied by this block's first depthwise read.
        var x = rng.Gaussian(xs.Length);
        var dwF = new float[4][];
        var pwF = new float[4][];
        var bias = new float[4][];
        for (int k = 0; k < 4; k++)
        {
            int c = k == 0 ? cin : cout;
            dwF[k] = rng.Gaussian(9L * c, 0.3);
            pwF[k] = rng.Gaussian((long)c * cout, Math.Sqrt(1.0 / c));
            bias[k] = rng.Gaussian(cout, 0.2);
        }

        // TF's graph (denseBlock4, isFirstLayer = false), on relu(x).
        RefTensor Sep(RefTensor v, Shape4 vs, int k, int stride, out Shape4 os)
        {
            var t = RefTf.DepthwiseConv2d(v, vs, dwF[k], stride, same: true, out var ts);
            return RefTf.Conv2d(t, ts, pwF[k], 1, cout, 1, same: true, bias[k], out os);
        }
        var out1 = RefActivation.Apply(Sep(RefActivation.Apply(RefTf.Exact(x), Activation.Relu), xs, 0, 2, out var ys), Activation.Relu);
        var out2 = Sep(out1, ys, 1, 1, out _);
        var out3 = Sep(RefActivation.Apply(out1 + out2, Activation.Relu), ys, 2, 1, out _);
        var out4 = Sep(RefActivation.Apply(out1 + (out2 + out3), Activation.Relu), ys, 3, 1, out _);
        var block = RefActivation.Apply(out1 + (out2 + (out3 + out4)), Activation.Relu);

        using var d = device.Begin();
        var s = d.Poisoned(ys.Length);
        var tmp = d.Poisoned(ys.Length);
        var s1tmp = d.Poisoned((long)batch * cin * ys.H * ys.W);
        ArrayView<float> input = d.Upload(x).View;
        for (int k = 0; k < 4; k++)
        {
            int c = k == 0 ? cin : cout;
            var dw = FacePacking.Depthwise($"dense.conv{k}.dw", dwF[k], c);
            var pw = FacePacking.Pointwise($"dense.conv{k}.pw", pwF[k], c, cout, bias[k]);
            var dp = DepthwiseFor(k == 0 ? xs : ys, k == 0 ? 2 : 1, ReadActivation.Relu, Activation.None);
            var pp = new PointwiseParams
            {
                Batch = batch, InChannels = c, OutChannels = cout, Positions = ys.H * ys.W,
                Accumulate = k == 0 ? PointwiseAccumulate.None : PointwiseAccumulate.Add,
                Activation = k == 0 ? Activation.Relu : Activation.None,
            };
            var t = k == 0 ? s1tmp : tmp;
            d.Kernels.DepthwiseConv3x3(d.Stream, d.Config(dp.ThreadCount), k == 0 ? input : s.View,
                d.Upload(dw.Weight).View, d.Upload(dw.Bias).View, t.View, dp);
            d.Kernels.PointwiseConv(d.Stream, d.Config(pp.ThreadCount), t.View, d.Upload(pw.Weight).View,
                d.Upload(pw.Bias).View, k == 0 ? d.Unused : s.View, s.View, pp);
        }
        var got = d.Download(s).Select(v => Math.Max(v, 0f)).ToArray(); // the reader's ReLU
        Expect.Close($"dense block [{batch},{cin},{h},{w}]->{cout} on {device.Description}", got, block, Rtol,
            name: i => ConvolutionKernelTests.Where(ys, i));
    }

    /// <summary>A depthwise launch with TF 'same' output size and padding.</summary>
    internal static DepthwiseParams DepthwiseFor(Shape4 xs, int stride, ReadActivation inputAct, Activation act) => new()
    {
        Batch = xs.N, Channels = xs.C, InHeight = xs.H, InWidth = xs.W, Stride = stride,
        OutHeight = TfPadding.Output(xs.H, 3, stride, TfPaddingMode.Same), OutWidth = TfPadding.Output(xs.W, 3, stride, TfPaddingMode.Same),
        PadTop = TfPadding.Before(xs.H, 3, stride, TfPaddingMode.Same), PadLeft = TfPadding.Before(xs.W, 3, stride, TfPaddingMode.Same),
        InputActivation = inputAct, Activation = act,
    };

    internal static TfBatchNorm TfBn(TestRandom rng, int channels) => new(
        rng.Gaussian(channels, 0.3), rng.Uniform(channels, 0.3, 2.0), rng.Gaussian(channels, 0.2), rng.Uniform(channels, 0.5, 1.5));

    private static float[] Guarded(float[] values, int guard) => values.Concat(Poison.Array(guard)).ToArray();
}
