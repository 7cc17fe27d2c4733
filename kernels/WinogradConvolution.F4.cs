using ILGPU;

namespace TrgIlgpu.Kernels;

// Winograd F(4x4, 3x3) in three launches, the F(2x2, 3x3) pipeline of WinogradConvolution.Gemm.cs with 6x6 input
// tiles at stride 4: WinogradInputF4 writes V = B^T d B (36 components a tile), WinogradGemmF4x16 the 36 products
// M[k] = V[k] U[k] (the same product body as WinogradGemmF2x16, 16 tiles x 16 channels a thread), WinogradOutputF4
// Y = A^T M A (4x4 outputs) with WinogradOutputF2's epilogue (bias, identity shortcut, activation; no projection).
// 36 multiply-adds per 4x4 output tile and input channel (2.25 an output, F2: 4), V and M 2.25 floats an output
// (F2: 4), U 36 floats a filter (F2: 16).
//
// Interpolation points 0, 1, -1, 1/2, -2 (and infinity), chosen for float32 accuracy: on TRGv2's 3x3 shapes their
// worst error was 0.75-0.9e-6 of the sum of |terms|, Lavin's 0, +-1, +-2 0.8-3.2e-6 and 0, +-1, +-1/2 1.9-3.5e-6
// (F2: 1.2-1.6e-7; docs/devices.md, "Winograd F(4x4, 3x3) (round seven)"). A^T's entries are powers of two (exact);
// G's (1/3, 1/15, ...) only enter U, which is computed in float64 at load time and rounded once.
//
//   B^T = [ 1 -3/2  -2  3/2   1  0 ]   G = [     1      0      0 ]   A^T = [ 1  1  1    1   1  0 ]
//         [ 0   -1 1/2  5/2   1  0 ]       [   1/3    1/3    1/3 ]         [ 0  1 -1  1/2  -2  0 ]
//         [ 0    1 -5/2 1/2   1  0 ]       [  -1/3    1/3   -1/3 ]         [ 0  1  1  1/4   4  0 ]
//         [ 0   -2  -1    2   1  0 ]       [ -16/15 -8/15  -4/15 ]         [ 0  1 -1  1/8  -8  1 ]
//         [ 0  1/2  -1 -1/2   1  0 ]       [  1/15  -2/15   4/15 ]
//         [ 0    1 -3/2  -2 3/2  1 ]       [     0      0      1 ]
public static partial class WinogradConvolution
{
    /// <summary>Outputs a side of an F(4x4, 3x3) tile.</summary>
    public const int TileSideF4 = 4;

    /// <summary>Winograd components per F(4x4, 3x3) tile (the 6x6 of V, U and M).</summary>
    public const int ComponentsF4 = 36;

    /// <summary>
    /// Index of U[block * 8 + c, ci][k] (k = 6 i + j) in F(4x4, 3x3)-packed weights: <c>((block * 36 + k) * Cin + ci) * 8 + c</c>,
    /// the F2 layout (<see cref="WeightIndex"/>) with 36 components: each (block, k) one contiguous run over the input channels.
    /// </summary>
    public static int WeightIndexF4(int block, int k, int ci, int c, int cin) => ((block * ComponentsF4 + k) * cin + ci) * ChannelTile + c;

    /// <summary>
    /// Whether the F(4x4, 3x3) pipeline can compute <paramref name="p"/>: a 3x3 stride-1 pad-1 convolution whose padded
    /// output channels are whole 16s (its product is the 16-channel one). A projection shortcut runs before it as a 1x1
    /// convolution of its own (<c>KernelPolicy.SeparateProjection</c>), which <see cref="WinogradOutputF4"/> adds as an
    /// identity shortcut.
    /// </summary>
    public static bool SupportsF4(in ConvParams p) => SupportsGemm16(p);

    public static int TilesXF4(in ConvParams p) => Tiling.CeilDiv(p.OutWidth, TileSideF4);
    public static int TilesF4(in ConvParams p) => TilesXF4(p) * Tiling.CeilDiv(p.OutHeight, TileSideF4);

    /// <summary>F(4x4, 3x3) tiles of the whole batch: the rows of each of the 36 products.</summary>
    public static int TileCountF4(in ConvParams p) => p.Batch * TilesF4(p);

