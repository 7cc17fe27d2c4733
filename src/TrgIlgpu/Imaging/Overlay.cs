using System.Globalization;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace TrgIlgpu.Imaging;

/// <summary>What an overlay shows. Every layer is on by default except the side panel.</summary>
public sealed record OverlayOptions
{
    /// <summary>The projected mesh: wireframe when triangles are known, else one dot per vertex.</summary>
    public bool Mesh { get; init; } = true;
    /// <summary>Hide mesh edges whose triangles all face away from the camera.</summary>
    public bool CullBackFaces { get; init; } = true;
    public bool Landmarks { get; init; } = true;
    public bool Axes { get; init; } = true;
    public bool Box { get; init; } = true;
    /// <summary>Draw what face finding found (<see cref="FaceResult.Detection"/>): the detector's box and score and the landmark net's 68 points.</summary>
    public bool Detection { get; init; } = true;
    public bool Text { get; init; } = true;
    /// <summary>A second panel: the camera-space meshes seen from the side (depth to the right, y down), as in Fig. 10 of the TRG paper.</summary>
    public bool SidePanel { get; init; }
    /// <summary>Length of the drawn head axes, metres.</summary>
    public float AxisLength { get; init; } = 0.05f;
    /// <summary>Line width in pixels; null: from the image size (1 px per 500 px of the shorter side, at least 1).</summary>
    public int? LineWidth { get; init; }

    public static OverlayOptions Default { get; } = new();
}

/// <summary>
/// Draws estimation results over the photo: mesh, 68 landmarks, head axes at T, the box and yaw/pitch/roll + T as text.
/// Projection is the engine's full-image pinhole: focal f, principal point (W/2, H/2),
/// <c>u = f x / z + W/2</c>, <c>v = f y / z + H/2</c>.
/// </summary>
public static class Overlay
{
    public static readonly Rgb MeshColor = new(0, 220, 255);
    public static readonly Rgb LandmarkColor = new(255, 0, 255);
    public static readonly Rgb BoxColor = new(255, 200, 0);
    public static readonly Rgb DetectionColor = new(40, 255, 120);
    public static readonly Rgb AxisX = new(255, 40, 40), AxisY = new(40, 255, 40), AxisZ = new(60, 120, 255);
    public static readonly Rgb TextColor = new(255, 255, 255);
    public const float MeshAlpha = 0.55f;

    /// <summary>Pixel position of a camera-space point; NaN when the point is not in front of the camera.</summary>
    public static (float U, float V) Project(float x, float y, float z, CameraIntrinsics camera)
    {
        if (!(z > 1e-6f)) return (float.NaN, float.NaN);
        return (camera.Fx * x / z + camera.Cx, camera.Fy * y / z + camera.Cy);
    }

    /// <summary>Text drawn for a face: Euler angles (EVAL_SPEC convention) and T in metres.</summary>
    public static string Label(FaceResult face)
    {
        var e = face.Euler;
        var t = face.Translation;
        return string.Format(CultureInfo.InvariantCulture,
            "YAW {0:0.0} PITCH {1:0.0} ROLL {2:0.0}\nT {3:0.000} {4:0.000} {5:0.000} M", e.Yaw, e.Pitch, e.Roll, t[0], t[1], t[2]);
    }

    /// <summary>
    /// Renders the overlay as a new image: the photo with the faces drawn on it, and the side panel to its right when
    /// asked. <paramref name="triangles"/> ([T*3] vertex indices, e.g. <c>ModelWeights.Triangles</c>) gives the
    /// wireframe; without it each vertex is a dot.
    /// </summary>
    public static Image<Rgb24> Render(RgbImage image, IReadOnlyList<FaceResult> faces, int[]? triangles = null, OverlayOptions? options = null)
    {
        var canvas = RenderCanvas(image, faces, triangles, options);
        return Image.LoadPixelData<Rgb24>(canvas.Pixels, canvas.Width, canvas.Height);
    }

    /// <summary>Renders and writes a PNG atomically (temporary file in the same folder, then rename).</summary>
    public static void SavePng(RgbImage image, IReadOnlyList<FaceResult> faces, string path, int[]? triangles = null, OverlayOptions? options = null)
    {
        using var rendered = Render(image, faces, triangles, options);
        AtomicFile.Write(path, stream => rendered.Save(stream, new PngEncoder()));
    }

