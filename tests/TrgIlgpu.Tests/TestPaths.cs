namespace TrgIlgpu.Tests;

/// <summary>
/// Locations tests read from: the repository root (the folder holding TrgIlgpu.sln), the shared data folder beside it
/// (<c>../shared</c>: official data files and sample photos, never copied into the repo) and the test fixtures
/// (copied next to the test assembly by the csproj).
/// </summary>
public static class TestPaths
{
    private static readonly Lazy<string> RepoRootLazy = new(FindRepoRoot);

    /// <summary>The repository root: the first folder above the test assembly that holds TrgIlgpu.sln.</summary>
    public static string RepoRoot => RepoRootLazy.Value;

    /// <summary>The shared folder beside the repository (<c>RepoRoot/../shared</c>).</summary>
    public static string Shared
    {
        get
        {
            var dir = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
            if (!Directory.Exists(dir))
                throw new DirectoryNotFoundException($"shared data folder not found: {dir} (expected beside the repository root {RepoRoot})");
            return dir;
        }
    }

    /// <summary>Test fixtures as copied to the output folder (Fixtures/**); falls back to the source tree.</summary>
    public static string Fixtures
    {
        get
        {
            var beside = Path.Combine(AppContext.BaseDirectory, "Fixtures");
            return Directory.Exists(beside) ? beside : Path.Combine(RepoRoot, "tests", "TrgIlgpu.Tests", "Fixtures");
        }
    }

    /// <summary>A file under the shared folder, e.g. <c>TestPaths.SharedFile("samples", "astronaut.png")</c>.</summary>
    public static string SharedFile(params string[] parts) => Path.Combine([Shared, .. parts]);

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "TrgIlgpu.sln")))
                return dir.FullName;
        throw new DirectoryNotFoundException($"no folder above {AppContext.BaseDirectory} holds TrgIlgpu.sln");
    }
}
