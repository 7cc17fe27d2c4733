using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>Shape and epilogue of one <see cref="SeparableConvolution.DepthwiseConv3x3"/> launch (NCHW).</summary>
public struct DepthwiseParams
{
    public int Batch, Channels, InHeight, InWidth, OutHeight, OutWidth, Stride;
    /// <summary>Zero padding before the first row / column (<see cref="TfPadding.Before"/>); taps past the far edges are 0 too.</summary>
    public int PadTop, PadLeft;
    /// <summary>Applied to each input value as it is read (<see cref="ReadActivation.Relu"/> for the dense blocks) or none.</summary>
    public ReadActivation InputActivation;
    /// <summary>Applied last.</summary>
    public Activation Activation;

    /// <summary>Groups of <see cref="SeparableConvolution.RowOutputs"/> adjacent outputs in a row.</summary>
    public readonly int ColumnGroups => Tiling.CeilDiv(OutWidth, SeparableConvolution.RowOutputs);
    /// <summary>One thread per (plane, output row, column group).</summary>
    public readonly long ThreadCount => (long)Batch * Channels * OutHeight * ColumnGroups;
}

/// <summary>What a kernel applies to each input value as it reads it (the dense blocks' deferred ReLU).</summary>
public enum ReadActivation
{
    None,
    /// <summary>max(x, 0); a NaN passes through (as TF's relu).</summary>
    Relu,
}

/// <summary>Whether <see cref="SeparableConvolution.PointwiseConv"/> adds a tensor to its result.</summary>
public enum PointwiseAccumulate
{
    None,
    /// <summary>Add the <c>accumulate</c> tensor (the output's shape) after the bias, before the activation.</summary>
    Add,
}

/// <summary>Shape and epilogue of one <see cref="SeparableConvolution.PointwiseConv"/> launch (NCHW).</summary>
public struct PointwiseParams
{
    public int Batch, InChannels, OutChannels;
    /// <summary>Height x width of the map (input and output).</summary>
    public int Positions;
    public PointwiseAccumulate Accumulate;
    /// <summary>Applied last.</summary>
    public Activation Activation;

    public readonly int OutChannelsPadded => Tiling.PadChannels(OutChannels, SeparableConvolution.PointwiseChannelTile);
    public readonly int ChannelBlocks => OutChannelsPadded / SeparableConvolution.PointwiseChannelTile;
    public readonly int PositionThreads => Tiling.CeilDiv(Positions, Tiling.Positions);
    /// <summary>One thread per (batch, 16-channel block, position thread), positions fastest.</summary>
    public readonly long ThreadCount => (long)Batch * ChannelBlocks * PositionThreads;
}

