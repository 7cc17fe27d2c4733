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
    /// <summary>Floats of the padded input of the whole batch: Batch x <see cref="PaddedFace"/>.</summary>
    public readonly long PaddedLength => (long)Batch * PaddedFace;
    /// <summary>Floats of one padded channel plane: (height + 2) x (width + 2).</summary>
    public readonly int PaddedPlane => (InHeight + 2) * PaddedWidth;
    /// <summary>
    /// Floats a <see cref="TransposedConvolution.DeconvPad"/> row of threads covers: a plane, or the
    /// <see cref="TransposedConvolution.Run"/> + 1 zeros after a face's last plane (the launch's extra channel row).
    /// </summary>
    public readonly int PadExtent => Math.Max(PaddedPlane, TransposedConvolution.Run + 1);
    /// <summary>
    /// Whether <see cref="TransposedConvolution.DeconvPad"/> can write this shape: <see cref="PadExtent"/> below
    /// <see cref="TransposedConvolution.MaxPadExtent"/> (its float row division is exact there), at most
    /// <see cref="TransposedConvolution.MaxPadGrid"/> channel rows (the channels and the tail: the launch's Y extent) and faces (Z).
    /// </summary>
    public readonly bool PadSupported =>
        PadExtent < TransposedConvolution.MaxPadExtent && InChannels < TransposedConvolution.MaxPadGrid && Batch <= TransposedConvolution.MaxPadGrid;
    /// <summary>
    /// The launch of <see cref="TransposedConvolution.DeconvPad"/>: X over <see cref="PadExtent"/> floats in groups of
    /// <paramref name="group"/>, Y over the input channels, Z over the faces, so that a thread finds its plane without an
    /// integer division (PoCL keeps those scalar in its work-item loop).
    /// </summary>
    public readonly KernelConfig PadConfig(int group) =>
        new(new Index3D(Tiling.CeilDiv(PadExtent, group), InChannels + 1, Batch), new Index3D(group, 1, 1));
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

    /// <summary>Bound on <see cref="DeconvParams.PadExtent"/>: below it <see cref="DeconvPad"/>'s float row division is exact.</summary>
    public const int MaxPadExtent = 1 << 22;

    /// <summary>Most channel rows (input channels + 1), and most faces, of a <see cref="DeconvPad"/> launch: its Y and Z extents (CUDA's grid limit).</summary>
    public const int MaxPadGrid = 65535;

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
    /// Launch with <see cref="DeconvParams.PadConfig"/> (only where <see cref="DeconvParams.PadSupported"/>), before
    /// <see cref="Deconv4x4S2"/>: padded holds <see cref="DeconvParams.PaddedFace"/> floats a face, each input channel
    /// as a (height + 2) x (width + 2) plane with a one-pixel zero border, then <see cref="Run"/> + 1 zeros (the last
    /// run's loads past the last plane). Thread (at, c, b) writes float at of channel c's plane of face b, or for
    /// c = InChannels of the zeros after the face's last plane; one float a thread, no loop and no integer division, so
    /// PoCL vectorises it across work-items.
    /// </summary>
    public static void DeconvPad(ArrayView<float> input, ArrayView<float> padded, DeconvParams p)
    {
        int at = Grid.GlobalIndex.X, c = Grid.GlobalIndex.Y, b = Grid.GlobalIndex.Z;
        int plane = p.PaddedPlane, wp = p.PaddedWidth;
        // Row c = InChannels writes the zeros after the face's last plane.
        if (at >= (c < p.InChannels ? plane : TransposedConvolution.Run + 1)) return;
        // Row y = at / wp as a float division (vectorised, unlike the integer one): at + 0.5 is at least 0.5 from a
        // multiple of wp and exact in float, so the rounded quotient truncates to the right row while at < 2^22
        // (PadSupported). Rows and columns here count the border: input (y - 1, x - 1).
        int y = (int)((at + 0.5f) / wp), x = at - y * wp;
        bool inside = c < p.InChannels && y >= 1 && y <= p.InHeight && x >= 1 && x <= p.InWidth;
        float v = input[inside ? ((b * p.InChannels + c) * p.InHeight + y - 1) * p.InWidth + x - 1 : 0];
        padded[b * p.PaddedFace + c * plane + at] = inside ? v : 0f;
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
        int wp = p.PaddedWidth, plane = p.PaddedPlane;

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
        // Wide position (i, j) is output (2 i + py, 2 j + px): targets found once a thread, shared by the 8 channels.
        int outW = 2 * p.InWidth, outPlane = 2 * p.InHeight * outW;
        var targets = StripTargets.Of(q0, wp, p.InWidth, p.InHeight, 2 * outW, 2);
        int at = (b * p.OutChannels + co) * outPlane + py * outW + px;
        StoreRow(output, bias, tile.A0, targets, at, co, p); StoreRow(output, bias, tile.A1, targets, at + outPlane, co + 1, p);
        StoreRow(output, bias, tile.A2, targets, at + 2 * outPlane, co + 2, p); StoreRow(output, bias, tile.A3, targets, at + 3 * outPlane, co + 3, p);
        StoreRow(output, bias, tile.A4, targets, at + 4 * outPlane, co + 4, p); StoreRow(output, bias, tile.A5, targets, at + 5 * outPlane, co + 5, p);
        StoreRow(output, bias, tile.A6, targets, at + 6 * outPlane, co + 6, p); StoreRow(output, bias, tile.A7, targets, at + 7 * outPlane, co + 7, p);
    }

    /// <summary>
    /// Channel <paramref name="c"/>'s 16 positions (a padded channel skipped): bias and activation 16-wide
    /// (<see cref="Tile16x8.Activated"/>), then each kept lane stored at <paramref name="at"/> + its target; no
    /// per-position division or switch.
    /// </summary>
    private static void StoreRow(ArrayView<float> output, ArrayView<float> bias, Acc16 a, StripTargets t, int at, int c, DeconvParams p)
    {
        if (c >= p.OutChannels) return;
        t.Store(output, at, Tile16x8.Activated(a, bias[c], (Activation)p.Activation));
    }
}
