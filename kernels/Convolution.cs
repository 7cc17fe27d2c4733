using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>Shape and epilogue of one 2-D convolution launch (NCHW, square kernel, zero padding).</summary>
public struct ConvParams
{
    public int Batch, InChannels, InHeight, InWidth;
    public int OutChannels, OutHeight, OutWidth;
    public int Kernel, Stride, Pad;
    /// <summary><see cref="Activation"/> applied last.</summary>
    public int Activation;
    /// <summary>0: none; 1: add the shortcut tensor (same shape as the output); 2: add a 1x1 projection of it.</summary>
    public int ShortcutMode;
    /// <summary>Projection shortcut input: channels, height, width, stride (mode 2 only).</summary>
    public int ShortcutChannels, ShortcutHeight, ShortcutWidth, ShortcutStride;
    /// <summary>
    /// <see cref="PhaseConvolution"/> only: the odd kernel of the phase planes <see cref="PhaseConvolution.Conv2DPhase"/>
    /// reads and <see cref="PhaseConvolution.PhaseSplit"/> writes (padding PlaneKernel / 2), at least <see cref="Kernel"/>;
    /// 0: <see cref="Kernel"/>'s own. A 1x1 stride-2 projection shortcut reads the planes of the 3x3 stride-2 convolution
    /// of the same input this way (PhaseConvolution.SplitOf), with no split of its own.
    /// </summary>
    public int PlaneKernel;

    public readonly int OutChannelsPadded => Tiling.PadChannels(OutChannels, Convolution.ChannelTile);
    public readonly int PositionThreads => Tiling.CeilDiv(OutHeight * OutWidth, Tiling.Positions);
    public readonly int ChannelBlocks => OutChannelsPadded / Convolution.ChannelTile;
    /// <summary>One thread per (batch, channel block, position thread), positions fastest.</summary>
    public readonly long ThreadCount => (long)Batch * ChannelBlocks * PositionThreads;
    public readonly KernelConfig Config(int maxGroup) => Tiling.Flat(ThreadCount, maxGroup);
}

/// <summary>
/// Direct 2-D convolution with BatchNorm already folded into weights and bias, and the bias, residual
/// (identity or 1x1 projection shortcut of a ResNet block) and activation fused into the epilogue.
/// </summary>
public static class Convolution
{
    public const int ShortcutNone = 0, ShortcutIdentity = 1, ShortcutProjection = 2;

    /// <summary>Output channels per thread.</summary>
    public const int ChannelTile = 8;

    /// <summary>
    /// Where weight (tap, ci, co) of a direct convolution with <paramref name="taps"/> = K*K taps and
    /// <paramref name="cin"/> input channels is packed: block-major, <c>(((co / 8) * taps + tap) * Cin + ci) * 8 + co % 8</c>,
    /// so that a thread's 8 output channels stream one contiguous run over (tap, input channel) (the tap-major
    /// <c>[tap][ci][CoutPadded]</c> layout read 32 of every 4 CoutPadded bytes: 2.5x slower on a weight-bound layer).
    /// </summary>
    public static int WeightIndex(int tap, int ci, int co, int cin, int taps) =>
        ((co / ChannelTile * taps + tap) * cin + ci) * ChannelTile + co % ChannelTile;

    /// <summary>
    /// The 1x1 convolution of <paramref name="p"/>'s projection shortcut as a launch of its own: the shortcut input
    /// (ShortcutChannels x ShortcutHeight x ShortcutWidth) to <paramref name="p"/>'s output shape at ShortcutStride, no
    /// padding, bias or activation (the projection's bias is pre-summed into the convolution's). Its weights are the
    /// projection's, packed block-major like any 1x1 convolution (<see cref="WeightIndex"/> with one tap).
    /// </summary>
    public static ConvParams Projection(in ConvParams p) => new()
    {
        Batch = p.Batch, InChannels = p.ShortcutChannels, InHeight = p.ShortcutHeight, InWidth = p.ShortcutWidth,
        OutChannels = p.OutChannels, OutHeight = p.OutHeight, OutWidth = p.OutWidth,
        Kernel = 1, Stride = p.ShortcutStride, Pad = 0, Activation = (int)Activation.None, ShortcutMode = ShortcutNone,
    };

