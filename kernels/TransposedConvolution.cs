using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>Shape of a 4x4, stride 2, padding 1 transposed convolution (output exactly twice the input).</summary>
public struct DeconvParams
{
    public int Batch, InChannels, InHeight, InWidth, OutChannels;
    public int Activation;

    public readonly int OutChannelsPadded => Tiling.PadChannels(OutChannels, TransposedConvolution.ChannelTile);
    /// <summary>Threads per output parity class: the class (oy % 2, ox % 2) grid is InHeight x InWidth.</summary>
    public readonly int PositionThreads => Tiling.CeilDiv(InHeight * InWidth, Tiling.Positions);
    public readonly int ChannelBlocks => OutChannelsPadded / TransposedConvolution.ChannelTile;
    /// <summary>One thread per (batch, 16-channel block, parity class, position thread), positions fastest.</summary>
    public readonly long ThreadCount => (long)Batch * ChannelBlocks * 4 * PositionThreads;
    public readonly KernelConfig Config(int maxGroup) => Tiling.Flat(ThreadCount, maxGroup);
}

/// <summary>
/// ConvTranspose2d(k=4, s=2, p=1) with folded BatchNorm, bias and activation in the epilogue.
/// Output row oy = 2 iy - 1 + ky, so each output parity class (py, px) is an ordinary 2x2 convolution:
/// for t in {0, 1}, input row i + py - t meets kernel row 1 - py + 2t (same for columns). A thread owns one class,
/// 4 positions x 16 output channels in two 8-channel accumulator blocks with contiguous weights, which PoCL's
/// vectoriser keeps in AVX registers (as in <see cref="WinogradConvolution"/>).
/// </summary>
public static class TransposedConvolution
{
    /// <summary>Output channels per thread (and the packing's channel padding): two 8-channel accumulator blocks.</summary>
    public const int ChannelTile = 16;

    /// <summary>Channels per accumulator block.</summary>
    private const int Half = Convolution.ChannelTile;

    /// <summary>
    /// Launch with <see cref="DeconvParams.Config"/>. Weights packed <c>[((ky * 4 + kx) * Cin + ci) * CoutPadded + co]</c>,
    /// padded to 16 channels. Each input value loaded feeds 16 multiply-adds (as in <see cref="Convolution.Conv2DWide"/>).
    /// </summary>
    public static void Deconv4x4S2(
        ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> output, DeconvParams p)
    {
        // Uniform loops, no early exit (see Convolution.Conv2D): spare threads compute a copy and store nothing.
        int q = p.PositionThreads;
        int blocks = p.ChannelBlocks;
        int total = (int)p.ThreadCount;
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        int t = g % q;
        int cls = g / q % 4;
        int rest = g / q / 4;
        int coutPad = p.OutChannelsPadded;
        int co = (rest % blocks) * ChannelTile;
        int b = rest / blocks;
        int py = cls >> 1, px = cls & 1;

        int hw = p.InHeight * p.InWidth;
        int pos0 = t, pos1 = t + q, pos2 = t + 2 * q, pos3 = t + 3 * q;
        int i0 = Min(pos0, hw - 1) / p.InWidth, j0 = Min(pos0, hw - 1) % p.InWidth;
        int i1 = Min(pos1, hw - 1) / p.InWidth, j1 = Min(pos1, hw - 1) % p.InWidth;
        int i2 = Min(pos2, hw - 1) / p.InWidth, j2 = Min(pos2, hw - 1) % p.InWidth;
        int i3 = Min(pos3, hw - 1) / p.InWidth, j3 = Min(pos3, hw - 1) % p.InWidth;

        // Channels co..co+7 in a*, co+8..co+15 in d*.
        var a0 = new FmaAcc8(); var a1 = new FmaAcc8(); var a2 = new FmaAcc8(); var a3 = new FmaAcc8();
        var d0 = new FmaAcc8(); var d1 = new FmaAcc8(); var d2 = new FmaAcc8(); var d3 = new FmaAcc8();
        int inBatch = b * p.InChannels * hw;
        for (int ty = 0; ty < 2; ty++)
        {
            int ky = 1 - py + 2 * ty;
            for (int tx = 0; tx < 2; tx++)
            {
                int kx = 1 - px + 2 * tx;
                int off0 = Tap(i0 + py - ty, j0 + px - tx, p), off1 = Tap(i1 + py - ty, j1 + px - tx, p);
                int off2 = Tap(i2 + py - ty, j2 + px - tx, p), off3 = Tap(i3 + py - ty, j3 + px - tx, p);
                int w = (ky * 4 + kx) * p.InChannels * coutPad + co;
                int x = inBatch;
                for (int ci = 0; ci < p.InChannels; ci++)
                {
                    float v0 = FusedLoads.Masked(input, x, off0), v1 = FusedLoads.Masked(input, x, off1);
                    float v2 = FusedLoads.Masked(input, x, off2), v3 = FusedLoads.Masked(input, x, off3);
                    a0.Add(weight, w, v0); a1.Add(weight, w, v1); a2.Add(weight, w, v2); a3.Add(weight, w, v3);
                    int w8 = w + Half;
                    d0.Add(weight, w8, v0); d1.Add(weight, w8, v1); d2.Add(weight, w8, v2); d3.Add(weight, w8, v3);
                    w += coutPad;
                    x += hw;
                }
            }
        }

        if (!active) return;
        StoreTile(output, bias, a0, a1, a2, a3, b, co, py, px, pos0, pos1, pos2, pos3, i0, j0, i1, j1, i2, j2, i3, j3, p);
        StoreTile(output, bias, d0, d1, d2, d3, b, co + Half, py, px, pos0, pos1, pos2, pos3, i0, j0, i1, j1, i2, j2, i3, j3, p);
    }

    /// <summary>Epilogue for one 8-channel block x 4 positions of a parity class; padded channels and positions past the end are skipped.</summary>
    private static void StoreTile(ArrayView<float> output, ArrayView<float> bias, FmaAcc8 a0, FmaAcc8 a1, FmaAcc8 a2, FmaAcc8 a3,
        int b, int co, int py, int px, int pos0, int pos1, int pos2, int pos3,
        int i0, int j0, int i1, int j1, int i2, int j2, int i3, int j3, DeconvParams p)
    {
        int hw = p.InHeight * p.InWidth;
        int outW = 2 * p.InWidth;
        int outHw = 4 * hw;
        for (int c = 0; c < Half; c++)
        {
            if (co + c >= p.OutChannels) break;
            int outBase = (b * p.OutChannels + co + c) * outHw;
            float bc = bias[co + c];
            if (pos0 < hw) output[outBase + (2 * i0 + py) * outW + 2 * j0 + px] = Act.Apply(a0.Get(c) + bc, p.Activation);
            if (pos1 < hw) output[outBase + (2 * i1 + py) * outW + 2 * j1 + px] = Act.Apply(a1.Get(c) + bc, p.Activation);
            if (pos2 < hw) output[outBase + (2 * i2 + py) * outW + 2 * j2 + px] = Act.Apply(a2.Get(c) + bc, p.Activation);
            if (pos3 < hw) output[outBase + (2 * i3 + py) * outW + 2 * j3 + px] = Act.Apply(a3.Get(c) + bc, p.Activation);
        }
    }

    private static int Min(int a, int b) => a < b ? a : b;

    private static int Tap(int iy, int ix, DeconvParams p) =>
        iy >= 0 && iy < p.InHeight && ix >= 0 && ix < p.InWidth ? iy * p.InWidth + ix : -1;
}
