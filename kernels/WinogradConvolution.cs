using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>
/// 3x3, stride 1, padding 1 convolution by Winograd F(2x2, 3x3): Y = A^T [sum_ci U ⊙ V] A with U = G g G^T (packed at
/// load time) and V = B^T d B for each 4x4 input patch d. 16 multiply-adds per 2x2 output tile and input channel
/// instead of 36. Same epilogue as <see cref="Convolution.Conv2D"/> (bias, identity or 1x1 projection shortcut,
/// activation), same <see cref="ConvParams"/> (Kernel 3, Stride 1, Pad 1).
/// <para>
/// A thread owns one 2x2 output tile x 8 output channels. The input channels are swept four times, once per row i of
/// V: row i of V needs only two input rows (B^T has two non-zeros per row), so a sweep holds 4 columns x 8 channels
/// = 32 accumulators, not 128. PoCL (which runs a work-group as a scalar loop over work-items) then packs the 8
/// channels of each column into one AVX register, so the whole sweep stays in registers; after each sweep its row of
/// M is folded into the 2x2 output with A. (16 channels per thread, or all 16 components in one sweep, spill; timings
/// of this and the variants tried: bench/RESULTS.md, "Kernel variants" and "Kernel design measurements".)
/// </para>
/// <para>
/// Rounding differs from the direct sum but stays well inside the same float64-reference tolerance (0.4-2.5% of it).
/// As in any Winograd tile, a non-finite input spreads to all four outputs of the tiles whose patch holds it.
/// </para>
/// </summary>
public static partial class WinogradConvolution
{
    /// <summary>Output channels per thread; the same padding as the direct kernel, so bias and shortcut weights are shared.</summary>
    public const int ChannelTile = Convolution.ChannelTile;

    /// <summary>Floats of packed U per (channel block, sweep, input channel): 4 columns x 8 channels.</summary>
    public const int SweepStride = 4 * ChannelTile;

    /// <summary>
    /// Index of U[block * 8 + c, ci][i, j] in the packed weights: <c>(((block * 4 + i) * 4 + j) * Cin + ci) * 8 + c</c>.
    /// A row i of one channel block spans <c>Cin * SweepStride</c> floats, its four columns j one after another.
    /// </summary>
    public static int WeightIndex(int block, int i, int j, int ci, int c, int cin) => (((block * 4 + i) * 4 + j) * cin + ci) * ChannelTile + c;

    public static bool Supports(in ConvParams p) =>
        p.Kernel == 3 && p.Stride == 1 && p.Pad == 1 && p.OutHeight == p.InHeight && p.OutWidth == p.InWidth;

    public static int TilesX(in ConvParams p) => (p.OutWidth + 1) / 2;
    public static int Tiles(in ConvParams p) => TilesX(p) * ((p.OutHeight + 1) / 2);
    public static int ChannelBlocks(in ConvParams p) => Tiling.CeilDiv(p.OutChannels, ChannelTile);

    /// <summary>
    /// One thread per (batch, channel block, tile), tile fastest: a 1-D launch (<c>DeviceKernels.Config</c>) wastes
    /// only the last group's spare threads, where a 2-D one would pad the 9 tiles of a 6x6 map to a group of 16.
    /// </summary>
    public static long ThreadCount(in ConvParams p) => (long)p.Batch * ChannelBlocks(p) * Tiles(p);