    /// <summary>
    /// Launch with <see cref="ConvParams.Config"/>. Weights are packed block-major (<see cref="WeightIndex"/>), so the eight
    /// output channels of a tile are adjacent and a thread's weights one contiguous run; a projection shortcut's weights
    /// likewise, with one tap (<c>WeightIndex(0, ci, co, ShortcutChannels, 1)</c>).
    /// Padded output channels carry zero weights and are never written.
    /// </summary>
    public static void Conv2D(
        ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> shortcut, ArrayView<float> shortcutWeight,
        ArrayView<float> output, ConvParams p)
    {
        // No early exit: the loops stay uniform across a work-group (PoCL). Spare threads compute a copy and store nothing.
        int q = p.PositionThreads;
        int total = (int)p.ThreadCount;
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        int t = g % q;
        int co = (g / q % p.ChannelBlocks) * ChannelTile;
        int b = g / q / p.ChannelBlocks;

        int hw = p.InHeight * p.InWidth;
        int outHw = p.OutHeight * p.OutWidth;
        int pos0 = t, pos1 = t + q, pos2 = t + 2 * q, pos3 = t + 3 * q;
        // Positions past the end are clamped for reading and skipped when writing.
        int oy0 = Clamp(pos0, outHw) / p.OutWidth, ox0 = Clamp(pos0, outHw) % p.OutWidth;
        int oy1 = Clamp(pos1, outHw) / p.OutWidth, ox1 = Clamp(pos1, outHw) % p.OutWidth;
        int oy2 = Clamp(pos2, outHw) / p.OutWidth, ox2 = Clamp(pos2, outHw) % p.OutWidth;
        int oy3 = Clamp(pos3, outHw) / p.OutWidth, ox3 = Clamp(pos3, outHw) % p.OutWidth;

        var a0 = new Acc8(); var a1 = new Acc8(); var a2 = new Acc8(); var a3 = new Acc8();
        int inBatch = b * p.InChannels * hw;
        for (int ky = 0; ky < p.Kernel; ky++)
        {
            for (int kx = 0; kx < p.Kernel; kx++)
            {
                int off0 = TapOffset(oy0, ox0, ky, kx, p), off1 = TapOffset(oy1, ox1, ky, kx, p);
                int off2 = TapOffset(oy2, ox2, ky, kx, p), off3 = TapOffset(oy3, ox3, ky, kx, p);
                int w = WeightIndex(ky * p.Kernel + kx, 0, co, p.InChannels, p.Kernel * p.Kernel);
                int x = inBatch;
                for (int ci = 0; ci < p.InChannels; ci++)
                {
                    a0.Fma(weight, w, Masked(input, x, off0));
                    a1.Fma(weight, w, Masked(input, x, off1));
                    a2.Fma(weight, w, Masked(input, x, off2));
                    a3.Fma(weight, w, Masked(input, x, off3));
                    w += ChannelTile;
                    x += hw;
                }
            }
        }

        if (p.ShortcutMode == ShortcutProjection)
        {
            // 1x1 strided projection of the block input, accumulated into the same tile (bias pre-summed).
            int shw = p.ShortcutHeight * p.ShortcutWidth;
            int s0 = oy0 * p.ShortcutStride * p.ShortcutWidth + ox0 * p.ShortcutStride;
            int s1 = oy1 * p.ShortcutStride * p.ShortcutWidth + ox1 * p.ShortcutStride;
            int s2 = oy2 * p.ShortcutStride * p.ShortcutWidth + ox2 * p.ShortcutStride;
            int s3 = oy3 * p.ShortcutStride * p.ShortcutWidth + ox3 * p.ShortcutStride;
            int w = WeightIndex(0, 0, co, p.ShortcutChannels, 1);
            int x = b * p.ShortcutChannels * shw;
            for (int ci = 0; ci < p.ShortcutChannels; ci++)
            {
                a0.Fma(shortcutWeight, w, shortcut[x + s0]);
                a1.Fma(shortcutWeight, w, shortcut[x + s1]);
                a2.Fma(shortcutWeight, w, shortcut[x + s2]);
                a3.Fma(shortcutWeight, w, shortcut[x + s3]);
                w += ChannelTile;
                x += shw;
            }
        }

        if (!active) return;
        StoreTile(output, bias, shortcut, a0, a1, a2, a3, b, co, pos0, pos1, pos2, pos3, outHw, p);
    }

    /// <summary>Output channels per thread of <see cref="Conv2DWide"/>: two 8-channel blocks.</summary>
    public const int WideChannelTile = 2 * ChannelTile;

