using TrgIlgpu.Kernels;

namespace TrgIlgpu.Engine;

/// <summary>A face-network layer in the layout its kernel reads.</summary>
public sealed record PackedFaceLayer(float[] Weight, float[] Bias);

/// <summary>
/// TF's <c>batchNorm(x, mean, variance, offset, scale, epsilon)</c> parameters:
/// <c>(x - mean) / sqrt(variance + epsilon) * scale + offset</c>.
/// </summary>
public sealed record TfBatchNorm(float[] Mean, float[] Variance, float[] Offset, float[] Scale, double Epsilon = TfBatchNorm.SsdEpsilon)
{
    /// <summary>The epsilon of SSD MobileNet v1's depthwise layers (face-api mobileNetV1.ts): float32 1e-3.</summary>
    public const double SsdEpsilon = 0.0010000000474974513;
}

/// <summary>Where face-api's padToSquare puts the zero padding.</summary>
public enum SquarePadding
{
    /// <summary>All of it after the image (bottom or right): the detectors (<c>isCenterImage = false</c>).</summary>
    BottomRight,
    /// <summary>
    /// Split around the image: JS <c>Math.round(diff * 0.5)</c> after, the rest before: the landmark net
    /// (<c>isCenterImage = true</c>).
    /// </summary>
    Centred,
}

/// <summary>
/// Host-side packing of face-api's TF weights (HWIO <c>[kh, kw, cin, cout]</c>, depthwise <c>[kh, kw, c, 1]</c>, dense
/// <c>[in, out]</c>) into the kernels' layouts, BatchNorm folded in float64 and rounded once, and the per-item
/// parameters of <see cref="FacePreprocess.ResizeToSquare"/>. Shapes that do not match throw
/// <see cref="TrgException"/> (<see cref="ErrorKind.InvalidModel"/>) naming the layer.
/// </summary>
public static class FacePacking
{
    /// <summary>
    /// For <c>Convolution.Conv2D</c> / <c>Conv2DWide</c>: HWIO <c>[k, k, cin, cout]</c> -> block-major
    /// <c>Convolution.WeightIndex</c> (output channels padded to 8, zeros there), bias <c>[CoutPad8]</c>
    /// (zeros without one). Launch with <c>ConvParams.Pad = TfPadding.Before(...)</c> and the TF output size: the
    /// direct kernel bounds-checks every tap, so the padding after the far edges needs no parameter.
    /// </summary>
    public static PackedFaceLayer Conv(string layer, float[] hwio, int k, int cin, int cout, float[]? bias = null)
    {
        Expect(layer, "filters", hwio, (long)k * k * cin * cout, $"[{k}, {k}, {cin}, {cout}]");
        int pad = Tiling.PadChannels(cout, Convolution.ChannelTile);
        var weight = new float[k * k * cin * pad];
        for (int r = 0; r < k * k * cin; r++)
            for (int co = 0; co < cout; co++)
                weight[Convolution.WeightIndex(r / cin, r % cin, co, cin, k * k)] = hwio[r * cout + co];
        return new PackedFaceLayer(weight, Bias(layer, bias, cout, pad));
    }

    /// <summary>
    /// For <c>SeparableConvolution.DepthwiseConv3x3</c>: <c>[3, 3, c, 1]</c> -> <c>[c * 9 + ky * 3 + kx]</c>, with a
    /// BatchNorm folded in (weights times s = scale / sqrt(variance + eps), bias offset - mean s, in float64, rounded
    /// once), else bias zeros.
    /// </summary>
    public static PackedFaceLayer Depthwise(string layer, float[] hwc1, int channels, TfBatchNorm? bn = null)
    {
        Expect(layer, "depthwise filter", hwc1, 9L * channels, $"[3, 3, {channels}, 1]");
        if (bn is not null)
            foreach (var (name, v) in new[] { ("mean", bn.Mean), ("variance", bn.Variance), ("offset", bn.Offset), ("scale", bn.Scale) })
                Expect(layer, "batch norm " + name, v, channels, $"[{channels}]");
        var weight = new float[9 * channels];
        var bias = new float[channels];
        for (int c = 0; c < channels; c++)
        {
            double s = 1, shift = 0;
            if (bn is not null)
            {
                s = bn.Scale[c] / Math.Sqrt(bn.Variance[c] + bn.Epsilon);
                shift = bn.Offset[c] - bn.Mean[c] * s;
            }
            for (int t = 0; t < 9; t++) weight[c * 9 + t] = (float)(hwc1[t * channels + c] * s);
            bias[c] = (float)shift;
        }
        return new PackedFaceLayer(weight, bias);
    }

