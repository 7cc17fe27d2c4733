namespace TrgIlgpu.Tracking;

/// <summary>
/// A face box relative to the face's landmarks: width, height and the centre's offset from the landmarks' centroid, all
/// in units of the landmarks' RMS radius r (their RMS distance from the centroid).
/// </summary>
public readonly record struct BoxShape(double Width, double Height, double OffsetX, double OffsetY)
{
    /// <summary>
    /// face-api's SSD box on its demo photos (median over 23 faces): 2.53 r wide, 3.61 r tall, centre 0.42 r above the
    /// centroid.
    /// </summary>
    public static BoxShape Typical { get; } = new(2.53, 3.61, 0, -0.42);

    /// <summary>The shape of <paramref name="box"/> relative to <paramref name="landmarks"/> (<see cref="Typical"/> when they have no spread).</summary>
    public static BoxShape Of(FaceBox box, ReadOnlySpan<float> landmarks)
    {
        var (cx, cy, r) = TrackBoxes.Spread(landmarks);
        if (!(r > 0) || !double.IsFinite(r)) return Typical;
        return new BoxShape(box.Width / r, box.Height / r, (0.5 * (box.Left + box.Right) - cx) / r, (0.5 * (box.Top + box.Bottom) - cy) / r);
    }
}

/// <summary>Box geometry of the tracker: the landmark-net box predicted from landmarks, overlaps.</summary>
public static class TrackBoxes
{
    /// <summary>
    /// The landmark-net box of a tracked face from its landmarks, in the shape <paramref name="shape"/> gives relative
    /// to their centroid and RMS radius r (the face's last detection, or <see cref="BoxShape.Typical"/>). Centroid and
    /// radius do not change when the head turns in the image plane, so neither does the box's size (docs/video.md).
    /// </summary>
    /// <param name="landmarks">[136]: x0, y0, x1, y1, ... image pixels.</param>
    /// <param name="shape">The box relative to the landmarks.</param>
    public static FaceBox LandmarkNetBox(ReadOnlySpan<float> landmarks, BoxShape shape)
    {
        var (cx, cy, r) = Spread(landmarks);
        double x = cx + shape.OffsetX * r, y = cy + shape.OffsetY * r, w = 0.5 * shape.Width * r, h = 0.5 * shape.Height * r;
        return new FaceBox((float)(x - w), (float)(y - h), (float)(x + w), (float)(y + h));
    }

    /// <summary>The landmarks' centroid and RMS distance from it (pixels).</summary>
    public static (double X, double Y, double Radius) Spread(ReadOnlySpan<float> landmarks)
    {
        int n = landmarks.Length / 2;
        double sx = 0, sy = 0;
        for (int i = 0; i < n; i++) { sx += landmarks[2 * i]; sy += landmarks[2 * i + 1]; }
        double cx = sx / n, cy = sy / n, ss = 0;
        for (int i = 0; i < n; i++) ss += (landmarks[2 * i] - cx) * (landmarks[2 * i] - cx) + (landmarks[2 * i + 1] - cy) * (landmarks[2 * i + 1] - cy);
        return (cx, cy, Math.Sqrt(ss / n));
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