/// <summary>
/// Depthwise 3x3 and pointwise (1x1) convolutions: the separable convolutions of the face networks (face-api 1.7.15),
/// plus the pointwise layers and 1x1 predictors of SSD MobileNet v1.
/// <para>
/// <b>How the networks use them.</b> SSD MobileNet v1 pair k: <c>DepthwiseConv3x3</c> (TF 'same', stride 1 or 2,
/// BatchNorm folded into weight and bias, <see cref="Activation.Relu6"/>), then <c>PointwiseConv</c> (bias = the BN
/// offset, Relu6). Box / class predictors: <c>PointwiseConv</c> with bias, no activation. Tiny Face Detector
/// separable conv (pad 1, 'valid' = 'same' at stride 1): <c>DepthwiseConv3x3</c> (no bias, no activation), then
/// <c>PointwiseConv</c> (bias, <see cref="Activation.LeakyRelu01"/>); its conv8 is a <c>PointwiseConv</c> with bias.
/// TF's separableConv2d rounds the depthwise result to float32 before the pointwise step, as these two launches do.
/// </para>
/// <para>
/// <b>FaceLandmark68Net dense block (denseBlock4) in 4 x 2 launches, no separate add or ReLU.</b> TF computes
/// <c>out1 = relu(conv0(x))</c>, <c>out2 = sep1(out1)</c>, <c>out3 = sep2(relu(out1 + out2))</c>,
/// <c>out4 = sep3(relu(out1 + out2 + out3))</c>, <c>block = relu(out1 + out2 + out3 + out4)</c>, where sepK is a
/// depthwise 3x3 ('same', stride 1, no bias) then a pointwise conv + bias with no activation between. Keep the running
/// pre-activation sum S in one buffer: <c>S1 = out1</c>, <c>Sk = Sk-1 + sepk(relu(Sk-1))</c>, so <c>block = relu(S4)</c>:
/// <list type="number">
/// <item>S1 = out1. First block: <c>Convolution.Conv2D</c> 3x3/2 'same' 3 -> 32 with bias, <see cref="Activation.Relu"/>.
/// Other blocks: <c>DepthwiseConv3x3</c> stride 2 'same' on the previous block's S4 with
/// <c>InputActivation = Relu</c> (its ReLU), into T; then <c>PointwiseConv</c>(T) + bias, Relu, into S.</item>
/// <item>k = 2, 3, 4: <c>DepthwiseConv3x3</c> stride 1 on S with <c>InputActivation = Relu</c> (relu(Sk-1); for k = 2
/// it is a no-op, S1 being a ReLU output) into T; then <c>PointwiseConv</c>(T) + bias with
/// <c>Accumulate = Add, accumulate = S, output = S</c> (in place: each thread reads exactly the elements it writes),
/// no activation.</item>
/// <item>The block's ReLU is applied by whoever reads S4: the next block's first depthwise conv, or
/// <c>FacePooling.GlobalAvgPool</c> (the 7x7/2 'valid' average pool of the 7x7 map) with <c>InputActivation = Relu</c>,
/// then <c>Linear.Dense</c> 256 -> 136.</item>
/// </list>
/// The sums are formed as ((out1 + out2) + out3) + out4 where TF forms out1 + (out2 + (out3 + out4)): the same values
/// up to float32 rounding of the additions, within the kernel tests' tolerance.
/// </para>
/// </summary>
public static class SeparableConvolution
{
    /// <summary>Adjacent outputs of a row per depthwise thread: their 3x3 windows share input columns.</summary>
    public const int RowOutputs = 8;

    /// <summary>Output channels per pointwise thread (two 8-wide vectors, as <see cref="Convolution.Conv2DWide"/>).</summary>
    public const int PointwiseChannelTile = 16;

