namespace TrgIlgpu.Tests.Kernels.References;

/// <summary>NCHW tensor shape.</summary>
public readonly record struct Shape4(int N, int C, int H, int W)
{
    public int Length => N * C * H * W;
    public int Index(int n, int c, int y, int x) => ((n * C + c) * H + y) * W + x;
    public override string ToString() => $"[{N},{C},{H},{W}]";
}

/// <summary>
/// torch.nn.functional conv2d / conv_transpose2d / batch_norm / max_pool2d in float64, in PyTorch's own layouts
/// (conv weight [Cout, Cin, K, K], transposed-conv weight [Cin, Cout, K, K]), written from their definitions.
/// </summary>
public static class RefConv
{
    public static int OutSize(int size, int kernel, int stride, int pad) => (size + 2 * pad - kernel) / stride + 1;

    /// <summary>
    /// out[n, co, oy, ox] = bias[co] + sum_{ci, ky, kx} w[co, ci, ky, kx] x[n, ci, oy s - p + ky, ox s - p + kx], zero padding
    /// (taps in the padding are left out of the sum). Loops run tap by tap over whole output rows, for speed only.
    /// </summary>
    public static RefTensor Conv2d(float[] x, Shape4 xs, float[] w, int cout, int kernel, int stride, int pad, float[]? bias, out Shape4 ys)
    {
        int ho = OutSize(xs.H, kernel, stride, pad), wo = OutSize(xs.W, kernel, stride, pad);
        ys = new Shape4(xs.N, cout, ho, wo);
        var y = new RefTensor(ys.Length);
        var outShape = ys;
        Parallel.For(0, xs.N * cout, nc =>
        {
            int n = nc / cout, co = nc % cout;
            var sum = y.Value.AsSpan(outShape.Index(n, co, 0, 0), ho * wo);
            var mag = y.Scale.AsSpan(outShape.Index(n, co, 0, 0), ho * wo);
            sum.Fill(bias is null ? 0 : bias[co]);
            mag.Fill(bias is null ? 0 : Math.Abs(bias[co]));
            for (int ci = 0; ci < xs.C; ci++)
                for (int ky = 0; ky < kernel; ky++)
                    for (int kx = 0; kx < kernel; kx++)
                    {
                        double wv = w[((co * xs.C + ci) * kernel + ky) * kernel + kx];
                        // Output columns whose tap ix = ox s - p + kx lies inside the input.
                        int ox0 = Math.Max(0, CeilDiv(pad - kx, stride)), ox1 = Math.Min(wo - 1, FloorDiv(xs.W - 1 + pad - kx, stride));
                        for (int oy = 0; oy < ho; oy++)
                        {
                            int iy = oy * stride - pad + ky;
                            if (iy < 0 || iy >= xs.H) continue;
                            int row = xs.Index(n, ci, iy, 0) - pad + kx;
                            for (int ox = ox0; ox <= ox1; ox++)
                            {
                                double t = wv * x[row + ox * stride];
                                sum[oy * wo + ox] += t;
                                mag[oy * wo + ox] += Math.Abs(t);
                            }
                        }
                    }
        });
        return y;
    }

    /// <summary>
    /// ConvTranspose2d, scatter form (its definition): every input element x[n, ci, iy, ix] adds
    /// w[ci, co, ky, kx] x to out[n, co, iy s - p + ky, ix s - p + kx]; output size (H - 1) s - 2p + K.
    /// </summary>
    public static RefTensor ConvTranspose2d(float[] x, Shape4 xs, float[] w, int cout, int kernel, int stride, int pad, out Shape4 ys)
    {
        int ho = (xs.H - 1) * stride - 2 * pad + kernel, wo = (xs.W - 1) * stride - 2 * pad + kernel;
        ys = new Shape4(xs.N, cout, ho, wo);
        var outShape = ys;
        var y = new RefTensor(ys.Length);
        Parallel.For(0, xs.N * cout, nc =>
        {
            int n = nc / cout, co = nc % cout;
            var sum = y.Value.AsSpan(outShape.Index(n, co, 0, 0), ho * wo);
            var mag = y.Scale.AsSpan(outShape.Index(n, co, 0, 0), ho * wo);
            for (int ci = 0; ci < xs.C; ci++)
                for (int ky = 0; ky < kernel; ky++)
                    for (int kx = 0; kx < kernel; kx++)
                    {
                        double wv = w[((ci * cout + co) * kernel + ky) * kernel + kx];
                        for (int iy = 0; iy < xs.H; iy++)
                        {
                            int oy = iy * stride - pad + ky;
                            if (oy < 0 || oy >= ho) continue;
                            for (int ix = 0; ix < xs.W; ix++)
                            {
                                int ox = ix * stride - pad + kx;
                                if (ox < 0 || ox >= wo) continue;
                                double t = wv * x[xs.Index(n, ci, iy, ix)];
                                sum[oy * wo + ox] += t;
                                mag[oy * wo + ox] += Math.Abs(t);
                            }
                        }
                    }
        });
        return y;
    }

    private static int CeilDiv(int a, int b) => a <= 0 ? -(-a / b) : (a + b - 1) / b;
    private static int FloorDiv(int a, int b) => a >= 0 ? a / b : -((-a + b - 1) / b);

    /// <summary>Eval-mode BatchNorm2d over channel axis 1. Error scale: |a| sum|terms| + |a mean| + |bias|, a = weight / sqrt(var + eps).</summary>
    public static RefTensor BatchNorm2d(RefTensor x, Shape4 xs, BatchNorm bn)
    {
        var y = new RefTensor(x.Length);
        int hw = xs.H * xs.W;
        for (int i = 0; i < x.Length; i++)
        {
            int c = i / hw % xs.C;
            double a = bn.Weight[c] / Math.Sqrt(bn.Var[c] + BatchNorm.Eps);
            double v = (x.Value[i] - bn.Mean[c]) / Math.Sqrt(bn.Var[c] + BatchNorm.Eps) * bn.Weight[c] + bn.Bias[c];
            y.Set(i, v, Math.Abs(a) * (x.Scale[i] + Math.Abs(bn.Mean[c])) + Math.Abs(bn.Bias[c]), Math.Abs(a) * x.Slack[i]);
        }
        return y;
    }

    /// <summary>max_pool2d(kernel, stride, padding): the padding is -inf, so it never wins. Exact.</summary>
    public static RefTensor MaxPool2d(float[] x, Shape4 xs, int kernel, int stride, int pad, out Shape4 ys)
    {
        int ho = OutSize(xs.H, kernel, stride, pad), wo = OutSize(xs.W, kernel, stride, pad);
        ys = new Shape4(xs.N, xs.C, ho, wo);
        var y = new RefTensor(ys.Length);
        for (int n = 0; n < xs.N; n++)
            for (int c = 0; c < xs.C; c++)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++)
                    {
                        double m = double.NegativeInfinity;
                        for (int ky = 0; ky < kernel; ky++)
                            for (int kx = 0; kx < kernel; kx++)
                            {
                                int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                if (iy >= 0 && iy < xs.H && ix >= 0 && ix < xs.W) m = Math.Max(m, x[xs.Index(n, c, iy, ix)]);
                            }
                        y.Set(ys.Index(n, c, oy, ox), m, 0);
                    }
        return y;
    }
}