    /// <summary>Distance between two (component, channel) rows of the F4 V and M: <see cref="TileCountF4"/> rounded up to whole <see cref="ProductTiles"/>.</summary>
    public static int TileStrideF4(in ConvParams p) => Tiling.CeilDiv(TileCountF4(p), ProductTiles) * ProductTiles;

    /// <summary>Floats of the F4 V: <c>v[k * Cin * TileStrideF4 + ((t / 16) * Cin + ci) * 16 + t % 16]</c> (the F2 layout, 36 components).</summary>
    public static long TransformLengthF4(in ConvParams p) => (long)ComponentsF4 * p.InChannels * TileStrideF4(p);

    /// <summary>Floats of the F4 M: <c>m[(k * CoutPadded + co) * TileStrideF4 + t]</c>.</summary>
    public static long ProductLengthF4(in ConvParams p) => (long)ComponentsF4 * p.OutChannelsPadded * TileStrideF4(p);

    /// <summary>One <see cref="WinogradInputF4"/> thread per (input channel, tile row entry, padding included).</summary>
    public static long InputThreadCountF4(in ConvParams p) => (long)p.InChannels * TileStrideF4(p);

    /// <summary>One <see cref="WinogradGemmF4x16"/> thread per (component, 16-channel pair of blocks, 16 tiles).</summary>
    public static long Gemm16ThreadCountF4(in ConvParams p) => (long)ComponentsF4 * (ChannelBlocks(p) / WideBlocks) * (TileStrideF4(p) / ProductTiles);

    /// <summary>
    /// One <see cref="WinogradOutputF4"/> thread per (output channel, tile row entry of M, padding included): thread g
    /// reads entry g of each of its channel's 36 component rows (<see cref="ProductLengthF4"/>), so a work-group's
    /// loads are contiguous vectors.
    /// </summary>
    public static long OutputThreadCountF4(in ConvParams p) => (long)p.OutChannels * TileStrideF4(p);

    /// <summary>
    /// V = B^T d B for each tile's 6x6 input patch d (zero padding; tile t = b * TilesF4 + tile starts at
    /// (4 ty - 1, 4 tx - 1)), written in the layout of <see cref="TransformLengthF4"/>, k = 6 i + j; entries past the
    /// last tile are written 0. Launch with <see cref="InputThreadCountF4"/>: thread g writes entry g of each component.
    /// </summary>
    public static void WinogradInputF4(ArrayView<float> input, ArrayView<float> v, ConvParams p)
    {
        int h = p.InHeight, w = p.InWidth, cin = p.InChannels;
        int tiles = TilesF4(p), tilesX = TilesXF4(p);
        int count = TileCountF4(p), stride = TileStrideF4(p);
        int g = Grid.GlobalIndex.X;
        if (g >= cin * stride) return;
        var (ci, b, tile, real) = InputTile(g, cin, tiles, count);
        int ty = Quotient(tile, tilesX), tx = tile - ty * tilesX;
        int y0 = TileSideF4 * ty - 1, x0 = TileSideF4 * tx - 1;
        int plane = (b * cin + ci) * h * w;

        // The patch's rows once: each row's start in the plane (the plane's start for a row outside the map, so that every
        // load stays in range) and whether it is inside (none of a padding tile's rows is). Computing y w and the row's
        // bounds in every tap kept most of the 36 taps' masks and offsets on the stack.
        bool in0 = real && y0 >= 0, in1 = real && y0 + 1 < h, in2 = real && y0 + 2 < h;
        bool in3 = real && y0 + 3 < h, in4 = real && y0 + 4 < h, in5 = real && y0 + 5 < h;
        int s0 = plane + y0 * w, s1 = s0 + w, s2 = s1 + w, s3 = s2 + w, s4 = s3 + w, s5 = s4 + w;
        int r0 = in0 ? s0 : plane, r1 = in1 ? s1 : plane, r2 = in2 ? s2 : plane;
        int r3 = in3 ? s3 : plane, r4 = in4 ? s4 : plane, r5 = in5 ? s5 : plane;

        // E = B^T d, column by column; then row i of V = row i of E times B.
        var c0 = ColumnF4(input, x0, w, r0, r1, r2, r3, r4, r5, in0, in1, in2, in3, in4, in5);
        var c1 = ColumnF4(input, x0 + 1, w, r0, r1, r2, r3, r4, r5, in0, in1, in2, in3, in4, in5);
        var c2 = ColumnF4(input, x0 + 2, w, r0, r1, r2, r3, r4, r5, in0, in1, in2, in3, in4, in5);
        var c3 = ColumnF4(input, x0 + 3, w, r0, r1, r2, r3, r4, r5, in0, in1, in2, in3, in4, in5);
        var c4 = ColumnF4(input, x0 + 4, w, r0, r1, r2, r3, r4, r5, in0, in1, in2, in3, in4, in5);
        var c5 = ColumnF4(input, x0 + 5, w, r0, r1, r2, r3, r4, r5, in0, in1, in2, in3, in4, in5);
        int k1 = cin * stride;
        WriteRowF4(v, g, k1, Bt(c0.X0, c1.X0, c2.X0, c3.X0, c4.X0, c5.X0));
        WriteRowF4(v, g + 6 * k1, k1, Bt(c0.X1, c1.X1, c2.X1, c3.X1, c4.X1, c5.X1));
        WriteRowF4(v, g + 12 * k1, k1, Bt(c0.X2, c1.X2, c2.X2, c3.X2, c4.X2, c5.X2));
        WriteRowF4(v, g + 18 * k1, k1, Bt(c0.X3, c1.X3, c2.X3, c3.X3, c4.X3, c5.X3));
        WriteRowF4(v, g + 24 * k1, k1, Bt(c0.X4, c1.X4, c2.X4, c3.X4, c4.X4, c5.X4));
        WriteRowF4(v, g + 30 * k1, k1, Bt(c0.X5, c1.X5, c2.X5, c3.X5, c4.X5, c5.X5));
    }

