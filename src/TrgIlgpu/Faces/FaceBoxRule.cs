namespace TrgIlgpu.Faces;

/// <summary>The TRG input box from a face's 68 landmarks, by the official demo's rule (TRG-Release trg_demo_video.py).</summary>
public static class FaceBoxRule
{
    /// <summary>Half the box side as a multiple of the landmarks' larger extent (the demo's ss = 0.75; side 1.5x).</summary>
    public const double HalfSideScale = 0.75;

    /// <summary>
    /// Centre of the landmarks' x/y extent, half side 0.75 x the larger extent; each edge truncated toward zero as
    /// Python's int() does (so the box may be a pixel off square); not clamped to the image.
    /// </summary>
    /// <param name="landmarks">[136]: x0, y0, x1, y1, ... in image pixels.</param>
    public static FaceBox FromLandmarks(ReadOnlySpan<float> landmarks)
    {
        if (landmarks.Length != LandmarkDecoder.Outputs) throw new ArgumentException($"{landmarks.Length} values, expected {LandmarkDecoder.Outputs} (68 x, y)");
        double minX = double.MaxValue, minY = double.MaxValue, maxX = double.MinValue, maxY = double.MinValue;
        for (int i = 0; i < 68; i++)
        {
            double x = landmarks[2 * i], y = landmarks[2 * i + 1];
            if (!double.IsFinite(x) || !double.IsFinite(y)) throw new TrgException(ErrorKind.InvalidBox, $"landmark {i} is not finite");
            minX = Math.Min(minX, x); maxX = Math.Max(maxX, x); minY = Math.Min(minY, y); maxY = Math.Max(maxY, y);
        }
        double cx = 0.5 * (maxX + minX), cy = 0.5 * (maxY + minY);
        double half = HalfSideScale * Math.Max(maxX - minX, maxY - minY);
        return new FaceBox((float)Math.Truncate(cx - half), (float)Math.Truncate(cy - half), (float)Math.Truncate(cx + half), (float)Math.Truncate(cy + half));
    }
}
