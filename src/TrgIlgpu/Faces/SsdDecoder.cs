namespace TrgIlgpu.Faces;

/// <summary>One SSD prediction head: a Size x Size grid with AnchorsPerCell anchors a cell.</summary>
public readonly record struct SsdHead(int Size, int AnchorsPerCell)
{
    /// <summary>Anchors of this head (Size * Size * AnchorsPerCell).</summary>
    public int Anchors => Size * Size * AnchorsPerCell;
}

/// <summary>SSD boxes and face scores for all 5118 anchors, before NMS.</summary>
/// <param name="Boxes">[5118 * 4]: ymin, xmin, ymax, xmax per anchor, relative to the padded square input.</param>
/// <param name="Scores">[5118]: sigmoid of the face class logit.</param>
public sealed record SsdRawOutput(double[] Boxes, double[] Scores);

/// <summary>
/// Decodes face-api's SSD MobileNet v1 head outputs (ssdMobilenetv1/outputLayer.ts) and turns kept anchors into face
/// boxes (SsdMobilenetv1.locateFaces). Anchor numbering is TF's: heads in order, within a head
/// <c>(y * Size + x) * AnchorsPerCell + a</c>; the box encoding of anchor a sits in channels 4a..4a+3 (dy, dx, dh, dw)
/// and its class logits in channels 3a..3a+2 (background, face, unused) of the head's output.
/// </summary>
public static class SsdDecoder
{
    /// <summary>SSD input side (face-api runs it at 512 only).</summary>
    public const int InputSize = 512;

    /// <summary>Values a head holds per anchor: box encodings (dy, dx, dh, dw) and class logits (background, face, unused).</summary>
    public const int BoxValues = 4, ClassValues = 3;

    /// <summary>face-api's SSD NMS IoU threshold.</summary>
    public const double IouThreshold = 0.5;

    /// <summary>The six heads at 512 input: conv 11 (32x32, 3 anchors), the MobileNet output (16x16) and the four extra layers.</summary>
    public static readonly IReadOnlyList<SsdHead> Heads = [new(32, 3), new(16, 6), new(8, 6), new(4, 6), new(2, 6), new(1, 6)];

    /// <summary>Anchors in all heads (5118).</summary>
    public static readonly int AnchorCount = Heads.Sum(h => h.Anchors);

    /// <summary>
    /// Decodes the heads' box encodings (head i: 4 * AnchorsPerCell channels) and class logits (3 * AnchorsPerCell
    /// channels) of one image, laid out as <paramref name="layout"/>, against the anchors [5118 * 4] (Output/extra_dim).
    /// </summary>
    public static SsdRawOutput Decode(ReadOnlySpan<float> anchors, IReadOnlyList<float[]> boxEncodings, IReadOnlyList<float[]> classLogits, TensorLayout layout)
    {
        if (anchors.Length != AnchorCount * 4) throw new ArgumentException($"{anchors.Length} anchor values, expected {AnchorCount * 4}");
        if (boxEncodings.Count != Heads.Count || classLogits.Count != Heads.Count) throw new ArgumentException($"expected {Heads.Count} heads");
        var boxes = new double[AnchorCount * 4];
        var scores = new double[AnchorCount];
        int anchor = 0;
        for (int h = 0; h < Heads.Count; h++)
        {
            var head = Heads[h];
            int cells = head.Size * head.Size, a = head.AnchorsPerCell;
            if (boxEncodings[h].Length != cells * 4 * a || classLogits[h].Length != cells * 3 * a)
                throw new ArgumentException($"head {h}: expected {cells * 4 * a} box and {cells * 3 * a} class values");
            for (int cell = 0; cell < cells; cell++)
                for (int k = 0; k < a; k++, anchor++)
                {
                    double At(float[] t, int channels, int c) => layout == TensorLayout.Hwc ? t[cell * channels + c] : t[c * cells + cell];
                    DecodeBox(anchors.Slice(anchor * 4, 4),
                        At(boxEncodings[h], 4 * a, 4 * k), At(boxEncodings[h], 4 * a, 4 * k + 1),
                        At(boxEncodings[h], 4 * a, 4 * k + 2), At(boxEncodings[h], 4 * a, 4 * k + 3),
                        boxes.AsSpan(anchor * 4, 4));
                    scores[anchor] = Sigmoid(At(classLogits[h], 3 * a, 3 * k + 1));
                }
        }
        return new SsdRawOutput(boxes, scores);
    }

    /// <summary>
    /// One anchor (ymin, xmin, ymax, xmax) and its encoding to a box: centre += encoding / 10 * size, size *= exp(encoding / 5).
    /// </summary>
    public static void DecodeBox(ReadOnlySpan<float> anchor, double dy, double dx, double dh, double dw, Span<double> box)
    {
        double h = anchor[2] - anchor[0], w = anchor[3] - anchor[1];
        double cy = anchor[0] + h / 2, cx = anchor[1] + w / 2;
        double halfH = Math.Exp(dh / 5) * h / 2, halfW = Math.Exp(dw / 5) * w / 2;
        double y = dy / 10 * h + cy, x = dx / 10 * w + cx;
        box[0] = y - halfH; box[1] = x - halfW; box[2] = y + halfH; box[3] = x + halfW;
    }

    /// <summary>
    /// The faces: face-api's SSD NMS (IoU 0.5, at most <see cref="DetectorOptions.MaxFaces"/>, scores above the
    /// threshold), boxes clamped to [0, 1] of the padded input, scaled by the padding (input / reshaped size) and
    /// to image pixels; then the minimum face size.
    /// </summary>
    public static IReadOnlyList<FaceDetection> Faces(SsdRawOutput raw, int imageWidth, int imageHeight, DetectorOptions options)
    {
        options.Validate();
        var keep = FaceApiNms.Ssd(raw.Boxes, raw.Scores, options.MaxFaces, IouThreshold, options.ScoreThreshold);
        var size = FaceApiGeometry.Reshaped(imageWidth, imageHeight, InputSize);
        double padX = (double)InputSize / size.Width, padY = (double)InputSize / size.Height;
        var faces = new List<FaceDetection>();
        foreach (int i in keep)
        {
            double top = Math.Max(0, raw.Boxes[i * 4]) * padY, bottom = Math.Min(1.0, raw.Boxes[i * 4 + 2]) * padY;
            double left = Math.Max(0, raw.Boxes[i * 4 + 1]) * padX, right = Math.Min(1.0, raw.Boxes[i * 4 + 3]) * padX;
            faces.Add(new FaceDetection(new RelativeBox(left, top, right, bottom).ToPixels(imageWidth, imageHeight), (float)raw.Scores[i]));
        }
        return FaceApiNms.AtLeast(faces, options.MinFaceSize);
    }

    internal static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
}
