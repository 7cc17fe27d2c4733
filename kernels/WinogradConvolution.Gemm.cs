using ILGPU;

namespace TrgIlgpu.Kernels;

// Winograd F(2x2, 3x3) in three launches (the same packed U and ConvParams as the fused WinogradF2x3):
// WinogradInputF2 computes V = B^T d B once per (tile, input channel); WinogradGemmF2 the 16 independent products
// M[k] = V[k] U[k] over the input channels as one batched matrix product whose rows are the tiles of the whole batch;
// WinogradOutputF2 Y = A^T M A with the fused kernel's epilogue (bias, identity shortcut, activation), one channel a
// thread and loop-free (a projection shortcut runs before it as a 1x1 convolution of its own: KernelPolicy.SeparateProjection).
// The fused kernel transforms each 4x4 patch again for every 8 output channels, in scalar code beside its 32
// multiply-adds per input channel; here the transform is done once and the product's loop is a register tile shaped
// for AVX-512: a thread owns 16 consecutive tiles (one 64-byte vector of V, the tile rows padded to a multiple of 16 so
// that the load is always whole) x 8 channels, and per input channel does one vector load of V, eight weights
// broadcast and eight 16-wide fused multiply-adds (LLVM's SLP vectoriser packs the 16 tiles of each channel into one
// zmm register on PoCL, since each accumulator row is written as one vector store: Acc16.Store, VectorStore). At
// batch 8 each weight loaded serves all the batch's tiles. WinogradGemmF2x16 is the same product with 16 channels a
// thread (one load of V for 16 multiply-adds; the CPU devices' choice, too many registers for CUDA). Cost: two more launches and the
// scratch tensors V (TransformLength) and M (ProductLength), each about 4x an input or output. Which pays where:
// KernelPolicy chooses the form; measurements: bench/RESULTS.md, "Kernel variants".
public static partial class WinogradConvolution
{
    /// <summary>Winograd components per tile (the 4x4 of V, U and M).</summary>
    public const int Components = 16;

    /// <summary>Consecutive tiles a product thread owns: one AVX-512 vector of V.</summary>
    public const int ProductTiles = 16;

    /// <summary>Tiles of the whole batch: the rows of each of the 16 products.</summary>
    public static int TileCount(in ConvParams p) => p.Batch * Tiles(p);

    /// <summary>
    /// Distance between two (component, channel) rows of V and M: <see cref="TileCount"/> rounded up to whole
    /// <see cref="ProductTiles"/> (the input transform writes zeros past the last tile; the product computes them too).
    /// </summary>
    public static int TileStride(in ConvParams p) => Tiling.CeilDiv(TileCount(p), ProductTiles) * ProductTiles;

    /// <summary>
    /// Floats of V: <c>v[k * Cin * TileStride + ((t / 16) * Cin + ci) * 16 + t % 16]</c> — per component, tile-group
    /// major, so that the 16 tiles x Cin input channels a product thread reads are one contiguous run.
    /// </summary>
    public static long TransformLength(in ConvParams p) => (long)Components * p.InChannels * TileStride(p);

    /// <summary>Floats of M: <c>m[(k * CoutPadded + co) * TileStride + t]</c>.</summary>
    public static long ProductLength(in ConvParams p) => (long)Components * p.OutChannelsPadded * TileStride(p);

    /// <summary>One input-transform thread per (input channel, tile row entry, padding included): 16 tiles fastest, then the input channel, then the tile group.</summary>
    public static long InputThreadCount(in ConvParams p) => (long)p.InChannels * TileStride(p);

    /// <summary>One product thread per (component, 8-channel block, 16 tiles): the component's column j fastest, then block, tiles, row i.</summary>
    public static long GemmThreadCount(in ConvParams p) => (long)Components * ChannelBlocks(p) * (TileStride(p) / ProductTiles);

