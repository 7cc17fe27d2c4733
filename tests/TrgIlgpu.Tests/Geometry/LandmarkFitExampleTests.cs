using TrgIlgpu.Geometry;

namespace TrgIlgpu.Tests.Geometry;

/// <summary>docs/landmark-fit.md's C# block is LandmarkFitExample.Run word for word, and it runs.</summary>
public class LandmarkFitExampleTests
{
    [Fact]
    public void Docs_snippet_equals_the_compiled_example()
    {
        var source = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "tests", "TrgIlgpu.Tests", "Geometry", "LandmarkFitExample.cs"));
        int begin = Array.FindIndex(source, l => l.Contains("// BEGIN docs/landmark-fit.md example"));
        int end = Array.FindIndex(source, l => l.Contains("// END docs/landmark-fit.md example"));
        Assert.True(begin >= 0 && end > begin, "markers missing in LandmarkFitExample.cs");
        var docs = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "docs", "landmark-fit.md"));
        int open = Array.FindIndex(docs, l => l.Trim() == "```csharp");
        Assert.True(open >= 0, "docs/landmark-fit.md has no C# block");
        int close = Array.FindIndex(docs, open + 1, l => l.Trim() == "```");
        Assert.Equal(Dedent(source[(begin + 1)..end]), Dedent(docs[(open + 1)..close]));
    }

    [Fact]
    public void Example_runs_on_a_reference_case()
    {
        var c = PoseTestData.OpenCvCases.Value.Single(x => x.Name == "pose4_sigma0.0");
        var text = new StringWriter();
        var cam = LandmarkFitExample.Run(c.Landmarks, c.Fx, c.Fy, c.Cx, c.Cy, text);
        Assert.Equal(HeadTemplate.VertexCount * 3, cam.Length);
        Assert.Contains($"yaw {c.TrueEuler![0]:0.0} pitch {c.TrueEuler[1]:0.0} roll {c.TrueEuler[2]:0.0}", text.ToString());
        Assert.Contains("rms 0.00 px, converged True", text.ToString());
    }

    private static string Dedent(string[] lines)
    {
        int indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join("\n", lines.Select(l => l.Length >= indent ? l[indent..].TrimEnd() : l.TrimEnd()));
    }
}
