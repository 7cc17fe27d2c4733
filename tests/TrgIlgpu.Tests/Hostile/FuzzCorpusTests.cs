using TrgIlgpu.Fuzz;

namespace TrgIlgpu.Tests.Hostile;

/// <summary>
/// Replays the fuzzers' committed inputs through the same targets the fuzzer runs (tests/TrgIlgpu.Fuzz/FuzzTargets.cs):
/// the seed corpus (corpus/TARGET) and every input a fuzzing run found crashing (regressions/TARGET, kept after the
/// fix). Only a documented <see cref="TrgException"/> of the target's kinds may escape; anything else fails here.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class FuzzCorpusTests
{
    private static string FuzzFolder => Path.Combine(TestPaths.RepoRoot, "tests", "TrgIlgpu.Fuzz");

    public static TheoryData<string> Targets => new(FuzzTargets.All.Select(t => t.Name));

    [Theory]
    [MemberData(nameof(Targets))]
    public void Committed_inputs_end_in_success_or_a_documented_error(string name)
    {
        var target = FuzzTargets.Find(name);
        var files = new[] { "corpus", "regressions" }
            .Select(kind => Path.Combine(FuzzFolder, kind, name))
            .Where(Directory.Exists)
            .SelectMany(Directory.EnumerateFiles)
            .ToList();
        Assert.NotEmpty(files);
        int succeeded = 0;
        foreach (var file in files)
        {
            var data = File.ReadAllBytes(file);
            var crash = FuzzTargets.Check(target, data);
            Assert.True(crash is null, $"{file}: {crash?.GetType().Name}: {crash?.Message}\n{crash?.StackTrace}");
            try { target.Run(data); succeeded++; }
            catch (TrgException) { }
        }
        // The seeds are valid inputs: most parse (the hostile seeds among them are refused).
        Assert.True(succeeded > 0, $"no input of {name} parsed");
    }
}
