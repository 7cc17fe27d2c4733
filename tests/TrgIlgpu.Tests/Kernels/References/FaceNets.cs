using TrgIlgpu.Engine;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Tests.Kernels.References;

/// <summary>
/// The TF ops of face-api's networks in float64, written from TF's definitions: NCHW activations, TF's weight layouts
/// (conv HWIO <c>[k, k, cin, cout]</c>, depthwise <c>[3, 3, c, 1]</c>, dense <c>[in, out]</c>), TF's 'same' / 'valid'
/// padding computed here from its formula. Inputs are <see cref="RefTensor"/>s so chains keep a sound error scale: a
/// term w x contributes |w| scale(x) (scale(x) &gt;= |x| bounds both the value and its float32 error).
/// </summary>
public static class RefTf
{
    /// <summary>A float32 input as a reference tensor: exact value, scale |x|.</summary>
    public static RefTensor Exact(float[] x)
    {
        var t = new RefTensor(x.Length);
        for (int i = 0; i < x.Length; i++) t.Set(i, x[i], Math.Abs(x[i]));
        return t;
    }

    /// <summary>TF: 'same' gives ceil(in / s) outputs and pads max((out - 1) s + k - in, 0), the smaller half before.</summary>
    public static (int Out, int Before) Padding(int size, int kernel, int stride, bool same)
    {
        if (!same) return ((size - kernel) / stride + 1, 0);
        int o = (size + stride - 1) / stride;
        return (o, Math.Max((o - 1) * stride + kernel - size, 0) / 2);
    }

