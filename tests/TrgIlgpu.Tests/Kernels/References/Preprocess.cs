namespace TrgIlgpu.Tests.Kernels.References;

/// <summary>An RGB8 image, row-major, interleaved R,G,B.</summary>
public sealed record RgbBytes(int Width, int Height, byte[] Pixels);

/// <summary>MODEL_SPEC 2.1-2.2: the 192x192 face crop and its normalisation, in float64.</summary>
public static class RefPreprocess
{
    public const int Size = 192;
    public static readonly double[] Mean = [0.485, 0.456, 0.406];
    public static readonly double[] Std = [0.229, 0.224, 0.225];

    /// <summary>
    /// Output [3, 192, 192]: pixel (x, y) samples the source at (l + x (r - l) / 191, t + y (b - t) / 191) bilinearly,
    /// taps outside the image 0, then (rgb / 255 - mean) / std.
    /// Slack: float32 cannot hold the source coordinate exactly (relative error a few 1e-7 of its magnitude);
    /// the result moves by at most the local slope (largest neighbouring-pixel difference) times that error.
    /// </summary>
    public static RefTensor CropNormalize(RgbBytes img, double l, double t, double r, double b)
    {
        const int plane = Size * Size;
        var y = new RefTensor(3 * plane);
        for (int oy = 0; oy < Size; oy++)
            for (int ox = 0; ox < Size; ox++)
            {
                double sx = l + ox * (r - l) / (Size - 1), sy = t + oy * (b - t) / (Size - 1);
                int x0 = (int)Math.Floor(sx), y0 = (int)Math.Floor(sy);
                double fx = sx - x0, fy = sy - y0;
                // Coordinate rounding of float32 arithmetic on l, x (r - l) / 191 and their sum, in pixels.
                double dx = 4 * 6e-8 * (Math.Abs(l) + Math.Abs(sx - l) + Math.Abs(sx));
                double dy = 4 * 6e-8 * (Math.Abs(t) + Math.Abs(sy - t) + Math.Abs(sy));
                for (int c = 0; c < 3; c++)
                {
                    double sum = 0, mag = 0;
                    for (int k = 0; k < 4; k++)
                    {
                        int tx = x0 + (k & 1), ty = y0 + (k >> 1);
                        double w = ((k & 1) == 1 ? fx : 1 - fx) * ((k >> 1) == 1 ? fy : 1 - fy);
                        double term = w * Pixel(img, tx, ty, c);
                        sum += term;
                        mag += Math.Abs(term);
                    }
                    double slope = 0;
                    for (int yy = y0 - 1; yy <= y0 + 2; yy++)
                        for (int xx = x0 - 1; xx <= x0 + 2; xx++)
                            slope = Math.Max(slope, Math.Max(Math.Abs(Pixel(img, xx + 1, yy, c) - Pixel(img, xx, yy, c)),
                                                             Math.Abs(Pixel(img, xx, yy + 1, c) - Pixel(img, xx, yy, c))));
                    y.Set(c * plane + oy * Size + ox,
                        (sum / 255 - Mean[c]) / Std[c],
                        (mag / 255 + Mean[c]) / Std[c],
                        slope / 255 / Std[c] * (dx + dy));
                }
            }
        return y;
    }

    private static double Pixel(RgbBytes img, int x, int y, int c) =>
        x < 0 || y < 0 || x >= img.Width || y >= img.Height ? 0 : img.Pixels[(y * img.Width + x) * 3 + c];
}
