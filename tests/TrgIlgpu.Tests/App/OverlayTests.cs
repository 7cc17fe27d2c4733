using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Tests.App;

/// <summary>Overlay pixels land where the pinhole projection says, and nowhere else.</summary>
public class OverlayTests
{
    private const int W = 640, H = 480;
    private static readonly OverlayOptions Nothing = new() { Mesh = false, Landmarks = false, Axes = false, Box = false, Text = false };

    private static RgbImage Black(int w = W, int h = H) => new(w, h, new byte[w * h * 3]);

    private static FaceResult TestFace(double yaw = 25, double pitch = -10, double roll = 8) =>
        AppTestData.Place(new FaceBox(250, 120, 410, 280), CameraIntrinsics.Default(W, H), yaw, pitch, roll);

    private static Rgb At(Canvas c, float u, float v) => c.Get((int)MathF.Round(u), (int)MathF.Round(v));

    [Fact]
    public void Projection_is_the_full_image_pinhole()
    {
        var (u, v) = Overlay.Project(0.1f, -0.05f, 0.8f, CameraIntrinsics.FromFocal(1000, W, H));
        Assert.Equal(1000 * 0.1f / 0.8f + W / 2f, u, 4);
        Assert.Equal(1000 * -0.05f / 0.8f + H / 2f, v, 4);
        var offCentre = new CameraIntrinsics(1000, 1000, 123.5f, 401.25f);
        (u, v) = Overlay.Project(0.1f, -0.05f, 0.8f, offCentre);
        Assert.Equal(1000 * 0.1f / 0.8f + 123.5f, u, 4);
        Assert.Equal(1000 * -0.05f / 0.8f + 401.25f, v, 4);
        Assert.True(float.IsNaN(Overlay.Project(0.1f, 0.1f, 0f, offCentre).U));
        Assert.True(float.IsNaN(Overlay.Project(0.1f, 0.1f, -1f, offCentre).U));
    }

    [Fact]
    public void Landmarks_are_drawn_at_their_pixels_and_nowhere_else()
    {
        var face = TestFace();
        var c = Overlay.RenderCanvas(Black(), [face], null, Nothing with { Landmarks = true });
        for (int k = 0; k < 68; k++)
            Assert.Equal(Overlay.LandmarkColor, At(c, face.Landmarks68[2 * k], face.Landmarks68[2 * k + 1]));
        // Every coloured pixel is within the dot radius of some landmark.
        float radius = 1.5f + 1;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                if (c.Get(x, y) != default)
                    Assert.True(Enumerable.Range(0, 68).Any(k =>
                        MathF.Abs(face.Landmarks68[2 * k] - x) <= radius && MathF.Abs(face.Landmarks68[2 * k + 1] - y) <= radius), $"stray pixel at {x},{y}");
    }

    [Fact]
    public void Landmarks_in_the_test_face_are_the_projected_landmark_vertices()
    {
        // Checks the test data itself against an independent projection, so the pixel tests compare with the pinhole.
        var face = TestFace();
        for (int k = 0; k < 68; k++)
        {
            int v = AppTestData.LandmarkVertices[k];
            var (u, w) = Overlay.Project(face.VerticesCam[3 * v], face.VerticesCam[3 * v + 1], face.VerticesCam[3 * v + 2], face.Camera);
            Assert.Equal(u, face.Landmarks68[2 * k], 3);
            Assert.Equal(w, face.Landmarks68[2 * k + 1], 3);
        }
    }

    [Fact]
    public void Axes_run_from_T_to_T_plus_R_axis_times_length()
    {
        var face = TestFace(yaw: 35, pitch: 15, roll: -20);
        var c = Overlay.RenderCanvas(Black(), [face], null, Nothing with { Axes = true, AxisLength = 0.08f });
        var t = face.Translation;
        var (u0, v0) = Overlay.Project(t[0], t[1], t[2], face.Camera);
        var ends = Overlay.AxisEnds(face, 0.08f);
        Rgb[] colors = [Overlay.AxisX, Overlay.AxisY, Overlay.AxisZ];
        for (int k = 0; k < 3; k++)
        {
            // Independent end point: T + R[:,k] * length.
            float x = t[0] + face.Rotation[k] * 0.08f, y = t[1] + face.Rotation[3 + k] * 0.08f, z = t[2] + face.Rotation[6 + k] * 0.08f;
            Assert.Equal((x, y, z), (ends[k][0], ends[k][1], ends[k][2]));
            var (u1, v1) = Overlay.Project(x, y, z, face.Camera);
            Assert.True(MathF.Abs(u1 - u0) + MathF.Abs(v1 - v0) > 10, "axis too short to test");
            Assert.Equal(colors[k], At(c, u1, v1));
            // Points of the segment near its far end (away from the other axes) carry its colour, within the one pixel
            // that rounding the end points before Bresenham can move them.
            for (float s = 0.6f; s < 1f; s += 0.1f)
            {
                int x0 = (int)MathF.Round(u0 + s * (u1 - u0)), y0 = (int)MathF.Round(v0 + s * (v1 - v0));
                Assert.True(Enumerable.Range(-1, 3).Any(d => c.Get(x0 + d, y0) == colors[k] || c.Get(x0, y0 + d) == colors[k]),
                    $"axis {k}: no pixel near {x0},{y0}");
            }
        }
    }

