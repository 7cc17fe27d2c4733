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
    /// <summary>Output columns a work-group of <see cref="MaxPool3x3S2"/> spans (its rows: the group size over this).</summary>
    public const int GroupColumns = 16;

    /// <summary>Most planes (Batch x Channels) of one <see cref="Config"/> launch: its Z extent, CUDA's grid-Z limit.</summary>
    public const int MaxPlanes = 65535;

    /// <summary>Whether <see cref="Config"/> can launch <paramref name="p"/>: at most <see cref="MaxPlanes"/> planes.</summary>
    public static bool Supports(in PoolParams p) => (long)p.Batch * p.Channels <= MaxPlanes;

    /// <summary>
    /// The launch of <see cref="MaxPool3x3S2"/>: a 3-D grid, X over an output row's columns (<see cref="GroupColumns"/> a
    /// group), Y over the output rows (<paramref name="group"/> / <see cref="GroupColumns"/> a group), Z over the Batch x
    /// Channels planes, so a thread finds its output without an integer division and its rows are uniform across PoCL's
    /// innermost work-item loop. Check <see cref="Supports"/> first.
    /// </summary>
    public static KernelConfig Config(in PoolParams p, int group)
    {
        int gx = Math.Min(GroupColumns, group), gy = Math.Max(group / gx, 1);
        return new(new Index3D(Tiling.CeilDiv(p.OutWidth, gx), Tiling.CeilDiv(p.OutHeight, gy), p.Batch * p.Channels),
            new Index3D(gx, gy, 1));
    }

    /// <summary>
    /// One output a thread (launch with <see cref="Config"/>), loop-free so that PoCL vectorises it across work-items.
    /// Branch-free: an index outside the input is clamped to the nearest edge element, which lies in the same window
    /// (the last output's window always holds column W-1, the first holds column 0), and a max that reads an element
    /// twice is unchanged. The nine taps are one chain of maxima: three independent column maxima (the previous
    /// form) were packed by LLVM's SLP vectoriser into short vectors, which stopped PoCL's work-item vectoriser.
    /// </summary>
    public static void MaxPool3x3S2(ArrayView<float> input, ArrayView<float> output, PoolParams p)
    {
        int ox = Grid.GlobalIndex.X, oy = Grid.GlobalIndex.Y, plane = Grid.GlobalIndex.Z;
        if (ox >= p.OutWidth || oy >= p.OutHeight) return;
        int inBase = plane * p.InHeight * p.InWidth;
        int r0 = inBase + ClampTo(2 * oy - 1, p.InHeight) * p.InWidth;
        int r1 = inBase + ClampTo(2 * oy, p.InHeight) * p.InWidth;
        int r2 = inBase + ClampTo(2 * oy + 1, p.InHeight) * p.InWidth;
        int x0 = ClampTo(2 * ox - 1, p.InWidth), x1 = 2 * ox, x2 = ClampTo(2 * ox + 1, p.InWidth);
        float m = float.NegativeInfinity;
        m = Max(m, input[r0 + x0]);
        m = Max(m, input[r0 + x1]);
        m = Max(m, input[r0 + x2]);
        m = Max(m, input[r1 + x0]);
        m = Max(m, input[r1 + x1]);
        m = Max(m, input[r1 + x2]);
        m = Max(m, input[r2 + x0]);
        m = Max(m, input[r2 + x1]);
        m = Max(m, input[r2 + x2]);
        output[(plane * p.OutHeight + oy) * p.OutWidth + ox] = m;
    }

    /// <summary>Starting from -inf, a NaN never replaces the value held (as in the per-output loop this replaced).</summary>
    private static float Max(float m, float v) => v > m ? v : m;

    private static int ClampTo(int i, int count) => i < 0 ? 0 : i >= count ? count - 1 : i;
}
