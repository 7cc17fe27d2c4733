using TrgIlgpu.Kernels;

namespace TrgIlgpu.Tests.Kernels.References;

/// <summary>A layer in the layout its kernel reads (the same as <c>TrgIlgpu.Engine.PackedLayer</c>).</summary>
public sealed record Packed(float[] Weight, float[] Bias, float[]? ShortcutWeight = null);

/// <summary>
/// The load-time weight transformation of <c>PackedModel</c>, restated for single layers so the kernel tests can
/// pack weights of any shape: BatchNorm folded in float64 and rounded once, output channels padded to a multiple of
/// <see cref="Tiling.Channels"/> with zeros. PackingTests checks these against PackedModel itself.
/// </summary>
public static class Pack
{
    /// <summary>Per-channel (scale, shift) with BN(x) = scale x + shift; identity without BN.</summary>
    public static (double[] Scale, double[] Shift) Fold(BatchNorm? bn, int channels)
    {
        var scale = new double[channels];
        var shift = new double[channels];
        for (int c = 0; c < channels; c++)
        {
            if (bn is null) { scale[c] = 1; continue; }
            scale[c] = bn.Weight[c] / Math.Sqrt(bn.Var[c] + BatchNorm.Eps);
            shift[c] = bn.Bias[c] - bn.Mean[c] * scale[c];
        }
        return (scale, shift);
    }

    /// <summary>
    /// Conv2d weight [Cout, Cin, K, K] (+ conv bias, + BN, + a projection shortcut's 1x1 weight [Cout, CinS] with its BN)
    /// -> block-major <c>[(((co / 8) K K + ky K + kx) Cin + ci) 8 + co % 8]</c>, bias [CoutPad], shortcut block-major with one tap <c>[((co / 8) CinS + ci) 8 + co % 8]</c>.
    /// </summary>
    public static Packed Conv(float[] w, int cout, int cin, int k, BatchNorm? bn = null, float[]? convBias = null,
        float[]? shortcutWeight = null, int shortcutIn = 0, BatchNorm? shortcutBn = null)
    {
        int pad = Tiling.PadChannels(cout, Convolution.ChannelTile);
        var (scale, shift) = Fold(bn, cout);
        var weight = new float[k * k * cin * pad];
        var bias = new double[cout];
        for (int co = 0; co < cout; co++)
        {
            bias[co] = shift[co] + (convBias is null ? 0 : convBias[co] * scale[co]);
            for (int ci = 0; ci < cin; ci++)
                for (int t = 0; t < k * k; t++)
                    weight[((co / 8 * k * k + t) * cin + ci) * 8 + co % 8] = (float)(w[(co * cin + ci) * k * k + t] * scale[co]);
        }
        float[]? shortcut = null;
        if (shortcutWeight is not null)
        {
            var (sScale, sShift) = Fold(shortcutBn, cout);
            shortcut = new float[shortcutIn * pad];
            for (int co = 0; co < cout; co++)
            {
                for (int ci = 0; ci < shortcutIn; ci++) shortcut[(co / 8 * shortcutIn + ci) * 8 + co % 8] = (float)(shortcutWeight[co * shortcutIn + ci] * sScale[co]);
                bias[co] += sShift[co];
            }
        }
        return new Packed(weight, PadBias(bias, pad), shortcut);
    }

