using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>Fused softmax + 2-D soft-argmax over each landmark heatmap (MODEL_SPEC 5).</summary>
public static class Heatmap
{
    /// <summary>The most threads a <see cref="SoftArgmax"/> group has (its shared slots).</summary>
    public const int MaxLanes = 64;

    /// <summary>
    /// The launch of <see cref="SoftArgmax"/> over <paramref name="maps"/> heatmaps of <paramref name="size"/> x
    /// <paramref name="size"/> cells: one group a heatmap of one thread a column (a row's cells a step), or of
    /// <paramref name="maxLanes"/> threads (the device's group size) where the row is longer; at most <see cref="MaxLanes"/>.
    /// </summary>
    public static KernelConfig Config(int maps, int size, int maxLanes) => new(maps, Math.Max(1, Math.Min(size, Math.Min(maxLanes, MaxLanes))));

    /// <summary>
    /// One group a (face, landmark) heatmap (launch: <see cref="Config"/>): softmax over the h*w cells, expected column
    /// and row, normalised by the map height: lmk = (x, y) / h * 2 - 1. Writes (x, y) at
    /// <c>results[b * stride + offset + 2 l]</c>.
    /// </summary>
    /// <remarks>
    /// The group's n threads take the cells in row-major steps of n (thread t: cells t, t + n, ...; with n = h, a row a
    /// step and a column a thread) and walk them twice: their maximum m_t, then S_t = sum exp(v - m_t) and the column
    /// and row moments X_t, Y_t. A group barrier ends every step: the steps are uniform across the group, so PoCL builds
    /// one work-item loop a step, over the threads, with no loop of the kernel inside it (which LLVM can vectorise,
    /// exp included), instead of one scalar thread a heatmap. Thread 0 then combines the threads' sums with the heatmap's
    /// maximum M: S = sum S_t exp(m_t - M), and likewise X and Y.
    /// </remarks>
    public static void SoftArgmax(ArrayView<float> heatmaps, ArrayView<float> results, int batch, int landmarks, int size, int resultStride, int resultOffset)
    {
        var partial = SharedMemory.Allocate<float>(4 * MaxLanes);
        int map = Grid.IdxX, lane = Group.IdxX, lanes = Group.DimX;
        int cells = size * size, basis = map * cells;
        // The step, not the cell, is the loop's variable: uniform across the group, so that PoCL keeps one copy and
        // sees each step's cells as consecutive in the thread (contiguous loads, not gathers).
        int steps = (cells + lanes - 1) / lanes;
        float m = float.NegativeInfinity;
        for (int step = 0; step < steps; step++)
        {
            int i = step * lanes + lane;
            float v = i < cells ? heatmaps[basis + i] : float.NegativeInfinity;
            m = v > m ? v : m;
            Group.Barrier();
        }
        // A cell's row: (i + 0.5) / h in float is at least 0.5 / h from an integer, far beyond its rounding error.
        float inverse = 1f / size;
        float sum = 0f, sx = 0f, sy = 0f;
        for (int step = 0; step < steps; step++)
        {
            int i = step * lanes + lane;
            int row = (int)((i + 0.5f) * inverse);
            float e = i < cells ? MathF.Exp(heatmaps[basis + i] - m) : 0f;
            sum += e;
            sx += e * (i - row * size);
            sy += e * row;
            Group.Barrier();
        }
        partial[lane] = m;
        partial[MaxLanes + lane] = sum;
        partial[2 * MaxLanes + lane] = sx;
        partial[3 * MaxLanes + lane] = sy;
        Group.Barrier();
        if (lane != 0 || map >= batch * landmarks) return;
        float top = float.NegativeInfinity;
        for (int t = 0; t < lanes; t++) top = partial[t] > top ? partial[t] : top;
        float s = 0f, x = 0f, y = 0f;
        for (int t = 0; t < lanes; t++)
        {
            // A thread with no cells (more threads than cells) has m_t = -inf and sums 0: it adds nothing.
            float f = partial[t] > float.NegativeInfinity ? MathF.Exp(partial[t] - top) : 0f;
            s += partial[MaxLanes + t] * f;
            x += partial[2 * MaxLanes + t] * f;
            y += partial[3 * MaxLanes + t] * f;
        }
        int b = map / landmarks, l = map % landmarks;
        int o = b * resultStride + resultOffset + 2 * l;
        results[o] = x / s / size * 2f - 1f;
        results[o + 1] = y / s / size * 2f - 1f;
    }
}
