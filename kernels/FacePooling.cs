using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>Shape of one <see cref="FacePooling.MaxPool2x2"/> launch (NCHW).</summary>
public struct MaxPool2x2Params
{
    public int Batch, Channels, InHeight, InWidth, Stride;
    /// <summary>TF 'same': <c>ceil(in / stride)</c> (<see cref="TfPadding.Output"/>).</summary>
    public int OutHeight, OutWidth;
    /// <summary>One thread per output.</summary>
    public readonly long ThreadCount => (long)Batch * Channels * OutHeight * OutWidth;
}

/// <summary>Shape of one <see cref="FacePooling.GlobalAvgPool"/> launch (NCHW input, <c>[B, C]</c> output).</summary>
public struct GlobalPoolParams
{
    public int Batch, Channels, Height, Width;
    /// <summary>Applied to each input value as it is read (<see cref="ReadActivation.Relu"/>: the last dense block's ReLU) or none.</summary>
    public ReadActivation InputActivation;
    /// <summary>One thread per (batch, channel).</summary>
    public readonly long ThreadCount => (long)Batch * Channels;
}

/// <summary>The face networks' pooling layers (face-api 1.7.15, TF semantics).</summary>
public static class FacePooling
{
    /// <summary>
    /// TF <c>maxPool(x, [2, 2], [s, s], 'same')</c>, s = 1 or 2 (the Tiny Face Detector): the max over the window's
    /// taps inside the input. TF 'same' with a 2x2 window pads nothing before (pad_total = (out - 1) s + 2 - in is 0 or
    /// 1 for s = 1, 2, and before = pad_total / 2), so window (oy, ox) starts at (oy s, ox s) and its taps past the
    /// bottom / right edge are ignored (TF pads with -inf). Starting from the first tap, a NaN among the others never
    /// replaces the value held.
    /// </summary>
    public static void MaxPool2x2(ArrayView<float> input, ArrayView<float> output, MaxPool2x2Params p)
    {
        int gid = Grid.GlobalIndex.X;
        if (gid >= p.ThreadCount) return;
        int ox = gid % p.OutWidth;
        int oy = gid / p.OutWidth % p.OutHeight;
        int plane = gid / p.OutWidth / p.OutHeight;
        int iy = oy * p.Stride, ix = ox * p.Stride;
        int at = (plane * p.InHeight + iy) * p.InWidth + ix;
        bool right = ix + 1 < p.InWidth, below = iy + 1 < p.InHeight;
        float m = input[at];
        if (right) m = Max(m, input[at + 1]);
        if (below) m = Max(m, input[at + p.InWidth]);
        if (right && below) m = Max(m, input[at + p.InWidth + 1]);
        output[gid] = m;
    }

    /// <summary>
    /// Mean over each <c>H x W</c> plane of <c>act(x)</c> into <c>[B, C]</c> (channel fastest, the layout
    /// <c>Linear.Dense</c> reads). For the landmark net's 7x7 final map this is TF's
    /// <c>avgPool(x, [7, 7], [2, 2], 'valid')</c> (one output per plane), with the last dense block's ReLU applied on read.
    /// TF's order: the float32 sum, then divided by the tap count.
    /// </summary>
    public static void GlobalAvgPool(ArrayView<float> input, ArrayView<float> output, GlobalPoolParams p)
    {
        int gid = Grid.GlobalIndex.X;
        if (gid >= p.ThreadCount) return;
        int hw = p.Height * p.Width;
        int at = gid * hw;
        float floor = p.InputActivation == ReadActivation.Relu ? 0f : float.NegativeInfinity;
        float sum = 0f;
        for (int i = 0; i < hw; i++)
        {
            float v = input[at + i];
            sum += v < floor ? floor : v;
        }
        output[gid] = sum / hw;
    }

    private static float Max(float m, float v) => v > m ? v : m;
}
