using System.Globalization;
using System.Text.Json;
using TrgIlgpu.Video;

namespace TrgIlgpu.Tools;

/// <summary>
/// What one frame of a made clip shows: the photo point at the frame's centre, the zoom (output pixels per photo
/// pixel) and the in-plane rotation about the frame's centre (degrees; positive turns the content clockwise on
/// screen, y down, which adds the same angle to the head's roll), or a face-free picture.
/// </summary>
public sealed record ClipView(double CentreX, double CentreY, double Scale, double AngleDeg, bool FaceFree = false);

/// <summary>
/// Test clips from a still photo with a known motion (tools/MakeClip; the tests compile this file too): each frame is
/// the photo warped by the frame's view (bilinear), plus Gaussian pixel noise, encoded by ffmpeg (<see cref="VideoWriter"/>).
/// </summary>
public static class ClipMaker
{
    /// <summary>The motions <see cref="Motion"/> knows.</summary>
    public static readonly string[] Motions = ["static", "pan", "zoom", "roll", "step", "cut", "tour"];

    /// <summary>
    /// Views for a motion around a start view: static; pan (the centre moves 0.25 frame widths and back); zoom (scale
    /// 1 to 1.4 and back); roll (0 to 30 degrees, linear); step (0 degrees, then 20 from the middle frame); cut (static,
    /// with two face-free frames in the middle); tour (pan, zoom, roll, then a cut and back).
    /// </summary>
    public static ClipView[] Motion(string kind, int frames, ClipView start, int width)
    {
        if (frames < 1) throw new ArgumentException("at least one frame");
        double Phase(int i) => frames == 1 ? 0 : (double)i / (frames - 1);
        double Tri(int i) => 1 - Math.Abs(2 * Phase(i) - 1);
        double panPhoto = 0.25 * width / start.Scale;
        return kind switch
        {
            "static" => Enumerable.Repeat(start, frames).ToArray(),
            "pan" => Enumerable.Range(0, frames).Select(i => start with { CentreX = start.CentreX + panPhoto * Tri(i) }).ToArray(),
            "zoom" => Enumerable.Range(0, frames).Select(i => start with { Scale = start.Scale * (1 + 0.4 * Tri(i)) }).ToArray(),
            "roll" => Enumerable.Range(0, frames).Select(i => start with { AngleDeg = start.AngleDeg + 30 * Phase(i) }).ToArray(),
            "step" => Enumerable.Range(0, frames).Select(i => start with { AngleDeg = start.AngleDeg + (i >= frames / 2 ? 20 : 0) }).ToArray(),
            "cut" => Enumerable.Range(0, frames).Select(i => start with { FaceFree = i >= frames / 2 && i < frames / 2 + 2 }).ToArray(),
            "tour" => Tour(frames, start, panPhoto),
            _ => throw new ArgumentException($"unknown motion '{kind}' (one of {string.Join(", ", Motions)})"),
        };
    }

    private static ClipView[] Tour(int frames, ClipView s, double panPhoto)
    {
        // Four equal parts: pan out and back, zoom in and out, roll to 25 degrees and back, two face-free frames then still.
        var views = new ClipView[frames];
        int part = Math.Max(1, frames / 4);
        for (int i = 0; i < frames; i++)
        {
            int k = Math.Min(3, i / part);
            double u = (double)(i - k * part) / part, tri = 1 - Math.Abs(2 * u - 1);
            views[i] = k switch
            {
                0 => s with { CentreX = s.CentreX + panPhoto * tri },
                1 => s with { Scale = s.Scale * (1 + 0.3 * tri) },
                2 => s with { AngleDeg = s.AngleDeg + 25 * tri },
                _ => s with { FaceFree = i - 3 * part is 1 or 2 },
            };
        }
        return views;
    }

    /// <summary>One frame: the photo through the view (bilinear; outside the photo is black) plus noise of sigma grey levels.</summary>
    public static RgbImage Render(RgbImage photo, ClipView view, int width, int height, double noise, Random rng)
    {
        var dst = new byte[width * height * 3];
        double a = view.AngleDeg * Math.PI / 180, cos = Math.Cos(a), sin = Math.Sin(a);
        var src = photo.Pixels;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int o = 3 * (y * width + x);
                if (view.FaceFree)
                {
                    // A smooth two-colour gradient: no face, and a colour histogram far from any photo's.
                    double g = (double)(x + y) / (width + height);
                    dst[o] = (byte)(40 + 180 * g); dst[o + 1] = (byte)(200 - 120 * g); dst[o + 2] = (byte)(90 + 60 * g);
                    continue;
                }
                // Inverse map: output offset from the centre, turned back by the angle, over the scale, from the photo point.
                double dx = x + 0.5 - 0.5 * width, dy = y + 0.5 - 0.5 * height;
                double sx = view.CentreX + (cos * dx + sin * dy) / view.Scale - 0.5;
                double sy = view.CentreY + (-sin * dx + cos * dy) / view.Scale - 0.5;
                int x0 = (int)Math.Floor(sx), y0 = (int)Math.Floor(sy);
                double fx = sx - x0, fy = sy - y0;
                for (int c = 0; c < 3; c++)
                {
                    double v = (1 - fy) * ((1 - fx) * At(src, photo, x0, y0, c) + fx * At(src, photo, x0 + 1, y0, c))
                        + fy * ((1 - fx) * At(src, photo, x0, y0 + 1, c) + fx * At(src, photo, x0 + 1, y0 + 1, c));
                    dst[o + c] = (byte)v;
                }
            }
        if (noise > 0)
            for (int i = 0; i < dst.Length; i++)
            {
                // Box-Muller.
                double n = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                dst[i] = (byte)Math.Clamp(Math.Round(dst[i] + noise * n), 0, 255);
            }
        return new RgbImage(width, height, dst);
    }

    private static double At(byte[] src, RgbImage photo, int x, int y, int c) =>
        (uint)x < (uint)photo.Width && (uint)y < (uint)photo.Height ? src[3 * (y * photo.Width + x) + c] : 0;

    /// <summary>Renders every view and encodes the clip with ffmpeg; writes the views beside it as JSON (<c>CLIP.views.json</c>).</summary>
    public static void Write(string path, RgbImage photo, IReadOnlyList<ClipView> views, int width, int height, double fps, double noise, int seed)
    {
        var rng = new Random(seed);
        using (var writer = VideoWriter.Create(path, width, height, fps))
        {
            foreach (var view in views) writer.Write(Render(photo, view, width, height, noise, rng));
            writer.Finish();
        }
        File.WriteAllText(Path.ChangeExtension(path, ".views.json"), JsonSerializer.Serialize(new
        {
            fps, width, height, noise, seed,
            frames = views.Select(v => new { centre_x = v.CentreX, centre_y = v.CentreY, scale = v.Scale, angle_deg = v.AngleDeg, face_free = v.FaceFree }),
        }, new JsonSerializerOptions { WriteIndented = false }));
    }

    /// <summary>Parses "a,b" as two invariant-culture numbers.</summary>
    public static (double, double) Pair(string text)
    {
        var p = text.Split(',');
        return (double.Parse(p[0], CultureInfo.InvariantCulture), double.Parse(p[1], CultureInfo.InvariantCulture));
    }
}
