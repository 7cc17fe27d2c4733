using TrgIlgpu.Formats;
using TrgIlgpu.Model;
using TrgIlgpu.Tests.App;
using TrgIlgpu.Tests.Formats;
using static TrgIlgpu.Tests.Hostile.HostileGeneratorKit;

namespace TrgIlgpu.Tests.Hostile;

/// <summary>
/// Model files whose weights are finite but unusable (issue 9 item 6): a negative BatchNorm running variance, 3e38 in
/// conv1. `trg inspect` lists the problem with the tensor named (exit 4); loading the model (`trg estimate --model`,
/// <see cref="ModelWeights.LoadFile"/>) refuses it the same way, before any device work.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class HostileWeightsTests : IDisposable
{
    // A full-size TRGv2 model file is read and checked: ~120 MB of floats, so this budget is wider than the kit's.
    private const long ModelFileMiB = 400;

    private readonly TempFolder _tmp = new();
    public void Dispose() => _tmp.Dispose();

    private string ModelFile(string name, string key, Action<float[]> spoil)
    {
        var tensors = FormatsTestFiles.RandomStateDict(VariantInfo.TrgV2, seed: 91);
        spoil(tensors.Single(t => t.Name == key).F32!);
        tensors.Add(new HostTensor(VariantInfo.Subsample.Key, VariantInfo.Subsample.Shape, NumpyPickle.ReadSubsample(FormatsTestFiles.SharedData("arkit_subsample.pkl"))));
        var path = _tmp.File(name);
        SafeTensors.Write(path, tensors, new Dictionary<string, string> { ["format"] = ModelWeights.FileFormat, ["variant"] = "trgv2" });
        return path;
    }

    public static TheoryData<string, string, string> Cases => new()
    {
        { "negative-variance", "feature_extractor.bn1.running_var", "negative running variances" },
        { "huge-conv1", "feature_extractor.conv1.weight", "largest magnitude 3E+38" },
    };

    private string Make(string name, string key) => ModelFile($"{name}.safetensors", key, data =>
    {
        if (name == "negative-variance") data[5] = -0.5f;
        else data[7] = 3e38f;
    });

    [Theory]
    [MemberData(nameof(Cases))]
    public void Inspect_flags_the_tensor(string name, string key, string says)
    {
        var path = Make(name, key);
        var r = Trg("inspect", path);
        Assert.Equal((int)ErrorKind.InvalidModel, r.Code);
        Assert.Contains($"tensor '{key}'", r.Out);
        Assert.Contains(says, r.Out);
        Assert.DoesNotContain("problems: none", r.Out);
        Assert.DoesNotContain("   at ", r.Err);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Loading_refuses_the_model_naming_the_tensor(string name, string key, string says)
    {
        var path = Make(name, key);
        var r = Trg("estimate", AppTestData.AstronautPath, "--model", path, "--bbox", "153,49,295,191");
        Assert.True(r.Code == (int)ErrorKind.InvalidModel, $"exit {r.Code}: {r.Err}");
        Assert.Contains(path, r.Err);
        Assert.Contains($"tensor '{key}'", r.Err);
        Assert.Contains(says, r.Err);
        Assert.DoesNotContain("   at ", r.Err);
        Assert.True(r.AllocatedBytes < ModelFileMiB << 20, $"allocated {r.AllocatedBytes >> 20} MiB");

        var e = Assert.Throws<TrgException>(() => ModelWeights.LoadFile(path));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void The_magnitude_bound_is_configurable()
    {
        var path = ModelFile("large.safetensors", "feature_extractor.conv1.weight", data => data[3] = 5e6f);
        Assert.Throws<TrgException>(() => ModelWeights.LoadFile(path));
        var weights = ModelWeights.LoadFile(path, new InputLimits { MaxAbsWeight = 1e7f });
        Assert.Equal(5e6f, weights.F32("feature_extractor.conv1.weight")[3]);
    }
}