    /// <summary>
    /// Launch with <see cref="ThreadCount"/> threads. Weights packed
    /// <c>weight[(((block * 4 + i) * 4 + j) * Cin + ci) * 8 + c] = U[block * 8 + c, ci][i, j]</c> (<see cref="WeightIndex"/>:
    /// each (block, i, j) one contiguous run over the input channels, which a product thread streams); padded channels are zero
    /// and never written. Bias and projection weights as for <see cref="Convolution.Conv2D"/>.
    /// </summary>
    public static void WinogradF2x3(
        ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> shortcut, ArrayView<float> shortcutWeight,
        ArrayView<float> output, ConvParams p)
    {
        int h = p.OutHeight, w = p.OutWidth, cin = p.InChannels;
        int tilesX = TilesX(p), tiles = Tiles(p), blocks = ChannelBlocks(p);
        int total = p.Batch * blocks * tiles;
        // No early exit (as in Conv2D): spare threads compute a copy of the last tile and store nothing.
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        int tile = g % tiles, block = g / tiles % blocks, b = g / tiles / blocks;
        int ty = tile / tilesX, tx = tile % tilesX;

        // The 4x4 patch starts at (2 ty - 1, 2 tx - 1). Its rows and columns 1 are always inside the map; rows and
        // columns 0, 2, 3 may fall in the padding. Those taps still load (in range) and are multiplied by 0
        // (branch-free; see Sweep).
        int y0 = 2 * ty - 1, x0 = 2 * tx - 1;
        var patch = new Patch
        {
            OkR0 = y0 >= 0, OkR2 = y0 + 2 < h, OkR3 = y0 + 3 < h,
            OkC0 = x0 >= 0, OkC2 = x0 + 2 < w, OkC3 = x0 + 3 < w,
        };
        // A padding row or column reads row or column 1 instead, so that every load stays inside the patch.
        patch.R1 = (y0 + 1) * w;
        patch.R0 = patch.OkR0 ? y0 * w : patch.R1;
        patch.R2 = patch.OkR2 ? (y0 + 2) * w : patch.R1;
        patch.R3 = patch.OkR3 ? (y0 + 3) * w : patch.R1;
        patch.C1 = x0 + 1;
        patch.C0 = patch.OkC0 ? x0 : patch.C1;
        patch.C2 = patch.OkC2 ? x0 + 2 : patch.C1;
        patch.C3 = patch.OkC3 ? x0 + 3 : patch.C1;

        int hw = h * w;
        int x = b * cin * hw;
        int u = block * 4 * cin * SweepStride;
        // Row i of E = B^T d is d[a] + s d[b]: (d0 - d2), (d1 + d2), (d2 - d1), (d1 - d3). Each sweep's row of M times A
        // gives t0 = M0 + M1 + M2 and t1 = M1 - M2 - M3, which enter output row 0 with A^T[0][i] = (1, 1, 1, 0) and
        // output row 1 with A^T[1][i] = (0, 1, -1, -1).
        var m = Sweep(input, weight, x, hw, cin, u, patch.R0, patch.OkR0, patch.R2, patch.OkR2, -1f, patch);
        Acc8 y00 = Left(m), y01 = Right(m), y10 = new(), y11 = new();
        m = Sweep(input, weight, x, hw, cin, u + cin * SweepStride, patch.R1, true, patch.R2, patch.OkR2, 1f, patch);
        Acc8 t0 = Left(m), t1 = Right(m);
        y00 = Add(y00, t0, 1f); y01 = Add(y01, t1, 1f); y10 = Add(y10, t0, 1f); y11 = Add(y11, t1, 1f);
        m = Sweep(input, weight, x, hw, cin, u + 2 * cin * SweepStride, patch.R2, patch.OkR2, patch.R1, true, -1f, patch);
        t0 = Left(m); t1 = Right(m);
        y00 = Add(y00, t0, 1f); y01 = Add(y01, t1, 1f); y10 = Add(y10, t0, -1f); y11 = Add(y11, t1, -1f);
        m = Sweep(input, weight, x, hw, cin, u + 3 * cin * SweepStride, patch.R1, true, patch.R3, patch.OkR3, -1f, patch);
        y10 = Add(y10, Left(m), -1f); y11 = Add(y11, Right(m), -1f);

        Finish(output, bias, shortcut, shortcutWeight, b, block, 2 * ty, 2 * tx, y00, y01, y10, y11, active, p);
    }