    internal static Canvas RenderCanvas(RgbImage image, IReadOnlyList<FaceResult> faces, int[]? triangles, OverlayOptions? options)
    {
        options ??= OverlayOptions.Default;
        if (triangles is not null && triangles.Length % 3 != 0)
            throw new ArgumentException($"triangles must hold vertex-index triples (got {triangles.Length} indices)");
        var photo = new Canvas(image.Width, image.Height, (byte[])image.Pixels.Clone());
        int lineWidth = options.LineWidth ?? Math.Max(1, (int)MathF.Round(Math.Min(image.Width, image.Height) / 500f));
        int textScale = Math.Max(1, (int)MathF.Round(Math.Min(image.Width, image.Height) / 320f));
        var edges = triangles is null ? null : UniqueEdges(triangles);

        foreach (var face in faces)
        {
            if (options.Mesh) DrawMesh(photo, face, triangles, edges, options.CullBackFaces, lineWidth);
            if (options.Box) photo.Rect(face.Box.Left, face.Box.Top, face.Box.Right, face.Box.Bottom, BoxColor, lineWidth);
            if (options.Detection && face.Detection is { } found)
            {
                var d = found.Detection.Box;
                photo.Rect(d.Left, d.Top, d.Right, d.Bottom, DetectionColor, Math.Max(1, lineWidth - 1));
                for (int k = 0; k + 1 < found.Landmarks68.Length; k += 2)
                    photo.Disc(found.Landmarks68[k], found.Landmarks68[k + 1], lineWidth * 0.5f + 0.5f, DetectionColor);
                if (options.Text && float.IsFinite(found.Detection.Score))
                    photo.Text((int)MathF.Round(d.Left), (int)MathF.Round(d.Bottom) + 2 * lineWidth,
                        found.Detection.Score.ToString("0.00", CultureInfo.InvariantCulture), DetectionColor, textScale);
            }
            if (options.Axes) DrawAxes(photo, face, options.AxisLength, lineWidth + 1);
            if (options.Landmarks)
                for (int k = 0; k + 1 < face.Landmarks68.Length; k += 2)
                    photo.Disc(face.Landmarks68[k], face.Landmarks68[k + 1], lineWidth + 0.5f, LandmarkColor);
        }
        // Labels last, so no face's drawing covers another face's text.
        if (options.Text)
            foreach (var face in faces) DrawLabel(photo, face, textScale);

        if (!options.SidePanel) return photo;
        int side = Math.Max(256, image.Height);
        var panel = SidePanel(side, side, image.Width, image.Height, faces, edges, lineWidth, textScale);
        var both = new Canvas(image.Width + panel.Width, Math.Max(image.Height, panel.Height));
        both.Paste(photo, 0, 0);
        both.Paste(panel, image.Width, 0);
        return both;
    }

    private static void DrawMesh(Canvas c, FaceResult face, int[]? triangles, List<(int A, int B)>? edges, bool cull, int lineWidth)
    {
        var v = face.VerticesCam;
        int n = v.Length / 3;
        var u = new float[n];
        var w = new float[n];
        for (int i = 0; i < n; i++)
            (u[i], w[i]) = Project(v[3 * i], v[3 * i + 1], v[3 * i + 2], face.Camera);

        if (edges is null)
        {
            for (int i = 0; i < n; i++) c.Disc(u[i], w[i], lineWidth * 0.5f, MeshColor, MeshAlpha);
            return;
        }
        HashSet<(int, int)>? visible = null;
        if (cull)
        {
            // A triangle faces the camera (at the origin) when its outward normal points back at it.
            visible = [];
            for (int t = 0; t + 2 < triangles!.Length; t += 3)
            {
                int a = triangles[t], b = triangles[t + 1], d = triangles[t + 2];
                if ((uint)a >= n || (uint)b >= n || (uint)d >= n) continue;
                float e1x = v[3 * b] - v[3 * a], e1y = v[3 * b + 1] - v[3 * a + 1], e1z = v[3 * b + 2] - v[3 * a + 2];
                float e2x = v[3 * d] - v[3 * a], e2y = v[3 * d + 1] - v[3 * a + 1], e2z = v[3 * d + 2] - v[3 * a + 2];
                float nx = e1y * e2z - e1z * e2y, ny = e1z * e2x - e1x * e2z, nz = e1x * e2y - e1y * e2x;
                if (nx * v[3 * a] + ny * v[3 * a + 1] + nz * v[3 * a + 2] < 0)
                {
                    visible.Add(Edge(a, b)); visible.Add(Edge(b, d)); visible.Add(Edge(a, d));
                }
            }
        }
        foreach (var (a, b) in edges)
        {
            if (a >= n || b >= n) continue;
            if (visible is not null && !visible.Contains((a, b))) continue;
            if (float.IsNaN(u[a]) || float.IsNaN(u[b])) continue;
            c.Line(u[a], w[a], u[b], w[b], MeshColor, lineWidth, MeshAlpha);
        }
    }

