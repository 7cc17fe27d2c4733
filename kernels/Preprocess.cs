using ILGPU;
using ILGPU.Runtime;

namespace TrgIlgpu.Kernels;

/// <summary>
/// Crop + normalise (MODEL_SPEC 2.1-2.2): output pixel (x, y) samples the source at
/// (l + x (r - l) / 191, t + y (b - t) / 191) bilinearly, taps outside the image count as 0,
/// then (rgb / 255 - mean) / std, NCHW.
/// </summary>
public static class Preprocess
{
    /// <summary>Output rows and columns of the crop.</summary>
    public const int Size = 192;

    /// <summary>
    /// The launch of <see cref="CropNormalize"/>: a 3-D grid, X over an output row's <see cref="Size"/> columns in groups
    /// of <paramref name="group"/>, Y over the rows, Z over the faces, so a thread finds its pixel without a division and
    /// everything but the column is uniform across a work-group (PoCL hoists it out of its work-item loop).
    /// </summary>
    public static KernelConfig Config(int batch, int group) =>
        new(new Index3D(Tiling.CeilDiv(Size, group), Size, batch), new Index3D(group, 1, 1));

    /// <summary>
    /// One output pixel a thread (launch with <see cref="Config"/>), loop- and branch-free so that PoCL vectorises it
    /// across work-items: a tap outside the image reads a clamped pixel with weight 0, which adds +0 exactly where the
    /// guarded form skipped it (the same sums, bit for bit), and floor is a truncation and a select.
    /// </summary>
    public static void CropNormalize(ArrayView<byte> images, ArrayView<FaceParams> faces, ArrayView<float> output, int batch)
    {
        int x = Grid.GlobalIndex.X, y = Grid.GlobalIndex.Y, b = Grid.GlobalIndex.Z;
        if (x >= Size || b >= batch) return;
        // By reference: a struct-typed load (`var f = faces[b]`) stops PoCL's vectoriser ("instruction return type cannot be
        // vectorized"); the fields are loaded one by one.
        ref var f = ref faces[b];
        // The row: uniform across the work-group.
        float sy = f.Top + y * ((f.Bottom - f.Top) / (Size - 1));
        int iy = Floor(sy, out float fy);
        float ay = sy - fy, wy0 = 1f - ay;
        bool top = iy >= 0 && iy < f.Height, bottom = iy + 1 >= 0 && iy + 1 < f.Height;
        int row0 = f.ImageOffset + ClampTo(iy, f.Height) * f.Width * 3;
        int row1 = f.ImageOffset + ClampTo(iy + 1, f.Height) * f.Width * 3;
        // The column.
        float sx = f.Left + x * ((f.Right - f.Left) / (Size - 1));
        int ix = Floor(sx, out float fx);
        float ax = sx - fx, wx0 = 1f - ax;
        bool left = ix >= 0 && ix < f.Width, right = ix + 1 >= 0 && ix + 1 < f.Width;
        int c0 = ClampTo(ix, f.Width) * 3, c1 = ClampTo(ix + 1, f.Width) * 3;
        float r = 0f, g = 0f, bl = 0f;
        Tap(images, row0 + c0, top && left ? wx0 * wy0 : 0f, ref r, ref g, ref bl);
        Tap(images, row0 + c1, top && right ? ax * wy0 : 0f, ref r, ref g, ref bl);
        Tap(images, row1 + c0, bottom && left ? wx0 * ay : 0f, ref r, ref g, ref bl);
        Tap(images, row1 + c1, bottom && right ? ax * ay : 0f, ref r, ref g, ref bl);
        const int plane = Size * Size;
        int o = b * 3 * plane + y * Size + x;
        output[o] = (r / 255f - 0.485f) / 0.229f;
        output[o + plane] = (g / 255f - 0.456f) / 0.224f;
        output[o + 2 * plane] = (bl / 255f - 0.406f) / 0.225f;
    }

    private static void Tap(ArrayView<byte> images, int i, float w, ref float r, ref float g, ref float b)
    {
        r += w * images[i];
        g += w * images[i + 1];
        b += w * images[i + 2];
    }

    /// <summary>
    /// floor(<paramref name="v"/>) as an int and a float, by truncation and a select (no library call or branch, so the
    /// kernel vectorises); exact for |v| &lt; 2^31.
    /// </summary>
    private static int Floor(float v, out float floor)
    {
        int i = (int)v;
        float t = i;
        bool down = t > v;
        floor = down ? t - 1f : t;
        return down ? i - 1 : i;
    }

    private static int ClampTo(int i, int count) => i < 0 ? 0 : i >= count ? count - 1 : i;
}
