using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>Shape of a 4x4, stride 2, padding 1 transposed convolution (output exactly twice the input).</summary>
public struct DeconvParams
{
    public int Batch, InChannels, InHeight, InWidth, OutChannels;
    public int Activation;

    public readonly int OutChannelsPadded => Tiling.PadChannels(OutChannels, TransposedConvolution.ChannelTile);
    public readonly int ChannelBlocks => OutChannelsPadded / TransposedConvolution.ChannelTile;
    /// <summary>Columns of a row of the zero-padded input (<see cref="TransposedConvolution.DeconvPad"/>): the width + 2.</summary>
    public readonly int PaddedWidth => InWidth + 2;
    /// <summary>
    /// Floats of one face of the padded input: its channels' (height + 2) x (width + 2) planes, then
    /// <see cref="TransposedConvolution.Run"/> + 1 zeros (the last run of the last plane loads up to 16 floats past it).
    /// </summary>
    public readonly int PaddedFace => InChannels * (InHeight + 2) * PaddedWidth + TransposedConvolution.Run + 1;
    /// <summary>Positions of the "wide" grid q = i (width + 2) + j of one parity class (columns j &gt;= width computed, not stored).</summary>
    public readonly int WidePositions => InHeight * PaddedWidth;
    /// <summary>Runs of <see cref="TransposedConvolution.Run"/> consecutive wide positions a (face, parity class, channel block).</summary>
    public readonly int Runs => Tiling.CeilDiv(WidePositions, TransposedConvolution.Run);
    /// <summary>
    /// One thread per (parity class, 8-channel block, face, run), runs fastest, then faces: the threads that read the
    /// same weights are neighbours at any batch.
    /// </summary>
    public readonly long ThreadCount => (long)Batch * ChannelBlocks * 4 * Runs;
    public readonly KernelConfig Config(int maxGroup) => Tiling.Flat(ThreadCount, maxGroup);
    /// <summary>One <see cref="TransposedConvolution.DeconvPad"/> thread per float of the padded input.</summary>
    public readonly long PadThreadCount => (long)Batch * PaddedFace;
}

/// <summary>
/// ConvTranspose2d(k=4, s=2, p=1) with folded BatchNorm, bias and activation in the epilogue, as four sub-pixel 2x2
/// convolutions. Output row oy = 2 iy - 1 + ky, so each output parity class (py, px) is an ordinary 2x2 convolution
/// with no wasted taps: for t in {0, 1}, input row i + py - t meets kernel row 1 - py + 2t (same for columns).
/// Two launches: <see cref="DeconvPad"/> writes the input with a zero border, <see cref="Deconv4x4S2"/> convolves it.
/// </summary>
public static class TransposedConvolution
{
    /// <summary>Output channels per thread (and the packing's channel padding): one <see cref="Tile16x8"/>.</summary>
    public const int ChannelTile = 8;

    /// <summary>Consecutive wide-grid positions (output positions of one parity class) a thread owns: one 16-wide row.</summary>
    public const int Run = 16;

    /// <summary>
    /// Where weight W[ci, co, ky, kx] (PyTorch's ConvTranspose2d layout) is packed: by parity class (py, px) =
    /// ((ky + 1) % 2, (kx + 1) % 2), 8-channel block, input channel, the class's 2x2 tap t = 2 ty + tx with
    /// ky = 1 - py + 2 ty, kx = 1 - px + 2 tx, then the 8 channels: a thread streams one contiguous run of 32 floats
    /// an input channel.
    /// </summary>
    public static int WeightIndex(int ci, int co, int ky, int kx, int inChannels, int outChannelsPadded)
    {
        int py = (ky + 1) % 2, px = (kx + 1) % 2, tap = (ky - 1 + py) / 2 * 2 + (kx - 1 + px) / 2;
        int blocks = outChannelsPadded / ChannelTile;
        return ((((py * 2 + px) * blocks + co / ChannelTile) * inChannels + ci) * 4 + tap) * ChannelTile + co % ChannelTile;
    }