    /// <summary>
    /// V = B^T d B for each tile's 4x4 input patch d (zero padding) of tile t = b * Tiles + tile, written to V in the
    /// layout of <see cref="TransformLength"/>, k = 4 i + j; the entries past the last tile are written 0. Launch with
    /// <see cref="InputThreadCount"/>: thread g writes entry g of each component (so neighbouring threads write
    /// neighbouring floats).
    /// </summary>
    public static void WinogradInputF2(ArrayView<float> input, ArrayView<float> v, ConvParams p)
    {
        int h = p.InHeight, w = p.InWidth, cin = p.InChannels;
        int tiles = Tiles(p), tilesX = TilesX(p);
        int count = TileCount(p), stride = TileStride(p);
        int g = Grid.GlobalIndex.X;
        if (g >= cin * stride) return;
        var (ci, b, tile, real) = InputTile(g, cin, tiles, count);
        int ty = Quotient(tile, tilesX), tx = tile - ty * tilesX;
        int y0 = 2 * ty - 1, x0 = 2 * tx - 1;
        int plane = (b * cin + ci) * h * w;

        // E = B^T d, column by column: rows (d0 - d2, d1 + d2, d2 - d1, d1 - d3).
        var c0 = Column(input, plane, y0, x0, h, w, real);
        var c1 = Column(input, plane, y0, x0 + 1, h, w, real);
        var c2 = Column(input, plane, y0, x0 + 2, h, w, real);
        var c3 = Column(input, plane, y0, x0 + 3, h, w, real);
        int at = g, k1 = cin * stride;
        // Row i of V = row i of E times B: (e0 - e2, e1 + e2, e2 - e1, e1 - e3).
        WriteRow(v, at, k1, c0.X - c2.X, c1.X + c2.X, c2.X - c1.X, c1.X - c3.X);
        WriteRow(v, at + 4 * k1, k1, c0.Y - c2.Y, c1.Y + c2.Y, c2.Y - c1.Y, c1.Y - c3.Y);
        WriteRow(v, at + 8 * k1, k1, c0.Z - c2.Z, c1.Z + c2.Z, c2.Z - c1.Z, c1.Z - c3.Z);
        WriteRow(v, at + 12 * k1, k1, c0.W - c2.W, c1.W + c2.W, c2.W - c1.W, c1.W - c3.W);
    }

    /// <summary>
    /// The tile of input-transform thread <paramref name="g"/> (<see cref="InputThreadCount"/>, <see cref="InputThreadCountF4"/>:
    /// 16 tiles fastest, then the input channel, then the tile group): its input channel, batch and tile, and whether it
    /// is a real tile (entries past <paramref name="count"/> pad the rows; their thread writes zeros and reads the last
    /// tile's patch). No integer division by a run-time value (<see cref="Quotient"/>): PoCL does those lane by lane.
    /// </summary>
    private static (int Ci, int B, int Tile, bool Real) InputTile(int g, int cin, int tiles, int count)
    {
        int run = g / ProductTiles, lane = g - run * ProductTiles;
        int group = Quotient(run, cin), ci = run - group * cin;
        int t = group * ProductTiles + lane;
        bool real = t < count;
        int tr = real ? t : count - 1;
        int b = Quotient(tr, tiles);
        return (ci, b, tr - b * tiles, real);
    }

    /// <summary>B^T times column x of the patch starting at row y0: (d0 - d2, d1 + d2, d2 - d1, d1 - d3).</summary>
    private static Float4 Column(ArrayView<float> input, int plane, int y0, int x, int h, int w, bool real)
    {
        float d0 = Tap(input, plane, y0, x, h, w, real), d1 = Tap(input, plane, y0 + 1, x, h, w, real);
        float d2 = Tap(input, plane, y0 + 2, x, h, w, real), d3 = Tap(input, plane, y0 + 3, x, h, w, real);
        return new Float4 { X = d0 - d2, Y = d1 + d2, Z = d2 - d1, W = d1 - d3 };
    }

    /// <summary>input[y, x] of one plane, 0 in the padding and for a padding tile (the load itself always stays in range).</summary>
    private static float Tap(ArrayView<float> input, int plane, int y, int x, int h, int w, bool real)
    {
        bool inside = real && y >= 0 && y < h && x >= 0 && x < w;
        float value = input[plane + (inside ? y * w + x : 0)];
        return inside ? value : 0f;
    }

    private static void WriteRow(ArrayView<float> v, int at, int stride, float j0, float j1, float j2, float j3)
    {
        v[at] = j0;
        v[at + stride] = j1;
        v[at + 2 * stride] = j2;
        v[at + 3 * stride] = j3;
    }