    /// <summary>
    /// For <c>SeparableConvolution.PointwiseConv</c>: <c>[1, 1, cin, cout]</c> -> <c>[ci * CoutPad16 + co]</c>, bias
    /// <c>[CoutPad16]</c> (zeros without one).
    /// </summary>
    public static PackedFaceLayer Pointwise(string layer, float[] io, int cin, int cout, float[]? bias = null)
    {
        Expect(layer, "pointwise filter", io, (long)cin * cout, $"[1, 1, {cin}, {cout}]");
        int pad = Tiling.PadChannels(cout, SeparableConvolution.PointwiseChannelTile);
        var weight = new float[cin * pad];
        for (int ci = 0; ci < cin; ci++) Array.Copy(io, ci * cout, weight, ci * pad, cout);
        return new PackedFaceLayer(weight, Bias(layer, bias, cout, pad));
    }

    /// <summary>For <c>Linear.Dense</c>: TF <c>[in, out]</c> -> <see cref="Linear.WeightIndex"/>'s block-major layout, bias <c>[OutPad16]</c>.</summary>
    public static PackedFaceLayer Dense(string layer, float[] io, int ins, int outs, float[] bias)
    {
        Expect(layer, "weights", io, (long)ins * outs, $"[{ins}, {outs}]");
        int pad = Tiling.PadChannels(outs, Linear.ChannelTile);
        var weight = new float[ins * pad];
        for (int k = 0; k < ins; k++)
            for (int o = 0; o < outs; o++) weight[Linear.WeightIndex(k, o, ins)] = io[k * outs + o];
        return new PackedFaceLayer(weight, Bias(layer, bias, outs, pad));
    }

    /// <summary>
    /// The parameters of one <see cref="FacePreprocess.ResizeToSquare"/> item: rectangle (x, y, w, h) of an image of
    /// <paramref name="imageWidth"/> x <paramref name="imageHeight"/> pixels uploaded at byte
    /// <paramref name="imageOffset"/>, padded to a square as face-api's padToSquare does and resized to
    /// <paramref name="size"/>. Centred padding puts JS <c>Math.round(diff / 2)</c> (halves round up) after the image
    /// and the rest before it. Throws <see cref="ErrorKind.InvalidBox"/> for an empty rectangle or one reaching outside
    /// the image (the caller floors and clips face boxes first), <see cref="ErrorKind.Usage"/> for a size below 1.
    /// </summary>
    public static SquareResizeItem ResizeItem(int imageOffset, int imageWidth, int imageHeight,
        int x, int y, int width, int height, SquarePadding padding, int size)
    {
        if (size < 1) throw new TrgException(ErrorKind.Usage, $"network input size {size}: must be at least 1");
        if (width < 1 || height < 1 || x < 0 || y < 0 || x > imageWidth - width || y > imageHeight - height)
            throw new TrgException(ErrorKind.InvalidBox,
                $"rectangle x {x}, y {y}, {width}x{height} is empty or outside the {imageWidth}x{imageHeight} image");
        int side = Math.Max(width, height);
        int diffX = side - width, diffY = side - height;
        // JS Math.round rounds halves up: round(d / 2) = (d + 1) / 2 after, so d / 2 (floored) before.
        bool centred = padding == SquarePadding.Centred;
        return new SquareResizeItem
        {
            ImageOffset = imageOffset, ImageWidth = imageWidth, X = x, Y = y, Width = width, Height = height,
            Side = side, OffsetX = centred ? diffX / 2 : 0, OffsetY = centred ? diffY / 2 : 0,
            Scale = (float)side / size,
        };
    }

    private static float[] Bias(string layer, float[]? bias, int count, int pad)
    {
        var b = new float[pad];
        if (bias is null) return b;
        Expect(layer, "bias", bias, count, $"[{count}]");
        Array.Copy(bias, b, count);
        return b;
    }

    private static void Expect(string layer, string what, float[] values, long count, string shape)
    {
        if (values.Length != count)
            throw new TrgException(ErrorKind.InvalidModel, $"{layer}: {what} has {values.Length} values, expected {count} ({shape})");
    }
}