    /// <summary>
    /// The epilogue of one 2x2 output tile x 8 channels (<paramref name="block"/>) at (<paramref name="oy"/>,
    /// <paramref name="ox"/>): the projection shortcut (if any), then bias, identity shortcut and activation, stored
    /// unless <paramref name="active"/> is false. Shared by the fused and the three-launch Winograd kernels.
    /// </summary>
    private static void Finish(ArrayView<float> output, ArrayView<float> bias, ArrayView<float> shortcut,
        ArrayView<float> shortcutWeight, int b, int block, int oy, int ox, Acc8 y00, Acc8 y01, Acc8 y10, Acc8 y11,
        bool active, ConvParams p)
    {
        int h = p.OutHeight, w = p.OutWidth;
        int co = block * ChannelTile;
        if (p.ShortcutMode == Convolution.ShortcutProjection)
        {
            // 1x1 strided projection of the block input, accumulated in the output domain (bias pre-summed).
            // Positions past an odd edge are clamped for reading and skipped when storing.
            int ox1 = ox + 1 < w ? ox + 1 : ox, oy1 = oy + 1 < h ? oy + 1 : oy;
            int sw = p.ShortcutWidth, ss = p.ShortcutStride;
            int s00 = oy * ss * sw + ox * ss, s01 = oy * ss * sw + ox1 * ss;
            int s10 = oy1 * ss * sw + ox * ss, s11 = oy1 * ss * sw + ox1 * ss;
            int shw = p.ShortcutHeight * sw;
            int sx = b * p.ShortcutChannels * shw;
            int wi = Convolution.WeightIndex(0, 0, co, p.ShortcutChannels, 1);
            for (int ci = 0; ci < p.ShortcutChannels; ci++)
            {
                y00 = Mac(y00, shortcutWeight, wi, shortcut[sx + s00]);
                y01 = Mac(y01, shortcutWeight, wi, shortcut[sx + s01]);
                y10 = Mac(y10, shortcutWeight, wi, shortcut[sx + s10]);
                y11 = Mac(y11, shortcutWeight, wi, shortcut[sx + s11]);
                wi += ChannelTile;
                sx += shw;
            }
        }

        if (!active) return;
        Store(output, bias, shortcut, b, co, 0, oy, ox, y00.C0, y01.C0, y10.C0, y11.C0, p);
        Store(output, bias, shortcut, b, co, 1, oy, ox, y00.C1, y01.C1, y10.C1, y11.C1, p);
        Store(output, bias, shortcut, b, co, 2, oy, ox, y00.C2, y01.C2, y10.C2, y11.C2, p);
        Store(output, bias, shortcut, b, co, 3, oy, ox, y00.C3, y01.C3, y10.C3, y11.C3, p);
        Store(output, bias, shortcut, b, co, 4, oy, ox, y00.C4, y01.C4, y10.C4, y11.C4, p);
        Store(output, bias, shortcut, b, co, 5, oy, ox, y00.C5, y01.C5, y10.C5, y11.C5, p);
        Store(output, bias, shortcut, b, co, 6, oy, ox, y00.C6, y01.C6, y10.C6, y11.C6, p);
        Store(output, bias, shortcut, b, co, 7, oy, ox, y00.C7, y01.C7, y10.C7, y11.C7, p);
    }

    /// <summary>Row and column offsets of one tile's 4x4 input patch (padding ones moved to row or column 1), and which are real.</summary>
    private struct Patch
    {
        public int R0, R1, R2, R3, C0, C1, C2, C3;
        public bool OkR0, OkR2, OkR3, OkC0, OkC2, OkC3;
    }

    /// <summary>One row of M: its 4 columns x 8 channels.</summary>
    private struct MRow
    {
        public Acc8 J0, J1, J2, J3;
    }

    /// <summary>
    /// Sums U[i][j] V[i][j] over the input channels for one row i of V, where row i of E = B^T d is
    /// d[rowA] + signB d[rowB] and V's row is E's row times B: (e0 - e2, e1 + e2, e2 - e1, e1 - e3).
    /// </summary>
    private static MRow Sweep(ArrayView<float> input, ArrayView<float> weight, int x, int hw, int cin, int u,
        int rowA, bool okA, int rowB, bool okB, float signB, Patch p)
    {
        var m = new MRow();
        // Padding taps drop out through a factor of 0 on their (in-range) load, the row sign folded in. Exact
        // for finite inputs (x 1, x -1, x 0), and faster on PoCL than a select per tap (masked loads whose masks do
        // not stay in registers; bench/RESULTS.md, "Kernel design measurements").
        float fA = okA ? 1f : 0f, fB = okB ? signB : 0f;
        float a0 = p.OkC0 ? fA : 0f, a2 = p.OkC2 ? fA : 0f, a3 = p.OkC3 ? fA : 0f;
        float b0 = p.OkC0 ? fB : 0f, b2 = p.OkC2 ? fB : 0f, b3 = p.OkC3 ? fB : 0f;
        int column = cin * ChannelTile; // between the columns j of U
        for (int ci = 0; ci < cin; ci++)
        {
            int ra = x + rowA, rb = x + rowB;
            float e0 = a0 * input[ra + p.C0] + b0 * input[rb + p.C0];
            float e1 = fA * input[ra + p.C1] + fB * input[rb + p.C1];
            float e2 = a2 * input[ra + p.C2] + b2 * input[rb + p.C2];
            float e3 = a3 * input[ra + p.C3] + b3 * input[rb + p.C3];
            m.J0 = Mac(m.J0, weight, u, e0 - e2);
            m.J1 = Mac(m.J1, weight, u + column, e1 + e2);
            m.J2 = Mac(m.J2, weight, u + 2 * column, e2 - e1);
            m.J3 = Mac(m.J3, weight, u + 3 * column, e1 - e3);
            x += hw;
            u += ChannelTile;
        }
        return m;
    }