    /// <summary>B^T times column <paramref name="x"/> of the 6x6 patch whose rows start at r0-r5 in the input (in0-in5: inside the map).</summary>
    private static Float6 ColumnF4(ArrayView<float> input, int x, int w, int r0, int r1, int r2, int r3, int r4, int r5,
        bool in0, bool in1, bool in2, bool in3, bool in4, bool in5)
    {
        bool column = x >= 0 && x < w;
        int at = column ? x : 0;
        return Bt(TapF4(input, r0 + at, column && in0), TapF4(input, r1 + at, column && in1), TapF4(input, r2 + at, column && in2),
            TapF4(input, r3 + at, column && in3), TapF4(input, r4 + at, column && in4), TapF4(input, r5 + at, column && in5));
    }

    /// <summary>input[at] (always in range), 0 outside the map.</summary>
    private static float TapF4(ArrayView<float> input, int at, bool inside)
    {
        float value = input[at];
        return inside ? value : 0f;
    }

    /// <summary>B^T d for one 6-vector d (the rows of B^T above).</summary>
    private static Float6 Bt(float d0, float d1, float d2, float d3, float d4, float d5) => new()
    {
        X0 = d0 - 1.5f * d1 - 2f * d2 + 1.5f * d3 + d4,
        X1 = -d1 + 0.5f * d2 + 2.5f * d3 + d4,
        X2 = d1 - 2.5f * d2 + 0.5f * d3 + d4,
        X3 = -2f * d1 - d2 + 2f * d3 + d4,
        X4 = 0.5f * d1 - d2 - 0.5f * d3 + d4,
        X5 = d1 - 1.5f * d2 - 2f * d3 + 1.5f * d4 + d5,
    };

    private static void WriteRowF4(ArrayView<float> v, int at, int stride, Float6 row)
    {
        v[at] = row.X0;
        v[at + stride] = row.X1;
        v[at + 2 * stride] = row.X2;
        v[at + 3 * stride] = row.X3;
        v[at + 4 * stride] = row.X4;
        v[at + 5 * stride] = row.X5;
    }

    /// <summary>
    /// M[k] = V[k] U[k] for each of the 36 components: <see cref="WinogradGemmF2x16"/>'s product (the same body:
    /// 16 tiles x 16 output channels a thread) over the F4 V (<see cref="TransformLengthF4"/>) and U
    /// (<see cref="WeightIndexF4"/>), writing the F4 M (<see cref="ProductLengthF4"/>). Only where
    /// <see cref="SupportsF4"/>; launch with <see cref="Gemm16ThreadCountF4"/>.
    /// </summary>
    public static void WinogradGemmF4x16(ArrayView<float> v, ArrayView<float> weight, ArrayView<float> m, ConvParams p) =>
        Product16(v, weight, m, p, 6, TileStrideF4(p));

