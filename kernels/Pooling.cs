using ILGPU;
using ILGPU.Runtime;

namespace TrgIlgpu.Kernels;

public struct PoolParams
{
    public int Batch, Channels, InHeight, InWidth, OutHeight, OutWidth;
    public readonly int OutputCount => Batch * Channels * OutHeight * OutWidth;
}

/// <summary>MaxPool2d(kernel 3, stride 2, padding 1): the padding never wins (PyTorch pads with -inf).</summary>
public static class Pooling
{
    /// <summary>Consecutive outputs of a row one thread of <see cref="MaxPool3x3S2"/> writes (<see cref="PoolRow.Width"/>).</summary>
    public const int RowRun = PoolRow.Width;

    /// <summary>Most planes (Batch x Channels) of one <see cref="Config"/> launch: its Z extent, CUDA's grid-Z limit.</summary>
    public const int MaxPlanes = 65535;

    /// <summary>Whether <see cref="Config"/> can launch <paramref name="p"/>: at most <see cref="MaxPlanes"/> planes.</summary>
    public static bool Supports(in PoolParams p) => (long)p.Batch * p.Channels <= MaxPlanes;

    /// <summary>
    /// The launch of <see cref="MaxPool3x3S2"/>: a 3-D grid, X over an output row's runs of <see cref="RowRun"/> columns,
    /// Y over the output rows (<paramref name="group"/> rows a group: one run column of one plane, whole warps on a GPU),
    /// Z over the Batch x Channels planes, so a thread finds its outputs without an integer division. Check
    /// <see cref="Supports"/> first.
    /// </summary>
    public static KernelConfig Config(in PoolParams p, int group)
    {
        int gy = Math.Max(group, 1);
        return new(new Index3D(Tiling.CeilDiv(p.OutWidth, RowRun), Tiling.CeilDiv(p.OutHeight, gy), p.Batch * p.Channels),
            new Index3D(1, gy, 1));
    }

    /// <summary>Output columns a work-group of <see cref="MaxPool3x3S2PerOutput"/> spans (its rows: the group size over this).</summary>
    public const int GroupColumns = 16;

    /// <summary>
    /// The launch of <see cref="MaxPool3x3S2PerOutput"/>: a 3-D grid, X over an output row's columns (<see cref="GroupColumns"/>
    /// a group), Y over the output rows (<paramref name="group"/> / <see cref="GroupColumns"/> a group), Z over the Batch x
    /// Channels planes, so a thread finds its output without an integer division. Check <see cref="Supports"/> first.
    /// </summary>
    public static KernelConfig ConfigPerOutput(in PoolParams p, int group)
    {
        int gx = Math.Min(GroupColumns, Math.Max(group, 1)), gy = Math.Max(group / gx, 1);
        return new(new Index3D(Tiling.CeilDiv(p.OutWidth, gx), Tiling.CeilDiv(p.OutHeight, gy), p.Batch * p.Channels),
            new Index3D(gx, gy, 1));
    }

    /// <summary>
    /// One output a thread (launch with <see cref="ConfigPerOutput"/>; round seven's form, the CUDA policy's): consecutive
    /// threads write consecutive outputs of a row, so a warp's stores coalesce, and a thread holds one chain of nine
    /// maxima. Branch-free: an index outside the input is clamped to the nearest edge element, which lies in the same
    /// window, and a max that reads an element twice is unchanged. The nine taps in the order rows then columns, the
    /// first maximal value winning and a NaN never winning (<see cref="PoolRow.Max(float, float)"/>), as in
    /// <see cref="MaxPool3x3S2"/>: the same result bit for bit.
    /// </summary>
    public static void MaxPool3x3S2PerOutput(ArrayView<float> input, ArrayView<float> output, PoolParams p)
    {
        int ox = Grid.GlobalIndex.X, oy = Grid.GlobalIndex.Y, plane = Grid.GlobalIndex.Z;
        if (ox >= p.OutWidth || oy >= p.OutHeight) return;
        int inBase = plane * p.InHeight * p.InWidth;
        int r0 = inBase + ClampTo(2 * oy - 1, p.InHeight) * p.InWidth;
        int r1 = inBase + ClampTo(2 * oy, p.InHeight) * p.InWidth;
        int r2 = inBase + ClampTo(2 * oy + 1, p.InHeight) * p.InWidth;
        output[(plane * p.OutHeight + oy) * p.OutWidth + ox] = Window(input, r0, r1, r2, ox, p.InWidth);
    }

