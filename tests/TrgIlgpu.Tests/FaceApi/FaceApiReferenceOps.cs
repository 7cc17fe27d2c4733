using System.Numerics;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.FaceApi;

/// <summary>One image's feature map in float64, NHWC without the batch axis: Data[(y * W + x) * C + c].</summary>
public sealed class Hwc(int height, int width, int channels)
{
    public int H { get; } = height;
    public int W { get; } = width;
    public int C { get; } = channels;
    public double[] Data { get; } = new double[(long)height * width * channels];

    public ref double this[int y, int x, int c] => ref Data[((long)y * W + x) * C + c];

    /// <summary>As float32 (what a device buffer would hold), same HWC order.</summary>
    public float[] ToFloat() => Array.ConvertAll(Data, v => (float)v);

    /// <summary>As float32 in CHW order (the engine's device layout), to compare with or feed as device output.</summary>
    public float[] ToChwFloat()
    {
        var chw = new float[Data.Length];
        int cells = H * W;
        for (int p = 0; p < cells; p++)
            for (int c = 0; c < C; c++) chw[(long)c * cells + p] = (float)Data[(long)p * C + c];
        return chw;
    }
}

/// <summary>'same' or 'valid' padding as TensorFlow defines it.</summary>
public enum Padding { Same, Valid }

/// <summary>
/// Plain float64 TensorFlow ops in NHWC, written from TF's definitions (conv 'same' pads total
/// max((out - 1) * stride + k - in, 0), the smaller half before), used by the face-api reference nets.
/// </summary>
public static class FaceApiReferenceOps
{
    /// <summary>The leaky ReLU slope face-api uses (tf.scalar(0.1) as float32).</summary>
    public const double LeakySlope = 0.10000000149011612;

    private static (int Out, int PadBefore) Geometry(int size, int k, int stride, Padding padding)
    {
        if (padding == Padding.Valid) return ((size - k) / stride + 1, 0);
        int output = (size + stride - 1) / stride;
        int total = Math.Max((output - 1) * stride + k - size, 0);
        return (output, total / 2);
    }

    private static double[] D(HostTensor t) => Array.ConvertAll(t.F32!, v => (double)v);

    /// <summary>Full convolution, filters HWIO [k, k, in, out], optional bias [out].</summary>
    public static Hwc Conv(Hwc x, HostTensor filters, HostTensor? bias, int stride, Padding padding)
    {
        int k = filters.Shape[0], cin = filters.Shape[2], cout = filters.Shape[3];
        if (cin != x.C) throw new ArgumentException($"conv expects {cin} channels, input has {x.C}");
        var (oh, py) = Geometry(x.H, k, stride, padding);
        var (ow, px) = Geometry(x.W, k, stride, padding);
        var w = D(filters);
        var b = bias is null ? new double[cout] : D(bias);
        var y = new Hwc(oh, ow, cout);
        Parallel.For(0, oh, oy =>
        {
            var acc = new double[cout];
            for (int ox = 0; ox < ow; ox++)
            {
                Array.Copy(b, acc, cout);
                for (int ky = 0; ky < k; ky++)
                {
                    int iy = oy * stride + ky - py;
                    if (iy < 0 || iy >= x.H) continue;
                    for (int kx = 0; kx < k; kx++)
                    {
                        int ix = ox * stride + kx - px;
                        if (ix < 0 || ix >= x.W) continue;
                        long xi = ((long)iy * x.W + ix) * cin;
                        int wi = (ky * k + kx) * cin * cout;
                        for (int ci = 0; ci < cin; ci++)
                            Axpy(x.Data[xi + ci], w.AsSpan(wi + ci * cout, cout), acc);
                    }
                }
                acc.CopyTo(y.Data.AsSpan((int)(((long)oy * ow + ox) * cout), cout));
            }
        });
        return y;
    }

    /// <summary>Depthwise convolution, filters [k, k, C, 1].</summary>
    public static Hwc Depthwise(Hwc x, HostTensor filters, int stride, Padding padding)
    {
        int k = filters.Shape[0], c = filters.Shape[2];
        if (c != x.C || filters.Shape[3] != 1) throw new ArgumentException($"depthwise expects {c} channels x 1, input has {x.C}");
        var (oh, py) = Geometry(x.H, k, stride, padding);
        var (ow, px) = Geometry(x.W, k, stride, padding);
        var w = D(filters);
        var y = new Hwc(oh, ow, c);
        Parallel.For(0, oh, oy =>
        {
            for (int ox = 0; ox < ow; ox++)
            {
                var acc = y.Data.AsSpan((int)(((long)oy * ow + ox) * c), c);
                for (int ky = 0; ky < k; ky++)
                {
                    int iy = oy * stride + ky - py;
                    if (iy < 0 || iy >= x.H) continue;
                    for (int kx = 0; kx < k; kx++)
                    {
                        int ix = ox * stride + kx - px;
                        if (ix < 0 || ix >= x.W) continue;
                        var xs = x.Data.AsSpan((int)(((long)iy * x.W + ix) * c), c);
                        var ws = w.AsSpan((ky * k + kx) * c, c);
                        for (int ch = 0; ch < c; ch++) acc[ch] += xs[ch] * ws[ch];
                    }
                }
            }
        });
        return y;
    }