    /// <summary>
    /// Y = A^T M A for one F4 tile of one output channel (up to 4x4 outputs; those past the map's edge are not
    /// stored), then bias, identity shortcut (if any) and activation, as <see cref="WinogradOutputF2"/>. Only where
    /// <see cref="SupportsF4"/>, with an identity shortcut at most (a projection is its own launch first); launch with <see cref="OutputThreadCountF4"/>.
    /// </summary>
    public static void WinogradOutputF4(
        ArrayView<float> m, ArrayView<float> bias, ArrayView<float> shortcut, ArrayView<float> shortcutWeight,
        ArrayView<float> output, ConvParams p)
    {
        int tiles = TilesF4(p), tilesX = TilesXF4(p), cout = p.OutChannels;
        int stride = TileStrideF4(p), k1 = p.OutChannelsPadded * stride;
        int g = Grid.GlobalIndex.X;
        if (g >= cout * stride) return;
        // g = co * stride + t indexes M's component 0 directly: its 36 loads are g + k k1, the same for every lane.
        int at = g;
        var (b, co, tile, real) = OutputTile(g, stride, tiles, TileCountF4(p));

        // T = A^T M column by column (column j: components j, j + 6, ... 6 k1 apart), then output row r = row r of T times A.
        var t0 = AtColumn(m, at, 6 * k1);
        var t1 = AtColumn(m, at + k1, 6 * k1);
        var t2 = AtColumn(m, at + 2 * k1, 6 * k1);
        var t3 = AtColumn(m, at + 3 * k1, 6 * k1);
        var t4 = AtColumn(m, at + 4 * k1, 6 * k1);
        var t5 = AtColumn(m, at + 5 * k1, 6 * k1);
        float bc = bias[co];
        int ty = Quotient(tile, tilesX), tx = tile - ty * tilesX;
        int w = p.OutWidth, h = p.OutHeight, oy = TileSideF4 * ty, ox = TileSideF4 * tx;
        int o = ((b * cout + co) * h + oy) * w + ox;
        int columns = w - ox, rows = real ? h - oy : 0;
        if (rows > 0) PutRowF4(output, shortcut, o, columns, At(t0.X0, t1.X0, t2.X0, t3.X0, t4.X0, t5.X0), bc, p);
        if (rows > 1) PutRowF4(output, shortcut, o + w, columns, At(t0.X1, t1.X1, t2.X1, t3.X1, t4.X1, t5.X1), bc, p);
        if (rows > 2) PutRowF4(output, shortcut, o + 2 * w, columns, At(t0.X2, t1.X2, t2.X2, t3.X2, t4.X2, t5.X2), bc, p);
        if (rows > 3) PutRowF4(output, shortcut, o + 3 * w, columns, At(t0.X3, t1.X3, t2.X3, t3.X3, t4.X3, t5.X3), bc, p);
    }

