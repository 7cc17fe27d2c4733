using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>Shape of a 4x4, stride 2, padding 1 transposed convolution (output exactly twice the input).</summary>
public struct DeconvParams
{
    public int Batch, InChannels, InHeight, InWidth, OutChannels;
    public int Activation;

    public readonly int OutChannelsPadded => Tiling.PadChannels(OutChannels, TransposedConvolution.ChannelTile);
    /// <summary>Runs of <see cref="TransposedConvolution.Run"/> consecutive input columns a row.</summary>
    public readonly int RowRuns => Tiling.CeilDiv(InWidth, TransposedConvolution.Run);
    /// <summary>Threads per (face, channel block, parity class): one a run of each input row.</summary>
    public readonly int PositionThreads => InHeight * RowRuns;
    public readonly int ChannelBlocks => OutChannelsPadded / TransposedConvolution.ChannelTile;
    /// <summary>
    /// One thread per (parity class, 16-channel block, face, position thread), positions fastest, then faces: the
    /// threads that read the same weights are neighbours at any batch.
    /// </summary>
    public readonly long ThreadCount => (long)Batch * ChannelBlocks * 4 * PositionThreads;
    public readonly KernelConfig Config(int maxGroup) => Tiling.Flat(ThreadCount, maxGroup);
}

/// <summary>
/// ConvTranspose2d(k=4, s=2, p=1) with folded BatchNorm, bias and activation in the epilogue, as four sub-pixel 2x2
/// convolutions. Output row oy = 2 iy - 1 + ky, so each output parity class (py, px) is an ordinary 2x2 convolution
/// with no wasted taps: for t in {0, 1}, input row i + py - t meets kernel row 1 - py + 2t (same for columns).
/// </summary>
public static class TransposedConvolution
{
    /// <summary>Output channels per thread (and the packing's channel padding): two 8-channel accumulator blocks.</summary>
    public const int ChannelTile = 16;

    /// <summary>Consecutive input columns (output positions of one parity class) a thread owns.</summary>
    public const int Run = 4;

    /// <summary>
    /// Where weight W[ci, co, ky, kx] (PyTorch's ConvTranspose2d layout) is packed: by parity class (py, px) =
    /// ((ky + 1) % 2, (kx + 1) % 2), 16-channel block, input channel, the class's 2x2 tap t = 2 ty + tx with
    /// ky = 1 - py + 2 ty, kx = 1 - px + 2 tx, then the 16 channels: a thread streams one contiguous run of 64 floats
    /// an input channel.
    /// </summary>
    public static int WeightIndex(int ci, int co, int ky, int kx, int inChannels, int outChannelsPadded)
    {
        int py = (ky + 1) % 2, px = (kx + 1) % 2, tap = (ky - 1 + py) / 2 * 2 + (kx - 1 + px) / 2;
        int blocks = outChannelsPadded / ChannelTile;
        return ((((py * 2 + px) * blocks + co / ChannelTile) * inChannels + ci) * 4 + tap) * ChannelTile + co % ChannelTile;
    }

