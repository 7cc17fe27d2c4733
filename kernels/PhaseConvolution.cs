using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>
/// Stride-2 and stride-1 convolutions (odd kernel K, padding K/2, no projection shortcut: the ResNet stem, the first 3x3
/// of a down-sampling block, the 3x3s of small maps) as two launches whose product loads are contiguous:
/// <see cref="PhaseSplit"/> de-interleaves each input channel into S x S zero-padded phase planes (S the stride: four
/// at stride 2, one zero-padded copy at stride 1), after which every tap of 16 neighbouring outputs is one contiguous
/// 16-float row of one plane, and <see cref="Conv2DPhase"/> runs the Winograd product's register shape (16 positions x
/// 8 channels, one load and eight broadcast multiply-adds per tap and input channel) with no mask and no gather
/// (docs/devices.md, "De-interleaved stride-2 convolutions (round five)", "Small maps without Winograd (round six)").
/// <para>
/// Plane (r, s) of channel (b, c) holds <c>plane[a * PW + x] = input[S a + r - P][S x + s - P]</c> (0 outside the
/// input) for a in [0, PH), x in [0, PW), with P = K/2 (K the <see cref="PlaneKernel"/>: the convolution's own, or that of
/// the convolution whose planes it shares), PW = OutWidth + (K-1)/S, PH = OutHeight + (K-1)/S, and zeros
/// after that up to <see cref="PlaneStride"/>; the planes of (b, c) are consecutive:
/// <c>((b * Cin + c) * S^2 + S r + s) * PlaneStride</c>. Tap (ky, kx) of output (oy, ox) is then plane (ky % S, kx % S)
/// at <c>(oy + ky/S) * PW + ox + kx/S</c>.
/// </para>
/// </summary>
public static class PhaseConvolution
{
    /// <summary>
    /// Phase planes per input channel, (row phase, column phase): Stride x Stride (4 at stride 2, 1 at stride 1), or 1 for a
    /// 1x1 kernel (a pointwise convolution: its one tap reads phase (0, 0) only, the subsampled input at stride 2).
    /// </summary>
    public static int Phases(in ConvParams p) => PlaneKernel(p) == 1 ? 1 : p.Stride * p.Stride;

    /// <summary>
    /// The odd kernel whose planes <see cref="Conv2DPhase"/> reads and <see cref="PhaseSplit"/> writes: <see cref="ConvParams.PlaneKernel"/>,
    /// or (0) the convolution's own. Everything about the planes (<see cref="Phases"/>, <see cref="Halo"/>, their padding
    /// <see cref="PlanePad"/>, <see cref="PlaneStride"/>) follows it, so that a 1x1 stride-2 convolution given a 3x3's plane
    /// kernel reads, through the 3x3's centre-tap plane, the very planes the 3x3's split wrote (<see cref="CanRead"/>).
    /// </summary>
    public static int PlaneKernel(in ConvParams p) => p.PlaneKernel > 0 ? p.PlaneKernel : p.Kernel;

    /// <summary>Rows and columns of zeros before the input in the planes: <see cref="PlaneKernel"/> / 2.</summary>
    public static int PlanePad(in ConvParams p) => PlaneKernel(p) >> 1;

    /// <summary>
    /// Whether <see cref="Conv2DPhase"/> can run <paramref name="p"/>: stride 1 or 2, an odd kernel (1x1 included: a
    /// pointwise convolution, the ResNet projection shortcut at stride 2), padding K/2 before the input (any padding after it: the planes are zero outside the input), no projection
    /// shortcut, and planes of fewer than 2^22 floats (<see cref="PhaseSplit"/>'s float row division) and at most
    /// <see cref="MaxPlanes"/> planes; a <see cref="ConvParams.PlaneKernel"/>, if any, odd and at least the kernel.
    /// </summary>
    public static bool Supports(in ConvParams p) =>
        p.Stride is 1 or 2 && p.Kernel >= 1 && p.Kernel % 2 == 1 && p.Pad == p.Kernel / 2
        && (p.PlaneKernel == 0 || p.PlaneKernel % 2 == 1 && p.PlaneKernel >= p.Kernel)
        && p.ShortcutMode != Convolution.ShortcutProjection && PlaneStride(p) < MaxPlaneStride
        && (long)p.Batch * p.InChannels * Phases(p) <= MaxPlanes;