    /// <summary>
    /// M[k] = V[k] U[k] for each component k: <c>m[(k * CoutPadded + co) * TileStride + t] = sum_ci V[k, ci, t]
    /// U[co, ci][k]</c> (V in the layout of <see cref="TransformLength"/>: a thread's 16 tiles x Cin are contiguous), U packed as for <see cref="WinogradF2x3"/>. Launch with
    /// <see cref="GemmThreadCount"/>. A thread owns 16 consecutive tiles (whole: the rows are padded) x one 8-channel
    /// block; every row of M is written, padding tiles and padded channels included.
    /// </summary>
    public static void WinogradGemmF2(ArrayView<float> v, ArrayView<float> weight, ArrayView<float> m, ConvParams p)
    {
        int cin = p.InChannels, stride = TileStride(p);
        int groups = stride / ProductTiles, blocks = ChannelBlocks(p);
        int total = Components * blocks * groups;
        // No early exit: the loop stays uniform across a work-group (PoCL). Spare threads repeat the last one's work.
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        // Each thread streams one contiguous run of U (WeightIndex) and one of V; threads of the same row i and tile
        // group are neighbours (the four columns j, then every channel block reading the same 16 tiles of V).
        int j = g % 4, block = g / 4 % blocks, group = g / 4 / blocks % groups, i = g / 4 / blocks / groups;
        int k = 4 * i + j;
        int x = k * cin * stride + group * cin * ProductTiles;
        int u = WeightIndex(block, i, j, 0, 0, cin);

        // One accumulator row of 16 tiles per channel.
        var tile = new Tile16x8();
        for (int ci = 0; ci < cin; ci++)
        {
            tile.Add(Acc16.Load(v, x), weight, u);
            x += ProductTiles;
            u += ChannelTile;
        }

        if (!active) return;
        StoreBlock(m, tile, (k * p.OutChannelsPadded + block * ChannelTile) * stride + group * ProductTiles, stride);
    }

    /// <summary>8-channel blocks a <see cref="WinogradGemmF2x16"/> thread owns: two <see cref="Tile16x8"/>, so each 16-tile load of V feeds 16 multiply-adds.</summary>
    public const int WideBlocks = 2;

    /// <summary>
    /// Whether <see cref="WinogradGemmF2x16"/> can compute <paramref name="p"/>'s product: its padded output channels are
    /// whole 16-channel pairs of blocks (else the 8-channel <see cref="WinogradGemmF2"/>, same V, U and M).
    /// </summary>
    public static bool SupportsGemm16(in ConvParams p) => Supports(p) && ChannelBlocks(p) % WideBlocks == 0;

    /// <summary>One <see cref="WinogradGemmF2x16"/> thread per (component, 16-channel pair of blocks, 16 tiles).</summary>
    public static long Gemm16ThreadCount(in ConvParams p) => (long)Components * (ChannelBlocks(p) / WideBlocks) * (TileStride(p) / ProductTiles);

    /// <summary>
    /// The product of <see cref="WinogradGemmF2"/> (same V, U and M layouts, same result bit for bit) with 16 tiles x
    /// 16 output channels a thread: two <see cref="Tile16x8"/> fed by one load of V, 16 multiply-adds an input channel
    /// instead of 8. Only where <see cref="SupportsGemm16"/>; launch with <see cref="Gemm16ThreadCount"/>. On PoCL
    /// faster than the 8-channel form (docs/devices.md, "The product in 512-bit vectors (round six)"); for CUDA it needs
    /// 255 registers and spills (ptxas 11.8), so the engine's kernel policy keeps the 8-channel form there.
    /// </summary>
    public static void WinogradGemmF2x16(ArrayView<float> v, ArrayView<float> weight, ArrayView<float> m, ConvParams p) =>
        Product16(v, weight, m, p, 4, TileStride(p));

