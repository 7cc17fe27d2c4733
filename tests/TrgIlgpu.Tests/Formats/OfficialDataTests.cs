using TrgIlgpu.Formats;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.Formats;

/// <summary>The official release's pickles (../shared/trg-data) read through the restricted unpickler, checked against their .npy twins.</summary>
public class OfficialDataTests
{
    [Fact]
    public void ArkitSubsample_MatchesNpyTwin()
    {
        var fromPickle = NumpyPickle.ReadSubsample(FormatsTestFiles.SharedData("arkit_subsample.pkl"));
        var fromNpy = Npy.Read(FormatsTestFiles.SharedData("subsample_1220_to_305.npy"));
        Assert.Equal(TensorDType.I64, fromNpy.DType);
        Assert.Equal(305, fromPickle.Length);
        Assert.Equal(fromNpy.I64, fromPickle);
        Assert.Equal(4, fromPickle[0]);
        Assert.Equal(1218, fromPickle[^1]);
    }

    [Fact]
    public void ArkitSubsample_NumpyArraysDecode()
    {
        var arrays = NumpyPickle.ReadArrays(FormatsTestFiles.SharedData("arkit_subsample.pkl"));
        Assert.Equal(["faces_305", "faces_77", "faces_39", "adjmat_305"], arrays.Keys.ToArray());
        var faces = arrays["faces_305"];
        Assert.Equal([542, 3], faces.Shape);
        Assert.Equal(TensorDType.I64, faces.DType); // uint32 widened
        Assert.InRange(faces.I64!.Min(), 0, 0);
        Assert.InRange(faces.I64!.Max(), 300, 304);
        var adj = arrays["adjmat_305"];
        Assert.Equal([305, 305], adj.Shape);
        Assert.All(adj.I32!, v => Assert.True(v is 0 or 1));
        // An adjacency matrix of a mesh is symmetric and has edges.
        for (int r = 0; r < 305; r++)
            for (int c = 0; c < r; c++)
                Assert.Equal(adj.I32![r * 305 + c], adj.I32[c * 305 + r]);
        Assert.True(adj.I32!.Sum() > 305);
    }

    [Fact]
    public void InitVtxCam_MatchesNpyTwins()
    {
        var arrays = NumpyPickle.ReadArrays(FormatsTestFiles.SharedData("init_vtx_cam.pkl"));
        var template = Npy.Read(FormatsTestFiles.SharedData("template_1220.npy"));
        var pose = Npy.Read(FormatsTestFiles.SharedData("init_pose_Rt.npy"));
        Assert.Equal([1220, 3], arrays["t_vtx_1220"].Shape);
        Assert.Equal(template.F32, arrays["t_vtx_1220"].F32);
        Assert.Equal([4, 4], arrays["R_t"].Shape);
        Assert.Equal(pose.F32, arrays["R_t"].F32);
    }

    [Fact]
    public void SubsampleFromAPickleWithoutTheKey_IsInvalidModelNamingTheKey()
    {
        var path = FormatsTestFiles.SharedData("init_vtx_cam.pkl");
        var e = Assert.Throws<TrgException>(() => NumpyPickle.ReadSubsample(path));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Contains("1220_to_305", e.Message);
        Assert.Contains("t_vtx_1220", e.Message);
    }

    [Fact]
    public void CheckSubsample_CatchesCountRangeAndRepeats()
    {
        var rng = new Random(31);
        var good = Enumerable.Range(0, 1220).OrderBy(_ => rng.Next()).Take(305).Select(i => (long)i).ToArray();
        Assert.Null(NumpyPickle.CheckSubsample(good));
        Assert.Contains("304 indices", NumpyPickle.CheckSubsample(good[1..]));
        var outside = (long[])good.Clone();
        outside[7] = 1220;
        Assert.Contains("outside", NumpyPickle.CheckSubsample(outside));
        var repeated = (long[])good.Clone();
        repeated[9] = repeated[3];
        Assert.Contains("twice", NumpyPickle.CheckSubsample(repeated));
    }
}

public class SubsamplePickleVariantsTests
{
    [Theory]
    [InlineData("subsample_int32_array.pkl")]
    [InlineData("subsample_int64_array.pkl")]
    public void NumpyIntegerArrays_AreAcceptedAsSubsample(string fixture)
    {
        var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(FormatsTestFiles.Fixture("expected.json")))
            .RootElement.GetProperty("subsample_array").EnumerateArray().Select(x => x.GetInt64()).ToArray();
        Assert.Equal(expected, NumpyPickle.ReadSubsample(FormatsTestFiles.Fixture(fixture)));
    }
}
