using ILGPU;

namespace TrgIlgpu.Kernels;

public struct PoolParams
{
    public int Batch, Channels, InHeight, InWidth, OutHeight, OutWidth;
    public readonly int OutputCount => Batch * Channels * OutHeight * OutWidth;
    /// <summary>Groups of <see cref="Pooling.RowOutputs"/> adjacent outputs in a row.</summary>
    public readonly int ColumnGroups => (OutWidth + Pooling.RowOutputs - 1) / Pooling.RowOutputs;
    /// <summary>One thread per (plane, output row, column group).</summary>
    public readonly int ThreadCount => Batch * Channels * OutHeight * ColumnGroups;
}

/// <summary>MaxPool2d(kernel 3, stride 2, padding 1): the padding never wins (PyTorch pads with -inf).</summary>
public static class Pooling
{
    /// <summary>Adjacent outputs per thread: their windows share columns, 27 loads instead of 36.</summary>
    public const int RowOutputs = 4;

    /// <summary>
    /// Each thread takes the column maxima of the 9 input columns under 4 adjacent outputs, then the outputs from them.
    /// Branch-free: an index outside the input is clamped to the nearest edge element, which lies in the same window
    /// (the last output's window always holds column W-1, the first holds column 0), and a max that reads an element
    /// twice is unchanged. Outputs past the row's end are computed on clamped indices and not stored.
    /// </summary>
    public static void MaxPool3x3S2(ArrayView<float> input, ArrayView<float> output, PoolParams p)
    {
        int gid = Grid.GlobalIndex.X;
        if (gid >= p.ThreadCount) return;
        int groups = p.ColumnGroups;
        int ox0 = gid % groups * RowOutputs;
        int oy = gid / groups % p.OutHeight;
        int plane = gid / groups / p.OutHeight;
        int inBase = plane * p.InHeight * p.InWidth;
        int r0 = inBase + ClampTo(2 * oy - 1, p.InHeight) * p.InWidth;
        int r1 = inBase + ClampTo(2 * oy, p.InHeight) * p.InWidth;
        int r2 = inBase + ClampTo(2 * oy + 1, p.InHeight) * p.InWidth;
        int x0 = 2 * ox0 - 1;

        float c0 = Column(input, r0, r1, r2, ClampTo(x0, p.InWidth));
        float c1 = Column(input, r0, r1, r2, ClampTo(x0 + 1, p.InWidth));
        float c2 = Column(input, r0, r1, r2, ClampTo(x0 + 2, p.InWidth));
        float c3 = Column(input, r0, r1, r2, ClampTo(x0 + 3, p.InWidth));
        float c4 = Column(input, r0, r1, r2, ClampTo(x0 + 4, p.InWidth));
        float c5 = Column(input, r0, r1, r2, ClampTo(x0 + 5, p.InWidth));
        float c6 = Column(input, r0, r1, r2, ClampTo(x0 + 6, p.InWidth));
        float c7 = Column(input, r0, r1, r2, ClampTo(x0 + 7, p.InWidth));
        float c8 = Column(input, r0, r1, r2, ClampTo(x0 + 8, p.InWidth));

        int o = (plane * p.OutHeight + oy) * p.OutWidth + ox0;
        output[o] = Max(Max(c0, c1), c2);
        if (ox0 + 1 < p.OutWidth) output[o + 1] = Max(Max(c2, c3), c4);
        if (ox0 + 2 < p.OutWidth) output[o + 2] = Max(Max(c4, c5), c6);
        if (ox0 + 3 < p.OutWidth) output[o + 3] = Max(Max(c6, c7), c8);
    }

    private static float Column(ArrayView<float> input, int r0, int r1, int r2, int x) =>
        Max(Max(Max(float.NegativeInfinity, input[r0 + x]), input[r1 + x]), input[r2 + x]);

    /// <summary>Starting from -inf, a NaN never replaces the value held (as in the per-output loop this replaced).</summary>
    private static float Max(float m, float v) => v > m ? v : m;

    private static int ClampTo(int i, int count) => i < 0 ? 0 : i >= count ? count - 1 : i;
}
