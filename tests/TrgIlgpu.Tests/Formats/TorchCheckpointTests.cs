using System.Text.Json;
using TrgIlgpu.Formats;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.Formats;

/// <summary>Small checkpoints written by real torch.save (tools/make_checkpoint_fixtures.py) read back value for value.</summary>
public class TorchCheckpointTests
{
    private static readonly JsonElement Expected =
        JsonDocument.Parse(File.ReadAllText(FormatsTestFiles.Fixture("expected.json"))).RootElement;

    private static void AssertMatchesExpected(string fixture, StateDict sd)
    {
        var expected = Expected.GetProperty(fixture);
        Assert.Equal(expected.EnumerateObject().Select(p => p.Name), sd.Tensors.Select(t => t.Name));
        foreach (var t in sd.Tensors)
        {
            var e = expected.GetProperty(t.Name);
            Assert.Equal(e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()), t.Shape);
            var values = e.GetProperty("values").EnumerateArray();
            switch (e.GetProperty("dtype").GetString())
            {
                case "F32":
                    Assert.Equal(TensorDType.F32, t.DType);
                    Assert.Equal(values.Select(v => (float)v.GetDouble()), t.F32!); // exact: values are float32 printed as doubles
                    break;
                case "I64":
                    Assert.Equal(TensorDType.I64, t.DType);
                    Assert.Equal(values.Select(v => v.GetInt64()), t.I64!);
                    break;
                default:
                    Assert.Equal(TensorDType.I32, t.DType);
                    Assert.Equal(values.Select(v => v.GetInt32()), t.I32!);
                    break;
            }
        }
    }

    [Theory]
    [InlineData("float32.pt")]
    [InlineData("dtypes.pt")]
    [InlineData("views.pt")]
    [InlineData("parameters.pt")]
    [InlineData("nested_state_dict.pt")]
    [InlineData("nested_model.pt")]
    [InlineData("module_prefix.pt")]
    [InlineData("deflated.pt")]
    public void ReadsTorchSaveOutput(string fixture)
    {
        var sd = Checkpoint.ReadStateDict(FormatsTestFiles.Fixture(fixture));
        AssertMatchesExpected(fixture, sd);
        Assert.Equal("pytorch-zip", sd.Metadata["format"]);
        Assert.Equal(new FileInfo(FormatsTestFiles.Fixture(fixture)).Length, sd.FileBytes);
    }

    [Fact]
    public void Float32_HasIntegerBuffer()
    {
        var sd = Checkpoint.ReadStateDict(FormatsTestFiles.Fixture("float32.pt"));
        var nbt = sd.Tensors.Single(t => t.Name == "1.num_batches_tracked");
        Assert.Equal(TensorDType.I64, nbt.DType);
        Assert.Empty(nbt.Shape);
        Assert.Equal([1234L], nbt.I64!);
    }

    [Fact]
    public void NestedAndPrefixed_AreReported()
    {
        var nested = Checkpoint.ReadStateDict(FormatsTestFiles.Fixture("nested_state_dict.pt"));
        Assert.Equal("state_dict", nested.Metadata["nested_under"]);
        Assert.Contains(nested.Notes, n => n.Contains("'state_dict'"));
        Assert.Equal("model", Checkpoint.ReadStateDict(FormatsTestFiles.Fixture("nested_model.pt")).Metadata["nested_under"]);
        var prefixed = Checkpoint.ReadStateDict(FormatsTestFiles.Fixture("module_prefix.pt"));
        Assert.DoesNotContain(prefixed.Tensors, t => t.Name.StartsWith("module."));
        Assert.Contains(prefixed.Notes, n => n.Contains("'module.'") && n.Contains("9 keys"));
    }

    [Fact]
    public void SharedStorages_ViewsGetTheirOwnValues()
    {
        var sd = Checkpoint.ReadStateDict(FormatsTestFiles.Fixture("views.pt"));
        var t = sd.Tensors.ToDictionary(x => x.Name);
        var b = t["base"].F32!;
        Assert.Equal(b[(2 * 5)..(3 * 5)], t["row"].F32);
        Assert.Equal(Enumerable.Range(0, 6).Select(r => b[r * 5 + 1]), t["col"].F32!);
        Assert.Equal([5, 6], t["transposed"].Shape);
        Assert.Equal(b[3 * 5 + 4], t["element"].F32![0]);
        Assert.Contains(sd.Notes, n => n.Contains("shared by base, row, col"));
    }

    [Fact]
    public void SafeTensorsStateDict_IsAcceptedAsACheckpoint()
    {
        using var tmp = new TempFolder();
        var rng = new Random(41);
        var w = Enumerable.Range(0, 6).Select(_ => rng.NextSingle()).ToArray();
        var path = tmp.File("sd.safetensors");
        SafeTensors.Write(path, [new HostTensor("module.a.weight", [2, 3], w), new HostTensor("module.a.num_batches_tracked", [], [5L])], new Dictionary<string, string>());
        var sd = Checkpoint.ReadStateDict(path);
        Assert.Equal(["a.weight", "a.num_batches_tracked"], sd.Tensors.Select(t => t.Name));
        Assert.Equal(w, sd.Tensors[0].F32);
        Assert.Equal("safetensors", sd.Metadata["format"]);
    }

    public static TheoryData<string, string> Broken => new()
    {
        { "legacy.pt", "re-save with torch>=1.6" },
        { "truncated.pt", "zip archive" },
        { "corrupt_directory.pt", "zip archive" },
        { "corrupt_pickle.pt", "truncated" },
        { "garbage_pickle.pt", "unsupported opcode" },
        { "storage_short.pt", "storage shorter than tensor" },
        { "storage_view_past_end.pt", "storage shorter than tensor" },
        { "storage_entry_mismatch.pt", "declares 10 float32 elements (40 bytes) but its archive entry holds 36 bytes" },
        { "storage_missing.pt", "no archive entry" },
        { "huge_numel.pt", "impossibly large" },
        { "huge_shape.pt", "impossibly large" },
        { "zip_bomb_claim.pt", "claims 4000000000 bytes" },
        { "zip_size_beyond_file.pt", "2000000000 stored bytes" },
        { "single_tensor.pt", "not a state dict" },
        { "no_tensors.pt", "no tensors found" },
        { "plain_p4.pkl", "not a PyTorch zip checkpoint" },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void BrokenCheckpoints_AreInvalidModel(string fixture, string expected)
    {
        var path = FormatsTestFiles.Fixture(fixture);
        var e = Assert.Throws<TrgException>(() => Checkpoint.ReadStateDict(path));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Contains(expected, e.Message);
        Assert.Equal(path, e.FilePath);
    }

    [Fact]
    public void MissingCheckpoint_IsNotFound()
    {
        var e = Assert.Throws<TrgException>(() => Checkpoint.ReadStateDict(FormatsTestFiles.Fixture("absent.pt")));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
    }
}