    /// <summary>
    /// Conv2d weight [Cout, Cin, 3, 3] (+ conv bias, BN, projection shortcut) for Winograd F(2x2, 3x3): per (co, ci)
    /// U = G (s g) G^T with s the BN scale, in float64, rounded once, packed
    /// <c>[((((co / 8) 4 + i) 4 + j) Cin + ci) 8 + co % 8]</c>; bias and shortcut weights exactly as <see cref="Conv"/>.
    /// </summary>
    public static Packed Winograd(float[] w, int cout, int cin, BatchNorm? bn = null, float[]? convBias = null,
        float[]? shortcutWeight = null, int shortcutIn = 0, BatchNorm? shortcutBn = null)
    {
        // G from Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (F(2x2, 3x3)).
        double[,] g = { { 1, 0, 0 }, { 0.5, 0.5, 0.5 }, { 0.5, -0.5, 0.5 }, { 0, 0, 1 } };
        int pad = Tiling.PadChannels(cout, Convolution.ChannelTile);
        var (scale, _) = Fold(bn, cout);
        var weight = new float[16 * cin * pad];
        for (int co = 0; co < cout; co++)
            for (int ci = 0; ci < cin; ci++)
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++)
                    {
                        double u = 0;
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++)
                                u += g[i, ky] * (w[((co * cin + ci) * 3 + ky) * 3 + kx] * scale[co]) * g[j, kx];
                        weight[((((co / 8) * 4 + i) * 4 + j) * cin + ci) * 8 + co % 8] = (float)u;
                    }
        var direct = Conv(w, cout, cin, 3, bn, convBias, shortcutWeight, shortcutIn, shortcutBn);
        return new Packed(weight, direct.Bias, direct.ShortcutWeight);
    }

    /// <summary>
    /// The finite interpolation points of the engine's Winograd F(4x4, 3x3) (the sixth is infinity), in the order of
    /// its transform rows.
    /// </summary>
    public static readonly double[] WinogradF4Points = [0, 1, -1, 0.5, -2];

    /// <summary>
    /// G of Toom-Cook F(4, 3) for <see cref="WinogradF4Points"/>, from the definition: row j of a finite point a is
    /// (1, a, a^2) / prod_{l != j} (a - a_l); the infinity row is (0, 0, 1).
    /// </summary>
    public static double[,] WinogradF4G()
    {
        var g = new double[6, 3];
        for (int j = 0; j < 5; j++)
        {
            double a = WinogradF4Points[j], f = 1;
            for (int l = 0; l < 5; l++)
                if (l != j) f *= a - WinogradF4Points[l];
            for (int k = 0; k < 3; k++) g[j, k] = Math.Pow(a, k) / f;
        }
        g[5, 2] = 1;
        return g;
    }

    /// <summary>
    /// Conv2d weight [Cout, Cin, 3, 3] (+ conv bias, BN) for Winograd F(4x4, 3x3): per (co, ci) U = G (s g) G^T
    /// (<see cref="WinogradF4G"/>) in float64, rounded once, packed <c>[((co / 8) 36 + 6 i + j) Cin + ci) 8 + co % 8]</c>;
    /// bias and shortcut weights exactly as <see cref="Conv"/>.
    /// </summary>
    public static Packed WinogradF4(float[] w, int cout, int cin, BatchNorm? bn = null, float[]? convBias = null,
        float[]? shortcutWeight = null, int shortcutIn = 0, BatchNorm? shortcutBn = null)
    {
        var g = WinogradF4G();
        int pad = Tiling.PadChannels(cout, Convolution.ChannelTile);
        var (scale, _) = Fold(bn, cout);
        var weight = new float[36 * cin * pad];
        for (int co = 0; co < cout; co++)
            for (int ci = 0; ci < cin; ci++)
                for (int i = 0; i < 6; i++)
                    for (int j = 0; j < 6; j++)
                    {
                        double u = 0;
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++)
                                u += g[i, ky] * (w[((co * cin + ci) * 3 + ky) * 3 + kx] * scale[co]) * g[j, kx];
                        weight[(((co / 8) * 36 + 6 * i + j) * cin + ci) * 8 + co % 8] = (float)u;
                    }
        var direct = Conv(w, cout, cin, 3, bn, convBias, shortcutWeight, shortcutIn, shortcutBn);
        return new Packed(weight, direct.Bias, direct.ShortcutWeight);
    }

    /// <summary>
    /// ConvTranspose2d weight [Cin, Cout, 4, 4] + BN -> the sub-pixel layout: for each 16-channel block, input channel
    /// by input channel, each output parity class (py, px) in the order (0,0), (0,1), (1,0), (1,1), the class's four
    /// taps (ky, kx) = (1 - py + 2 ty, 1 - px + 2 tx) in the order (ty, tx) = (0,0), (0,1), (1,0), (1,1), 16 channels each.
    /// </summary>
    public static Packed Deconv(float[] w, int cin, int cout, BatchNorm? bn)
    {
        int pad = Tiling.PadChannels(cout, TransposedConvolution.ChannelTile), blocks = pad / 16;
        var (scale, shift) = Fold(bn, cout);
        var weight = new float[16 * cin * pad];
        int at = 0;
        for (int block = 0; block < blocks; block++)
            for (int ci = 0; ci < cin; ci++)
                for (int py = 0; py < 2; py++)
                    for (int px = 0; px < 2; px++)
                        for (int ty = 0; ty < 2; ty++)
                            for (int tx = 0; tx < 2; tx++)
                            {
                                int ky = 1 - py + 2 * ty, kx = 1 - px + 2 * tx;
                                for (int c = 0; c < 16; c++, at++)
                                {
                                    int co = block * 16 + c;
                                    if (co < cout) weight[at] = (float)(w[((ci * cout + co) * 4 + ky) * 4 + kx] * scale[co]);
                                }
                            }
        return new Packed(weight, PadBias(shift, pad));
    }

    /// <summary>Linear / Conv1d(k=1) weight [Out, In] -> transposed <c>[k OutPad + o]</c>.</summary>
    public static Packed Transposed(float[] w, float[] bias, int outs, int ins, int tile)
    {
        int pad = Tiling.PadChannels(outs, tile);
        var weight = new float[ins * pad];
        for (int o = 0; o < outs; o++)
            for (int k = 0; k < ins; k++)
                weight[k * pad + o] = w[o * ins + k];
        return new Packed(weight, PadBias(bias.Select(b => (double)b).ToArray(), pad));
    }

    /// <summary>
    /// Linear weight [Out, In] -> the dense kernels' block-major layout: outputs in blocks of 16, each block's weights
    /// stored input by input, <c>[(block In + k) 16 + o - 16 block]</c>; bias padded to whole blocks.
    /// </summary>
    public static Packed Dense(float[] w, float[] bias, int outs, int ins)
    {
        const int block = 16;
        int blocks = (outs + block - 1) / block;
        var weight = new float[blocks * block * ins];
        for (int bl = 0; bl < blocks; bl++)
            for (int k = 0; k < ins; k++)
                for (int c = 0; c < block && bl * block + c < outs; c++)
                    weight[(bl * ins + k) * block + c] = w[(bl * block + c) * ins + k];
        return new Packed(weight, PadBias(bias.Select(b => (double)b).ToArray(), blocks * block));
    }

    private static float[] PadBias(double[] bias, int pad)
    {
        var b = new float[pad];
        for (int i = 0; i < bias.Length; i++) b[i] = (float)bias[i];
        return b;
    }
}
