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
    /// <summary>Columns a group of <see cref="MaxPool3x3S2"/> covers: <paramref name="group"/>, or fewer for a narrow map (whole 16s).</summary>
    private static int RowGroup(in PoolParams p, int group) => Math.Min(group, Tiling.CeilDiv(p.OutWidth, 16) * 16);

    /// <summary>Most Channels x OutHeight (Y) and Batch (Z) of one <see cref="Config"/> launch: CUDA's grid-Y and grid-Z limit.</summary>
    public const int MaxGridYZ = 65535;

    /// <summary>Whether <see cref="Config"/> can launch <paramref name="p"/> (Channels x OutHeight and Batch at most <see cref="MaxGridYZ"/>).</summary>
    public static bool Supports(in PoolParams p) => (long)p.Channels * p.OutHeight <= MaxGridYZ && p.Batch <= MaxGridYZ;

    /// <summary>
    /// The launch of <see cref="MaxPool3x3S2"/>: a 3-D grid, X over an output row's columns, Y over (channel, output
    /// row), Z over the faces, so a thread finds its column without an integer division and its row and plane (one
    /// division of a work-group's Y) are uniform across a work-group. Check <see cref="Supports"/> first.
    /// </summary>
    public static KernelConfig Config(in PoolParams p, int group)
    {
        int gx = RowGroup(p, group);
        return new(new Index3D(Tiling.CeilDiv(p.OutWidth, gx), p.Channels * p.OutHeight, p.Batch), new Index3D(gx, 1, 1));
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
        // The division before the early exit: unconditional, so LLVM hoists it out of PoCL's work-item loop (after the
        // exit it may trap, so it stayed in the vector loop as one idiv a lane).
        int rows = Grid.GlobalIndex.Y, channel = rows / p.OutHeight, oy = rows - channel * p.OutHeight;
        int ox = Grid.GlobalIndex.X;
        if (ox >= p.OutWidth) return;
        int plane = Grid.GlobalIndex.Z * p.Channels + channel;
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