    /// <summary>
    /// Depthwise 3x3 convolution + per-channel bias + activation; launch <see cref="DepthwiseParams.ThreadCount"/>
    /// threads. Weights packed <c>[c * 9 + ky * 3 + kx]</c> (a folded BatchNorm's scale already multiplied in), bias
    /// <c>[c]</c> (zeros where the layer has none). Each thread computes 8 adjacent outputs of one row of one plane;
    /// neighbouring threads take neighbouring column groups. Taps outside the input read 0, after
    /// <see cref="DepthwiseParams.InputActivation"/>. A thread loads the 10 (stride 1) or 17 (stride 2) input columns
    /// under its windows once per row and shares them; where they all lie inside the row (every thread but those at
    /// the left and right edges) the loads are contiguous and unmasked, which PoCL's vectoriser packs.
    /// </summary>
    public static void DepthwiseConv3x3(ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> output, DepthwiseParams p)
    {
        int gid = Grid.GlobalIndex.X;
        if (gid >= p.ThreadCount) return;
        int groups = p.ColumnGroups;
        int rowIndex = gid / groups;
        int ox0 = (gid - rowIndex * groups) * RowOutputs;
        int oy = rowIndex % p.OutHeight;
        int plane = rowIndex / p.OutHeight;
        int c = plane % p.Channels;
        int inBase = plane * p.InHeight * p.InWidth;
        // The first input column under the thread's windows, and whether all the columns they span lie in the row.
        int x0 = ox0 * p.Stride - p.PadLeft;
        bool interior = x0 >= 0 && x0 + (RowOutputs - 1) * p.Stride + 3 <= p.InWidth;
        float floor = p.InputActivation == ReadActivation.Relu ? 0f : float.NegativeInfinity;

        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
        for (int ky = 0; ky < 3; ky++)
        {
            int iy = oy * p.Stride - p.PadTop + ky;
            if (iy < 0 || iy >= p.InHeight) continue; // a padding row adds nothing
            int row = inBase + iy * p.InWidth;
            int at = row + x0;
            int w = c * 9 + ky * 3;
            float w0 = weight[w], w1 = weight[w + 1], w2 = weight[w + 2];
            float v0, v1, v2, v3, v4, v5, v6, v7, v8, v9;
            if (p.Stride == 1)
            {
                if (interior)
                {
                    v0 = Floor(input[at + 0], floor); v1 = Floor(input[at + 1], floor); v2 = Floor(input[at + 2], floor); v3 = Floor(input[at + 3], floor);
                    v4 = Floor(input[at + 4], floor); v5 = Floor(input[at + 5], floor); v6 = Floor(input[at + 6], floor); v7 = Floor(input[at + 7], floor);
                    v8 = Floor(input[at + 8], floor); v9 = Floor(input[at + 9], floor);
                }
                else
                {
                    v0 = Tap(input, row, x0 + 0, p.InWidth, floor); v1 = Tap(input, row, x0 + 1, p.InWidth, floor); v2 = Tap(input, row, x0 + 2, p.InWidth, floor); v3 = Tap(input, row, x0 + 3, p.InWidth, floor);
                    v4 = Tap(input, row, x0 + 4, p.InWidth, floor); v5 = Tap(input, row, x0 + 5, p.InWidth, floor); v6 = Tap(input, row, x0 + 6, p.InWidth, floor); v7 = Tap(input, row, x0 + 7, p.InWidth, floor);
                    v8 = Tap(input, row, x0 + 8, p.InWidth, floor); v9 = Tap(input, row, x0 + 9, p.InWidth, floor);
                }
                a0 += w0 * v0 + w1 * v1 + w2 * v2;
                a1 += w0 * v1 + w1 * v2 + w2 * v3;
                a2 += w0 * v2 + w1 * v3 + w2 * v4;
                a3 += w0 * v3 + w1 * v4 + w2 * v5;
                a4 += w0 * v4 + w1 * v5 + w2 * v6;
                a5 += w0 * v5 + w1 * v6 + w2 * v7;
                a6 += w0 * v6 + w1 * v7 + w2 * v8;
                a7 += w0 * v7 + w1 * v8 + w2 * v9;
            }
            else
            {
                float v10, v11, v12, v13, v14, v15, v16;
                if (interior)
                {
                    v0 = Floor(input[at + 0], floor); v1 = Floor(input[at + 1], floor); v2 = Floor(input[at + 2], floor); v3 = Floor(input[at + 3], floor);
                    v4 = Floor(input[at + 4], floor); v5 = Floor(input[at + 5], floor); v6 = Floor(input[at + 6], floor); v7 = Floor(input[at + 7], floor);
                    v8 = Floor(input[at + 8], floor); v9 = Floor(input[at + 9], floor); v10 = Floor(input[at + 10], floor); v11 = Floor(input[at + 11], floor);
                    v12 = Floor(input[at + 12], floor); v13 = Floor(input[at + 13], floor); v14 = Floor(input[at + 14], floor); v15 = Floor(input[at + 15], floor);
                    v16 = Floor(input[at + 16], floor);
                }
                else
                {
                    v0 = Tap(input, row, x0 + 0, p.InWidth, floor); v1 = Tap(input, row, x0 + 1, p.InWidth, floor); v2 = Tap(input, row, x0 + 2, p.InWidth, floor); v3 = Tap(input, row, x0 + 3, p.InWidth, floor);
                    v4 = Tap(input, row, x0 + 4, p.InWidth, floor); v5 = Tap(input, row, x0 + 5, p.InWidth, floor); v6 = Tap(input, row, x0 + 6, p.InWidth, floor); v7 = Tap(input, row, x0 + 7, p.InWidth, floor);
                    v8 = Tap(input, row, x0 + 8, p.InWidth, floor); v9 = Tap(input, row, x0 + 9, p.InWidth, floor); v10 = Tap(input, row, x0 + 10, p.InWidth, floor); v11 = Tap(input, row, x0 + 11, p.InWidth, floor);
                    v12 = Tap(input, row, x0 + 12, p.InWidth, floor); v13 = Tap(input, row, x0 + 13, p.InWidth, floor); v14 = Tap(input, row, x0 + 14, p.InWidth, floor); v15 = Tap(input, row, x0 + 15, p.InWidth, floor);
                    v16 = Tap(input, row, x0 + 16, p.InWidth, floor);
                }
                a0 += w0 * v0 + w1 * v1 + w2 * v2;
                a1 += w0 * v2 + w1 * v3 + w2 * v4;
                a2 += w0 * v4 + w1 * v5 + w2 * v6;
                a3 += w0 * v6 + w1 * v7 + w2 * v8;
                a4 += w0 * v8 + w1 * v9 + w2 * v10;
                a5 += w0 * v10 + w1 * v11 + w2 * v12;
                a6 += w0 * v12 + w1 * v13 + w2 * v14;
                a7 += w0 * v14 + w1 * v15 + w2 * v16;
            }
        }

        float b = bias[c];
        int o = (plane * p.OutHeight + oy) * p.OutWidth + ox0;
        output[o] = Act.Apply(a0 + b, p.Activation);
        if (ox0 + 1 < p.OutWidth) output[o + 1] = Act.Apply(a1 + b, p.Activation);
        if (ox0 + 2 < p.OutWidth) output[o + 2] = Act.Apply(a2 + b, p.Activation);
        if (ox0 + 3 < p.OutWidth) output[o + 3] = Act.Apply(a3 + b, p.Activation);
        if (ox0 + 4 < p.OutWidth) output[o + 4] = Act.Apply(a4 + b, p.Activation);
        if (ox0 + 5 < p.OutWidth) output[o + 5] = Act.Apply(a5 + b, p.Activation);
        if (ox0 + 6 < p.OutWidth) output[o + 6] = Act.Apply(a6 + b, p.Activation);
        if (ox0 + 7 < p.OutWidth) output[o + 7] = Act.Apply(a7 + b, p.Activation);
    }

