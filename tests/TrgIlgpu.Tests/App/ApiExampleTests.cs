namespace TrgIlgpu.Tests.App;

/// <summary>The docs/api.md example is the compiled ApiExample.Run, word for word.</summary>
public class ApiExampleTests
{
    [Fact]
    public void Docs_snippet_equals_the_compiled_example()
    {
        var source = File.ReadAllLines(Path.Combine(AppTestData.RepoRoot, "tests", "TrgIlgpu.Tests", "App", "ApiExample.cs"));
        int begin = Array.FindIndex(source, l => l.Contains("// BEGIN docs/api.md example"));
        int end = Array.FindIndex(source, l => l.Contains("// END docs/api.md example"));
        Assert.True(begin >= 0 && end > begin, "markers missing in ApiExample.cs");
        var example = Dedent(source[(begin + 1)..end]);

        var docs = File.ReadAllLines(Path.Combine(AppTestData.RepoRoot, "docs", "api.md"));
        int open = Array.FindIndex(docs, l => l.Trim() == "```csharp");
        int close = Array.FindIndex(docs, open + 1, l => l.Trim() == "```");
        Assert.True(open >= 0 && close > open, "no csharp block in docs/api.md");
        var snippet = Dedent(docs[(open + 1)..close]);
        Assert.Equal(example, snippet);
    }

    private static string Dedent(string[] lines)
    {
        int indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join("\n", lines.Select(l => l.Length >= indent ? l[indent..].TrimEnd() : l.TrimEnd()));
    }
}