    /// <summary>
    /// Launch with <c>Config(PadThreadCount)</c>, before <see cref="Deconv4x4S2"/>: padded holds
    /// <see cref="DeconvParams.PaddedFace"/> floats a face, each input channel as a (height + 2) x (width + 2) plane
    /// with a one-pixel zero border, then <see cref="Run"/> + 1 zeros (the last run's loads past the last plane). One
    /// thread a float, no loops.
    /// </summary>
    public static void DeconvPad(ArrayView<float> input, ArrayView<float> padded, DeconvParams p)
    {
        int g = Grid.GlobalIndex.X;
        if (g >= p.PadThreadCount) return;
        int face = p.PaddedFace, wp = p.PaddedWidth, plane = (p.InHeight + 2) * wp;
        int b = g / face, r = g - b * face;
        int c = r / plane, e = r - c * plane;
        int y = e / wp - 1, x = e - (e / wp) * wp - 1;
        bool inside = c < p.InChannels && y >= 0 && y < p.InHeight && x >= 0 && x < p.InWidth;
        float v = input[inside ? ((b * p.InChannels + c) * p.InHeight + y) * p.InWidth + x : 0];
        padded[g] = inside ? v : 0f;
    }

    /// <summary>
    /// Launch with <see cref="DeconvParams.Config"/> on the output of <see cref="DeconvPad"/>. Weights packed by
    /// <see cref="WeightIndex"/> (padded to 8 channels). The register shape of the Winograd product
    /// (<see cref="Tile16x8"/>): a thread owns one parity class x 8 channels x <see cref="Run"/> consecutive positions
    /// q = i (width + 2) + j of the wide grid; input (i + py - ty, j + px - tx) is padded entry q + (1 + py - ty)
    /// (width + 2) + 1 + px - tx, so per (input channel, tap) it makes one contiguous, unmasked 16-float load, 8
    /// broadcast weights (one contiguous run of 32 an input channel) and 8 16-wide fused multiply-adds. Wide columns
    /// j &gt;= width (and positions past the map) are computed from neighbouring values and not stored.
    /// </summary>
    public static void Deconv4x4S2(
        ArrayView<float> padded, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> output, DeconvParams p)
    {
        // Uniform loops, no early exit (see Convolution.Conv2D): spare threads compute a copy and store nothing.
        int runs = p.Runs;
        int total = (int)p.ThreadCount;
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        int q0 = g % runs * Run;
        int b = g / runs % p.Batch;
        int rest = g / runs / p.Batch;
        int blocks = p.ChannelBlocks;
        int co = rest % blocks * ChannelTile;
        int cls = rest / blocks;
        int py = cls >> 1, px = cls & 1;
        int wp = p.PaddedWidth, plane = (p.InHeight + 2) * wp;

        // Taps t = 2 ty + tx: rows 1 + py - ty, columns 1 + px - tx of the padded plane, relative to q.
        int x = b * p.PaddedFace + q0 + py * wp + px;
        var w = weight.SubView((cls * blocks + co / ChannelTile) * p.InChannels * 4 * ChannelTile);
        var tile = new Tile16x8();
        int k = 0;
        for (int ci = 0; ci < p.InChannels; ci++)
        {
            tile.Add(Acc16.Load(padded, x + wp + 1), w, k);
            tile.Add(Acc16.Load(padded, x + wp), w, k + ChannelTile);
            tile.Add(Acc16.Load(padded, x + 1), w, k + 2 * ChannelTile);
            tile.Add(Acc16.Load(padded, x), w, k + 3 * ChannelTile);
            k += 4 * ChannelTile;
            x += plane;
        }

        if (!active) return;
        int width = p.InWidth, outW = 2 * width, outPlane = 4 * p.InHeight * width, wide = p.WidePositions;
        var act = (Activation)p.Activation;
        int channels = p.OutChannels - co < ChannelTile ? p.OutChannels - co : ChannelTile;
        int outBase = (b * p.OutChannels + co) * outPlane + py * outW + px;
        for (int l = 0; l < Run; l++)
        {
            int q = q0 + l, i = q / wp, j = q - q / wp * wp;
            if (q >= wide || j >= width) continue;
            int at = outBase + 2 * i * outW + 2 * j;
            for (int c = 0; c < channels; c++)
                output[at + c * outPlane] = Act.Select(tile.Get(c, l) + bias[co + c], act);
        }
    }
}