    /// <summary>The input ReLU as a max with <paramref name="floor"/> (0, or -inf for none); a NaN passes.</summary>
    private static float Floor(float v, float floor) => v < floor ? floor : v;

    /// <summary>A column at the row's edge: the load stays in range, a column in the padding is selected away to 0.</summary>
    private static float Tap(ArrayView<float> input, int row, int ix, int width, float floor)
    {
        bool inside = ix >= 0 && ix < width;
        float v = Floor(input[row + (inside ? ix : 0)], floor);
        return inside ? v : 0f;
    }

    /// <summary>
    /// 1x1 convolution (a GEMM over channels) + bias (+ the <c>accumulate</c> tensor) + activation; launch
    /// <see cref="PointwiseParams.ThreadCount"/> threads. Weights packed <c>[ci * CoutPad16 + co]</c> (TF's
    /// <c>[1, 1, Cin, Cout]</c> with the output channels padded to 16 with zeros), bias <c>[CoutPad16]</c>. Each thread
    /// owns 16 output channels x 4 adjacent positions: per input channel one 16-byte run of the input and 16
    /// contiguous weights. (Positions strided by the number of position threads, as in <c>Convolution.Conv2D</c>, took
    /// 1.5-2.3x more CPU time on PoCL at SSD's 512- and 1024-channel layers: a work-group's work-items run one after
    /// another there, and each touched 4 cache lines per input channel.) <paramref name="accumulate"/> may be the
    /// output buffer itself (in place).
    /// </summary>
    public static void PointwiseConv(ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> accumulate, ArrayView<float> output, PointwiseParams p)
    {
        // No early exit: the loop stays uniform across a work-group (PoCL). Spare threads compute a copy and store nothing.
        int q = p.PositionThreads;
        int blocks = p.ChannelBlocks;
        int total = (int)p.ThreadCount;
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        int t = g % q;
        int co = g / q % blocks * PointwiseChannelTile;
        int b = g / q / blocks;
        int hw = p.Positions;
        int coutPad = p.OutChannelsPadded;
        int pos0 = t * Tiling.Positions, pos1 = pos0 + 1, pos2 = pos0 + 2, pos3 = pos0 + 3;
        // Positions past the end are clamped for reading and skipped when writing.
        int r0 = Math.Min(pos0, hw - 1), r1 = Math.Min(pos1, hw - 1), r2 = Math.Min(pos2, hw - 1), r3 = Math.Min(pos3, hw - 1);

        // Channels co..co+7 in a*, co+8..co+15 in d*.
        var a0 = new Acc8(); var a1 = new Acc8(); var a2 = new Acc8(); var a3 = new Acc8();
        var d0 = new Acc8(); var d1 = new Acc8(); var d2 = new Acc8(); var d3 = new Acc8();
        int x = b * p.InChannels * hw;
        int w = co;
        for (int ci = 0; ci < p.InChannels; ci++)
        {
            float v0 = input[x + r0], v1 = input[x + r1], v2 = input[x + r2], v3 = input[x + r3];
            a0.Fma(weight, w, v0); a1.Fma(weight, w, v1); a2.Fma(weight, w, v2); a3.Fma(weight, w, v3);
            int w8 = w + 8;
            d0.Fma(weight, w8, v0); d1.Fma(weight, w8, v1); d2.Fma(weight, w8, v2); d3.Fma(weight, w8, v3);
            w += coutPad;
            x += hw;
        }

        if (!active) return;
        StoreTile(output, bias, accumulate, a0, a1, a2, a3, b, co, pos0, pos1, pos2, pos3, p);
        StoreTile(output, bias, accumulate, d0, d1, d2, d3, b, co + 8, pos0, pos1, pos2, pos3, p);
    }