    /// <summary>
    /// Whether <see cref="Conv2DWide"/> can run <paramref name="p"/>: whole 16-channel tiles of the 8-padded packing
    /// and no projection shortcut (which the plan's direct convolutions never have: those blocks' conv2 is 3x3/1).
    /// </summary>
    public static bool SupportsWide(in ConvParams p) => p.ChannelBlocks % 2 == 0 && p.ShortcutMode != ShortcutProjection;

    /// <summary>One thread per (batch, 16-channel block, position thread), positions fastest.</summary>
    public static long WideThreadCount(in ConvParams p) => (long)p.Batch * (p.ChannelBlocks / 2) * p.PositionThreads;

    /// <summary>
    /// <see cref="Conv2D"/>'s loop with 16 output channels x 4 positions per thread (same packing, launch with
    /// <see cref="WideThreadCount"/> threads): each input value loaded feeds 16 multiply-adds instead of 8 (timings:
    /// bench/RESULTS.md, "Kernel variants").
    /// </summary>
    public static void Conv2DWide(
        ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> shortcut, ArrayView<float> output, ConvParams p)
    {
        int q = p.PositionThreads;
        int blocks = p.ChannelBlocks / 2;
        int total = p.Batch * blocks * q;
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        int t = g % q;
        int co = (g / q % blocks) * WideChannelTile;
        int b = g / q / blocks;

        int hw = p.InHeight * p.InWidth;
        int outHw = p.OutHeight * p.OutWidth;
        int pos0 = t, pos1 = t + q, pos2 = t + 2 * q, pos3 = t + 3 * q;
        int oy0 = Clamp(pos0, outHw) / p.OutWidth, ox0 = Clamp(pos0, outHw) % p.OutWidth;
        int oy1 = Clamp(pos1, outHw) / p.OutWidth, ox1 = Clamp(pos1, outHw) % p.OutWidth;
        int oy2 = Clamp(pos2, outHw) / p.OutWidth, ox2 = Clamp(pos2, outHw) % p.OutWidth;
        int oy3 = Clamp(pos3, outHw) / p.OutWidth, ox3 = Clamp(pos3, outHw) % p.OutWidth;

        // Channels co..co+7 in a*, co+8..co+15 in d*.
        var a0 = new Acc8(); var a1 = new Acc8(); var a2 = new Acc8(); var a3 = new Acc8();
        var d0 = new Acc8(); var d1 = new Acc8(); var d2 = new Acc8(); var d3 = new Acc8();
        int inBatch = b * p.InChannels * hw;
        for (int ky = 0; ky < p.Kernel; ky++)
        {
            for (int kx = 0; kx < p.Kernel; kx++)
            {
                int off0 = TapOffset(oy0, ox0, ky, kx, p), off1 = TapOffset(oy1, ox1, ky, kx, p);
                int off2 = TapOffset(oy2, ox2, ky, kx, p), off3 = TapOffset(oy3, ox3, ky, kx, p);
                int w = WeightIndex(ky * p.Kernel + kx, 0, co, p.InChannels, p.Kernel * p.Kernel);
                int x = inBatch;
                for (int ci = 0; ci < p.InChannels; ci++)
                {
                    float v0 = Masked(input, x, off0), v1 = Masked(input, x, off1);
                    float v2 = Masked(input, x, off2), v3 = Masked(input, x, off3);
                    a0.Fma(weight, w, v0); a1.Fma(weight, w, v1); a2.Fma(weight, w, v2); a3.Fma(weight, w, v3);
                    int w8 = w + p.Kernel * p.Kernel * p.InChannels * ChannelTile; // the next 8-channel block
                    d0.Fma(weight, w8, v0); d1.Fma(weight, w8, v1); d2.Fma(weight, w8, v2); d3.Fma(weight, w8, v3);
                    w += ChannelTile;
                    x += hw;
                }
            }
        }

        if (!active) return;
        StoreTile(output, bias, shortcut, a0, a1, a2, a3, b, co, pos0, pos1, pos2, pos3, outHw, p);
        StoreTile(output, bias, shortcut, d0, d1, d2, d3, b, co + ChannelTile, pos0, pos1, pos2, pos3, outHw, p);
    }

    /// <summary>Consecutive output positions (of one image) a <see cref="Conv2DStrip"/> thread owns.</summary>
    public const int StripPositions = 16;