    [Fact]
    public void Box_outline_is_drawn_on_its_edges()
    {
        var face = TestFace();
        var c = Overlay.RenderCanvas(Black(), [face], null, Nothing with { Box = true, LineWidth = 1 });
        var b = face.Box;
        foreach (var (x, y) in new[] { (b.Left, b.Top), (b.Right, b.Top), (b.Left, b.Bottom), (b.Right, b.Bottom), ((b.Left + b.Right) / 2, b.Top), (b.Left, (b.Top + b.Bottom) / 2) })
            Assert.Equal(Overlay.BoxColor, At(c, x, y));
        Assert.Equal(default, At(c, (b.Left + b.Right) / 2, (b.Top + b.Bottom) / 2));
        int drawn = CountNonBlack(c);
        Assert.InRange(drawn, 4 * 160 - 4, 4 * 161 + 4);
    }

    [Fact]
    public void Mesh_without_triangles_is_a_dot_per_projected_vertex()
    {
        var face = TestFace();
        var c = Overlay.RenderCanvas(Black(), [face], null, Nothing with { Mesh = true });
        var expected = Blend(Overlay.MeshColor, Overlay.MeshAlpha);
        for (int i = 0; i < 1220; i++)
        {
            var (u, v) = Overlay.Project(face.VerticesCam[3 * i], face.VerticesCam[3 * i + 1], face.VerticesCam[3 * i + 2], face.Camera);
            var px = At(c, u, v);
            // Overlapping dots blend twice: at least the single-blend colour, never another hue.
            Assert.True(px.G >= expected.G && px.B >= expected.B && px.R == 0, $"vertex {i} at {u},{v}: {px}");
        }
    }

    [Fact]
    public void Wireframe_edges_pass_through_their_projected_midpoints_and_stay_inside_the_mesh()
    {
        var face = TestFace(yaw: 0, pitch: 0, roll: 0);
        var c = Overlay.RenderCanvas(Black(), [face], AppTestData.Triangles, Nothing with { Mesh = true, CullBackFaces = false });
        var uv = Enumerable.Range(0, 1220).Select(i =>
            Overlay.Project(face.VerticesCam[3 * i], face.VerticesCam[3 * i + 1], face.VerticesCam[3 * i + 2], face.Camera)).ToArray();
        var edges = Overlay.UniqueEdges(AppTestData.Triangles);
        Assert.InRange(edges.Count, 3300, 3700);
        // Endpoints are rounded to pixels before Bresenham: the true midpoint is within one pixel of a drawn one.
        foreach (var (a, b) in edges)
        {
            int mx = (int)MathF.Round((uv[a].U + uv[b].U) / 2), my = (int)MathF.Round((uv[a].V + uv[b].V) / 2);
            Assert.True(Enumerable.Range(-1, 3).Any(dy => Enumerable.Range(-1, 3).Any(dx => c.Get(mx + dx, my + dy) != default)),
                $"edge {a}-{b}: nothing drawn near its midpoint {mx},{my}");
        }
        float minU = uv.Min(p => p.U) - 1, maxU = uv.Max(p => p.U) + 1, minV = uv.Min(p => p.V) - 1, maxV = uv.Max(p => p.V) + 1;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                if (c.Get(x, y) != default) Assert.True(x >= minU && x <= maxU && y >= minV && y <= maxV, $"stray pixel at {x},{y}");
    }

    [Fact]
    public void Back_face_culling_hides_the_far_side_of_a_turned_head()
    {
        var face = TestFace(yaw: 70, pitch: 0, roll: 0);
        var all = Overlay.RenderCanvas(Black(), [face], AppTestData.Triangles, Nothing with { Mesh = true, CullBackFaces = false });
        var culled = Overlay.RenderCanvas(Black(), [face], AppTestData.Triangles, Nothing with { Mesh = true, CullBackFaces = true });
        int nAll = CountNonBlack(all), nCulled = CountNonBlack(culled);
        Assert.True(nCulled < nAll * 0.95 && nCulled > nAll * 0.3, $"{nCulled} of {nAll} pixels after culling");
        // The nose tip (landmark 30) faces the camera and stays visible.
        var nose = AppTestData.LandmarkVertices[30];
        var (u, v) = Overlay.Project(face.VerticesCam[3 * nose], face.VerticesCam[3 * nose + 1], face.VerticesCam[3 * nose + 2], face.Camera);
        Assert.Contains(Enumerable.Range(-2, 5), d => culled.Get((int)u + d, (int)v) != default);
    }