    private static void StoreTile(ArrayView<float> output, ArrayView<float> bias, ArrayView<float> accumulate,
        Acc8 a0, Acc8 a1, Acc8 a2, Acc8 a3, int b, int co, int pos0, int pos1, int pos2, int pos3, PointwiseParams p)
    {
        for (int c = 0; c < 8; c++)
        {
            if (co + c >= p.OutChannels) break;
            int outBase = (b * p.OutChannels + co + c) * p.Positions;
            float bc = bias[co + c];
            Store(output, accumulate, outBase + pos0, pos0, a0.Get(c) + bc, p);
            Store(output, accumulate, outBase + pos1, pos1, a1.Get(c) + bc, p);
            Store(output, accumulate, outBase + pos2, pos2, a2.Get(c) + bc, p);
            Store(output, accumulate, outBase + pos3, pos3, a3.Get(c) + bc, p);
        }
    }

    /// <summary>TF's order: (conv + bias), then + the accumulated tensor, then the activation.</summary>
    private static void Store(ArrayView<float> output, ArrayView<float> accumulate, int at, int pos, float v, PointwiseParams p)
    {
        if (pos >= p.Positions) return;
        if (p.Accumulate == PointwiseAccumulate.Add) v += accumulate[at];
        output[at] = Act.Apply(v, p.Activation);
    }
}