    /// <summary>tf.conv2d(x, filters HWIO, stride, padding) (+ bias): out = sum over in-bounds taps of w[ky, kx, ci, co] x.</summary>
    public static RefTensor Conv2d(RefTensor x, Shape4 xs, float[] hwio, int k, int cout, int stride, bool same, float[]? bias, out Shape4 ys)
    {
        var (ho, py) = Padding(xs.H, k, stride, same);
        var (wo, px) = Padding(xs.W, k, stride, same);
        var os = ys = new Shape4(xs.N, cout, ho, wo);
        var y = new RefTensor(ys.Length);
        Parallel.For(0, xs.N * cout, nc =>
        {
            int n = nc / cout, co = nc % cout;
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++)
                {
                    double v = bias is null ? 0 : bias[co], s = bias is null ? 0 : Math.Abs(bias[co]), sl = 0;
                    for (int ky = 0; ky < k; ky++)
                    {
                        int iy = oy * stride - py + ky;
                        if (iy < 0 || iy >= xs.H) continue;
                        for (int kx = 0; kx < k; kx++)
                        {
                            int ix = ox * stride - px + kx;
                            if (ix < 0 || ix >= xs.W) continue;
                            for (int ci = 0; ci < xs.C; ci++)
                            {
                                double w = hwio[((ky * k + kx) * xs.C + ci) * cout + co];
                                int i = xs.Index(n, ci, iy, ix);
                                v += w * x.Value[i];
                                s += Math.Abs(w) * x.Scale[i];
                                sl += Math.Abs(w) * x.Slack[i];
                            }
                        }
                    }
                    y.Set(os.Index(n, co, oy, ox), v, s, sl);
                }
        });
        return y;
    }

    /// <summary>tf.depthwiseConv2d(x, filter [3, 3, c, 1], stride, padding): each channel with its own 3x3 filter.</summary>
    public static RefTensor DepthwiseConv2d(RefTensor x, Shape4 xs, float[] hwc1, int stride, bool same, out Shape4 ys)
    {
        var (ho, py) = Padding(xs.H, 3, stride, same);
        var (wo, px) = Padding(xs.W, 3, stride, same);
        var os = ys = new Shape4(xs.N, xs.C, ho, wo);
        var y = new RefTensor(ys.Length);
        Parallel.For(0, xs.N * xs.C, nc =>
        {
            int n = nc / xs.C, c = nc % xs.C;
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++)
                {
                    double v = 0, s = 0, sl = 0;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++)
                        {
                            int iy = oy * stride - py + ky, ix = ox * stride - px + kx;
                            if (iy < 0 || iy >= xs.H || ix < 0 || ix >= xs.W) continue;
                            double w = hwc1[(ky * 3 + kx) * xs.C + c];
                            int i = xs.Index(n, c, iy, ix);
                            v += w * x.Value[i];
                            s += Math.Abs(w) * x.Scale[i];
                            sl += Math.Abs(w) * x.Slack[i];
                        }
                    y.Set(os.Index(n, c, oy, ox), v, s, sl);
                }
        });
        return y;
    }

    /// <summary>tf.batchNorm: (x - mean) / sqrt(var + eps) * scale + offset, per channel (axis 1 here).</summary>
    public static RefTensor BatchNorm(RefTensor x, Shape4 xs, TfBatchNorm bn)
    {
        var y = new RefTensor(x.Length);
        int hw = xs.H * xs.W;
        for (int i = 0; i < x.Length; i++)
        {
            int c = i / hw % xs.C;
            double a = bn.Scale[c] / Math.Sqrt(bn.Variance[c] + bn.Epsilon);
            y.Set(i, (x.Value[i] - bn.Mean[c]) * a + bn.Offset[c],
                Math.Abs(a) * (x.Scale[i] + Math.Abs(bn.Mean[c])) + Math.Abs(bn.Offset[c]), Math.Abs(a) * x.Slack[i]);
        }
        return y;
    }

    /// <summary>Per-channel bias (tf.add with a [C] tensor).</summary>
    public static RefTensor AddBias(RefTensor x, Shape4 xs, float[] bias)
    {
        var y = new RefTensor(x.Length);
        int hw = xs.H * xs.W;
        for (int i = 0; i < x.Length; i++)
        {
            double b = bias[i / hw % xs.C];
            y.Set(i, x.Value[i] + b, x.Scale[i] + Math.Abs(b), x.Slack[i]);
        }
        return y;
    }

    /// <summary>tf.maxPool(x, [k, k], [s, s], padding): max over the window's in-bounds taps (TF pads with -inf). Exact.</summary>
    public static RefTensor MaxPool(float[] x, Shape4 xs, int k, int stride, bool same, out Shape4 ys)
    {
        var (ho, py) = Padding(xs.H, k, stride, same);
        var (wo, px) = Padding(xs.W, k, stride, same);
        ys = new Shape4(xs.N, xs.C, ho, wo);
        var y = new RefTensor(ys.Length);
        for (int nc = 0; nc < xs.N * xs.C; nc++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++)
                {
                    double m = double.NegativeInfinity;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                        {
                            int iy = oy * stride - py + ky, ix = ox * stride - px + kx;
                            if (iy >= 0 && iy < xs.H && ix >= 0 && ix < xs.W) m = Math.Max(m, x[(nc * xs.H + iy) * xs.W + ix]);
                        }
                    y.Set((nc * ho + oy) * wo + ox, m, 0);
                }
        return y;
    }

    /// <summary>tf.avgPool(x, [k, k], [s, s], 'valid'): the mean of each window, output NCHW.</summary>
    public static RefTensor AvgPoolValid(RefTensor x, Shape4 xs, int k, int stride, out Shape4 ys)
    {
        int ho = (xs.H - k) / stride + 1, wo = (xs.W - k) / stride + 1;
        ys = new Shape4(xs.N, xs.C, ho, wo);
        var y = new RefTensor(ys.Length);
        for (int nc = 0; nc < xs.N * xs.C; nc++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++)
                {
                    double v = 0, s = 0, sl = 0;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                        {
                            int i = (nc * xs.H + oy * stride + ky) * xs.W + ox * stride + kx;
                            v += x.Value[i]; s += x.Scale[i]; sl += x.Slack[i];
                        }
                    y.Set((nc * ho + oy) * wo + ox, v / (k * k), s / (k * k), sl / (k * k));
                }
        return y;
    }

    /// <summary>face-api fullyConnectedLayer: y = x W + b with W [in, out], x [rows, in].</summary>
    public static RefTensor Dense(RefTensor x, int rows, float[] io, int ins, int outs, float[] bias)
    {
        var y = new RefTensor(rows * outs);
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outs; o++)
            {
                double v = bias[o], s = Math.Abs(bias[o]), sl = 0;
                for (int k = 0; k < ins; k++)
                {
                    double w = io[k * outs + o];
                    v += w * x.Value[r * ins + k]; s += Math.Abs(w) * x.Scale[r * ins + k]; sl += Math.Abs(w) * x.Slack[r * ins + k];
                }
                y.Set(r * outs + o, v, s, sl);
            }
        return y;
    }
}