    /// <summary>
    /// The 16-channel product for a Winograd form of <paramref name="side"/> x <paramref name="side"/> components
    /// (4: F(2x2, 3x3), 6: F(4x4, 3x3)) whose V and M rows are <paramref name="stride"/> tiles apart: U packed
    /// <c>((block * side^2 + k) * Cin + ci) * 8 + c</c> (<see cref="WeightIndex"/>, <see cref="WeightIndexF4"/>).
    /// The body of <see cref="WinogradGemmF2x16"/> and <see cref="WinogradGemmF4x16"/>: nothing in it depends on
    /// the form but the component count and the tile rows.
    /// </summary>
    private static void Product16(ArrayView<float> v, ArrayView<float> weight, ArrayView<float> m, ConvParams p, int side, int stride)
    {
        int cin = p.InChannels, components = side * side;
        int groups = stride / ProductTiles, pairs = ChannelBlocks(p) / WideBlocks;
        int total = components * pairs * groups;
        // No early exit: the loop stays uniform across a work-group (PoCL). Spare threads repeat the last one's work.
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        // Each thread streams two contiguous runs of U and one of V; threads of the same row i and tile group are
        // neighbours (the columns j, then every pair of blocks reading the same 16 tiles of V).
        int j = g % side, pair = g / side % pairs, group = g / side / pairs % groups, i = g / side / pairs / groups;
        int k = side * i + j, block = WideBlocks * pair;
        int x = k * cin * stride + group * cin * ProductTiles;
        int u0 = (block * components + k) * cin * ChannelTile, u1 = u0 + components * cin * ChannelTile;

        // One accumulator row of 16 tiles per channel, 16 channels.
        var low = new Tile16x8();
        var high = new Tile16x8();
        for (int ci = 0; ci < cin; ci++)
        {
            var row = Acc16.Load(v, x);
            low.Add(row, weight, u0);
            high.Add(row, weight, u1);
            x += ProductTiles;
            u0 += ChannelTile;
            u1 += ChannelTile;
        }

        if (!active) return;
        int at = (k * p.OutChannelsPadded + block * ChannelTile) * stride + group * ProductTiles;
        StoreBlock(m, low, at, stride);
        StoreBlock(m, high, at + ChannelTile * stride, stride);
    }

    /// <summary>The 8 channel rows of one block of M from <paramref name="at"/>, <paramref name="stride"/> apart.</summary>
    private static void StoreBlock(ArrayView<float> m, Tile16x8 tile, int at, int stride)
    {
        tile.A0.Store(m, at); tile.A1.Store(m, at + stride); tile.A2.Store(m, at + 2 * stride); tile.A3.Store(m, at + 3 * stride);
        tile.A4.Store(m, at + 4 * stride); tile.A5.Store(m, at + 5 * stride); tile.A6.Store(m, at + 6 * stride); tile.A7.Store(m, at + 7 * stride);
    }

    /// <summary>
    /// Output-transform threads: one per (output channel, tile row entry of M, padding included), the entry fastest,
    /// so that thread g reads entry g of each of its channel's component rows (contiguous across a work-group).
    /// </summary>
    public static long OutputThreadCount(in ConvParams p) => (long)p.OutChannels * TileStride(p);

    /// <summary>
    /// The tile of output-transform thread <paramref name="g"/> = co * <paramref name="stride"/> + t (t = b * tiles +
    /// tile the row entry of M): batch, channel and tile, and whether t is a real tile (entries past
    /// <paramref name="count"/> pad the row; their thread stores nothing and works on the last tile's coordinates).
    /// </summary>
    private static (int B, int Co, int Tile, bool Real) OutputTile(int g, int stride, int tiles, int count)
    {
        int co = Quotient(g, stride), t = g - co * stride;
        bool real = t < count;
        int tr = real ? t : count - 1;
        int b = Quotient(tr, tiles);
        return (b, co, tr - b * tiles, real);
    }

