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
    /// <see cref="Tail"/> zeros.
    /// </summary>
    public readonly int PaddedFace => InChannels * (InHeight + 2) * PaddedWidth + Tail;
    /// <summary>
    /// Zeros after a face's last plane: (width + 2) + 1, since a thread's second row or column past an odd map (computed,
    /// not stored) loads up to that many floats past its plane.
    /// </summary>
    public readonly int Tail => PaddedWidth + 1;
    /// <summary>Pairs of input rows (the last may be a single row).</summary>
    public readonly int RowPairs => (InHeight + 1) / 2;
    /// <summary>Pairs of input columns (the last may be a single column).</summary>
    public readonly int ColumnPairs => (InWidth + 1) / 2;
    /// <summary>
    /// One thread per (16-channel block, face, input row pair, column pair), column pairs fastest, then row pairs, then
    /// faces: the threads that read the same weights are neighbours at any batch.
    /// </summary>
    public readonly long ThreadCount => (long)ChannelBlocks * Batch * RowPairs * ColumnPairs;
    /// <summary>
    /// Groups of <paramref name="group"/> threads (the device policy's deconvolution group size), at most
    /// <see cref="TransposedConvolution.MaxGroupSize"/> (the staging tile's size).
    /// </summary>
    public readonly KernelConfig Config(int group) => Tiling.Flat(ThreadCount, Math.Min(group, TransposedConvolution.MaxGroupSize));
    /// <summary>Floats of the padded input of the whole batch: Batch x <see cref="PaddedFace"/>.</summary>
    public readonly long PaddedLength => (long)Batch * PaddedFace;
    /// <summary>Floats of one padded channel plane: (height + 2) x (width + 2).</summary>
    public readonly int PaddedPlane => (InHeight + 2) * PaddedWidth;
    /// <summary>
    /// Floats a <see cref="TransposedConvolution.DeconvPad"/> row of threads covers: a plane, or the
    /// <see cref="Tail"/> zeros after a face's last plane (the launch's extra channel row).
    /// </summary>
    public readonly int PadExtent => Math.Max(PaddedPlane, Tail);
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
    /// <summary>Output channels per thread, the vector lanes (and the packing's channel padding).</summary>
    public const int ChannelTile = 16;

    /// <summary>
    /// Threads a group of <see cref="Deconv4x4S2"/> on the CPU devices (<c>KernelPolicy.DeconvGroupSize</c>): PoCL runs a
    /// group on one core, and deconv0 at batch 1 has 144 threads, so groups of 16 let both cores share the launch.
    /// </summary>
    public const int GroupSize = 16;

    /// <summary>
    /// Most threads a group of <see cref="Deconv4x4S2"/>: its staging tile holds this many threads' slots (32 KB, under
    /// CUDA's 48 KB of static shared memory a block).
    /// </summary>
    public const int MaxGroupSize = 32;

    /// <summary>Floats of a thread's slot of the staging tile: its 4 x 4 output positions x 16 channels.</summary>
    public const int StageFloats = 16 * ChannelTile;

    /// <summary>Bound on <see cref="DeconvParams.PadExtent"/>: below it <see cref="DeconvPad"/>'s float row division is exact.</summary>
    public const int MaxPadExtent = 1 << 22;

    /// <summary>Most channel rows (input channels + 1), and most faces, of a <see cref="DeconvPad"/> launch: its Y and Z extents (CUDA's grid limit).</summary>
    public const int MaxPadGrid = 65535;

    /// <summary>
    /// Where weight W[ci, co, ky, kx] (PyTorch's ConvTranspose2d layout) is packed: by 16-channel block, input channel,
    /// output parity class (py, px) = ((ky + 1) % 2, (kx + 1) % 2), the class's 2x2 tap t = 2 ty + tx with ky = 1 - py + 2 ty,
    /// kx = 1 - px + 2 tx, then the 16 channels: a thread streams one contiguous run of 256 floats an input channel.
    /// </summary>
    public static int WeightIndex(int ci, int co, int ky, int kx, int inChannels, int outChannelsPadded)
    {
        int py = (ky + 1) % 2, px = (kx + 1) % 2, tap = (ky - 1 + py) / 2 * 2 + (kx - 1 + px) / 2;
        return (((co / ChannelTile * inChannels + ci) * 4 + py * 2 + px) * 4 + tap) * ChannelTile + co % ChannelTile;
    }

    /// <summary>
    /// Launch with <see cref="DeconvParams.PadConfig"/> (only where <see cref="DeconvParams.PadSupported"/>), before
    /// <see cref="Deconv4x4S2"/>: padded holds <see cref="DeconvParams.PaddedFace"/> floats a face, each input channel
    /// as a (height + 2) x (width + 2) plane with a one-pixel zero border, then <see cref="DeconvParams.Tail"/> zeros (the
    /// loads of a thread's rows past an odd map). Thread (at, c, b) writes float at of channel c's plane of face b, or for
    /// c = InChannels of the zeros after the face's last plane; one float a thread, no loop and no integer division, so
    /// PoCL vectorises it across work-items.
    /// </summary>
    public static void DeconvPad(ArrayView<float> input, ArrayView<float> padded, DeconvParams p)
    {
        int at = Grid.GlobalIndex.X, c = Grid.GlobalIndex.Y, b = Grid.GlobalIndex.Z;
        int plane = p.PaddedPlane, wp = p.PaddedWidth;
        // Row c = InChannels writes the zeros after the face's last plane.
        if (at >= (c < p.InChannels ? plane : p.Tail)) return;
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
    /// <see cref="WeightIndex"/> (padded to 16 channels). Output channels in the vector lanes: a thread owns 16 output
    /// channels x a 2 x 2 block of input positions (i0..i0+1, j0..j0+1) x the four parity classes, i.e. the 4 x 4 output
    /// block (2 i0.., 2 j0..) of 16 channels: 16 <see cref="Acc16"/> rows, 256 accumulators (the lane count LLVM's SLP
    /// vectoriser keeps whole as 16 zmm trees; 12 or 24 rows it split and mixed across positions, with gathers). Per
    /// input channel it loads the 16 (class, tap) weight vectors (one contiguous run of 256 floats) and multiplies each
    /// by 4 broadcast inputs of the 4 x 4 padded neighbourhood: 64 16-wide multiply-adds, none on a position outside
    /// the map except past an odd height or width.
    /// </summary>
    public static void Deconv4x4S2(
        ArrayView<float> padded, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> output, DeconvParams p)
    {
        // Uniform loops, no early exit (see Convolution.Conv2D): spare threads compute a copy and store nothing.
        int total = (int)p.ThreadCount;
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        int columnPairs = p.ColumnPairs, rowPairs = p.RowPairs;
        int j0 = g % columnPairs * 2;
        int rest = g / columnPairs;
        int i0 = rest % rowPairs * 2;
        rest /= rowPairs;
        int b = rest % p.Batch;
        int block = rest / p.Batch;
        int wp = p.PaddedWidth, plane = p.PaddedPlane;

        // Position (i0 + dy, j0 + dx), class (py, px), tap (ty, tx) reads padded row i0 + dy + 1 + py - ty, column
        // j0 + dx + 1 + px - tx: relative to (i0, j0), offset (1 + py - ty) wp + 1 + px - tx for dy = dx = 0.
        int x = b * p.PaddedFace + i0 * wp + j0;
        var w = weight.SubView(block * p.InChannels * 16 * ChannelTile);
        Acc16x4 c00 = default, c01 = default, c10 = default, c11 = default;
        int k = 0;
        for (int ci = 0; ci < p.InChannels; ci++)
        {
            int r0 = x, r1 = x + wp, r2 = x + 2 * wp;
            c00.Add(Acc16.Load(w, k), padded, r1 + 1, wp); c00.Add(Acc16.Load(w, k + 16), padded, r1, wp);
            c00.Add(Acc16.Load(w, k + 32), padded, r0 + 1, wp); c00.Add(Acc16.Load(w, k + 48), padded, r0, wp);
            c01.Add(Acc16.Load(w, k + 64), padded, r1 + 2, wp); c01.Add(Acc16.Load(w, k + 80), padded, r1 + 1, wp);
            c01.Add(Acc16.Load(w, k + 96), padded, r0 + 2, wp); c01.Add(Acc16.Load(w, k + 112), padded, r0 + 1, wp);
            c10.Add(Acc16.Load(w, k + 128), padded, r2 + 1, wp); c10.Add(Acc16.Load(w, k + 144), padded, r2, wp);
            c10.Add(Acc16.Load(w, k + 160), padded, r1 + 1, wp); c10.Add(Acc16.Load(w, k + 176), padded, r1, wp);
            c11.Add(Acc16.Load(w, k + 192), padded, r2 + 2, wp); c11.Add(Acc16.Load(w, k + 208), padded, r2 + 1, wp);
            c11.Add(Acc16.Load(w, k + 224), padded, r1 + 2, wp); c11.Add(Acc16.Load(w, k + 240), padded, r1 + 1, wp);
            k += 16 * ChannelTile;
            x += plane;
        }

        // Each output position's 16 channels go to this thread's slot of the group's staging tile as one 16-float
        // vector store (the stores LLVM's SLP vectoriser builds the multiply-adds' 16-lane trees from; with the
        // scattered scalar stores alone it grouped lanes across positions, with gathers), stage row 4 (2 dy + py) +
        // 2 dx + px: the output block's row-major order; then each channel's block from there. (Staging and storing
        // one class at a time, a quarter of the tile, brought gathers and shuffles back into the loop.)
        var stage = SharedMemory.Allocate<float>(MaxGroupSize * StageFloats);
        int slot = Group.IdxX * StageFloats;
        int co = block * ChannelTile;
        var bv = Acc16.Load(bias, co);
        var act = (Activation)p.Activation;
        c00.Stage(stage, slot, bv, act);
        c01.Stage(stage, slot + ChannelTile, bv, act);
        c10.Stage(stage, slot + 4 * ChannelTile, bv, act);
        c11.Stage(stage, slot + 5 * ChannelTile, bv, act);
        if (!active) return;
        int n = Math.Min(p.OutChannels - co, ChannelTile);
        int rows = 2 * Math.Min(p.InHeight - i0, 2), cols = 2 * Math.Min(p.InWidth - j0, 2);
        int outW = 2 * p.InWidth, outPlane = 4 * p.InHeight * p.InWidth;
        int at = ((b * p.OutChannels + co) * 2 * p.InHeight + 2 * i0) * outW + 2 * j0;
        for (int c = 0; c < n; c++)
        {
            for (int r = 0; r < rows; r++)
                for (int q = 0; q < cols; q++)
                    output[at + r * outW + q] = stage[slot + (4 * r + q) * ChannelTile + c];
            at += outPlane;
        }
    }
}