    /// <summary>Bound on <see cref="PlaneStride"/>: below it <see cref="PhaseSplit"/>'s float division finds rows exactly.</summary>
    public const int MaxPlaneStride = 1 << 22;

    /// <summary>Most planes (Batch x InChannels x <see cref="Phases"/>) of one launch: <see cref="SplitConfig"/>'s Y extent, CUDA's grid-Y limit.</summary>
    public const int MaxPlanes = 65535;

    /// <summary>
    /// Plane rows and columns a tap reaches beyond the output's: (K-1)/S, as a shift (S is 1 or 2: <see cref="Supports"/>):
    /// kernels compute it after an early exit, where an integer division by a run-time value stays in PoCL's vector loop.
    /// </summary>
    public static int Halo(in ConvParams p) => (PlaneKernel(p) - 1) >> (p.Stride - 1);

    /// <summary>Columns of a plane (PW): the output's plus the halo; also the row pitch of the "wide" output grid.</summary>
    public static int PlaneWidth(in ConvParams p) => p.OutWidth + Halo(p);

    /// <summary>Rows of a plane (PH): the output's plus the halo.</summary>
    public static int PlaneHeight(in ConvParams p) => p.OutHeight + Halo(p);

    /// <summary>Strips of <see cref="Convolution.StripPositions"/> positions of the wide grid (OutHeight x PW) per image and channel block.</summary>
    public static int Strips(in ConvParams p) => Tiling.CeilDiv(p.OutHeight * PlaneWidth(p), Convolution.StripPositions);

    /// <summary>
    /// Floats from one plane's start to the next: enough that the last strip's furthest tap (its 16-float load at strip
    /// start + halo x (PW + 1)) stays inside the plane (so at least PH x PW), and 4 more than a multiple of 8, so that a
    /// channel's four planes span an odd number of 64-byte lines and <see cref="Conv2DPhase"/>'s loads of consecutive
    /// input channels fall in every set of the L1 data cache in turn. With whole 16-float rows the channel stride was a
    /// multiple of 4 lines (layer2.0.conv1: 2.5 pages, two sets), so a (tap, all input channels) sweep evicted itself
    /// before the next tap of the same phase could reuse its lines.
    /// </summary>
    public static int PlaneStride(in ConvParams p)
    {
        if (InPlace(p)) return p.InHeight * p.InWidth;
        int reach = Strips(p) * Convolution.StripPositions + Halo(p) * (PlaneWidth(p) + 1);
        return Tiling.CeilDiv(reach - 4, 8) * 8 + 4;
    }

    /// <summary>
    /// Whether the input itself is the plane (<see cref="PlaneStride"/> = InHeight x InWidth) and <see cref="Conv2DPhase"/>
    /// reads it in place, with no <see cref="PhaseSplit"/> launch: a 1x1 stride-1 convolution (its plane would be a copy of
    /// the input channel) whose positions are whole strips, so that no strip's 16-float load reaches past its channel
    /// (TRGv2's heatmap head: 24 x 24). The 8k + 4 stride does not matter there: one tap, no reuse across taps.
    /// </summary>
    public static bool InPlace(in ConvParams p) =>
        PlaneKernel(p) == 1 && p.Stride == 1 && p.OutHeight * p.OutWidth % Convolution.StripPositions == 0;

    /// <summary>
    /// Whether <paramref name="p"/> can run <see cref="Conv2DPhase"/> on the planes <see cref="PhaseSplit"/> wrote for
    /// <paramref name="split"/> (a convolution of the same input), given <c>PlaneKernel = split.Kernel</c>: both run on
    /// their own planes (no <see cref="ConvParams.PlaneKernel"/>), not in place, at the same stride over the same
    /// batch, channels and map, to the same output map (padding K/2 and K/2' make it so), and <paramref name="p"/>'s
    /// kernel is at most <paramref name="split"/>'s, so each of its taps is one of <paramref name="split"/>'s (the 1x1
    /// projection shortcut's: the 3x3's centre, plane (1, 1) at stride 2).
    /// </summary>
    public static bool CanRead(in ConvParams p, in ConvParams split) =>
        Supports(p) && Supports(split) && p.PlaneKernel == 0 && split.PlaneKernel == 0 && !InPlace(split) && !InPlace(p)
        && p.Stride == split.Stride && p.Kernel <= split.Kernel && p.Batch == split.Batch && p.InChannels == split.InChannels
        && p.InHeight == split.InHeight && p.InWidth == split.InWidth && p.OutHeight == split.OutHeight && p.OutWidth == split.OutWidth
        && Supports(p with { PlaneKernel = split.Kernel });

