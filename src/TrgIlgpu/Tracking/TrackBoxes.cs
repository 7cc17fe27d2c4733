namespace TrgIlgpu.Tracking;

/// <summary>Box geometry of the tracker: the landmark-net box predicted from landmarks, overlaps.</summary>
public static class TrackBoxes
{
    /// <summary>Detector box width as a multiple of the landmarks' larger extent (median of face-api's SSD boxes on its demo photos).</summary>
    public const double WidthScale = 0.92;

    /// <summary>Detector box height as a multiple of the landmarks' larger extent (same measurement).</summary>
    public const double HeightScale = 1.33;

    /// <summary>Detector box centre above the landmarks' centre, as a multiple of the larger extent (same measurement).</summary>
    public const double CentreLift = 0.15;

    /// <summary>
    /// The box the landmark net gets for a tracked face: shaped like face-api's SSD detection of a face with these
    /// landmarks (0.92 s wide, 1.33 s tall, centre 0.15 s above the landmarks' centre, s the landmarks' larger extent),
    /// so the net sees the crops it was trained on (docs/video.md).
    /// </summary>
    /// <param name="landmarks">[136]: x0, y0, x1, y1, ... image pixels.</param>
    public static FaceBox LandmarkNetBox(ReadOnlySpan<float> landmarks)
    {
        var (cx, cy, s) = Extent(landmarks);
        double w = 0.5 * WidthScale * s, h = 0.5 * HeightScale * s, y = cy - CentreLift * s;
        return new FaceBox((float)(cx - w), (float)(y - h), (float)(cx + w), (float)(y + h));
    }

    /// <summary>Centre of the landmarks' x/y extent and the larger extent (pixels).</summary>
    public static (double X, double Y, double Size) Extent(ReadOnlySpan<float> landmarks)
    {
        double minX = double.MaxValue, minY = double.MaxValue, maxX = double.MinValue, maxY = double.MinValue;
        for (int i = 0; i + 1 < landmarks.Length; i += 2)
        {
            minX = Math.Min(minX, landmarks[i]); maxX = Math.Max(maxX, landmarks[i]);
            minY = Math.Min(minY, landmarks[i + 1]); maxY = Math.Max(maxY, landmarks[i + 1]);
        }
        return (0.5 * (minX + maxX), 0.5 * (minY + maxY), Math.Max(maxX - minX, maxY - minY));
    }

    /// <summary>Intersection over union of two boxes (0 when either is empty).</summary>
    public static double Iou(FaceBox a, FaceBox b)
    {
        double inter = Overlap(a, b.Left, b.Top, b.Right, b.Bottom);
        double union = Area(a) + Area(b) - inter;
        return union > 0 ? inter / union : 0;
    }

    /// <summary>The share of a box's area inside a width x height image.</summary>
    public static double InsideShare(FaceBox box, int width, int height)
    {
        double area = Area(box);
        return area > 0 ? Overlap(box, 0, 0, width, height) / area : 0;
    }

    private static double Area(FaceBox b) => Math.Max(0, (double)b.Right - b.Left) * Math.Max(0, (double)b.Bottom - b.Top);

    private static double Overlap(FaceBox a, double left, double top, double right, double bottom) =>
        Math.Max(0, Math.Min(a.Right, right) - Math.Max(a.Left, left)) * Math.Max(0, Math.Min(a.Bottom, bottom) - Math.Max(a.Top, top));
}