    private static (int, int) Edge(int a, int b) => a < b ? (a, b) : (b, a);

    internal static List<(int A, int B)> UniqueEdges(int[] triangles)
    {
        var seen = new HashSet<(int, int)>();
        var list = new List<(int, int)>();
        for (int t = 0; t + 2 < triangles.Length; t += 3)
            foreach (var e in new[] { Edge(triangles[t], triangles[t + 1]), Edge(triangles[t + 1], triangles[t + 2]), Edge(triangles[t], triangles[t + 2]) })
                if (e.Item1 >= 0 && seen.Add(e)) list.Add(e);
        return list;
    }

    /// <summary>Camera-space end points of the three head axes: T + R e_k * length.</summary>
    public static float[][] AxisEnds(FaceResult face, float length)
    {
        var r = face.Rotation;
        var t = face.Translation;
        var ends = new float[3][];
        for (int k = 0; k < 3; k++)
            ends[k] = [t[0] + r[k] * length, t[1] + r[3 + k] * length, t[2] + r[6 + k] * length];
        return ends;
    }

    private static void DrawAxes(Canvas c, FaceResult face, float length, int width)
    {
        var t = face.Translation;
        var (u0, v0) = Project(t[0], t[1], t[2], face.Camera);
        if (float.IsNaN(u0)) return;
        var ends = AxisEnds(face, length);
        Rgb[] colors = [AxisX, AxisY, AxisZ];
        // Draw the axis pointing most away from the camera first, so the nearer ones stay on top.
        foreach (int k in new[] { 0, 1, 2 }.OrderByDescending(k => ends[k][2]))
        {
            var (u1, v1) = Project(ends[k][0], ends[k][1], ends[k][2], face.Camera);
            if (!float.IsNaN(u1)) c.Line(u0, v0, u1, v1, colors[k], width);
        }
    }

    private static void DrawLabel(Canvas c, FaceResult face, int scale)
    {
        string text = Label(face);
        var lines = text.Split('\n');
        int textW = lines.Max(l => BitmapFont.Measure(l, scale).Width);
        int textH = (lines.Length - 1) * BitmapFont.LineHeight * scale + BitmapFont.GlyphHeight * scale;
        int pad = 2 * scale;
        // Above the box when there is room, else just inside its top edge; kept inside the image horizontally.
        int x = (int)MathF.Round(face.Box.Left);
        int y = (int)MathF.Round(face.Box.Top) - textH - 2 * pad;
        if (y < 0) y = (int)MathF.Round(face.Box.Top) + pad;
        x = Math.Clamp(x, 0, Math.Max(0, c.Width - textW - 2 * pad));
        y = Math.Clamp(y, 0, Math.Max(0, c.Height - textH - 2 * pad));
        c.FillRect(x, y, x + textW + 2 * pad - 1, y + textH + 2 * pad - 1, new Rgb(0, 0, 0), 0.6f);
        c.Text(x + pad, y + pad, text, TextColor, scale);
    }