    /// <summary>
    /// Bytes that <paramref name="p"/>, reading another convolution's shared phase planes of <paramref name="planesLength"/>
    /// floats (<see cref="CanRead"/>), reads beyond its input: only the planes its taps read (the 1x1's one phase of each
    /// channel), less the input it does not read.
    /// </summary>
    public static long SharedPlaneBytes(in ConvParams p, long planesLength) =>
        4 * planesLength / Phases(p) * Math.Min(Phases(p), p.Kernel * p.Kernel) - 4L * p.Batch * p.InChannels * p.InHeight * p.InWidth;

    /// <summary>Floats of the phase planes of a whole batch: Batch x InChannels x <see cref="Phases"/> x <see cref="PlaneStride"/>.</summary>
    public static long PlanesLength(in ConvParams p) => (long)p.Batch * p.InChannels * Phases(p) * PlaneStride(p);

    /// <summary>
    /// The launch of <see cref="PhaseSplit"/>: a 2-D grid, X over a plane's <see cref="PlaneStride"/> floats in groups of
    /// <paramref name="group"/>, Y over the Batch x InChannels x <see cref="Phases"/> planes (so a thread finds its plane
    /// without an integer division, which PoCL does not vectorise).
    /// </summary>
    public static KernelConfig SplitConfig(in ConvParams p, int group) =>
        new(new Index2D(Tiling.CeilDiv(PlaneStride(p), group), p.Batch * p.InChannels * Phases(p)), new Index2D(group, 1));

    /// <summary>
    /// Writes every float of the phase planes (launch with <see cref="SplitConfig"/>; one float a thread and no loop, so
    /// PoCL vectorises it across work-items): the input value it stands for, or 0 in the padding and the tail.
    /// </summary>
    public static void PhaseSplit(ArrayView<float> input, ArrayView<float> planes, ConvParams p)
    {
        int stride = PlaneStride(p);
        int at = Grid.GlobalIndex.X, plane = Grid.GlobalIndex.Y;
        if (at >= stride) return;
        // Stride 1 or 2 (Supports): shifts and masks instead of integer divisions by the stride, which PoCL leaves scalar in
        // its vector loop (with them this launch took 2.5-5x the CPU time of the constant stride-2 form, A/B at load 22).
        int log2s = p.Stride - 1, phases = Phases(p);
        int channel = phases == 1 ? plane : plane >> 2 * log2s, phase = plane & (phases - 1);
        int pw = PlaneWidth(p);
        // Row a = at / pw as a float division (vectorised, unlike the integer one): at + 0.5 is at least 0.5 from a
        // multiple of pw and exact in float, so the rounded quotient truncates to the right row while at < 2^22
        // (Supports).
        int a = (int)((at + 0.5f) / pw), x = at - a * pw;
        int pad = PlanePad(p);
        int iy = p.Stride * a + (phase >> log2s) - pad, ix = p.Stride * x + (phase & log2s) - pad;
        bool inside = a < PlaneHeight(p) && iy >= 0 && iy < p.InHeight && ix >= 0 && ix < p.InWidth;
        float v = input[channel * p.InHeight * p.InWidth + (inside ? iy * p.InWidth + ix : 0)];
        planes[plane * stride + at] = inside ? v : 0f;
    }

    /// <summary>
    /// Whether a producer can write <paramref name="split"/>'s planes itself, in place of <see cref="PhaseSplit"/>, through
    /// padded coordinates (<see cref="PaddedCell"/>): stride 2 (four phases) over an even map, so that the four planes of a
    /// channel are exactly its zero-padded (InHeight + 2P) x (InWidth + 2P) image de-interleaved (P = <see cref="PlanePad"/>,
    /// PH = InHeight / 2 + P, PW = InWidth / 2 + P), followed by the zero tail up to <see cref="PlaneStride"/>.
    /// </summary>
    public static bool PaddedPlanes(in ConvParams split) =>
        Supports(split) && !InPlace(split) && split.Stride == 2 && Phases(split) == 4
        && split.InHeight % 2 == 0 && split.InWidth % 2 == 0
        && 2 * PlaneHeight(split) == split.InHeight + 2 * PlanePad(split) && 2 * PlaneWidth(split) == split.InWidth + 2 * PlanePad(split);