    /// <summary>
    /// Y = A^T M A for one tile of one output channel, then bias, identity shortcut (if any) and activation; for
    /// convolutions without a projection shortcut (the plan runs that as its own launch and adds it here as an identity
    /// shortcut: <c>KernelPolicy.SeparateProjection</c>). Launch with
    /// <see cref="OutputThreadCount"/>. The body has no loop, so PoCL vectorises it across work-items (neighbours read
    /// neighbouring tiles of each row of M: contiguous loads); the 8-channel form with its per-channel stores was not.
    /// </summary>
    public static void WinogradOutputF2(
        ArrayView<float> m, ArrayView<float> bias, ArrayView<float> shortcut, ArrayView<float> shortcutWeight,
        ArrayView<float> output, ConvParams p)
    {
        int tiles = Tiles(p), tilesX = TilesX(p), cout = p.OutChannels;
        int stride = TileStride(p), k1 = p.OutChannelsPadded * stride;
        int g = Grid.GlobalIndex.X;
        if (g >= cout * stride) return;
        // g = co * stride + t indexes M's component 0 directly: its 16 loads are g + k k1, the same for every lane.
        int at = g;
        var (b, co, tile, real) = OutputTile(g, stride, tiles, TileCount(p));

        // Row i of M times A: l_i = M[i][0] + M[i][1] + M[i][2], r_i = M[i][1] - M[i][2] - M[i][3]; output row 0 is
        // l_0 + l_1 + l_2 (A^T[0] = (1, 1, 1, 0)), output row 1 is l_1 - l_2 - l_3 (A^T[1] = (0, 1, -1, -1)).
        float l0 = RowLeft(m, at, k1), r0 = RowRight(m, at, k1);
        float l1 = RowLeft(m, at + 4 * k1, k1), r1 = RowRight(m, at + 4 * k1, k1);
        float l2 = RowLeft(m, at + 8 * k1, k1), r2 = RowRight(m, at + 8 * k1, k1);
        float l3 = RowLeft(m, at + 12 * k1, k1), r3 = RowRight(m, at + 12 * k1, k1);
        float bc = bias[co];
        float y00 = l0 + l1 + l2 + bc, y01 = r0 + r1 + r2 + bc;
        float y10 = l1 - l2 - l3 + bc, y11 = r1 - r2 - r3 + bc;

        int ty = Quotient(tile, tilesX), tx = tile - ty * tilesX;
        int w = p.OutWidth, oy = 2 * ty, ox = 2 * tx;
        int o = ((b * cout + co) * p.OutHeight + oy) * w + ox;
        bool right = ox + 1 < w, down = oy + 1 < p.OutHeight;
        if (real) PutSelect(output, shortcut, o, y00, p);
        right &= real;
        down &= real;
        if (right) PutSelect(output, shortcut, o + 1, y01, p);
        if (down) PutSelect(output, shortcut, o + w, y10, p);
        if (right && down) PutSelect(output, shortcut, o + w + 1, y11, p);
    }

    /// <summary>
    /// Whether the output transform of <paramref name="p"/> (F2 or F4) can write the planes of <paramref name="split"/> in
    /// place of its output: <paramref name="split"/> reads exactly that output (batch, channels, map) through
    /// <see cref="PhaseConvolution.PaddedPlanes"/> with plane padding 1, <paramref name="p"/> has an identity shortcut at most,
    /// and a channel has a tile for each 4 floats of the planes' tail (<see cref="PlaneCells.ZeroTail"/>).
    /// </summary>
    public static bool SupportsPlanes(in ConvParams p, in ConvParams split) =>
        PhaseConvolution.PaddedPlanes(split) && PhaseConvolution.PlanePad(split) == 1 && p.ShortcutMode != Convolution.ShortcutProjection
        && split.Batch == p.Batch && split.InChannels == p.OutChannels && split.InHeight == p.OutHeight && split.InWidth == p.OutWidth
        && PlaneCells.TailBlocks(split) <= Math.Min(Tiles(p), TilesF4(p));

