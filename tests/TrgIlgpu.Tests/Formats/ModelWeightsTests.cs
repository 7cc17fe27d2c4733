using TrgIlgpu.Formats;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.Formats;

/// <summary>Validation of full-size official-format weights (random values generated here, from VariantInfo).</summary>
public class ModelWeightsTests
{
    private static readonly long[] OfficialSubsample = NumpyPickle.ReadSubsample(FormatsTestFiles.SharedData("arkit_subsample.pkl"));

    private static HostTensor Subsample(long[]? values = null) => new("subsample", [305], values ?? OfficialSubsample);

    [Theory]
    [InlineData(ModelVariant.Trg, 37_653_936L)]
    [InlineData(ModelVariant.TrgV2, 29_810_433L)]
    public void FromTensors_FullSizeWeights_AreAccepted(ModelVariant which, long elements)
    {
        var variant = VariantInfo.Of(which);
        var tensors = FormatsTestFiles.RandomStateDict(variant, seed: 51);
        var triangles = ModelExport.ReadTriangles(FormatsTestFiles.SharedData("triangles_1220.npy"));
        var w = ModelWeights.FromTensors([.. tensors, Subsample(), triangles], null, "test");
        Assert.Same(variant, w.Variant);
        Assert.Equal(variant.Tensors.Count, w.Tensors.Count);
        Assert.Equal(elements, w.Tensors.Values.Sum(t => t.Elements));
        Assert.Same(tensors[0].F32, w.Tensors[variant.Tensors[0].Key].F32);
        Assert.Equal(OfficialSubsample, w.Subsample);
        Assert.Equal(triangles.I32, w.Triangles);
        Assert.Equal("test", w.Source);
    }

    [Fact]
    public void FromTensors_ReportsEveryProblemAtOnce()
    {
        var v = VariantInfo.TrgV2;
        var tensors = FormatsTestFiles.RandomStateDict(v, seed: 52)
            .Where(t => t.Name is not ("regressor.1.fc2.bias" or "feature_extractor.layer3.0.downsample.0.weight"))
            .Select(t => t.Name switch
            {
                "deconv_layers.0.weight" => new HostTensor(t.Name, [512, 256, 4, 3], t.F32![..(512 * 256 * 12)]),
                "points_grid" => new HostTensor(t.Name, t.Shape, new long[t.Elements]),
                "laf_extractor.1.conv2.bias" => new HostTensor(t.Name, t.Shape, [1f, float.NaN, float.PositiveInfinity, 2f, 3f]),
                _ => t,
            }).ToList();
        var badSubsample = (long[])OfficialSubsample.Clone();
        badSubsample[10] = badSubsample[11];
        tensors.Add(Subsample(badSubsample));
        tensors.Add(new HostTensor("extra.thing", [2], [1f, 2f]));

        var e = Assert.Throws<TrgException>(() => ModelWeights.FromTensors(tensors, null, "bad.safetensors"));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Equal("bad.safetensors", e.FilePath);
        Assert.Contains("6 problems", e.Message);
        Assert.Contains("missing tensor 'regressor.1.fc2.bias' [1024]", e.Message);
        Assert.Contains("missing tensor 'feature_extractor.layer3.0.downsample.0.weight' [256,128,1,1]", e.Message);
        Assert.Contains("tensor 'deconv_layers.0.weight' has shape [512,256,4,3], expected [512,256,4,4]", e.Message);
        Assert.Contains("tensor 'points_grid' is int64", e.Message);
        Assert.Contains("tensor 'laf_extractor.1.conv2.bias' holds 2 NaN or infinite values", e.Message);
        Assert.Contains("'subsample': index", e.Message);
        Assert.DoesNotContain("extra.thing", e.Message); // unexpected keys are not errors
    }