    /// <summary>
    /// Index, in planes whose channel (b, c) starts at <paramref name="channel"/> (<c>(b * C + c) * 4 * PlaneStride</c>), of
    /// padded cell (<paramref name="y"/>, <paramref name="x"/>) = input (y - P, x - P) (<see cref="PaddedPlanes"/>): plane
    /// (y &amp; 1, x &amp; 1), row y / 2, column x / 2.
    /// </summary>
    public static int PaddedCell(int channel, int planeStride, int pw, int y, int x) =>
        channel + (((y & 1) << 1) + (x & 1)) * planeStride + (y >> 1) * pw + (x >> 1);

    /// <summary>
    /// Whether <see cref="Conv2DPhase"/>'s strips follow the output rows (each strip 16 columns of one row: q0 = oy x PW +
    /// 16 j) instead of the wide grid: where the output rows are whole strips (OutWidth a multiple of 16: TRGv2's stem,
    /// 96 columns), so that no halo column is computed and every strip is stored as whole 16-float runs.
    /// </summary>
    public static bool RowStrips(in ConvParams p) => p.OutWidth % Convolution.StripPositions == 0;

    /// <summary>Strips a thread each per image and channel block: OutHeight x OutWidth / 16 (<see cref="RowStrips"/>), else <see cref="Strips"/>.</summary>
    public static int ThreadStrips(in ConvParams p) =>
        RowStrips(p) ? p.OutHeight * (p.OutWidth / Convolution.StripPositions) : Strips(p);

    /// <summary>One thread per (batch, 8-channel block, strip: <see cref="ThreadStrips"/>), strips fastest.</summary>
    public static long ThreadCount(in ConvParams p) => (long)p.Batch * p.ChannelBlocks * ThreadStrips(p);

    /// <summary>
    /// The convolution from <see cref="PhaseSplit"/>'s planes (launch with <see cref="ThreadCount"/> threads; weights
    /// packed block-major as for <see cref="Convolution.Conv2D"/>). A thread owns 16 consecutive positions q = oy * PW + ox
    /// of the wide grid (16 columns of one output row where <see cref="RowStrips"/>) x 8 output channels; per (tap, input channel) it loads one contiguous row of 16 plane floats and
    /// does eight 16-wide fused multiply-adds, one per channel's broadcast weight. Columns ox &gt;= OutWidth are computed
    /// and not stored; bias, identity shortcut (if any) and activation as in <see cref="Convolution.Conv2D"/>.
    /// </summary>
    public static void Conv2DPhase(
        ArrayView<float> planes, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> shortcut, ArrayView<float> output, ConvParams p)
    {
        // No early exit: the loops stay uniform across a work-group (PoCL). Spare threads compute a copy and store nothing.
        int strips = ThreadStrips(p);
        int blocks = p.ChannelBlocks;
        int total = p.Batch * blocks * strips;
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        int strip = g % strips;
        int co = g / strips % blocks * Convolution.ChannelTile;
        int b = g / strips / blocks;
        int stride = PlaneStride(p), pw = PlaneWidth(p), s = p.Stride, log2s = s - 1;
        // Row strips: strip j of row oy starts at column 16 j of the wide grid's row oy (the halo columns skipped).
        bool rows = RowStrips(p);
        int rowStrips = rows ? p.OutWidth / Convolution.StripPositions : 1;
        int oy = strip / rowStrips, ox0 = (strip - oy * rowStrips) * Convolution.StripPositions;
        int q0 = rows ? oy * pw + ox0 : strip * Convolution.StripPositions;
        int channelStride = Phases(p) * stride;
        // Tap (ky, kx) is the planes' tap (ky + d, kx + d): d = 0 on its own planes, else the difference of the paddings.
        int d = PlanePad(p) - p.Pad;

        // One row of 16 positions per output channel.
        var tile = new Tile16x8();
        int batchBase = b * p.InChannels * channelStride + q0;
        for (int ky = 0; ky < p.Kernel; ky++)
        {
            for (int kx = 0; kx < p.Kernel; kx++)
            {
                int w = Convolution.WeightIndex(ky * p.Kernel + kx, 0, co, p.InChannels, p.Kernel * p.Kernel);
                int ty = ky + d, tx = kx + d;
                // Stride 1 or 2 (Supports): masks and shifts, not the integer division and modulo of a run-time stride
                // (two idivs a tap, which with the stem's 3 input channels cost as much as the tap's 24 multiply-adds).
                int x = batchBase + (((ty & log2s) << log2s) + (tx & log2s)) * stride + (ty >> log2s) * pw + (tx >> log2s);
                for (int ci = 0; ci < p.InChannels; ci++)
                {
                    // The 8 weights through a view at w: LLVM then broadcasts each from memory; indexed as weight[w + c]
                    // (w a known multiple of 8), it loaded them as one vector and built the broadcasts with permutes.
                    tile.Add(Acc16.Load(planes, x), weight.SubView(w, Convolution.ChannelTile), 0);
                    w += Convolution.ChannelTile;
                    x += channelStride;
                }
            }
        }

        if (!active) return;
        var targets = rows ? StripTargets.Run(oy * p.OutWidth + ox0) : StripTargets.Of(q0, pw, p);
        StoreRow(output, bias, shortcut, tile.A0, targets, b, co, p); StoreRow(output, bias, shortcut, tile.A1, targets, b, co + 1, p);
        StoreRow(output, bias, shortcut, tile.A2, targets, b, co + 2, p); StoreRow(output, bias, shortcut, tile.A3, targets, b, co + 3, p);
        StoreRow(output, bias, shortcut, tile.A4, targets, b, co + 4, p); StoreRow(output, bias, shortcut, tile.A5, targets, b, co + 5, p);
        StoreRow(output, bias, shortcut, tile.A6, targets, b, co + 6, p); StoreRow(output, bias, shortcut, tile.A7, targets, b, co + 7, p);
    }