    /// <summary>
    /// Launch with <see cref="DeconvParams.Config"/>. Weights packed by <see cref="WeightIndex"/> (padded to 16
    /// channels). A thread owns one parity class, 16 channels x <see cref="Run"/> consecutive positions
    /// of one input row (<see cref="Tile4x16"/>, fused multiply-adds): per input channel it loads the 5 input values of
    /// each of its two input rows once (both column taps read them, shifted by one) and makes 32 8-wide multiply-adds
    /// from 8 weight vectors. The last run of a row is moved back to end at the row's last column (it recomputes and
    /// stores a few of its neighbour's outputs, with the same values), so the middle loads are in bounds and contiguous;
    /// rows narrower than a run clamp and mask every column instead.
    /// </summary>
    public static void Deconv4x4S2(
        ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> output, DeconvParams p)
    {
        // Uniform loops, no early exit (see Convolution.Conv2D): spare threads compute a copy and store nothing.
        int q = p.PositionThreads;
        int total = (int)p.ThreadCount;
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        int t = g % q;
        int b = g / q % p.Batch;
        int rest = g / q / p.Batch;
        int blocks = p.ChannelBlocks;
        int co = rest % blocks * ChannelTile;
        int cls = rest / blocks;
        int py = cls >> 1, px = cls & 1;
        int width = p.InWidth, hw = p.InHeight * width;
        int i = t / p.RowRuns;
        bool whole = width >= Run;
        int j0 = whole ? Min(t % p.RowRuns * Run, width - Run) : 0;

        // Input rows i + py (ty = 0, kernel row 1 - py) and i + py - 1 (ty = 1, kernel row 3 - py); columns
        // c = j0 + px - 1 + m, m = 0..4: tap tx = 0 (kernel column 1 - px) reads m = 1..4, tx = 1 (3 - px) m = 0..3.
        int row0 = i + py, row1 = i + py - 1;
        bool in0 = row0 < p.InHeight, in1 = row1 >= 0;
        int base0 = (in0 ? row0 : 0) * width, base1 = (in1 ? row1 : 0) * width;
        int c = j0 + px - 1;
        int w = (cls * blocks + co / ChannelTile) * p.InChannels * 4 * ChannelTile;

        var tile = new Tile4x16();
        int x = b * p.InChannels * hw;
        for (int ci = 0; ci < p.InChannels; ci++)
        {
            // Taps t = 2 ty + tx of this input channel: 64 consecutive weights.
            var r0 = Row5.Load(input, x + base0, c, width, whole, in0);
            tile.Add(weight, w, r0.V1, r0.V2, r0.V3, r0.V4);
            tile.Add(weight, w + ChannelTile, r0.V0, r0.V1, r0.V2, r0.V3);
            var r1 = Row5.Load(input, x + base1, c, width, whole, in1);
            tile.Add(weight, w + 2 * ChannelTile, r1.V1, r1.V2, r1.V3, r1.V4);
            tile.Add(weight, w + 3 * ChannelTile, r1.V0, r1.V1, r1.V2, r1.V3);
            w += 4 * ChannelTile;
            x += hw;
        }

        if (!active) return;
        int outW = 2 * width;
        int outRow = (2 * i + py) * outW + px;
        for (int k = 0; k < ChannelTile; k++)
        {
            if (co + k >= p.OutChannels) break;
            int outBase = (b * p.OutChannels + co + k) * 4 * hw + outRow;
            float bk = bias[co + k];
            for (int r = 0; r < Run; r++)
                if (j0 + r < width) output[outBase + 2 * (j0 + r)] = Act.Apply(tile.Get(r, k) + bk, p.Activation);
        }
    }

    private static int Min(int a, int b) => a < b ? a : b;

    /// <summary>Five consecutive input values of one row from column c (0 outside the map or for a row outside it).</summary>
    private readonly struct Row5
    {
        public readonly float V0, V1, V2, V3, V4;

        private Row5(float v0, float v1, float v2, float v3, float v4)
        {
            V0 = v0; V1 = v1; V2 = v2; V3 = v3; V4 = v4;
        }

        /// <summary>
        /// With <paramref name="whole"/> (the run lies inside the row) columns c + 1..c + 3 are inside it and loaded
        /// directly; only c (may be -1) and c + 4 (may be the width) are checked. Otherwise every column is.
        /// </summary>
        public static Row5 Load(ArrayView<float> input, int rowBase, int c, int width, bool whole, bool rowInside)
        {
            float v0 = Column(input, rowBase, c, width);
            float v1 = whole ? input[rowBase + c + 1] : Column(input, rowBase, c + 1, width);
            float v2 = whole ? input[rowBase + c + 2] : Column(input, rowBase, c + 2, width);
            float v3 = whole ? input[rowBase + c + 3] : Column(input, rowBase, c + 3, width);
            float v4 = Column(input, rowBase, c + 4, width);
            return rowInside ? new Row5(v0, v1, v2, v3, v4) : new Row5(0f, 0f, 0f, 0f, 0f);
        }

        private static float Column(ArrayView<float> input, int rowBase, int column, int width)
        {
            bool inside = column >= 0 && column < width;
            float v = input[rowBase + (inside ? column : 0)];
            return inside ? v : 0f;
        }
    }
}