    /// <summary>
    /// a += w[at..at+8] v: eight adjacent weights times one value, the pattern PoCL's vectoriser packs. A multiply and an
    /// add, not <see cref="Acc8.Fma"/>: with fused multiply-adds LLVM's SLP vectoriser leaves this kernel's 32
    /// accumulators scalar (346 scalar vfmadd, 1.5x the CPU time; bench/RESULTS.md, "Kernel design measurements").
    /// </summary>
    private static Acc8 Mac(Acc8 a, ArrayView<float> w, int at, float v)
    {
        a.C0 += w[at] * v; a.C1 += w[at + 1] * v; a.C2 += w[at + 2] * v; a.C3 += w[at + 3] * v;
        a.C4 += w[at + 4] * v; a.C5 += w[at + 5] * v; a.C6 += w[at + 6] * v; a.C7 += w[at + 7] * v;
        return a;
    }

    /// <summary>Column 0 of a row of M times A: M0 + M1 + M2.</summary>
    private static Acc8 Left(MRow m)
    {
        var t = new Acc8();
        t.C0 = m.J0.C0 + m.J1.C0 + m.J2.C0; t.C1 = m.J0.C1 + m.J1.C1 + m.J2.C1;
        t.C2 = m.J0.C2 + m.J1.C2 + m.J2.C2; t.C3 = m.J0.C3 + m.J1.C3 + m.J2.C3;
        t.C4 = m.J0.C4 + m.J1.C4 + m.J2.C4; t.C5 = m.J0.C5 + m.J1.C5 + m.J2.C5;
        t.C6 = m.J0.C6 + m.J1.C6 + m.J2.C6; t.C7 = m.J0.C7 + m.J1.C7 + m.J2.C7;
        return t;
    }

    /// <summary>Column 1 of a row of M times A: M1 - M2 - M3.</summary>
    private static Acc8 Right(MRow m)
    {
        var t = new Acc8();
        t.C0 = m.J1.C0 - m.J2.C0 - m.J3.C0; t.C1 = m.J1.C1 - m.J2.C1 - m.J3.C1;
        t.C2 = m.J1.C2 - m.J2.C2 - m.J3.C2; t.C3 = m.J1.C3 - m.J2.C3 - m.J3.C3;
        t.C4 = m.J1.C4 - m.J2.C4 - m.J3.C4; t.C5 = m.J1.C5 - m.J2.C5 - m.J3.C5;
        t.C6 = m.J1.C6 - m.J2.C6 - m.J3.C6; t.C7 = m.J1.C7 - m.J2.C7 - m.J3.C7;
        return t;
    }

    /// <summary>y + s t with s = ±1 (exact: folds to an add or a subtract).</summary>
    private static Acc8 Add(Acc8 y, Acc8 t, float s)
    {
        y.C0 += s * t.C0; y.C1 += s * t.C1; y.C2 += s * t.C2; y.C3 += s * t.C3;
        y.C4 += s * t.C4; y.C5 += s * t.C5; y.C6 += s * t.C6; y.C7 += s * t.C7;
        return y;
    }

    /// <summary>Bias, identity shortcut and activation for one channel's 2x2 tile; positions past an odd edge are skipped.</summary>
    private static void Store(ArrayView<float> output, ArrayView<float> bias, ArrayView<float> shortcut,
        int b, int co, int c, int oy, int ox, float v00, float v01, float v10, float v11, ConvParams p)
    {
        if (co + c >= p.OutChannels) return;
        int w = p.OutWidth;
        int at = ((b * p.OutChannels + co + c) * p.OutHeight + oy) * w + ox;
        bool right = ox + 1 < w, down = oy + 1 < p.OutHeight;
        float bc = bias[co + c];
        Put(output, shortcut, at, v00 + bc, p);
        if (right) Put(output, shortcut, at + 1, v01 + bc, p);
        if (down) Put(output, shortcut, at + w, v10 + bc, p);
        if (right && down) Put(output, shortcut, at + w + 1, v11 + bc, p);
    }

    private static void Put(ArrayView<float> output, ArrayView<float> shortcut, int at, float v, ConvParams p)
    {
        if (p.ShortcutMode == Convolution.ShortcutIdentity) v += shortcut[at];
        output[at] = Act.Apply(v, p.Activation);
    }
}
