using TrgIlgpu.Formats;

namespace TrgIlgpu.Tests.Formats;

/// <summary>
/// Checkpoints and pickles that would run code under a general unpickler (made by tools/make_checkpoint_fixtures.py;
/// each payload would create /tmp/trg_fixture_marker_NAME). Each must be refused with exit code 5 naming the global,
/// leave no output behind, and create no marker.
/// </summary>
public class HostileCheckpointTests
{
    private const string MarkerPrefix = "/tmp/trg_fixture_marker_";

    public static TheoryData<string, string, string> HostileCheckpoints => new()
    {
        { "hostile_os_system.pt", "os.system", "os_system" },
        { "hostile_eval.pt", "builtins.eval", "eval" },
        { "hostile_popen.pt", "subprocess.Popen", "popen" },
        { "hostile_unknown_class.pt", "__main__.Unknown", "unknown_class" },
        { "hostile_full_module.pt", "torch.nn.modules.linear.Linear", "full_module" },
        { "hostile_storage_type.pt", "os.system", "storage_type" },
    };

    [Theory]
    [MemberData(nameof(HostileCheckpoints))]
    public void Export_RefusesHostileCheckpoint(string fixture, string global, string marker)
    {
        File.Delete(MarkerPrefix + marker);
        using var tmp = new TempFolder();
        var checkpoint = FormatsTestFiles.Fixture(fixture);
        var (code, _, err) = FormatsTestFiles.Cli("export", "--checkpoint", checkpoint,
            "--subsample", FormatsTestFiles.SharedData("arkit_subsample.pkl"), "--out", tmp.File("model.safetensors"));

        Assert.Equal((int)ErrorKind.UnsafeCheckpoint, code);
        Assert.Equal(5, code);
        Assert.Contains($"refused global '{global}'", err);
        Assert.Contains(checkpoint, err);
        Assert.Contains("nothing was executed", err);
        Assert.Empty(tmp.Files());
        Assert.False(File.Exists(MarkerPrefix + marker));
    }

    [Theory]
    [MemberData(nameof(HostileCheckpoints))]
    public void Inspect_RefusesHostileCheckpoint(string fixture, string global, string marker)
    {
        File.Delete(MarkerPrefix + marker);
        var (code, _, err) = FormatsTestFiles.Cli("inspect", FormatsTestFiles.Fixture(fixture));
        Assert.Equal(5, code);
        Assert.Contains($"refused global '{global}'", err);
        Assert.False(File.Exists(MarkerPrefix + marker));
    }

    [Theory]
    [InlineData("hostile_os_system.pkl", "os.system", "pkl")]
    [InlineData("hostile_subsample.pkl", "subprocess.Popen", "subsample")]
    public void Export_RefusesHostileSubsamplePickle(string fixture, string global, string marker)
    {
        File.Delete(MarkerPrefix + marker);
        using var tmp = new TempFolder();
        var pkl = FormatsTestFiles.Fixture(fixture);
        var (code, _, err) = FormatsTestFiles.Cli("export", "--checkpoint", FormatsTestFiles.Fixture("float32.pt"),
            "--subsample", pkl, "--out", tmp.File("model.safetensors"));
        Assert.Equal(5, code);
        Assert.Contains($"refused global '{global}'", err);
        Assert.Contains(pkl, err);
        Assert.Empty(tmp.Files());
        Assert.False(File.Exists(MarkerPrefix + marker));

        var inspect = FormatsTestFiles.Cli("inspect", pkl);
        Assert.Equal(5, inspect.Code);
        Assert.False(File.Exists(MarkerPrefix + marker));
    }

    [Fact]
    public void FailedExport_KeepsAnExistingOutputUntouched()
    {
        using var tmp = new TempFolder();
        var output = tmp.File("model.safetensors");
        File.WriteAllText(output, "previous model");
        var (code, _, _) = FormatsTestFiles.Cli("export", "--checkpoint", FormatsTestFiles.Fixture("hostile_eval.pt"),
            "--subsample", FormatsTestFiles.SharedData("arkit_subsample.pkl"), "--out", output);
        Assert.Equal(5, code);
        Assert.Equal("previous model", File.ReadAllText(output));
        Assert.Equal(["model.safetensors"], tmp.Files());
    }

    [Theory]
    [InlineData("truncated.pt")]
    [InlineData("corrupt_directory.pt")]
    [InlineData("corrupt_pickle.pt")]
    [InlineData("storage_short.pt")]
    [InlineData("huge_numel.pt")]
    [InlineData("zip_bomb_claim.pt")]
    [InlineData("legacy.pt")]
    public void Export_BrokenCheckpoint_Exit4_NoOutput(string fixture)
    {
        using var tmp = new TempFolder();
        var checkpoint = FormatsTestFiles.Fixture(fixture);
        var (code, _, err) = FormatsTestFiles.Cli("export", "--checkpoint", checkpoint,
            "--subsample", FormatsTestFiles.SharedData("arkit_subsample.pkl"), "--out", tmp.File("model.safetensors"));
        Assert.Equal((int)ErrorKind.InvalidModel, code);
        Assert.Contains(checkpoint, err);
        Assert.Empty(tmp.Files());
    }
}