    /// <summary>
    /// Epilogue of one channel's 16 wide-grid positions (a padded channel skipped): bias, identity shortcut and activation
    /// at each position <paramref name="t"/> keeps, with no per-position division or switch. Without a shortcut the row
    /// is activated as a whole (<see cref="Tile16x8.Activated"/>: 16-wide) and stored as one 16-float run where the strip
    /// lies inside one output row (<see cref="StripTargets.Whole"/>), else lane by lane.
    /// </summary>
    private static void StoreRow(ArrayView<float> output, ArrayView<float> bias, ArrayView<float> shortcut,
        Acc16 a, StripTargets t, int b, int c, ConvParams p)
    {
        if (c >= p.OutChannels) return;
        int plane = (b * p.OutChannels + c) * p.OutHeight * p.OutWidth;
        float bc = bias[c];
        if (p.ShortcutMode == Convolution.ShortcutIdentity)
        {
            Put(output, shortcut, plane, t.O0, a.T0 + bc, p); Put(output, shortcut, plane, t.O1, a.T1 + bc, p);
            Put(output, shortcut, plane, t.O2, a.T2 + bc, p); Put(output, shortcut, plane, t.O3, a.T3 + bc, p);
            Put(output, shortcut, plane, t.O4, a.T4 + bc, p); Put(output, shortcut, plane, t.O5, a.T5 + bc, p);
            Put(output, shortcut, plane, t.O6, a.T6 + bc, p); Put(output, shortcut, plane, t.O7, a.T7 + bc, p);
            Put(output, shortcut, plane, t.O8, a.T8 + bc, p); Put(output, shortcut, plane, t.O9, a.T9 + bc, p);
            Put(output, shortcut, plane, t.O10, a.T10 + bc, p); Put(output, shortcut, plane, t.O11, a.T11 + bc, p);
            Put(output, shortcut, plane, t.O12, a.T12 + bc, p); Put(output, shortcut, plane, t.O13, a.T13 + bc, p);
            Put(output, shortcut, plane, t.O14, a.T14 + bc, p); Put(output, shortcut, plane, t.O15, a.T15 + bc, p);
            return;
        }
        var r = Tile16x8.Activated(a, bc, (Activation)p.Activation);
        if (t.Whole)
        {
            r.Store(output, plane + t.O0);
            return;
        }
        t.Store(output, plane, r);
    }

    /// <summary>output[plane + o] = act(v (+ shortcut there)), unless <paramref name="o"/> is -1 (a position not stored).</summary>
    private static void Put(ArrayView<float> output, ArrayView<float> shortcut, int plane, int o, float v, ConvParams p)
    {
        if (o < 0) return;
        int at = plane + o;
        output[at] = Act.Select(p.ShortcutMode == Convolution.ShortcutIdentity ? v + shortcut[at] : v, (Activation)p.Activation);
    }
}

