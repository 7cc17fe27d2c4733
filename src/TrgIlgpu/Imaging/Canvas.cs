namespace TrgIlgpu.Imaging;

/// <summary>An RGB colour.</summary>
public readonly record struct Rgb(byte R, byte G, byte B);

/// <summary>
/// A minimal RGB24 raster with the primitives the overlay needs: clipped lines (Bresenham) with width, filled discs,
/// rectangles and 5x7 text, each optionally blended. Everything is clipped to the canvas, so callers may pass
/// coordinates far outside it.
/// </summary>
internal sealed class Canvas
{
    public int Width { get; }
    public int Height { get; }
    public byte[] Pixels { get; }

    public Canvas(int width, int height, byte[]? pixels = null)
    {
        Width = width; Height = height;
        Pixels = pixels ?? new byte[checked(width * height * 3)];
        if (Pixels.Length != width * height * 3) throw new ArgumentException("pixel buffer size does not match");
    }

    public Rgb Get(int x, int y)
    {
        int i = (y * Width + x) * 3;
        return new Rgb(Pixels[i], Pixels[i + 1], Pixels[i + 2]);
    }

    public void Blend(int x, int y, Rgb c, float alpha = 1f)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height) return;
        int i = (y * Width + x) * 3;
        if (alpha >= 1f)
        {
            Pixels[i] = c.R; Pixels[i + 1] = c.G; Pixels[i + 2] = c.B;
            return;
        }
        Pixels[i] = Mix(Pixels[i], c.R, alpha);
        Pixels[i + 1] = Mix(Pixels[i + 1], c.G, alpha);
        Pixels[i + 2] = Mix(Pixels[i + 2], c.B, alpha);
    }

    private static byte Mix(byte under, byte over, float alpha) => (byte)(under + (over - under) * alpha + 0.5f);

    /// <summary>Paints another canvas's pixels at (x0, y0).</summary>
    public void Paste(Canvas source, int x0, int y0)
    {
        for (int y = 0; y < source.Height; y++)
        {
            int ty = y0 + y;
            if ((uint)ty >= (uint)Height) continue;
            int xs = Math.Max(0, -x0), xe = Math.Min(source.Width, Width - x0);
            if (xe <= xs) continue;
            Buffer.BlockCopy(source.Pixels, (y * source.Width + xs) * 3, Pixels, (ty * Width + x0 + xs) * 3, (xe - xs) * 3);
        }
    }

    public void FillRect(int x0, int y0, int x1, int y1, Rgb c, float alpha = 1f)
    {
        x0 = Math.Max(x0, 0); y0 = Math.Max(y0, 0);
        x1 = Math.Min(x1, Width - 1); y1 = Math.Min(y1, Height - 1);
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
                Blend(x, y, c, alpha);
    }

    /// <summary>A filled disc of the given radius (radius 0 = one pixel) centred on the nearest pixel.</summary>
    public void Disc(float cx, float cy, float radius, Rgb c, float alpha = 1f)
    {
        if (!float.IsFinite(cx) || !float.IsFinite(cy)) return;
        int px = (int)MathF.Round(cx), py = (int)MathF.Round(cy);
        int r = (int)MathF.Ceiling(radius);
        if (px + r < 0 || py + r < 0 || px - r >= Width || py - r >= Height) return;
        float r2 = radius * radius + 0.25f;
        for (int dy = -r; dy <= r; dy++)
            for (int dx = -r; dx <= r; dx++)
                if (dx * dx + dy * dy <= r2) Blend(px + dx, py + dy, c, alpha);
    }

    /// <summary>
    /// A straight line between two points in pixel coordinates (pixel centres at integers), clipped to the canvas,
    /// <paramref name="width"/> pixels thick. With alpha &lt; 1 each pixel of the line is blended once.
    /// </summary>
    public void Line(float x0, float y0, float x1, float y1, Rgb c, int width = 1, float alpha = 1f)
    {
        float pad = width;
        if (!ClipSegment(ref x0, ref y0, ref x1, ref y1, -pad, -pad, Width - 1 + pad, Height - 1 + pad)) return;
        int ax = (int)MathF.Round(x0), ay = (int)MathF.Round(y0), bx = (int)MathF.Round(x1), by = (int)MathF.Round(y1);
        int dx = Math.Abs(bx - ax), dy = -Math.Abs(by - ay);
        int sx = ax < bx ? 1 : -1, sy = ay < by ? 1 : -1;
        int err = dx + dy;
        int lo = -(width - 1) / 2, hi = width / 2;
        bool steep = -dy > dx;
        while (true)
        {
            // A thick line is the 1-pixel line widened across its minor axis.
            for (int k = lo; k <= hi; k++)
                if (steep) Blend(ax + k, ay, c, alpha); else Blend(ax, ay + k, c, alpha);
            if (ax == bx && ay == by) break;
            int e2 = 2 * err;
            if (e2 >= dy) { err += dy; ax += sx; }
            if (e2 <= dx) { err += dx; ay += sy; }
        }
    }

    public void Rect(float left, float top, float right, float bottom, Rgb c, int width = 1)
    {
        Line(left, top, right, top, c, width);
        Line(right, top, right, bottom, c, width);
        Line(right, bottom, left, bottom, c, width);
        Line(left, bottom, left, top, c, width);
    }

    /// <summary>Draws text with its top-left corner at (x, y); '\n' starts a new line.</summary>
    public void Text(int x, int y, string text, Rgb c, int scale = 1)
    {
        int cx = x, cy = y;
        foreach (char ch in text)
        {
            if (ch == '\n') { cx = x; cy += BitmapFont.LineHeight * scale; continue; }
            var glyph = BitmapFont.Glyph(ch);
            for (int row = 0; row < BitmapFont.GlyphHeight; row++)
                for (int col = 0; col < BitmapFont.GlyphWidth; col++)
                    if ((glyph[row] & (1 << (BitmapFont.GlyphWidth - 1 - col))) != 0)
                        FillRect(cx + col * scale, cy + row * scale, cx + (col + 1) * scale - 1, cy + (row + 1) * scale - 1, c);
            cx += BitmapFont.Advance * scale;
        }
    }

    /// <summary>Liang-Barsky clipping of a segment to a rectangle; false when nothing is left.</summary>
    internal static bool ClipSegment(ref float x0, ref float y0, ref float x1, ref float y1, float xmin, float ymin, float xmax, float ymax)
    {
        if (!float.IsFinite(x0) || !float.IsFinite(y0) || !float.IsFinite(x1) || !float.IsFinite(y1)) return false;
        double t0 = 0, t1 = 1, dx = (double)x1 - x0, dy = (double)y1 - y0;
        bool Edge(double p, double q)
        {
            if (p == 0) return q >= 0;
            double r = q / p;
            if (p < 0) { if (r > t1) return false; if (r > t0) t0 = r; }
            else { if (r < t0) return false; if (r < t1) t1 = r; }
            return true;
        }
        if (!Edge(-dx, x0 - xmin) || !Edge(dx, xmax - x0) || !Edge(-dy, y0 - ymin) || !Edge(dy, ymax - y0)) return false;
        float nx0 = (float)(x0 + t0 * dx), ny0 = (float)(y0 + t0 * dy);
        float nx1 = (float)(x0 + t1 * dx), ny1 = (float)(y0 + t1 * dy);
        x0 = nx0; y0 = ny0; x1 = nx1; y1 = ny1;
        return true;
    }
}
