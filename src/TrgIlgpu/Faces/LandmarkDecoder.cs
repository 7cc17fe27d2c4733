namespace TrgIlgpu.Faces;

/// <summary>
/// face-api's FaceLandmark68Net outputs to image pixels (FaceLandmark68NetBase.postProcess, then
/// extendWithFaceLandmarks). The net sees the crop padded to a square (centred) and resized to 112; its 136 outputs
/// are x, y pairs in [0, 1] of that square.
/// </summary>
public static class LandmarkDecoder
{
    /// <summary>Outputs of the net (68 x, y pairs).</summary>
    public const int Outputs = 136;

    /// <summary>Per-channel means subtracted from the 0..255 RGB crop before dividing by 255.</summary>
    public static readonly IReadOnlyList<double> MeanRgb = [122.782, 117.001, 104.298];

    /// <summary>
    /// 68 landmarks [136: x0, y0, x1, ...] in image pixels from the net's outputs for <paramref name="crop"/>: the
    /// padding removed and scaled to the crop (postProcess), then shifted by the detection box's top-left corner —
    /// face-api shifts by the unclipped, unfloored detection box, not the crop origin (they differ by under a pixel,
    /// more when the box leaves the image), and so do we, to match it.
    /// </summary>
    public static float[] ToImage(ReadOnlySpan<float> outputs, FaceCrop crop, FaceBox detection)
    {
        if (outputs.Length != Outputs) throw new ArgumentException($"{outputs.Length} landmark outputs, expected {Outputs}");
        const double input = FaceApiGeometry.LandmarkInputSize;
        double scale = input / Math.Max(crop.Width, crop.Height);
        double w = crop.Width * scale, h = crop.Height * scale;
        double padX = w < h ? Math.Abs(w - h) / 2 : 0, padY = h < w ? Math.Abs(w - h) / 2 : 0;
        var points = new float[Outputs];
        for (int i = 0; i < 68; i++)
        {
            double rx = (outputs[2 * i] * input - padX) / w, ry = (outputs[2 * i + 1] * input - padY) / h;
            points[2 * i] = (float)(rx * crop.Width + detection.Left);
            points[2 * i + 1] = (float)(ry * crop.Height + detection.Top);
        }
        return points;
    }
}