    /// <summary>Strips of <see cref="StripPositions"/> positions per image and channel block (the last one may be partial).</summary>
    public static int Strips(in ConvParams p) => Tiling.CeilDiv(p.OutHeight * p.OutWidth, StripPositions);

    /// <summary>Whether <see cref="Conv2DStrip"/> can run <paramref name="p"/>: any shape without a projection shortcut.</summary>
    public static bool SupportsStrip(in ConvParams p) => p.ShortcutMode != ShortcutProjection;

    /// <summary>One thread per (batch, 8-channel block, strip), strips fastest.</summary>
    public static long StripThreadCount(in ConvParams p) => (long)p.Batch * p.ChannelBlocks * Strips(p);

    /// <summary>
    /// <see cref="Conv2D"/> in the Winograd product's register shape (same packing, launch with
    /// <see cref="StripThreadCount"/> threads): a thread owns 16 consecutive output positions of one image x 8 output
    /// channels, and per (tap, input channel) loads the 16 inputs of its positions (strided and masked: a gather), then
    /// does eight 16-wide fused multiply-adds, one per channel's broadcast weight (docs/devices.md, "Stride-2
    /// convolutions in the product shape").
    /// </summary>
    public static void Conv2DStrip(
        ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> shortcut, ArrayView<float> output, ConvParams p)
    {
        int strips = Strips(p);
        int blocks = p.ChannelBlocks;
        int total = p.Batch * blocks * strips;
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        int pos = g % strips * StripPositions;
        int co = g / strips % blocks * ChannelTile;
        int b = g / strips / blocks;
        int hw = p.InHeight * p.InWidth;
        int outHw = p.OutHeight * p.OutWidth;

        // One row of 16 positions per output channel.
        var tile = new Tile16x8();
        int inBatch = b * p.InChannels * hw;
        for (int ky = 0; ky < p.Kernel; ky++)
        {
            for (int kx = 0; kx < p.Kernel; kx++)
            {
                var taps = StripTaps.For(pos, outHw, ky, kx, p);
                int w = WeightIndex(ky * p.Kernel + kx, 0, co, p.InChannels, p.Kernel * p.Kernel);
                int x = inBatch;
                for (int ci = 0; ci < p.InChannels; ci++)
                {
                    tile.Add(taps.Load(input, x), weight, w);
                    w += ChannelTile;
                    x += hw;
                }
            }
        }

        if (!active) return;
        StoreStrip(output, bias, shortcut, tile.A0, b, co, pos, outHw, p); StoreStrip(output, bias, shortcut, tile.A1, b, co + 1, pos, outHw, p);
        StoreStrip(output, bias, shortcut, tile.A2, b, co + 2, pos, outHw, p); StoreStrip(output, bias, shortcut, tile.A3, b, co + 3, pos, outHw, p);
        StoreStrip(output, bias, shortcut, tile.A4, b, co + 4, pos, outHw, p); StoreStrip(output, bias, shortcut, tile.A5, b, co + 5, pos, outHw, p);
        StoreStrip(output, bias, shortcut, tile.A6, b, co + 6, pos, outHw, p); StoreStrip(output, bias, shortcut, tile.A7, b, co + 7, pos, outHw, p);
    }

    /// <summary>Epilogue of one channel's 16 positions; a padded channel and positions past the end are skipped.</summary>
    private static void StoreStrip(ArrayView<float> output, ArrayView<float> bias, ArrayView<float> shortcut,
        Acc16 a, int b, int c, int pos, int outHw, ConvParams p)
    {
        if (c >= p.OutChannels) return;
        int outBase = (b * p.OutChannels + c) * outHw;
        float bc = bias[c];
        for (int i = 0; i < StripPositions; i++)
            Store(output, shortcut, outBase, pos + i, outHw, a.Get(i) + bc, p);
    }

    /// <summary>The input offsets (within one channel, -1 in the padding) of one tap for a strip's 16 positions.</summary>
    private struct StripTaps
    {
        public int O0, O1, O2, O3, O4, O5, O6, O7, O8, O9, O10, O11, O12, O13, O14, O15;

