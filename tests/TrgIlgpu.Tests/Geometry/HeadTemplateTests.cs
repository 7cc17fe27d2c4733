using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using TrgIlgpu.Formats;
using TrgIlgpu.Geometry;
using TrgIlgpu.Tests.Formats;

namespace TrgIlgpu.Tests.Geometry;

/// <summary>The embedded TRG template (weights/trg-template) against the official files in ../shared/trg-data.</summary>
public class HeadTemplateTests
{
    private static readonly HeadTemplate Template = HeadTemplate.Trg;

    [Fact]
    public void Embedded_landmarks_equal_the_official_template_at_the_official_indices()
    {
        var vertices = Npy.Read(FormatsTestFiles.SharedData("template_1220.npy"));
        var index = Npy.Read(FormatsTestFiles.SharedData("landmark68_vertex_index.npy"));
        Assert.Equal([HeadTemplate.VertexCount, 3], vertices.Shape);
        Assert.Equal([HeadTemplate.LandmarkCount], index.Shape);
        var expected = new float[HeadTemplate.LandmarkCount * 3];
        for (int i = 0; i < HeadTemplate.LandmarkCount; i++)
            for (int c = 0; c < 3; c++) expected[3 * i + c] = vertices.F32![index.I64![i] * 3 + c];
        Assert.Equal(expected, Template.Landmarks68.ToArray()); // bit for bit
        Assert.Equal(index.I64!.Select(i => (int)i).ToArray(), Template.LandmarkVertexIndex.ToArray());
    }

    [Fact]
    public void Embedded_mesh_equals_the_official_vertices_and_triangles()
    {
        Assert.Equal(Npy.Read(FormatsTestFiles.SharedData("template_1220.npy")).F32, Template.Vertices.ToArray());
        var triangles = Npy.Read(FormatsTestFiles.SharedData("triangles_1220.npy"));
        Assert.Equal([HeadTemplate.TriangleCount, 3], triangles.Shape);
        Assert.Equal(triangles.I32, Template.Triangles.ToArray());
    }

    /// <summary>iBUG 68 order and the head frame docs/landmark-fit.md states: +x subject's left, +y down, +z back.</summary>
    [Fact]
    public void Landmarks_are_in_ibug68_order_in_the_documented_head_frame()
    {
        var p = Template.Landmarks68.ToArray();
        float X(int i) => p[3 * i];
        float Y(int i) => p[3 * i + 1];
        float Z(int i) => p[3 * i + 2];
        var all = Enumerable.Range(0, 68);
        // Jaw 0-16 runs from the subject's right (-x) to the left (+x), monotonically, chin 8 in the middle at the bottom.
        for (int i = 0; i < 16; i++) Assert.True(X(i) < X(i + 1), $"jaw x not increasing at {i}");
        Assert.True(Math.Abs(X(8)) < 0.003 && Y(8) > 0.075);
        Assert.True(Math.Abs(X(0) + X(16)) < 0.001, "jaw ends symmetric about x = 0");
        // Brows above the eyes, eyes above the nose tip, nose tip above the mouth (y down).
        Assert.True(Enumerable.Range(17, 10).Max(Y) < Enumerable.Range(36, 12).Min(Y));
        Assert.True(Enumerable.Range(36, 12).Max(Y) < Y(30) && Y(30) < Enumerable.Range(48, 20).Min(Y));
        // Right brow / eye (17-21, 36-41) at -x, left (22-26, 42-47) at +x; outer eye corners 36 and 45.
        Assert.True(Enumerable.Range(17, 5).Max(X) < 0 && Enumerable.Range(22, 5).Min(X) > 0);
        Assert.True(Enumerable.Range(36, 6).Max(X) < 0 && Enumerable.Range(42, 6).Min(X) > 0);
        Assert.Equal(36, Enumerable.Range(36, 6).MinBy(X));
        Assert.Equal(45, Enumerable.Range(42, 6).MaxBy(X));
        // Nose bridge 27-30 descends to the tip 30, the most forward point (the face looks along -z).
        for (int i = 27; i < 30; i++) Assert.True(Y(i) < Y(i + 1) && Z(i) > Z(i + 1));
        Assert.Equal(30, all.MinBy(Z));
        // Mouth corners: outer 48 / 54, inner 60 / 64; lower lip below the upper.
        Assert.Equal(48, Enumerable.Range(48, 12).MinBy(X));
        Assert.Equal(54, Enumerable.Range(48, 12).MaxBy(X));
        Assert.True(X(60) < X(62) && X(62) < X(64));
        Assert.True(Y(51) < Y(57) && Y(62) < Y(66));
        // The jaw ends lie behind the face (+z).
        Assert.True(Z(0) > 0 && Z(16) > 0);
    }

    [Fact]
    public void Provenance_records_the_embedded_file_and_its_sources()
    {
        var folder = Path.Combine(TestPaths.RepoRoot, "weights", "trg-template");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "PROVENANCE.json")));
        var root = doc.RootElement;
        Assert.Equal("https://github.com/asw91666/TRG-Release", root.GetProperty("repository").GetString());
        var output = root.GetProperty("output");
        var embedded = File.ReadAllBytes(Path.Combine(TestPaths.RepoRoot, output.GetProperty("path").GetString()!));
        Assert.Equal(output.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(embedded)));
        foreach (var input in root.GetProperty("inputs").EnumerateArray())
        {
            var name = Path.GetFileName(input.GetProperty("shared_copy").GetString()!);
            var hash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(FormatsTestFiles.SharedData(name))));
            Assert.Equal(input.GetProperty("sha256").GetString(), hash);
        }
        Assert.Contains("MIT License", File.ReadAllText(Path.Combine(folder, "LICENSE-TRG-Release")));
    }

    [Theory]
    [InlineData("{\"vertices\": [[0,0,0]], \"triangles\": [], \"landmark68_vertex_index\": []}", "'vertices' has 1 entries, expected 1220")]
    [InlineData("{\"vertices\": ", "head template")]
    [InlineData("{\"triangles\": []}", "head template")]
    public void Bad_template_files_are_refused_with_their_name(string json, string message)
    {
        var e = Assert.Throws<TrgException>(() => HeadTemplate.Read(new MemoryStream(Encoding.UTF8.GetBytes(json)), "bad.json"));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Equal("bad.json", e.FilePath);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Out_of_range_indices_are_refused()
    {
        var text = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "weights", "trg-template", "trg_template.json"));
        var broken = text.Replace("\"landmark68_vertex_index\":[57,", "\"landmark68_vertex_index\":[1220,");
        Assert.NotEqual(text, broken);
        var e = Assert.Throws<TrgException>(() => HeadTemplate.Read(new MemoryStream(Encoding.UTF8.GetBytes(broken)), "broken.json"));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Contains("outside 0..1219", e.Message);
        // The untouched text reads back as the embedded template.
        var same = HeadTemplate.Read(new MemoryStream(Encoding.UTF8.GetBytes(text)), "copy.json");
        Assert.Equal(Template.Vertices.ToArray(), same.Vertices.ToArray());
    }
}
