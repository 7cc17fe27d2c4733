using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>
/// Crop + normalise (MODEL_SPEC 2.1-2.2): output pixel (x, y) samples the source at
/// (l + x (r - l) / 191, t + y (b - t) / 191) bilinearly, taps outside the image count as 0,
/// then (rgb / 255 - mean) / std, NCHW.
/// </summary>
public static class Preprocess
{
    public const int Size = 192;

    public static void CropNormalize(ArrayView<byte> images, ArrayView<FaceParams> faces, ArrayView<float> output, int batch)
    {
        int gid = Grid.GlobalIndex.X;
        if (gid >= batch * Size * Size) return;
        int x = gid % Size;
        int y = (gid / Size) % Size;
        int b = gid / (Size * Size);
        var f = faces[b];
        float sx = f.Left + x * ((f.Right - f.Left) / (Size - 1));
        float sy = f.Top + y * ((f.Bottom - f.Top) / (Size - 1));
        float fx0 = MathF.Floor(sx), fy0 = MathF.Floor(sy);
        int x0 = (int)fx0, y0 = (int)fy0;
        float ax = sx - fx0, ay = sy - fy0;
        float r = 0f, g = 0f, bl = 0f;
        Tap(images, f, x0, y0, (1f - ax) * (1f - ay), ref r, ref g, ref bl);
        Tap(images, f, x0 + 1, y0, ax * (1f - ay), ref r, ref g, ref bl);
        Tap(images, f, x0, y0 + 1, (1f - ax) * ay, ref r, ref g, ref bl);
        Tap(images, f, x0 + 1, y0 + 1, ax * ay, ref r, ref g, ref bl);
        int plane = Size * Size;
        int o = b * 3 * plane + y * Size + x;
        output[o] = (r / 255f - 0.485f) / 0.229f;
        output[o + plane] = (g / 255f - 0.456f) / 0.224f;
        output[o + 2 * plane] = (bl / 255f - 0.406f) / 0.225f;
    }

    private static void Tap(ArrayView<byte> images, FaceParams f, int x, int y, float w, ref float r, ref float g, ref float b)
    {
        if (x < 0 || y < 0 || x >= f.Width || y >= f.Height) return;
        int i = f.ImageOffset + (y * f.Width + x) * 3;
        r += w * images[i];
        g += w * images[i + 1];
        b += w * images[i + 2];
    }
}