    [Fact]
    public void Validate_VariantFromMetadata_MustAgreeWithKeys()
    {
        var tensors = FormatsTestFiles.RandomStateDict(VariantInfo.Trg, seed: 53).ToDictionary(t => t.Name);
        tensors["subsample"] = Subsample();
        var ok = ModelWeights.Validate(tensors, new Dictionary<string, string> { ["variant"] = "trg" });
        Assert.True(ok.IsValid, string.Join("; ", ok.Problems));
        var wrong = ModelWeights.Validate(tensors, new Dictionary<string, string> { ["variant"] = "trgv2" });
        Assert.Same(VariantInfo.TrgV2, wrong.Variant);
        Assert.Contains(wrong.Problems, p => p.Contains("metadata says variant 'trgv2' but the keys are those of 'trg'"));
        Assert.Contains(wrong.Problems, p => p.Contains("missing tensor 'predict_68_lmk.3.weight'"));
        Assert.Contains("deconv_layers.6.weight", wrong.UnexpectedKeys);
        var bogus = ModelWeights.Validate(tensors, new Dictionary<string, string> { ["variant"] = "resnet" });
        Assert.Contains(bogus.Problems, p => p.Contains("'resnet'"));
    }

    [Fact]
    public void Validate_UnknownVariant_StillListsMissingKeys_AndOptionalParts()
    {
        var tensors = FormatsTestFiles.RandomStateDict(VariantInfo.Trg, seed: 54)
            .Where(t => !t.Name.EndsWith(".num_batches_tracked") && t.Name != "deconv_layers.6.weight")
            .ToDictionary(t => t.Name);
        var v = ModelWeights.Validate(tensors, null, requireSubsample: false);
        Assert.Null(v.Variant);
        Assert.Contains(v.Problems, p => p.StartsWith("cannot tell the variant"));
        Assert.Contains(v.Problems, p => p.Contains("missing tensor 'deconv_layers.6.weight'"));
        Assert.Equal(2, v.Problems.Count); // num_batches_tracked buffers are optional

        tensors["deconv_layers.6.weight"] = FormatsTestFiles.RandomStateDict(VariantInfo.Trg, seed: 55).Single(t => t.Name == "deconv_layers.6.weight");
        Assert.True(ModelWeights.Validate(tensors, null, requireSubsample: false).IsValid);
        Assert.Contains(ModelWeights.Validate(tensors, null).Problems, p => p.StartsWith("missing 'subsample'"));
        tensors["triangles"] = new HostTensor("triangles", [2304, 3], Enumerable.Range(0, 2304 * 3).Select(i => i % 1221).ToArray());
        Assert.Contains(ModelWeights.Validate(tensors, null, requireSubsample: false).Problems, p => p.Contains("'triangles' holds vertex numbers outside"));
    }

    [Fact]
    public void LoadFile_ChecksPresenceAndFormat()
    {
        using var tmp = new TempFolder();
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<TrgException>(() => ModelWeights.LoadFile(tmp.File("absent.safetensors"))).Kind);

        var tensors = FormatsTestFiles.RandomStateDict(VariantInfo.TrgV2, seed: 56);
        var plain = tmp.File("plain.safetensors");
        SafeTensors.Write(plain, [.. tensors, Subsample()], new Dictionary<string, string>());
        var e = Assert.Throws<TrgException>(() => ModelWeights.LoadFile(plain));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Contains("trg export", e.Message);

        var model = tmp.File("model.safetensors");
        SafeTensors.Write(model, [.. tensors, Subsample()], new Dictionary<string, string> { ["format"] = "trg-ilgpu", ["variant"] = "trgv2" });
        var w = ModelWeights.LoadFile(model);
        Assert.Same(VariantInfo.TrgV2, w.Variant);
        Assert.Equal(model, w.Source);
        Assert.Null(w.Triangles);
        foreach (var t in tensors.Where(t => t.DType == TensorDType.F32))
            Assert.True(t.F32.AsSpan().SequenceEqual(w.F32(t.Name)), t.Name);
    }
}