    /// <summary>
    /// <see cref="WinogradOutputF4"/> writing the phase planes of <paramref name="split"/> instead of the NCHW output, as
    /// <see cref="WinogradOutputF2Planes"/>: an even map, so a tile is 2 or 4 rows by 2 or 4 columns, 2x2 cells in each plane
    /// at most; the tiles on the edge zero the padding next to them, the channel's first tiles the tails (<see cref="PlaneCells"/>).
    /// Launch with <see cref="OutputThreadCountF4"/>.
    /// </summary>
    public static void WinogradOutputF4Planes(
        ArrayView<float> m, ArrayView<float> bias, ArrayView<float> shortcut, ArrayView<float> planes, ConvParams p, ConvParams split)
    {
        int tiles = TilesF4(p), tilesX = TilesXF4(p), cout = p.OutChannels;
        int stride = TileStrideF4(p), k1 = p.OutChannelsPadded * stride;
        int g = Grid.GlobalIndex.X;
        if (g >= cout * stride) return;
        int at = g;
        var (b, co, tile, real) = OutputTile(g, stride, tiles, TileCountF4(p));
        var t0 = AtColumn(m, at, 6 * k1);
        var t1 = AtColumn(m, at + k1, 6 * k1);
        var t2 = AtColumn(m, at + 2 * k1, 6 * k1);
        var t3 = AtColumn(m, at + 3 * k1, 6 * k1);
        var t4 = AtColumn(m, at + 4 * k1, 6 * k1);
        var t5 = AtColumn(m, at + 5 * k1, 6 * k1);
        float bc = bias[co];
        int ty = Quotient(tile, tilesX), tx = tile - ty * tilesX;
        int w = p.OutWidth, h = p.OutHeight, oy = TileSideF4 * ty, ox = TileSideF4 * tx;
        int o = ((b * cout + co) * h + oy) * w + ox;
        if (!real) return;
        // An even map: 2 or 4 rows and columns of the tile lie inside it.
        int rows = h - oy > 2 ? 4 : 2, columns = w - ox > 2 ? 4 : 2;
        int ps = PhaseConvolution.PlaneStride(split), pw = PhaseConvolution.PlaneWidth(split);
        var cells = new PlaneCells { Planes = planes, Channel = (b * cout + co) * 4 * ps, Stride = ps, Width = pw };
        int y = oy + 1, x = ox + 1;
        PutRowF4Planes(cells, shortcut, o, y, x, columns, At(t0.X0, t1.X0, t2.X0, t3.X0, t4.X0, t5.X0), bc, p);
        PutRowF4Planes(cells, shortcut, o + w, y + 1, x, columns, At(t0.X1, t1.X1, t2.X1, t3.X1, t4.X1, t5.X1), bc, p);
        if (rows > 2)
        {
            PutRowF4Planes(cells, shortcut, o + 2 * w, y + 2, x, columns, At(t0.X2, t1.X2, t2.X2, t3.X2, t4.X2, t5.X2), bc, p);
            PutRowF4Planes(cells, shortcut, o + 3 * w, y + 3, x, columns, At(t0.X3, t1.X3, t2.X3, t3.X3, t4.X3, t5.X3), bc, p);
        }
        cells.Border(y, x, rows, columns, oy == 0, oy + rows >= h, ox == 0, ox + columns >= w);
        cells.ZeroTail(PhaseConvolution.PlaneHeight(split) * pw, tile);
    }

    /// <summary>One output row of an F4 tile plus bias into padded row <paramref name="y"/> of the planes: 2 or 4 columns.</summary>
    private static void PutRowF4Planes(PlaneCells cells, ArrayView<float> shortcut, int o, int y, int x, int columns, Float4 v, float bias, ConvParams p)
    {
        cells.Put(y, x, Activated(shortcut, o, v.X + bias, p));
        cells.Put(y, x + 1, Activated(shortcut, o + 1, v.Y + bias, p));
        if (columns > 2)
        {
            cells.Put(y, x + 2, Activated(shortcut, o + 2, v.Z + bias, p));
            cells.Put(y, x + 3, Activated(shortcut, o + 3, v.W + bias, p));
        }
    }

    /// <summary>A^T times one column of a tile's M (its 6 entries <paramref name="k6"/> apart); the result in X0-X3.</summary>
    private static Float6 AtColumn(ArrayView<float> m, int at, int k6)
    {
        var r = At(m[at], m[at + k6], m[at + 2 * k6], m[at + 3 * k6], m[at + 4 * k6], m[at + 5 * k6]);
        return new Float6 { X0 = r.X, X1 = r.Y, X2 = r.Z, X3 = r.W };
    }

    /// <summary>A^T m for one 6-vector m (the rows of A^T above).</summary>
    private static Float4 At(float m0, float m1, float m2, float m3, float m4, float m5) => new()
    {
        X = m0 + m1 + m2 + m3 + m4,
        Y = m1 - m2 + 0.5f * m3 - 2f * m4,
        Z = m1 + m2 + 0.25f * m3 + 4f * m4,
        W = m1 - m2 + 0.125f * m3 - 8f * m4 + m5,
    };

    /// <summary>One output row of an F4 tile plus bias: the first <paramref name="columns"/> (up to 4) of its outputs stored.</summary>
    private static void PutRowF4(ArrayView<float> output, ArrayView<float> shortcut, int o, int columns, Float4 y, float bias, ConvParams p)
    {
        PutSelect(output, shortcut, o, y.X + bias, p);
        if (columns > 1) PutSelect(output, shortcut, o + 1, y.Y + bias, p);
        if (columns > 2) PutSelect(output, shortcut, o + 2, y.Z + bias, p);
        if (columns > 3) PutSelect(output, shortcut, o + 3, y.W + bias, p);
    }

    /// <summary>Six floats (one column of B^T d, or four of A^T m).</summary>
    private struct Float6
    {
        public float X0, X1, X2, X3, X4, X5;
    }
}