    /// <summary>Separable convolution (tf.separableConv2d: depthwise then pointwise) plus bias.</summary>
    public static Hwc Separable(Hwc x, HostTensor depthwise, HostTensor pointwise, HostTensor bias, int stride, Padding padding) =>
        Conv(Depthwise(x, depthwise, stride, padding), pointwise, bias, 1, Padding.Valid);

    /// <summary>Zero padding of one pixel on every side (tf.pad [[0,0],[1,1],[1,1],[0,0]]).</summary>
    public static Hwc Pad1(Hwc x)
    {
        var y = new Hwc(x.H + 2, x.W + 2, x.C);
        for (int iy = 0; iy < x.H; iy++)
            x.Data.AsSpan(iy * x.W * x.C, x.W * x.C).CopyTo(y.Data.AsSpan(((iy + 1) * y.W + 1) * x.C));
        return y;
    }

    /// <summary>Batch norm (x - mean) / sqrt(var + eps) * scale + offset, per channel.</summary>
    public static Hwc BatchNorm(Hwc x, HostTensor scale, HostTensor offset, HostTensor mean, HostTensor variance, double eps)
    {
        var s = D(scale); var o = D(offset); var m = D(mean); var v = D(variance);
        for (long i = 0; i < x.Data.Length; i++)
        {
            int c = (int)(i % x.C);
            x.Data[i] = (x.Data[i] - m[c]) / Math.Sqrt(v[c] + eps) * s[c] + o[c];
        }
        return x;
    }

    public static Hwc Relu(Hwc x) => Map(x, v => Math.Max(v, 0));
    public static Hwc Relu6(Hwc x) => Map(x, v => Math.Min(Math.Max(v, 0), 6));
    public static Hwc Leaky(Hwc x) => Map(x, v => v >= 0 ? v : LeakySlope * v);

    /// <summary>Element-wise sum of feature maps of one shape.</summary>
    public static Hwc Add(params Hwc[] xs)
    {
        var y = new Hwc(xs[0].H, xs[0].W, xs[0].C);
        foreach (var x in xs)
            for (long i = 0; i < y.Data.Length; i++) y.Data[i] += x.Data[i];
        return y;
    }

    /// <summary>Max pool with window 2, 'same' padding (padded cells ignored).</summary>
    public static Hwc MaxPool2Same(Hwc x, int stride)
    {
        var (oh, py) = Geometry(x.H, 2, stride, Padding.Same);
        var (ow, px) = Geometry(x.W, 2, stride, Padding.Same);
        var y = new Hwc(oh, ow, x.C);
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int c = 0; c < x.C; c++)
                {
                    double m = double.NegativeInfinity;
                    for (int ky = 0; ky < 2; ky++)
                        for (int kx = 0; kx < 2; kx++)
                        {
                            int iy = oy * stride + ky - py, ix = ox * stride + kx - px;
                            if (iy >= 0 && iy < x.H && ix >= 0 && ix < x.W) m = Math.Max(m, x[iy, ix, c]);
                        }
                    y[oy, ox, c] = m;
                }
        return y;
    }

    /// <summary>Average pool, 'valid'.</summary>
    public static Hwc AvgPoolValid(Hwc x, int k, int stride)
    {
        int oh = (x.H - k) / stride + 1, ow = (x.W - k) / stride + 1;
        var y = new Hwc(oh, ow, x.C);
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int c = 0; c < x.C; c++)
                {
                    double s = 0;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) s += x[oy * stride + ky, ox * stride + kx, c];
                    y[oy, ox, c] = s / (k * k);
                }
        return y;
    }

    /// <summary>Dense layer over the flattened (HWC) input: weights [in, out] + bias [out].</summary>
    public static double[] Dense(Hwc x, HostTensor weights, HostTensor bias)
    {
        int cin = weights.Shape[0], cout = weights.Shape[1];
        if (x.Data.Length != cin) throw new ArgumentException($"dense expects {cin} inputs, got {x.Data.Length}");
        var w = D(weights);
        var y = D(bias);
        for (int i = 0; i < cin; i++) Axpy(x.Data[i], w.AsSpan(i * cout, cout), y);
        return y;
    }

    private static Hwc Map(Hwc x, Func<double, double> f)
    {
        for (long i = 0; i < x.Data.Length; i++) x.Data[i] = f(x.Data[i]);
        return x;
    }

    // acc += a * w, vectorised.
    private static void Axpy(double a, ReadOnlySpan<double> w, Span<double> acc)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && w.Length >= Vector<double>.Count)
        {
            var va = new Vector<double>(a);
            for (; i <= w.Length - Vector<double>.Count; i += Vector<double>.Count)
                (new Vector<double>(acc[i..]) + va * new Vector<double>(w[i..])).CopyTo(acc[i..]);
        }
        for (; i < w.Length; i++) acc[i] += a * w[i];
    }
}
