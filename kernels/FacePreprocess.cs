using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>How the face networks (face-api 1.7.15) normalise their resized input, value x in 0..255.</summary>
public enum FaceNormalization
{
    /// <summary>SSD MobileNet v1: <c>x / 127.5 - 1</c>.</summary>
    SsdMobilenetV1,
    /// <summary>Tiny Face Detector: <c>(x - (117.001, 114.697, 97.404)) / 255</c>.</summary>
    TinyFaceDetector,
    /// <summary>FaceLandmark68Net: <c>(x - (122.782, 117.001, 104.298)) / 255</c>.</summary>
    FaceLandmark68,
}

/// <summary>
/// One item of <see cref="FacePreprocess.ResizeToSquare"/>: an integer rectangle of an uploaded RGB8 image, the zero
/// square it is placed in (face-api's padToSquare) and the resize scale. Build it with
/// <c>TrgIlgpu.Engine.FacePacking.ResizeItem</c>, which validates the rectangle and decides the padding.
/// </summary>
public struct SquareResizeItem
{
    /// <summary>Byte offset of the image in the uploaded buffer (row-major, interleaved R, G, B) and its width in pixels.</summary>
    public int ImageOffset, ImageWidth;
    /// <summary>The source rectangle, inside the image.</summary>
    public int X, Y, Width, Height;
    /// <summary>Side of the padded square, <c>max(Width, Height)</c>, and where the rectangle starts inside it.</summary>
    public int Side, OffsetX, OffsetY;
    /// <summary>Source pixels per output pixel, <c>(float)Side / (float)size</c> as TF computes it (on the host: IEEE division).</summary>
    public float Scale;
}

/// <summary>The face networks' input preprocessing (face-api's NetInput.toBatchTensor and the nets' normalisation).</summary>
public static class FacePreprocess
{
    /// <summary>
    /// Output <c>[B, 3, size, size]</c>, one thread per output pixel. For item b: the rectangle placed in a
    /// <c>Side x Side</c> square of zeros at (OffsetX, OffsetY) (padToSquare; the padding is 0 before the
    /// normalisation), resized by TF's legacy <c>resizeBilinear(alignCorners = false, halfPixelCenters = false)</c> in
    /// float32 as TF's kernel computes it: <c>src = dst * Scale</c>, <c>y0 = floor(src)</c>,
    /// <c>y1 = min(ceil(src), Side - 1)</c>, <c>f = src - y0</c>, <c>top = tl + (tr - tl) fx</c>,
    /// <c>bottom = bl + (br - bl) fx</c>, <c>v = top + (bottom - top) fy</c>; then normalised per
    /// <paramref name="normalization"/>. When the square is already <c>size x size</c> the Scale is 1, every fraction is
    /// exactly 0 and the resize returns the pixels unchanged, so face-api's "skip the resize" needs no branch.
    /// </summary>
    public static void ResizeToSquare(ArrayView<byte> images, ArrayView<SquareResizeItem> items, ArrayView<float> output,
        int batch, int size, FaceNormalization normalization)
    {
        int gid = Grid.GlobalIndex.X;
        int plane = size * size;
        if (gid >= batch * plane) return;
        int ox = gid % size;
        int oy = gid / size % size;
        int b = gid / plane;
        var it = items[b];

        float sy = oy * it.Scale, sx = ox * it.Scale;
        float fy0 = MathF.Floor(sy), fx0 = MathF.Floor(sx);
        int y0 = (int)fy0, x0 = (int)fx0;
        int y1 = Math.Min((int)MathF.Ceiling(sy), it.Side - 1), x1 = Math.Min((int)MathF.Ceiling(sx), it.Side - 1);
        float fy = sy - fy0, fx = sx - fx0;

        int o = b * 3 * plane + oy * size + ox;
        for (int c = 0; c < 3; c++)
        {
            float tl = Pixel(images, it, x0, y0, c), tr = Pixel(images, it, x1, y0, c);
            float bl = Pixel(images, it, x0, y1, c), br = Pixel(images, it, x1, y1, c);
            float top = tl + (tr - tl) * fx;
            float bottom = bl + (br - bl) * fx;
            output[o + c * plane] = Normalize(top + (bottom - top) * fy, c, normalization);
        }
    }

    /// <summary>Pixel (qx, qy) of the padded square: the rectangle's pixel, or 0 in the padding.</summary>
    private static float Pixel(ArrayView<byte> images, SquareResizeItem it, int qx, int qy, int c)
    {
        int x = qx - it.OffsetX, y = qy - it.OffsetY;
        if (x < 0 || y < 0 || x >= it.Width || y >= it.Height) return 0f;
        return images[it.ImageOffset + ((it.Y + y) * it.ImageWidth + it.X + x) * 3 + c];
    }

    /// <summary>In TF's float32 order: SSD <c>x / 127.5 - 1</c>; the others <c>(x - mean) / 255</c>.</summary>
    private static float Normalize(float v, int c, FaceNormalization n)
    {
        if (n == FaceNormalization.SsdMobilenetV1) return v / 127.5f - 1f;
        float mean = n == FaceNormalization.TinyFaceDetector
            ? (c == 0 ? 117.001f : c == 1 ? 114.697f : 97.404f)
            : (c == 0 ? 122.782f : c == 1 ? 117.001f : 104.298f);
        return (v - mean) / 255f;
    }
}
