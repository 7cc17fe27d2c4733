namespace TrgIlgpu.Tests.App;

/// <summary>
/// The C# example in the docs is the compiled ApiExample.Run, word for word: docs/api.md must carry it, and any
/// csharp block of README.md or docs/*.md that calls TrgEstimator.Create must be that same example.
/// </summary>
public class ApiExampleTests
{
    [Fact]
    public void Docs_snippets_equal_the_compiled_example()
    {
        var source = File.ReadAllLines(Path.Combine(AppTestData.RepoRoot, "tests", "TrgIlgpu.Tests", "App", "ApiExample.cs"));
        int begin = Array.FindIndex(source, l => l.Contains("// BEGIN docs/api.md example"));
        int end = Array.FindIndex(source, l => l.Contains("// END docs/api.md example"));
        Assert.True(begin >= 0 && end > begin, "markers missing in ApiExample.cs");
        var example = Dedent(source[(begin + 1)..end]);

        var files = Directory.GetFiles(Path.Combine(AppTestData.RepoRoot, "docs"), "*.md").ToList();
        var readme = Path.Combine(AppTestData.RepoRoot, "README.md");
        if (File.Exists(readme)) files.Add(readme);
        int checkedBlocks = 0;
        foreach (var file in files)
            foreach (var block in CSharpBlocks(File.ReadAllLines(file)).Where(b => b.Contains("TrgEstimator.Create(")))
            {
                Assert.True(example == block, $"{file}: the C# example differs from tests/TrgIlgpu.Tests/App/ApiExample.cs");
                checkedBlocks++;
            }
        Assert.True(checkedBlocks >= 1, "docs/api.md has no C# example calling TrgEstimator.Create");
    }

    private static IEnumerable<string> CSharpBlocks(string[] lines)
    {
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() != "```csharp") continue;
            int close = Array.FindIndex(lines, i + 1, l => l.Trim() == "```");
            if (close < 0) yield break;
            yield return Dedent(lines[(i + 1)..close]);
            i = close;
        }
    }

    private static string Dedent(string[] lines)
    {
        int indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join("\n", lines.Select(l => l.Length >= indent ? l[indent..].TrimEnd() : l.TrimEnd()));
    }
}
