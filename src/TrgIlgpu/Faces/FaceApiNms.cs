namespace TrgIlgpu.Faces;

/// <summary>face-api's two non-maximum suppressions, reproduced loop for loop.</summary>
public static class FaceApiNms
{
    /// <summary>
    /// ssdMobilenetv1/nonMaxSuppression.ts over [n * 4] boxes (ymin, xmin, ymax, xmax) and n scores: candidates scoring
    /// above <paramref name="scoreThreshold"/>, highest first (ties in index order); each is kept unless a kept box
    /// overlaps it with IoU above <paramref name="iouThreshold"/>; at most <paramref name="maxResults"/>. Returns the
    /// kept indices, highest score first.
    /// </summary>
    public static List<int> Ssd(ReadOnlySpan<double> boxes, ReadOnlySpan<double> scores, int maxResults, double iouThreshold, double scoreThreshold)
    {
        if (boxes.Length != scores.Length * 4) throw new ArgumentException($"{boxes.Length} box values for {scores.Length} scores");
        int outputSize = Math.Min(maxResults, scores.Length);
        var candidates = new List<int>();
        for (int i = 0; i < scores.Length; i++)
            if (scores[i] > scoreThreshold) candidates.Add(i);
        var s = scores.ToArray();
        candidates = candidates.OrderByDescending(i => s[i]).ToList(); // stable, as V8's Array.sort
        var selected = new List<int>();
        foreach (int c in candidates)
        {
            if (selected.Count >= outputSize) break;
            bool suppressed = false;
            for (int j = selected.Count - 1; j >= 0 && !suppressed; j--)
            {
                double iou = SsdIou(boxes, c, selected[j]);
                if (iou != 0.0 && !(iou <= iouThreshold)) suppressed = true; // NaN suppresses, as in face-api
            }
            if (!suppressed) selected.Add(c);
        }
        return selected;
    }

    /// <summary>
    /// ops/nonMaxSuppression.ts (tiny detector): repeatedly keep the highest-scoring box (the last among equal scores)
    /// and drop every remaining box whose IoU with it is above <paramref name="iouThreshold"/>. Boxes are left, top,
    /// right, bottom. Returns the kept indices in the order picked.
    /// </summary>
    public static List<int> Tiny(IReadOnlyList<(double Left, double Top, double Right, double Bottom)> boxes, IReadOnlyList<double> scores, double iouThreshold)
    {
        if (boxes.Count != scores.Count) throw new ArgumentException($"{boxes.Count} boxes for {scores.Count} scores");
        var remaining = Enumerable.Range(0, scores.Count).OrderBy(i => scores[i]).ToList(); // stable ascending
        var pick = new List<int>();
        while (remaining.Count > 0)
        {
            int current = remaining[^1];
            remaining.RemoveAt(remaining.Count - 1);
            pick.Add(current);
            remaining = remaining.Where(i => Iou(boxes[current], boxes[i]) <= iouThreshold).ToList();
        }
        return pick;
    }

    /// <summary>ops/iou.ts: intersection over union of two left, top, right, bottom boxes.</summary>
    public static double Iou((double Left, double Top, double Right, double Bottom) a, (double Left, double Top, double Right, double Bottom) b)
    {
        double w = Math.Max(0.0, Math.Min(a.Right, b.Right) - Math.Max(a.Left, b.Left));
        double h = Math.Max(0.0, Math.Min(a.Bottom, b.Bottom) - Math.Max(a.Top, b.Top));
        double inter = w * h;
        return inter / ((a.Right - a.Left) * (a.Bottom - a.Top) + (b.Right - b.Left) * (b.Bottom - b.Top) - inter);
    }

    // ssdMobilenetv1/nonMaxSuppression.ts IOU: corners sorted, 0 for an empty box.
    private static double SsdIou(ReadOnlySpan<double> boxes, int i, int j)
    {
        double yminI = Math.Min(boxes[i * 4], boxes[i * 4 + 2]), xminI = Math.Min(boxes[i * 4 + 1], boxes[i * 4 + 3]);
        double ymaxI = Math.Max(boxes[i * 4], boxes[i * 4 + 2]), xmaxI = Math.Max(boxes[i * 4 + 1], boxes[i * 4 + 3]);
        double yminJ = Math.Min(boxes[j * 4], boxes[j * 4 + 2]), xminJ = Math.Min(boxes[j * 4 + 1], boxes[j * 4 + 3]);
        double ymaxJ = Math.Max(boxes[j * 4], boxes[j * 4 + 2]), xmaxJ = Math.Max(boxes[j * 4 + 1], boxes[j * 4 + 3]);
        double areaI = (ymaxI - yminI) * (xmaxI - xminI), areaJ = (ymaxJ - yminJ) * (xmaxJ - xminJ);
        if (areaI <= 0 || areaJ <= 0) return 0.0;
        double inter = Math.Max(Math.Min(ymaxI, ymaxJ) - Math.Max(yminI, yminJ), 0.0) * Math.Max(Math.Min(xmaxI, xmaxJ) - Math.Max(xminI, xminJ), 0.0);
        return inter / (areaI + areaJ - inter);
    }

    /// <summary>The faces whose box is at least <paramref name="minSize"/> pixels wide and high (all when 0).</summary>
    internal static IReadOnlyList<FaceDetection> AtLeast(List<FaceDetection> faces, float minSize) =>
        minSize <= 0 ? faces : faces.Where(f => f.Box.Width >= minSize && f.Box.Height >= minSize).ToList();
}
