using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>y[b, o] = sum_k W[k, o] x[b, k] + bias[o] for a batch of rows; each thread owns 8 outputs x 4 rows.</summary>
public struct LinearParams
{
    public int Batch, In, Out;
    /// <summary>Row lengths of x and y (x rows may be wider than <see cref="In"/>).</summary>
    public int InStride, OutStride;
    public readonly int OutPadded => Tiling.PadChannels(Out, Linear.ChannelTile);
    public readonly int OutBlocks => OutPadded / Linear.ChannelTile;
    public readonly int ThreadCount => OutBlocks * Tiling.CeilDiv(Batch, Tiling.Positions);
}

/// <summary>The regressor's dense layers (MODEL_SPEC 4d).</summary>
public static class Linear
{
    /// <summary>
    /// Outputs per thread: 8 contiguous weights per row, the shape PoCL's vectoriser packs into one AVX register
    /// (see <see cref="WinogradConvolution"/>), and half a cache line of each streamed weight row.
    /// </summary>
    public const int ChannelTile = Convolution.ChannelTile;

    /// <summary>
    /// Dense layer. Weights packed transposed, <c>[k * OutPadded + o]</c>: neighbouring threads read neighbouring
    /// weights (coalesced), and each weight is used for up to 4 batch rows.
    /// </summary>
    public static void Dense(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y, LinearParams p)
    {
        int gid = Grid.GlobalIndex.X;
        if (gid >= p.ThreadCount) return;
        int o = (gid % p.OutBlocks) * ChannelTile;
        int b0 = (gid / p.OutBlocks) * Tiling.Positions;
        Accumulate(x, weight, p, o, b0, false, out var a0, out var a1, out var a2, out var a3);
        for (int c = 0; c < ChannelTile; c++)
        {
            if (o + c >= p.Out) break;
            float bc = bias[o + c];
            if (b0 < p.Batch) y[b0 * p.OutStride + o + c] = a0.Get(c) + bc;
            if (b0 + 1 < p.Batch) y[(b0 + 1) * p.OutStride + o + c] = a1.Get(c) + bc;
            if (b0 + 2 < p.Batch) y[(b0 + 2) * p.OutStride + o + c] = a2.Get(c) + bc;
            if (b0 + 3 < p.Batch) y[(b0 + 3) * p.OutStride + o + c] = a3.Get(c) + bc;
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
        int o = (gid % p.OutBlocks) * ChannelTile;
        int b0 = (gid / p.OutBlocks) * Tiling.Positions;
        // At batch 1 the clamped copies would repeat every multiply-add three times, so one row is computed. (Dense,
        // with 8x fewer threads per launch, keeps four: bench/RESULTS.md, "Kernel design measurements".)
        Accumulate(x, weight, p, o, b0, p.Batch == 1, out var a0, out var a1, out var a2, out var a3);
        for (int c = 0; c < ChannelTile; c++)
        {
            if (o + c >= p.Out) break;
            float bc = bias[o + c];
            Update(initFace, initPose, results, layout, iteration, b0, o + c, a0.Get(c) + bc, p.Batch);
            Update(initFace, initPose, results, layout, iteration, b0 + 1, o + c, a1.Get(c) + bc, p.Batch);
            Update(initFace, initPose, results, layout, iteration, b0 + 2, o + c, a2.Get(c) + bc, p.Batch);
            Update(initFace, initPose, results, layout, iteration, b0 + 3, o + c, a3.Get(c) + bc, p.Batch);
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
    /// Four rows from b0 (clamped copies past the batch), or with <paramref name="oneRow"/> only row 0 (a uniform
    /// branch; a1..a3 stay 0 and are never stored since the batch is 1).
    /// </summary>
    private static void Accumulate(ArrayView<float> x, ArrayView<float> weight, LinearParams p, int o, int b0, bool oneRow,
        out Acc8 a0, out Acc8 a1, out Acc8 a2, out Acc8 a3)
    {
        a0 = new Acc8(); a1 = new Acc8(); a2 = new Acc8(); a3 = new Acc8();
        int last = p.Batch - 1;
        int r0 = (b0 < last ? b0 : last) * p.InStride;
        int r1 = (b0 + 1 < last ? b0 + 1 : last) * p.InStride;
        int r2 = (b0 + 2 < last ? b0 + 2 : last) * p.InStride;
        int r3 = (b0 + 3 < last ? b0 + 3 : last) * p.InStride;
        int w = o;
        if (oneRow)
        {
            for (int k = 0; k < p.In; k++)
            {
                a0.Fma(weight, w, x[k]);
                w += p.OutPadded;
            }
            return;
        }
        for (int k = 0; k < p.In; k++)
        {
            a0.Fma(weight, w, x[r0 + k]);
            a1.Fma(weight, w, x[r1 + k]);
            a2.Fma(weight, w, x[r2 + k]);
            a3.Fma(weight, w, x[r3 + k]);
            w += p.OutPadded;
        }
    }
}
