namespace TrgIlgpu.Faces;

/// <summary>
/// Decodes face-api's tiny face detector output (TinyYolov2Base.extractBoxes) and keeps faces with its NMS
/// (ops/nonMaxSuppression.ts, IoU 0.4). The output grid is S x S cells (S = input / 32) of 5 anchors x
/// [x, y, w, h, score]: channel <c>5 * anchor + k</c>.
/// </summary>
public static class TinyYoloDecoder
{
    /// <summary>Anchors a cell.</summary>
    public const int AnchorsPerCell = 5;

    /// <summary>Output channels (5 anchors x 5 values).</summary>
    public const int Channels = AnchorsPerCell * 5;

    /// <summary>face-api's tiny detector NMS IoU threshold.</summary>
    public const double IouThreshold = 0.4;

    /// <summary>Anchor sizes in cells (tinyFaceDetector/const.ts BOX_ANCHORS).</summary>
    public static readonly IReadOnlyList<(double X, double Y)> Anchors =
        [(1.603231, 2.094468), (6.041143, 7.080126), (2.882459, 3.518061), (4.266906, 5.178857), (9.041765, 10.66308)];

    /// <summary>Per-channel means subtracted from the 0..255 RGB input before dividing by 255.</summary>
    public static readonly IReadOnlyList<double> MeanRgb = [117.001, 114.697, 97.404];

    /// <summary>Output grid side for an input side (the net halves it five times).</summary>
    public static int GridSize(int inputSize) => inputSize / 32;

    /// <summary>
    /// The candidate boxes scoring above <paramref name="scoreThreshold"/>, in relative image coordinates (the padding's
    /// correction factors applied; not clamped), in row, column, anchor order.
    /// </summary>
    public static List<(RelativeBox Box, double Score)> Candidates(ReadOnlySpan<float> grid, int gridSize, TensorLayout layout,
        int imageWidth, int imageHeight, int inputSize, double scoreThreshold)
    {
        int cells = gridSize * gridSize;
        if (grid.Length != cells * Channels) throw new ArgumentException($"{grid.Length} values for a {gridSize}x{gridSize}x{Channels} grid");
        var size = FaceApiGeometry.Reshaped(imageWidth, imageHeight, inputSize);
        double side = Math.Max(size.Width, size.Height);
        double fx = side / size.Width, fy = side / size.Height;
        var found = new List<(RelativeBox, double)>();
        for (int row = 0; row < gridSize; row++)
            for (int col = 0; col < gridSize; col++)
                for (int a = 0; a < AnchorsPerCell; a++)
                {
                    int cell = row * gridSize + col;
                    int first = layout == TensorLayout.Hwc ? cell * Channels + a * 5 : a * 5 * cells + cell;
                    int step = layout == TensorLayout.Hwc ? 1 : cells;
                    double At(int k, ReadOnlySpan<float> g) => g[first + k * step];
                    double score = SsdDecoder.Sigmoid(At(4, grid));
                    if (!(score > scoreThreshold)) continue;
                    double cx = (col + SsdDecoder.Sigmoid(At(0, grid))) / gridSize * fx;
                    double cy = (row + SsdDecoder.Sigmoid(At(1, grid))) / gridSize * fy;
                    double w = Math.Exp(At(2, grid)) * Anchors[a].X / gridSize * fx;
                    double h = Math.Exp(At(3, grid)) * Anchors[a].Y / gridSize * fy;
                    double x = cx - w / 2, y = cy - h / 2;
                    found.Add((new RelativeBox(x, y, x + w, y + h), score));
                }
        return found;
    }

    /// <summary>
    /// The faces of one image's output grid (side <see cref="GridSize"/> of the options' input size): candidates, NMS
    /// (boxes scaled by the input size as face-api does), image pixels, at most MaxFaces, then the minimum face size.
    /// </summary>
    public static IReadOnlyList<FaceDetection> Faces(ReadOnlySpan<float> grid, TensorLayout layout, int imageWidth, int imageHeight, DetectorOptions options)
    {
        options.Validate();
        int input = options.TinyInputSize;
        var candidates = Candidates(grid, GridSize(input), layout, imageWidth, imageHeight, input, options.ScoreThreshold);
        var scaled = candidates.Select(c => (c.Box.Left * input, c.Box.Top * input, c.Box.Left * input + c.Box.Width * input, c.Box.Top * input + c.Box.Height * input)).ToList();
        var keep = FaceApiNms.Tiny(scaled, candidates.Select(c => c.Score).ToList(), IouThreshold);
        var faces = keep.Take(options.MaxFaces)
            .Select(i => new FaceDetection(candidates[i].Box.ToPixels(imageWidth, imageHeight), (float)candidates[i].Score)).ToList();
        return FaceApiNms.AtLeast(faces, options.MinFaceSize);
    }
}