/// <summary>
/// face-api's NetInput.toBatchTensor for one rectangle in float64: padToSquare (zeros; centred: JS Math.round(diff / 2)
/// after, the rest before; else all after), TF's legacy resizeBilinear (alignCorners = false, halfPixelCenters = false:
/// source = dst * in / out, rows floor and floor + 1 clamped to the last, weights from the fraction) unless the square
/// already has the size, then the network's normalisation. Output [3, size, size].
/// </summary>
public static class RefFaceInput
{
    public static RefTensor ResizeToSquare(RgbBytes img, int x, int y, int w, int h, bool centred, int size, FaceNormalization norm)
    {
        int side = Math.Max(w, h);
        int appendX = centred ? (int)Math.Floor((side - w) * 0.5 + 0.5) : side - w;
        int appendY = centred ? (int)Math.Floor((side - h) * 0.5 + 0.5) : side - h;
        int beforeX = side - w - appendX, beforeY = side - h - appendY;
        double Square(int qx, int qy, int c)
        {
            int sx = qx - beforeX, sy = qy - beforeY;
            if (qx < 0 || qy < 0 || qx >= side || qy >= side || sx < 0 || sy < 0 || sx >= w || sy >= h) return 0;
            return img.Pixels[((y + sy) * img.Width + x + sx) * 3 + c];
        }

        int plane = size * size;
        var r = new RefTensor(3 * plane);
        double ratio = (double)side / size;
        for (int oy = 0; oy < size; oy++)
            for (int ox = 0; ox < size; ox++)
            {
                double syf = side == size ? oy : oy * ratio, sxf = side == size ? ox : ox * ratio;
                int y0 = (int)Math.Floor(syf), x0 = (int)Math.Floor(sxf);
                int y1 = Math.Min(y0 + 1, side - 1), x1 = Math.Min(x0 + 1, side - 1);
                double fy = syf - y0, fx = sxf - x0;
                // float32 holds in/out and dst * (in/out) to a relative 6e-8 each; the value moves by the local slope
                // (the largest neighbouring-pixel difference) times the coordinate's error.
                double dy = 2 * 6e-8 * syf, dx = 2 * 6e-8 * sxf;
                for (int c = 0; c < 3; c++)
                {
                    double top = Square(x0, y0, c) * (1 - fx) + Square(x1, y0, c) * fx;
                    double bottom = Square(x0, y1, c) * (1 - fx) + Square(x1, y1, c) * fx;
                    double v = top * (1 - fy) + bottom * fy;
                    double slope = 0;
                    for (int yy = y0 - 1; yy <= y0 + 2; yy++)
                        for (int xx = x0 - 1; xx <= x0 + 2; xx++)
                            slope = Math.Max(slope, Math.Max(Math.Abs(Square(xx + 1, yy, c) - Square(xx, yy, c)),
                                                             Math.Abs(Square(xx, yy + 1, c) - Square(xx, yy, c))));
                    // The float32 lerps form differences of pixels: their rounding scales with the pixels' magnitude.
                    double mag = Math.Max(Math.Max(Square(x0, y0, c), Square(x1, y0, c)), Math.Max(Square(x0, y1, c), Square(x1, y1, c)));
                    var (value, scale, k) = norm switch
                    {
                        FaceNormalization.SsdMobilenetV1 => (v / 127.5 - 1, 4 * mag / 127.5 + 1, 1 / 127.5),
                        FaceNormalization.TinyFaceDetector => ((v - TinyMean[c]) / 255, (4 * mag + TinyMean[c]) / 255, 1 / 255.0),
                        _ => ((v - LandmarkMean[c]) / 255, (4 * mag + LandmarkMean[c]) / 255, 1 / 255.0),
                    };
                    r.Set(c * plane + oy * size + ox, value, scale, slope * k * (dx + dy));
                }
            }
        return r;
    }

    public static readonly double[] TinyMean = [117.001, 114.697, 97.404];
    public static readonly double[] LandmarkMean = [122.782, 117.001, 104.298];
}