    /// <summary>
    /// <see cref="WinogradOutputF2"/> writing, instead of the NCHW output, the phase planes that <paramref name="split"/> (the
    /// 3x3 stride-2 convolution that is the output's only reader) reads: <see cref="PhaseConvolution.PaddedPlanes"/> with
    /// plane padding 1, an even map (so every tile is whole), the identity shortcut (if any) still read in NCHW. Each 2x2
    /// tile is one cell of each of the four planes; tiles on the edge also zero the padding next to them and the first tiles
    /// of a channel the planes' tails (<see cref="PlaneCells"/>), so the planes need no <see cref="PhaseConvolution.PhaseSplit"/>.
    /// Launch with <see cref="OutputThreadCount"/>.
    /// </summary>
    public static void WinogradOutputF2Planes(
        ArrayView<float> m, ArrayView<float> bias, ArrayView<float> shortcut, ArrayView<float> planes, ConvParams p, ConvParams split)
    {
        int tiles = Tiles(p), tilesX = TilesX(p), cout = p.OutChannels;
        int stride = TileStride(p), k1 = p.OutChannelsPadded * stride;
        int g = Grid.GlobalIndex.X;
        if (g >= cout * stride) return;
        int at = g;
        var (b, co, tile, real) = OutputTile(g, stride, tiles, TileCount(p));
        float l0 = RowLeft(m, at, k1), r0 = RowRight(m, at, k1);
        float l1 = RowLeft(m, at + 4 * k1, k1), r1 = RowRight(m, at + 4 * k1, k1);
        float l2 = RowLeft(m, at + 8 * k1, k1), r2 = RowRight(m, at + 8 * k1, k1);
        float l3 = RowLeft(m, at + 12 * k1, k1), r3 = RowRight(m, at + 12 * k1, k1);
        float bc = bias[co];
        float y00 = l0 + l1 + l2 + bc, y01 = r0 + r1 + r2 + bc;
        float y10 = l1 - l2 - l3 + bc, y11 = r1 - r2 - r3 + bc;

        int ty = Quotient(tile, tilesX), tx = tile - ty * tilesX;
        int w = p.OutWidth, h = p.OutHeight, oy = 2 * ty, ox = 2 * tx;
        int o = ((b * cout + co) * h + oy) * w + ox;
        if (!real) return;
        int ps = PhaseConvolution.PlaneStride(split), pw = PhaseConvolution.PlaneWidth(split);
        var cells = new PlaneCells { Planes = planes, Channel = (b * cout + co) * 4 * ps, Stride = ps, Width = pw };
        int y = oy + 1, x = ox + 1;
        cells.Put(y, x, Activated(shortcut, o, y00, p));
        cells.Put(y, x + 1, Activated(shortcut, o + 1, y01, p));
        cells.Put(y + 1, x, Activated(shortcut, o + w, y10, p));
        cells.Put(y + 1, x + 1, Activated(shortcut, o + w + 1, y11, p));
        cells.Border(y, x, 2, 2, oy == 0, oy + 2 >= h, ox == 0, ox + 2 >= w);
        cells.ZeroTail(PhaseConvolution.PlaneHeight(split) * pw, tile);
    }

    /// <summary>act(v + the identity shortcut at <paramref name="at"/>, if any), as <see cref="PutSelect"/> stores it.</summary>
    private static float Activated(ArrayView<float> shortcut, int at, float v, ConvParams p)
    {
        if (p.ShortcutMode == Convolution.ShortcutIdentity) v += shortcut[at];
        return Act.Select(v, (Activation)p.Activation);
    }

    /// <summary>Identity shortcut (if any) and activation (<see cref="Act.Select"/>: branch-free) of one output.</summary>
    private static void PutSelect(ArrayView<float> output, ArrayView<float> shortcut, int at, float v, ConvParams p)
    {
        if (p.ShortcutMode == Convolution.ShortcutIdentity) v += shortcut[at];
        output[at] = Act.Select(v, (Activation)p.Activation);
    }

    /// <summary>
    /// n / d for 0 &lt;= n and 0 &lt; d, exact while the quotient is below 2^21: a float estimate (within one of the
    /// truth there) corrected by the remainder. PoCL vectorises a float multiply; an integer division by a value known
    /// only at run time it does element by element (x86 has no vector integer division), which made the three
    /// divisions of a thread cost more than its transform.
    /// </summary>
    private static int Quotient(int n, int d)
    {
        int q = (int)(n * (1f / d));
        int r = n - q * d;
        q = r < 0 ? q - 1 : r >= d ? q + 1 : q;
        return q;
    }

    /// <summary>Column 0 of row i of M times A for one channel: M[i][0] + M[i][1] + M[i][2] (components k1 apart).</summary>
    private static float RowLeft(ArrayView<float> m, int at, int k1) => m[at] + m[at + k1] + m[at + 2 * k1];

    /// <summary>Column 1 of row i of M times A for one channel: M[i][1] - M[i][2] - M[i][3].</summary>
    private static float RowRight(ArrayView<float> m, int at, int k1) => m[at + k1] - m[at + 2 * k1] - m[at + 3 * k1];

    /// <summary>Four floats (one column of B^T d).</summary>
    private struct Float4
    {
        public float X, Y, Z, W;
    }
}
