namespace TrgIlgpu.Tracking;

/// <summary>
/// Scene-cut test between consecutive frames: each frame's colour histogram (4 x 4 x 4 RGB bins over about 64 x 48
/// sampled pixels) and the total-variation distance between the last two, half the L1 distance of the normalised
/// histograms, in [0, 1]. Panning, zooming or turning the same scene moves little of the colour mass (at most 0.05
/// between consecutive frames of the test tour clip); a cut to another picture moves most of it (0.92 there).
/// </summary>
internal sealed class SceneCuts
{
    private const int Bins = 4;
    private double[]? _previous;

    /// <summary>The distance from the previous frame's histogram (0 for the first frame), and remembers this one.</summary>
    public double Next(RgbImage image)
    {
        var h = Histogram(image);
        double d = _previous is null ? 0 : Distance(_previous, h);
        _previous = h;
        return d;
    }

    /// <summary>Forgets the previous frame.</summary>
    public void Reset() => _previous = null;

    public static double[] Histogram(RgbImage image)
    {
        var h = new double[Bins * Bins * Bins];
        int stepX = Math.Max(1, image.Width / 64), stepY = Math.Max(1, image.Height / 48);
        var p = image.Pixels;
        int n = 0;
        for (int y = stepY / 2; y < image.Height; y += stepY)
            for (int x = stepX / 2; x < image.Width; x += stepX)
            {
                int i = 3 * (y * image.Width + x);
                h[(p[i] * Bins / 256 * Bins + p[i + 1] * Bins / 256) * Bins + p[i + 2] * Bins / 256]++;
                n++;
            }
        for (int k = 0; k < h.Length; k++) h[k] /= n;
        return h;
    }

    public static double Distance(double[] a, double[] b)
    {
        double s = 0;
        for (int k = 0; k < a.Length; k++) s += Math.Abs(a[k] - b[k]);
        return 0.5 * s;
    }
}
