using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.Parity;

/// <summary>The parity fixtures load, rebuild their images exactly, and hold self-consistent reference outputs.</summary>
public class ParityFixtureTests
{
    [Fact]
    public void BothVariantsHaveAFixture()
    {
        var names = ParityFixture.Files().Select(Path.GetFileNameWithoutExtension).ToList();
        Assert.Contains("trg", names);
        Assert.Contains("trgv2", names);
    }

    public static IEnumerable<object[]> Files() => ParityFixture.Files().Select(f => new object[] { Path.GetFileName(f) });

    [Theory]
    [MemberData(nameof(Files))]
    public void FixtureIsCompleteAndSane(string file)
    {
        var fx = ParityFixture.Load(Path.Combine(TestPaths.Fixtures, "parity", file));
        var v = fx.Variant;
        Assert.Equal(Path.GetFileNameWithoutExtension(file), v.Name);

        // Batch 1 and a batch of several faces from two images, one box reaching outside the image.
        Assert.Contains(fx.Cases, c => c.Faces.Count == 1);
        // (and, since camera intrinsics, a batch whose principal points are off the image centre)
        Assert.Contains(fx.Cases, batch => batch.Faces.Count >= 3
            && batch.Faces.Select(f => f.Request.Image).Distinct().Count() >= 2
            && batch.Faces.Any(f => f.Request.Box.Left < 0 || f.Request.Box.Top < 0
                || f.Request.Box.Right > f.Request.Image.Width || f.Request.Box.Bottom > f.Request.Image.Height));
        Assert.Contains(fx.Cases.SelectMany(c => c.Faces), f =>
            f.Request.Camera.Cx != f.Request.Image.Width / 2f || f.Request.Camera.Cy != f.Request.Image.Height / 2f);

        foreach (var (request, e) in fx.Cases.SelectMany(c => c.Faces))
        {
            Assert.Null(FaceRequestChecks.Check(request));
            Assert.Equal(9, e.Rotation.Length);
            Assert.Equal(3, e.Translation.Length);
            Assert.Equal(VariantInfo.Vertices * 3, e.VerticesCam.Length);
            Assert.Equal(VariantInfo.Vertices * 3, e.VerticesHead.Length);
            Assert.Equal(VariantInfo.Landmarks * 2, e.Landmarks68Norm.Length);
            Assert.Equal(VariantInfo.Landmarks * 2, e.Landmarks68.Length);
            Assert.Equal(v.Iterations, e.Iterations.Length);
            Assert.Equal(v.Iterations - 1, e.SamplingPoints.Length);
            Assert.All(e.SamplingPoints, p => Assert.Equal(VariantInfo.SubsampledVertices * 2, p.Length));
            float[][] all = [e.Rotation, e.Translation, e.VerticesCam, e.VerticesHead, e.Landmarks68Norm, e.Landmarks68, .. e.SamplingPoints];
            Assert.All(all.SelectMany(a => a), x => Assert.True(float.IsFinite(x)));

            AssertOrthonormal(e.Rotation);
            foreach (var it in e.Iterations) AssertOrthonormal(it.Rotation);
            Assert.Equal(e.Rotation, e.Iterations[^1].Rotation);
            Assert.Equal(e.Translation, e.Iterations[^1].Translation);
            Assert.InRange(e.Translation[2], 0.1f, 20f); // in front of the camera, metres

            // vertices_cam = R vertices_head + T (to float32 rounding).
            for (int n = 0; n < VariantInfo.Vertices; n++)
                for (int r = 0; r < 3; r++)
                {
                    double c = e.Translation[r];
                    for (int k = 0; k < 3; k++) c += (double)e.Rotation[r * 3 + k] * e.VerticesHead[n * 3 + k];
                    Assert.True(Math.Abs(c - e.VerticesCam[n * 3 + r]) < 1e-5, $"vertex {n} axis {r}: {c} vs {e.VerticesCam[n * 3 + r]}");
                }

            // landmarks68 = box origin + crop pixel * (box side / 191), crop pixel = (lmk + 1) / 2 * 192.
            var b = e.Box;
            for (int i = 0; i < VariantInfo.Landmarks; i++)
            {
                Assert.InRange(e.Landmarks68Norm[2 * i], -1f, 1f);
                Assert.InRange(e.Landmarks68Norm[2 * i + 1], -1f, 1f);
                double x = b.Left + (e.Landmarks68Norm[2 * i] + 1.0) / 2 * 192 * (b.Right - b.Left) / 191;
                double y = b.Top + (e.Landmarks68Norm[2 * i + 1] + 1.0) / 2 * 192 * (b.Bottom - b.Top) / 191;
                Assert.True(Math.Abs(x - e.Landmarks68[2 * i]) < 1e-3 && Math.Abs(y - e.Landmarks68[2 * i + 1]) < 1e-3, $"landmark {i}");
            }

            // The reference's own float32 rounding stays well inside the engine tolerances (T 2e-5 m, R 1e-5, vertices 5e-5 m, lmk 1e-4).
            Assert.True(e.ReferenceFloat64Deviation["translation"] < 2e-6);
            Assert.True(e.ReferenceFloat64Deviation["rotation"] < 1e-6);
            Assert.True(e.ReferenceFloat64Deviation["vertices_cam"] < 5e-6);
            Assert.True(e.ReferenceFloat64Deviation["landmarks68_norm"] < 1e-5);
        }
    }

    [Fact]
    public void PatternImageFollowsTheFormula()
    {
        var img = ParityFixture.Pattern(320, 240);
        int x = 301, y = 199, i = (y * 320 + x) * 3;
        Assert.Equal((x * 7 + y * 13) % 256, img.Pixels[i]);
        Assert.Equal((x * x + 3 * y) % 256, img.Pixels[i + 1]);
        Assert.Equal((x ^ y) & 255, img.Pixels[i + 2]);
    }

    [Fact]
    public void ImageMismatchIsReported()
    {
        // The loader compares decoded pixels with the checksum the reference saw; one changed byte must show.
        var img = ParityFixture.Pattern(320, 240);
        ulong before = ParityFixture.PixelChecksum(img);
        img.Pixels[12345]++;
        Assert.NotEqual(before, ParityFixture.PixelChecksum(img));
    }

    private static void AssertOrthonormal(float[] r)
    {
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
            {
                double dot = 0;
                for (int k = 0; k < 3; k++) dot += (double)r[a * 3 + k] * r[b * 3 + k];
                Assert.True(Math.Abs(dot - (a == b ? 1 : 0)) < 1e-5, $"R R^T [{a},{b}] = {dot}");
            }
        double det = r[0] * (r[4] * r[8] - r[5] * r[7]) - r[1] * (r[3] * r[8] - r[5] * r[6]) + r[2] * (r[3] * r[7] - r[4] * r[6]);
        Assert.True(Math.Abs(det - 1) < 1e-5, $"det R = {det}");
    }
}