    /// <summary>
    /// Side view of camera space: depth z to the right from the camera at the left edge, y downwards (as in the image).
    /// Shows the camera's vertical field of view, depth ticks, and each face's mesh and axes.
    /// </summary>
    private static Canvas SidePanel(int width, int height, int imageWidth, int imageHeight, IReadOnlyList<FaceResult> faces,
        List<(int A, int B)>? edges, int lineWidth, int textScale)
    {
        var c = new Canvas(width, height);
        c.FillRect(0, 0, width - 1, height - 1, new Rgb(28, 28, 32));
        float zMax = 0.3f, yMax = 0.05f;
        foreach (var f in faces)
            for (int i = 0; i + 2 < f.VerticesCam.Length; i += 3)
            {
                if (float.IsFinite(f.VerticesCam[i + 2])) zMax = Math.Max(zMax, f.VerticesCam[i + 2]);
                if (float.IsFinite(f.VerticesCam[i + 1])) yMax = Math.Max(yMax, Math.Abs(f.VerticesCam[i + 1]));
            }
        zMax = Math.Min(zMax * 1.15f, 100f);
        yMax = Math.Min(yMax * 1.2f, 100f);
        int margin = 16 * textScale;
        float scale = Math.Min((width - 2f * margin) / zMax, (height - 2f * margin) / (2 * yMax));
        float ox = margin, oy = height / 2f;
        (float X, float Y) P(float y, float z) => (ox + z * scale, oy + y * scale);

        // Field of view (the image's vertical extent at each depth, from any face's focal) and the optical axis.
        var grey = new Rgb(110, 110, 120);
        if (faces.Count > 0)
        {
            var camera = faces[0].Camera;
            float top = -camera.Cy / camera.Fy, bottom = (imageHeight - camera.Cy) / camera.Fy;
            var (ax, ay) = P(top * zMax, zMax);
            var (bx, by) = P(bottom * zMax, zMax);
            c.Line(ox, oy, ax, ay, grey, 1);
            c.Line(ox, oy, bx, by, grey, 1);
        }
        for (float z = 0; z <= zMax; z += 0.02f)
        {
            var (x0, _) = P(0, z);
            var (x1, _) = P(0, Math.Min(z + 0.01f, zMax));
            c.Line(x0, oy, x1, oy, grey, 1);
        }
        float step = NiceStep(zMax / 5);
        for (float z = step; z <= zMax + 1e-6f; z += step)
        {
            var (x, _) = P(0, z);
            c.Line(x, height - margin / 2f - 4 * textScale, x, height - margin / 2f, grey, 1);
            c.Text((int)x - 6 * textScale, height - margin / 2 - 13 * textScale,
                z.ToString(step < 0.1f ? "0.00" : "0.0", CultureInfo.InvariantCulture), grey, textScale);
        }
        // The camera: a small triangle opening to the right.
        c.Line(ox, oy, ox - 8, oy - 6, TextColor, 1);
        c.Line(ox, oy, ox - 8, oy + 6, TextColor, 1);
        c.Line(ox - 8, oy - 6, ox - 8, oy + 6, TextColor, 1);
        c.Text(4, 4, "SIDE VIEW: Z RIGHT (M), Y DOWN", TextColor, textScale);

        foreach (var face in faces)
        {
            var v = face.VerticesCam;
            int n = v.Length / 3;
            if (edges is not null)
            {
                foreach (var (a, b) in edges)
                {
                    if (a >= n || b >= n) continue;
                    var (x0, y0) = P(v[3 * a + 1], v[3 * a + 2]);
                    var (x1, y1) = P(v[3 * b + 1], v[3 * b + 2]);
                    c.Line(x0, y0, x1, y1, MeshColor, 1, 0.35f);
                }
            }
            else
            {
                for (int i = 0; i < n; i++)
                {
                    var (x, y) = P(v[3 * i + 1], v[3 * i + 2]);
                    c.Disc(x, y, 0, MeshColor, 0.6f);
                }
            }
            var t = face.Translation;
            var (tx, ty) = P(t[1], t[2]);
            var ends = AxisEnds(face, 0.05f);
            Rgb[] colors = [AxisX, AxisY, AxisZ];
            for (int k = 0; k < 3; k++)
            {
                var (ex, ey) = P(ends[k][1], ends[k][2]);
                c.Line(tx, ty, ex, ey, colors[k], lineWidth + 1);
            }
        }
        return c;
    }

    private static float NiceStep(float raw)
    {
        float p = MathF.Pow(10, MathF.Floor(MathF.Log10(raw)));
        foreach (float m in new[] { 1f, 2f, 5f, 10f })
            if (m * p >= raw) return m * p;
        return 10 * p;
    }
}
