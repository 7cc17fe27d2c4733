using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>
/// The ResNet stem: 7x7, stride 2, padding 3 convolution of the 3-channel image, with the same weight packing and
/// bias/activation epilogue as <see cref="Convolution.Conv2D"/> (no shortcut).
/// <para>
/// With 3 input channels the generic kernel's inner loop runs 3 times per tap, so its per-tap offset arithmetic and
/// loop control cost as much as its multiply-adds. Here kernel size, stride and channel count are constants (the
/// row check is hoisted out of the column loop, the loops have constant trip counts), and a thread owns 4 positions
/// x 16 output channels, so each input value loaded feeds 16 multiply-adds instead of 8 (timings against the generic
/// kernels: bench/RESULTS.md, "Kernel variants").
/// </para>
/// </summary>
public static class StemConvolution
{
    public const int Kernel = 7, Stride = 2, Pad = 3, InChannels = 3;

    /// <summary>Output channels per thread: two of <see cref="Convolution.Conv2D"/>'s 8-channel blocks.</summary>
    public const int ChannelTile = 2 * Convolution.ChannelTile;

    public static bool Supports(in ConvParams p) =>
        p.Kernel == Kernel && p.Stride == Stride && p.Pad == Pad && p.InChannels == InChannels
        && p.ShortcutMode == Convolution.ShortcutNone && p.OutChannelsPadded % ChannelTile == 0;

    /// <summary>One thread per (batch, 16-channel block, position thread), positions fastest.</summary>
    public static long ThreadCount(in ConvParams p) => (long)p.Batch * (p.OutChannelsPadded / ChannelTile) * p.PositionThreads;

    /// <summary>Launch with <see cref="ThreadCount"/> threads; weights as for <see cref="Convolution.Conv2D"/>.</summary>
    public static void Stem7x7S2(ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> output, ConvParams p)
    {
        // No early exit (as in Conv2D): spare threads compute a copy and store nothing.
        int q = p.PositionThreads;
        int coutPad = p.OutChannelsPadded;
        int blocks = coutPad / ChannelTile;
        int total = p.Batch * blocks * q;
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        int t = g % q;
        int co = (g / q % blocks) * ChannelTile;
        int b = g / q / blocks;

        int inW = p.InWidth, inH = p.InHeight;
        int hw = inH * inW;
        int outHw = p.OutHeight * p.OutWidth;
        // Positions strided by q (neighbouring threads read neighbouring inputs); past the end clamped for reading.
        int pos0 = t, pos1 = t + q, pos2 = t + 2 * q, pos3 = t + 3 * q;
        int c0 = pos0 < outHw ? pos0 : outHw - 1, c1 = pos1 < outHw ? pos1 : outHw - 1;
        int c2 = pos2 < outHw ? pos2 : outHw - 1, c3 = pos3 < outHw ? pos3 : outHw - 1;
        int iy0 = c0 / p.OutWidth * Stride - Pad, ix0 = c0 % p.OutWidth * Stride - Pad;
        int iy1 = c1 / p.OutWidth * Stride - Pad, ix1 = c1 % p.OutWidth * Stride - Pad;
        int iy2 = c2 / p.OutWidth * Stride - Pad, ix2 = c2 % p.OutWidth * Stride - Pad;
        int iy3 = c3 / p.OutWidth * Stride - Pad, ix3 = c3 % p.OutWidth * Stride - Pad;

        // Channels co..co+7 in a*, co+8..co+15 in d*.
        var a0 = new Acc8(); var a1 = new Acc8(); var a2 = new Acc8(); var a3 = new Acc8();
        var d0 = new Acc8(); var d1 = new Acc8(); var d2 = new Acc8(); var d3 = new Acc8();
        int x = b * InChannels * hw;
        int w = Convolution.WeightIndex(0, 0, co, InChannels, Kernel * Kernel);
        int next = Kernel * Kernel * InChannels * Convolution.ChannelTile; // the next 8-channel block
        for (int ky = 0; ky < Kernel; ky++)
        {
            int r0 = Row(iy0 + ky, inH, inW), r1 = Row(iy1 + ky, inH, inW);
            int r2 = Row(iy2 + ky, inH, inW), r3 = Row(iy3 + ky, inH, inW);
            for (int kx = 0; kx < Kernel; kx++)
            {
                int o0 = Tap(r0, ix0 + kx, inW), o1 = Tap(r1, ix1 + kx, inW);
                int o2 = Tap(r2, ix2 + kx, inW), o3 = Tap(r3, ix3 + kx, inW);
                for (int ci = 0; ci < InChannels; ci++)
                {
                    int xc = x + ci * hw;
                    float v0 = Convolution.Masked(input, xc, o0), v1 = Convolution.Masked(input, xc, o1);
                    float v2 = Convolution.Masked(input, xc, o2), v3 = Convolution.Masked(input, xc, o3);
                    a0.Fma(weight, w, v0); a1.Fma(weight, w, v1); a2.Fma(weight, w, v2); a3.Fma(weight, w, v3);
                    int w8 = w + next;
                    d0.Fma(weight, w8, v0); d1.Fma(weight, w8, v1); d2.Fma(weight, w8, v2); d3.Fma(weight, w8, v3);
                    w += Convolution.ChannelTile;
                }
            }
        }

        if (!active) return;
        Write(output, bias, a0, a1, a2, a3, b, co, pos0, pos1, pos2, pos3, outHw, p);
        Write(output, bias, d0, d1, d2, d3, b, co + Convolution.ChannelTile, pos0, pos1, pos2, pos3, outHw, p);
    }

    /// <summary>Start of input row <paramref name="iy"/>, or -1 in the padding (then every tap of the row is padding).</summary>
    private static int Row(int iy, int h, int w) => iy >= 0 && iy < h ? iy * w : -1;

    /// <summary>Offset of a tap within a channel, or -1 in the padding.</summary>
    private static int Tap(int row, int ix, int w) => row >= 0 && ix >= 0 && ix < w ? row + ix : -1;

    /// <summary>Bias and activation for 8 channels x 4 positions; padded channels and positions past the end skipped.</summary>
    private static void Write(ArrayView<float> output, ArrayView<float> bias, Acc8 a0, Acc8 a1, Acc8 a2, Acc8 a3,
        int b, int co, int pos0, int pos1, int pos2, int pos3, int outHw, ConvParams p)
    {
        for (int c = 0; c < Convolution.ChannelTile; c++)
        {
            if (co + c >= p.OutChannels) break;
            int outBase = (b * p.OutChannels + co + c) * outHw;
            float bc = bias[co + c];
            if (pos0 < outHw) output[outBase + pos0] = Act.Apply(a0.Get(c) + bc, p.Activation);
            if (pos1 < outHw) output[outBase + pos1] = Act.Apply(a1.Get(c) + bc, p.Activation);
            if (pos2 < outHw) output[outBase + pos2] = Act.Apply(a2.Get(c) + bc, p.Activation);
            if (pos3 < outHw) output[outBase + pos3] = Act.Apply(a3.Get(c) + bc, p.Activation);
        }
    }
}