    [Fact]
    public void Text_uses_the_bitmap_font()
    {
        var c = new Canvas(20, 10);
        c.Text(1, 1, "8", new Rgb(255, 255, 255));
        // '8' = .###. / #...# / #...# / .###. / #...# / #...# / .###.
        string[] rows = [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."];
        for (int r = 0; r < 7; r++)
            for (int col = 0; col < 5; col++)
                Assert.Equal(rows[r][col] == '#', c.Get(1 + col, 1 + r) != default);
        Assert.All("YAW PITCH ROLL T M 0123456789.-".ToCharArray(), ch => Assert.True(BitmapFont.Has(ch), $"no glyph for '{ch}'"));
    }

    [Fact]
    public void Label_states_euler_angles_and_translation()
    {
        var face = TestFace(yaw: 0, pitch: 0, roll: 0);
        var e = face.Euler;
        var label = Overlay.Label(face);
        Assert.Contains($"YAW {e.Yaw:0.0}", label);
        Assert.Contains($"PITCH {e.Pitch:0.0}", label);
        Assert.Contains($"T {face.Translation[0]:0.000} {face.Translation[1]:0.000} {face.Translation[2]:0.000} M", label);
        var c = Overlay.RenderCanvas(Black(), [face], null, Nothing with { Text = true });
        // White glyph pixels just above the box.
        int white = 0;
        for (int y = 0; y < (int)face.Box.Top; y++)
            for (int x = 0; x < W; x++)
                if (c.Get(x, y) == Overlay.TextColor) white++;
        Assert.True(white > 200, $"{white} text pixels");
    }

    [Fact]
    public void Lines_far_outside_are_clipped_and_behind_camera_points_are_skipped()
    {
        var c = new Canvas(50, 40);
        c.Line(-1e7f, 20, 1e7f, 20, new Rgb(9, 9, 9));
        for (int x = 0; x < 50; x++) Assert.Equal(new Rgb(9, 9, 9), c.Get(x, 20));
        c.Line(float.NaN, 0, 10, 10, new Rgb(1, 1, 1));
        c.Line(-100, -100, -10, -50, new Rgb(1, 1, 1));
        Assert.Equal(50, CountNonBlack(c));

        var face = TestFace();
        var behind = new FaceResult
        {
            Box = face.Box, Camera = face.Camera, Rotation = face.Rotation, Translation = [0, 0, -1],
            VerticesCam = face.VerticesCam.Select((v, i) => i % 3 == 2 ? -v : v).ToArray(), VerticesHead = face.VerticesHead,
            Landmarks68 = face.Landmarks68, Landmarks68Norm = face.Landmarks68Norm, Iterations = face.Iterations, SamplingPoints = face.SamplingPoints,
        };
        var drawn = Overlay.RenderCanvas(Black(), [behind], AppTestData.Triangles, Nothing with { Mesh = true, Axes = true });
        Assert.Equal(0, CountNonBlack(drawn));
    }

    [Fact]
    public void Real_photo_overlay_changes_only_the_face_region_and_adds_the_side_panel()
    {
        var photo = ImageLoader.LoadFile(AppTestData.AstronautPath);
        var face = AppTestData.Place(AppTestData.AstronautBox, CameraIntrinsics.FromFocal(1024, 512, 512), yaw: 20, pitch: 10, roll: 5);
        var dir = Directory.CreateTempSubdirectory("trg-overlay-").FullName;
        try
        {
            var path = Path.Combine(dir, "astronaut.overlay.png");
            Overlay.SavePng(photo, [face], path, AppTestData.Triangles, new OverlayOptions { SidePanel = true });
            Assert.Single(Directory.GetFiles(dir)); // no temporary file left behind
            using var img = Image.Load<Rgb24>(path);
            Assert.Equal((512 + 512, 512), (img.Width, img.Height));
            // Outside the box, its label strip and a margin for the mesh, the photo is untouched.
            int changedOutside = 0, changedInside = 0;
            for (int y = 0; y < 512; y++)
                for (int x = 0; x < 512; x++)
                {
                    int i = (y * 512 + x) * 3;
                    var p = img[x, y];
                    bool changed = p.R != photo.Pixels[i] || p.G != photo.Pixels[i + 1] || p.B != photo.Pixels[i + 2];
                    // The label strip above the box is wider than the box.
                    bool nearFace = (x >= 140 && x <= 310 && y <= 205) || (x >= 150 && y < 49);
                    if (changed && !nearFace) changedOutside++;
                    if (changed && nearFace) changedInside++;
                }
            Assert.Equal(0, changedOutside);
            Assert.True(changedInside > 5000, $"{changedInside} pixels drawn on the face");
            // The side panel shows the mesh (cyan-ish pixels).
            int meshPixels = 0;
            for (int y = 0; y < 512; y++)
                for (int x = 512; x < 1024; x++)
                    if (img[x, y].B > 120 && img[x, y].G > 90 && img[x, y].R < 60) meshPixels++;
            Assert.True(meshPixels > 200, $"{meshPixels} mesh pixels in the side panel");
        }
        finally { Directory.Delete(dir, true); }
    }

    private static Rgb Blend(Rgb c, float a) => new((byte)(c.R * a + 0.5f), (byte)(c.G * a + 0.5f), (byte)(c.B * a + 0.5f));

    private static int CountNonBlack(Canvas c)
    {
        int n = 0;
        for (int y = 0; y < c.Height; y++)
            for (int x = 0; x < c.Width; x++)
                if (c.Get(x, y) != default) n++;
        return n;
    }
}