    /// <summary>
    /// <see cref="RowRun"/> consecutive outputs of one output row a thread (launch with <see cref="Config"/>; the CPU
    /// devices' form). A whole run
    /// whose input columns 2 x0 .. 2 x0 + 31 lie in the row is <see cref="PoolRow.Max16"/>: on OpenCL two contiguous
    /// 16-float loads of each of the three input rows, split into even and odd columns by shuffles (PoCL's work-item
    /// vectoriser made the one-output-a-thread form's stride-2, clamped taps into 18 gathers for 16 outputs). Column
    /// -1 (the first run) is clamped to column 0, which lies in the same window; a run cut by the row's end, or one
    /// needing column W (odd W), takes the scalar path, one output at a time with every index clamped to the nearest
    /// edge element (a max that reads an element twice is unchanged). Both paths take the nine taps of an output in the
    /// order rows then columns, the first maximal value winning and a NaN never winning (<see cref="PoolRow"/>), so the
    /// result is the same bit for bit on either path and on every backend.
    /// </summary>
    public static void MaxPool3x3S2(ArrayView<float> input, ArrayView<float> output, PoolParams p)
    {
        int run = Grid.GlobalIndex.X, oy = Grid.GlobalIndex.Y, plane = Grid.GlobalIndex.Z;
        int ox0 = run * RowRun;
        if (ox0 >= p.OutWidth || oy >= p.OutHeight) return;
        int inBase = plane * p.InHeight * p.InWidth;
        int r0 = inBase + ClampTo(2 * oy - 1, p.InHeight) * p.InWidth;
        int r1 = inBase + ClampTo(2 * oy, p.InHeight) * p.InWidth;
        int r2 = inBase + ClampTo(2 * oy + 1, p.InHeight) * p.InWidth;
        int at = (plane * p.OutHeight + oy) * p.OutWidth + ox0;
        int xc = 2 * ox0;
        if (ox0 + RowRun <= p.OutWidth && xc + 2 * RowRun <= p.InWidth)
        {
            int xl = xc > 0 ? xc - 1 : 0;
            var target = output.SubView(at, RowRun);
            PoolRow.Max16(ref input[r0 + xc], ref input[r1 + xc], ref input[r2 + xc],
                ref input[r0 + xl], ref input[r1 + xl], ref input[r2 + xl], ref target[0]);
            return;
        }
        int count = Math.Min(RowRun, p.OutWidth - ox0);
        for (int j = 0; j < count; j++)
        {
            int ox = ox0 + j;
            output[at + j] = Window(input, r0, r1, r2, ox, p.InWidth);
        }
    }

    /// <summary>
    /// The max of output column <paramref name="ox"/>'s 3x3 window over the input rows starting at <paramref name="r0"/>,
    /// <paramref name="r1"/>, <paramref name="r2"/>: the nine taps rows then columns, the columns clamped to the row
    /// (<see cref="PoolRow.Max(float, float)"/>: the first maximal value wins, a NaN never does). One body for both
    /// kernels, so their results are the same bit for bit.
    /// </summary>
    private static float Window(ArrayView<float> input, int r0, int r1, int r2, int ox, int width)
    {
        int x0 = ClampTo(2 * ox - 1, width), x1 = 2 * ox, x2 = ClampTo(2 * ox + 1, width);
        float m = float.NegativeInfinity;
        m = PoolRow.Max(m, input[r0 + x0]);
        m = PoolRow.Max(m, input[r0 + x1]);
        m = PoolRow.Max(m, input[r0 + x2]);
        m = PoolRow.Max(m, input[r1 + x0]);
        m = PoolRow.Max(m, input[r1 + x1]);
        m = PoolRow.Max(m, input[r1 + x2]);
        m = PoolRow.Max(m, input[r2 + x0]);
        m = PoolRow.Max(m, input[r2 + x1]);
        m = PoolRow.Max(m, input[r2 + x2]);
        return m;
    }

    private static int ClampTo(int i, int count) => i < 0 ? 0 : i >= count ? count - 1 : i;
}