/// <summary>
/// The four phase planes of one channel as its padded image (<see cref="PhaseConvolution.PaddedPlanes"/> with plane
/// padding 1: a 3x3 stride-2 reader), for a producer that writes them in place of <see cref="PhaseConvolution.PhaseSplit"/>
/// (<see cref="WinogradConvolution.WinogradOutputF2Planes"/>, <see cref="WinogradConvolution.WinogradOutputF4Planes"/>): its
/// outputs go to their cells, and the producer of a block on the map's edge also zeros the padding cells next to the block,
/// the first blocks of the channel the planes' tails, so that every float of the planes is written each forward.
/// </summary>
internal struct PlaneCells
{
    public ArrayView<float> Planes;
    /// <summary>Where the channel's four planes start: <c>(b * C + c) * 4 * PlaneStride</c>.</summary>
    public int Channel;
    public int Stride, Width;

    /// <summary>Padded cell (<paramref name="y"/>, <paramref name="x"/>) = <paramref name="v"/>.</summary>
    public readonly void Put(int y, int x, float v) => Planes[PhaseConvolution.PaddedCell(Channel, Stride, Width, y, x)] = v;

    /// <summary>
    /// Zeros the padding next to a block of <paramref name="rows"/> x <paramref name="columns"/> outputs (2 or 4 each) at padded
    /// (<paramref name="y"/>, <paramref name="x"/>): row 0 above it when <paramref name="top"/>, the last padded row below it when
    /// <paramref name="bottom"/>, columns likewise, and the corners they meet at.
    /// </summary>
    public readonly void Border(int y, int x, int rows, int columns, bool top, bool bottom, bool left, bool right)
    {
        int below = y + rows, after = x + columns;
        if (top) ZeroRow(0, x, columns);
        if (bottom) ZeroRow(below, x, columns);
        if (left) ZeroColumn(y, 0, rows);
        if (right) ZeroColumn(y, after, rows);
        if (top && left) Put(0, 0, 0f);
        if (top && right) Put(0, after, 0f);
        if (bottom && left) Put(below, 0, 0f);
        if (bottom && right) Put(below, after, 0f);
    }

    /// <summary>
    /// Block <paramref name="block"/> of the channel's (its tile index) share of the planes' tails: floats
    /// <c>tail + 4 block</c> to <c>+ 3</c> of each plane, those below the stride (no loop, so the launch stays vectorised
    /// across work-items; <see cref="TailBlocks"/>: enough blocks cover the whole tail).
    /// </summary>
    public readonly void ZeroTail(int tail, int block)
    {
        int i = tail + 4 * block;
        if (i >= Stride) return;
        ZeroTailFloat(i); ZeroTailFloat(i + 1); ZeroTailFloat(i + 2); ZeroTailFloat(i + 3);
    }

    /// <summary>Blocks (of 4 floats) the tail of <paramref name="split"/>'s planes needs: (PlaneStride - PH x PW) / 4, rounded up.</summary>
    public static int TailBlocks(in ConvParams split) =>
        Tiling.CeilDiv(PhaseConvolution.PlaneStride(split) - PhaseConvolution.PlaneHeight(split) * PhaseConvolution.PlaneWidth(split), 4);

    private readonly void ZeroTailFloat(int i)
    {
        if (i >= Stride) return;
        Planes[Channel + i] = 0f;
        Planes[Channel + Stride + i] = 0f;
        Planes[Channel + 2 * Stride + i] = 0f;
        Planes[Channel + 3 * Stride + i] = 0f;
    }

    private readonly void ZeroRow(int y, int x, int columns)
    {
        Put(y, x, 0f); Put(y, x + 1, 0f);
        if (columns > 2) { Put(y, x + 2, 0f); Put(y, x + 3, 0f); }
    }

    private readonly void ZeroColumn(int y, int x, int rows)
    {
        Put(y, x, 0f); Put(y + 1, x, 0f);
        if (rows > 2) { Put(y + 2, x, 0f); Put(y + 3, x, 0f); }
    }
}

/// <summary>
/// Where a thread's 16 wide-grid positions q0..q0+15 go in an output channel: <c>oy * OutWidth + ox</c>, or -1 for a
/// column past OutWidth or a row past OutHeight. Found once a thread (one division) and shared by its channels.
/// </summary>
internal struct StripTargets
{
    public int O0, O1, O2, O3, O4, O5, O6, O7, O8, O9, O10, O11, O12, O13, O14, O15;