        /// <summary>Tap (ky, kx) of positions pos..pos+15 (those past the end read the last position's).</summary>
        public static StripTaps For(int pos, int outHw, int ky, int kx, ConvParams p) => new()
        {
            O0 = At(pos, outHw, ky, kx, p), O1 = At(pos + 1, outHw, ky, kx, p), O2 = At(pos + 2, outHw, ky, kx, p),
            O3 = At(pos + 3, outHw, ky, kx, p), O4 = At(pos + 4, outHw, ky, kx, p), O5 = At(pos + 5, outHw, ky, kx, p),
            O6 = At(pos + 6, outHw, ky, kx, p), O7 = At(pos + 7, outHw, ky, kx, p), O8 = At(pos + 8, outHw, ky, kx, p),
            O9 = At(pos + 9, outHw, ky, kx, p), O10 = At(pos + 10, outHw, ky, kx, p), O11 = At(pos + 11, outHw, ky, kx, p),
            O12 = At(pos + 12, outHw, ky, kx, p), O13 = At(pos + 13, outHw, ky, kx, p), O14 = At(pos + 14, outHw, ky, kx, p),
            O15 = At(pos + 15, outHw, ky, kx, p),
        };

        private static int At(int pos, int outHw, int ky, int kx, ConvParams p)
        {
            int c = Clamp(pos, outHw);
            return TapOffset(c / p.OutWidth, c % p.OutWidth, ky, kx, p);
        }

        /// <summary>The 16 inputs of channel base <paramref name="x"/>, 0 in the padding.</summary>
        public readonly Acc16 Load(ArrayView<float> input, int x) => new()
        {
            T0 = Masked(input, x, O0), T1 = Masked(input, x, O1), T2 = Masked(input, x, O2), T3 = Masked(input, x, O3),
            T4 = Masked(input, x, O4), T5 = Masked(input, x, O5), T6 = Masked(input, x, O6), T7 = Masked(input, x, O7),
            T8 = Masked(input, x, O8), T9 = Masked(input, x, O9), T10 = Masked(input, x, O10), T11 = Masked(input, x, O11),
            T12 = Masked(input, x, O12), T13 = Masked(input, x, O13), T14 = Masked(input, x, O14), T15 = Masked(input, x, O15),
        };
    }

    /// <summary>Epilogue for 8 channels x 4 positions; padded channels and positions past the end are skipped.</summary>
    private static void StoreTile(ArrayView<float> output, ArrayView<float> bias, ArrayView<float> shortcut,
        Acc8 a0, Acc8 a1, Acc8 a2, Acc8 a3, int b, int co, int pos0, int pos1, int pos2, int pos3, int outHw, ConvParams p)
    {
        for (int c = 0; c < ChannelTile; c++)
        {
            if (co + c >= p.OutChannels) break;
            int outBase = (b * p.OutChannels + co + c) * outHw;
            float bc = bias[co + c];
            Store(output, shortcut, outBase, pos0, outHw, a0.Get(c) + bc, p);
            Store(output, shortcut, outBase, pos1, outHw, a1.Get(c) + bc, p);
            Store(output, shortcut, outBase, pos2, outHw, a2.Get(c) + bc, p);
            Store(output, shortcut, outBase, pos3, outHw, a3.Get(c) + bc, p);
        }
    }

    /// <summary>Branch-free read of a tap: the load is always in range, the padding is selected away.</summary>
    internal static float Masked(ArrayView<float> input, int channelBase, int offset)
    {
        float v = input[channelBase + (offset >= 0 ? offset : 0)];
        return offset >= 0 ? v : 0f;
    }

    private static int Clamp(int pos, int count) => pos < count ? pos : count - 1;

    /// <summary>Input offset (within one channel) of tap (ky, kx) for output (oy, ox), or -1 in the zero padding.</summary>
    private static int TapOffset(int oy, int ox, int ky, int kx, ConvParams p)
    {
        int iy = oy * p.Stride - p.Pad + ky;
        int ix = ox * p.Stride - p.Pad + kx;
        return iy >= 0 && iy < p.InHeight && ix >= 0 && ix < p.InWidth ? iy * p.InWidth + ix : -1;
    }

    private static void Store(ArrayView<float> output, ArrayView<float> shortcut, int outBase, int pos, int outHw, float v, ConvParams p)
    {
        if (pos >= outHw) return;
        output[outBase + pos] = Epilogue(shortcut, outBase + pos, v, p);
    }

    /// <summary>The bias-added value <paramref name="v"/> of output element <paramref name="at"/> plus the identity shortcut (if any), activated.</summary>
    internal static float Epilogue(ArrayView<float> shortcut, int at, float v, ConvParams p) =>
        Act.Apply(p.ShortcutMode == ShortcutIdentity ? v + shortcut[at] : v, p.Activation);
}