/// <summary>
/// One parity class of a <see cref="TransposedConvolution.Deconv4x4S2"/> thread: a 2 x 2 block of input positions x 16
/// output channels (the lanes), one <see cref="Acc16"/> a position.
/// </summary>
internal struct Acc16x4
{
    public Acc16 A00, A01, A10, A11;

    /// <summary>Adds the 16 weights <paramref name="w"/> times x[at + dy wp + dx] to position (dy, dx).</summary>
    public void Add(Acc16 w, ArrayView<float> x, int at, int wp)
    {
        A00.Fma(w, x[at]); A01.Fma(w, x[at + 1]);
        A10.Fma(w, x[at + wp]); A11.Fma(w, x[at + wp + 1]);
    }

    /// <summary>
    /// act(position (dy, dx) + bias) to stage[at + (8 dy + 2 dx) 16 ..] as one 16-float vector store a position (the
    /// output block's row 2 dy + py, column 2 dx + px for the class at <paramref name="at"/>).
    /// </summary>
    public readonly void Stage(ArrayView<float> stage, int at, Acc16 bias, Activation act)
    {
        const int c16 = TransposedConvolution.ChannelTile;
        Activated(A00, bias, act).Store(stage, at);
        Activated(A01, bias, act).Store(stage, at + 2 * c16);
        Activated(A10, bias, act).Store(stage, at + 8 * c16);
        Activated(A11, bias, act).Store(stage, at + 10 * c16);
    }

    /// <summary>act(a[c] + bias[c]) for each of the 16 lanes.</summary>
    private static Acc16 Activated(Acc16 a, Acc16 b, Activation act) => new()
    {
        T0 = Act.Select(a.T0 + b.T0, act), T1 = Act.Select(a.T1 + b.T1, act), T2 = Act.Select(a.T2 + b.T2, act),
        T3 = Act.Select(a.T3 + b.T3, act), T4 = Act.Select(a.T4 + b.T4, act), T5 = Act.Select(a.T5 + b.T5, act),
        T6 = Act.Select(a.T6 + b.T6, act), T7 = Act.Select(a.T7 + b.T7, act), T8 = Act.Select(a.T8 + b.T8, act),
        T9 = Act.Select(a.T9 + b.T9, act), T10 = Act.Select(a.T10 + b.T10, act), T11 = Act.Select(a.T11 + b.T11, act),
        T12 = Act.Select(a.T12 + b.T12, act), T13 = Act.Select(a.T13 + b.T13, act), T14 = Act.Select(a.T14 + b.T14, act),
        T15 = Act.Select(a.T15 + b.T15, act),
    };
}