    /// <summary>
    /// Whether all 16 are stored, consecutively (O15 = O0 + 15): the strip lies inside one output row. (Past a wrap to
    /// the next row a target is O0 + i - halo, the halo at least one column, and past the last row -1.)
    /// </summary>
    public readonly bool Whole => O0 >= 0 && O15 == O0 + 15;

    /// <summary>16 consecutive targets from <paramref name="o0"/> on (<see cref="Whole"/>): a strip inside one output row.</summary>
    public static StripTargets Run(int o0) => new()
    {
        O0 = o0, O1 = o0 + 1, O2 = o0 + 2, O3 = o0 + 3, O4 = o0 + 4, O5 = o0 + 5, O6 = o0 + 6, O7 = o0 + 7,
        O8 = o0 + 8, O9 = o0 + 9, O10 = o0 + 10, O11 = o0 + 11, O12 = o0 + 12, O13 = o0 + 13, O14 = o0 + 14, O15 = o0 + 15,
    };

    /// <summary>The targets of the positions from <paramref name="q0"/> on, on a wide grid of <paramref name="pw"/> columns.</summary>
    public static StripTargets Of(int q0, int pw, ConvParams p) => Of(q0, pw, p.OutWidth, p.OutHeight, p.OutWidth, 1);

    /// <summary>
    /// The targets of the positions from <paramref name="q0"/> on, on a wide grid of <paramref name="pw"/> columns over a
    /// <paramref name="height"/> x <paramref name="width"/> map: (oy, ox) goes to <c>oy * rowPitch + ox * columnStep</c>
    /// (<see cref="TransposedConvolution.Deconv4x4S2"/>: every other column of every other output row).
    /// </summary>
    public static StripTargets Of(int q0, int pw, int width, int height, int rowPitch, int columnStep)
    {
        int oy = q0 / pw, ox = q0 - oy * pw;
        var m = new Map(pw, width, height, rowPitch, columnStep);
        return new()
        {
            O0 = m.Next(ref oy, ref ox), O1 = m.Next(ref oy, ref ox), O2 = m.Next(ref oy, ref ox), O3 = m.Next(ref oy, ref ox),
            O4 = m.Next(ref oy, ref ox), O5 = m.Next(ref oy, ref ox), O6 = m.Next(ref oy, ref ox), O7 = m.Next(ref oy, ref ox),
            O8 = m.Next(ref oy, ref ox), O9 = m.Next(ref oy, ref ox), O10 = m.Next(ref oy, ref ox), O11 = m.Next(ref oy, ref ox),
            O12 = m.Next(ref oy, ref ox), O13 = m.Next(ref oy, ref ox), O14 = m.Next(ref oy, ref ox), O15 = m.Next(ref oy, ref ox),
        };
    }

    /// <summary>output[at + O<i>i</i>] = row[<i>i</i>] for each target that is not -1 (a position not stored).</summary>
    public readonly void Store(ArrayView<float> output, int at, Acc16 row)
    {
        Keep(output, at, O0, row.T0); Keep(output, at, O1, row.T1); Keep(output, at, O2, row.T2); Keep(output, at, O3, row.T3);
        Keep(output, at, O4, row.T4); Keep(output, at, O5, row.T5); Keep(output, at, O6, row.T6); Keep(output, at, O7, row.T7);
        Keep(output, at, O8, row.T8); Keep(output, at, O9, row.T9); Keep(output, at, O10, row.T10); Keep(output, at, O11, row.T11);
        Keep(output, at, O12, row.T12); Keep(output, at, O13, row.T13); Keep(output, at, O14, row.T14); Keep(output, at, O15, row.T15);
    }

    private static void Keep(ArrayView<float> output, int at, int o, float v)
    {
        if (o >= 0) output[at + o] = v;
    }

    /// <summary>The wide grid and where its positions go.</summary>
    private readonly struct Map(int pw, int width, int height, int rowPitch, int columnStep)
    {
        /// <summary>The target of (<paramref name="oy"/>, <paramref name="ox"/>), then one step along the wide grid.</summary>
        public int Next(ref int oy, ref int ox)
        {
            int target = ox < width && oy < height ? oy * rowPitch + ox * columnStep : -1;
            bool wrap = ox == pw - 1;
            ox = wrap ? 0 : ox + 1;
            oy = wrap ? oy + 1 : oy;
            return target;
        }
    }
}
