using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>y[b, o] = sum_k W[k, o] x[b, k] + bias[o] for a batch of rows; each thread owns 16 outputs x 8 rows (1 at batch 1).</summary>
public struct LinearParams
{
    public int Batch, In, Out;
    /// <summary>Row lengths of x and y (x rows may be wider than <see cref="In"/>).</summary>
    public int InStride, OutStride;
    public readonly int OutPadded => Tiling.PadChannels(Out, Linear.ChannelTile);
    public readonly int OutBlocks => OutPadded / Linear.ChannelTile;
    public readonly int ThreadCount => OutBlocks * Tiling.CeilDiv(Batch, Linear.Rows);
    /// <summary>Groups of <paramref name="groupSize"/> threads (the device policy's dense group size).</summary>
    public readonly KernelConfig Config(int groupSize) => Tiling.Flat(ThreadCount, groupSize);
}

/// <summary>The regressor's dense layers (MODEL_SPEC 4d) and the face landmark net's fully connected layer.</summary>
public static class Linear
{
    /// <summary>
    /// Outputs per thread: one 16-float row of fused multiply-add accumulators a batch row (<see cref="Acc16"/>), one
    /// 64-byte cache line of each weight row.
    /// </summary>
    public const int ChannelTile = 16;

    /// <summary>Batch rows per thread (each weight loaded feeds them all); at batch 1 the thread computes one.</summary>
    public const int Rows = 8;

    /// <summary>
    /// Threads per group on the CPU devices (their <c>KernelPolicy.DenseGroupSize</c>): the layers have few threads (1024
    /// outputs at batch 1 are 64 threads), and PoCL runs a group on one core, so small groups let both cores share the
    /// launch.
    /// </summary>
    public const int GroupSize = 16;

    /// <summary>
    /// Where weight (k, o) of a layer with <paramref name="inputs"/> inputs is packed: block-major,
    /// <c>[((o / 16) * In + k) * 16 + o % 16]</c>, so that each thread streams one contiguous run of memory (the
    /// transposed <c>[k * OutPadded + o]</c> layout touched a new 4 KB page for every k).
    /// </summary>
    public static int WeightIndex(int k, int o, int inputs) => ((o / ChannelTile) * inputs + k) * ChannelTile + o % ChannelTile;

    /// <summary>Dense layer; weights packed by <see cref="WeightIndex"/>, bias padded to <see cref="LinearParams.OutPadded"/>.</summary>
    public static void Dense(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y, LinearParams p)
    {
        int gid = Grid.GlobalIndex.X;
        if (gid >= p.ThreadCount) return;
        int block = gid % p.OutBlocks;
        int o = block * ChannelTile;
        int b0 = gid / p.OutBlocks * Rows;
        var t = Accumulate(x, weight, p, block, b0);
        for (int c = 0; c < ChannelTile; c++)
        {
            if (o + c >= p.Out) break;
            float bc = bias[o + c];
            for (int r = 0; r < Rows; r++)
                if (b0 + r < p.Batch) y[(b0 + r) * p.OutStride + o + c] = t.Get(r, c) + bc;
        }
    }

    /// <summary>
    /// The regressor's output layer [decshape; decpose] fused with the state update: output j &lt; 3660 adds to the
    /// head-space face, the last 9 to pose9, which is written to the results row's pose history slot of
    /// <paramref name="iteration"/>. The state read is the initial face and pose at iteration 0, else the results row.
    /// </summary>
    public static void DenseStateUpdate(
        ArrayView<float> x, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> initFace, ArrayView<float> initPose, ArrayView<float> results,
        LinearParams p, ResultLayout layout, int iteration)
    {
        int gid = Grid.GlobalIndex.X;
        if (gid >= p.ThreadCount) return;
        int block = gid % p.OutBlocks;
        int o = block * ChannelTile;
        int b0 = gid / p.OutBlocks * Rows;
        var t = Accumulate(x, weight, p, block, b0);
        for (int c = 0; c < ChannelTile; c++)
        {
            if (o + c >= p.Out) break;
            float bc = bias[o + c];
            for (int r = 0; r < Rows; r++)
                Update(initFace, initPose, results, layout, iteration, b0 + r, o + c, t.Get(r, c) + bc, p.Batch);
        }
    }

    private static void Update(
        ArrayView<float> initFace, ArrayView<float> initPose, ArrayView<float> results,
        ResultLayout layout, int iteration, int b, int j, float delta, int batch)
    {
        if (b >= batch) return;
        int row = b * layout.Stride;
        if (j < 3660)
        {
            int at = row + layout.FaceHead + j;
            results[at] = (iteration == 0 ? initFace[j] : results[at]) + delta;
        }
        else
        {
            int k = j - 3660;
            float previous = iteration == 0 ? initPose[k] : results[row + layout.PoseHistory + 9 * (iteration - 1) + k];
            results[row + layout.PoseHistory + 9 * iteration + k] = previous + delta;
        }
    }

    /// <summary>
    /// Rows b0..b0+7 (clamped copies past the batch) of 16 outputs from <paramref name="block"/>, accumulator row r =
    /// batch row b0 + r; at batch 1 only row 0 (a uniform branch: the copies would repeat every multiply-add seven
    /// times; rows 1-7 stay 0 and are never stored). Each step is one 16-float load of contiguous weights and eight
    /// 16-wide multiply-adds (<see cref="Tile16x8"/>), so every weight is read once per 8 rows.
    /// </summary>
    private static Tile16x8 Accumulate(ArrayView<float> x, ArrayView<float> weight, LinearParams p, int block, int b0)
    {
        var t = new Tile16x8();
        int w = block * p.In * ChannelTile;
        if (p.Batch == 1)
        {
            for (int k = 0; k < p.In; k++)
            {
                t.A0.Fma(Acc16.Load(weight, w), x[k]);
                w += ChannelTile;
            }
            return t;
        }
        int last = p.Batch - 1;
        int r0 = Row(b0, last, p), r1 = Row(b0 + 1, last, p), r2 = Row(b0 + 2, last, p), r3 = Row(b0 + 3, last, p);
        int r4 = Row(b0 + 4, last, p), r5 = Row(b0 + 5, last, p), r6 = Row(b0 + 6, last, p), r7 = Row(b0 + 7, last, p);
        for (int k = 0; k < p.In; k++)
        {
            t.Add(Acc16.Load(weight, w), x[r0 + k], x[r1 + k], x[r2 + k], x[r3 + k], x[r4 + k], x[r5 + k], x[r6 + k], x[r7 + k]);
            w += ChannelTile;
        }
        return t;
    }

    /// <summary>Where batch row <paramref name="b"/>'s input starts (rows past the batch read the last one).</summary>
    private static int Row(int b, int last, LinearParams p) => (b < last ? b : last) * p.InStride;
}
