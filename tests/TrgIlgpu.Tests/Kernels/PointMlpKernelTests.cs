using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>PointFeatures.PointMlp against a 1x1 Conv1d over [previous layer; sampled features] + activation in float64.</summary>
[Collection(KernelCollection.Name)]
public sealed class PointMlpKernelTests(KernelDevices devices)
{
    [Theory]
    [InlineData(2, 9, 0, 6, 4, Activation.LeakyRelu, 0)]  // first layer: no previous layer; fewer points than a run (clamped)
    [InlineData(3, 13, 6, 5, 7, Activation.LeakyRelu, 0)] // skip concatenation; 13 points, 7 outputs
    [InlineData(3, 7, 3, 4, 5, Activation.Relu, 50)]      // last layer: rows of a wider buffer (the regressor input)
    [InlineData(1, 1, 2, 3, 1, Activation.None, 0)]       // one point, one output
    [InlineData(2, 3, 0, 5, 17, Activation.LeakyRelu, 0)] // three channel blocks, the last with one channel
    [InlineData(2, 22, 4, 3, 33, Activation.Relu, 0)]     // the last run moved back over its neighbour's points; five blocks
    public void PointMlp_Cpu_MatchesReference(int batch, int points, int extra, int features, int outs, Activation act, int outStride) =>
        Run(devices.Cpu, batch, points, extra, features, outs, act, outStride, seed: 700 + 11 * points + outs);

    public static TheoryData<int> RunBoundaryPoints => [1, 15, 16, 17, 305, 324];

    /// <summary>
    /// Point counts around the 16-point run: 1 and 15 (clamped), 16 (one whole run), 17 (the second run moved back
    /// over 15 of the first's points), 305 and 324 (the model's), each with a partial last channel block.
    /// </summary>
    [Theory]
    [MemberData(nameof(RunBoundaryPoints))]
    public void PointMlp_Cpu_RunBoundaries_MatchReference(int points) =>
        Run(devices.Cpu, 2, points, 3, 6, 13, Activation.LeakyRelu, 0, seed: 900 + points);

    /// <inheritdoc cref="PointMlp_Cpu_RunBoundaries_MatchReference"/>
    [OpenCLTheory]
    [MemberData(nameof(RunBoundaryPoints))]
    public void PointMlp_OpenCL_RunBoundaries_MatchReference(int points)
    {
        Run(devices.OpenCL, 2, points, 5, 7, 13, Activation.LeakyRelu, 0, seed: 950 + points);
        Run(devices.OpenCL, 3, points, 0, 9, 5, Activation.Relu, 5 * points + 7, seed: 970 + points);
    }

    /// <summary>laf_extractor's three layers at the model's sizes: 256 -> 128 (324 points), 384 -> 64 and 320 -> 5 into the regressor input (305 points).</summary>
    [OpenCLFact]
    public void PointMlp_OpenCL_ModelShapes_MatchReference()
    {
        Run(devices.OpenCL, 3, 324, 0, 256, 128, Activation.LeakyRelu, 0, seed: 801);
        Run(devices.OpenCL, 3, 305, 128, 256, 64, Activation.LeakyRelu, 0, seed: 802);
        Run(devices.OpenCL, 3, 305, 64, 256, 5, Activation.Relu, 2452, seed: 803);
    }

    private static void Run(DeviceUnderTest device, int batch, int points, int extraChannels, int featureChannels, int outs,
        Activation act, int outStride, int seed)
    {
        var rng = new TestRandom(seed);
        int ins = extraChannels + featureChannels;
        var extra = extraChannels == 0 ? null : rng.Gaussian((long)batch * extraChannels * points);
        var features = rng.Gaussian((long)batch * featureChannels * points);
        var w = rng.Gaussian((long)outs * ins, Math.Sqrt(2.0 / ins)); // Conv1d weight [out, in, 1]
        var bias = rng.Gaussian(outs, 0.3);
        var expected = RefPointFeatures.PointMlp(extra, extraChannels, features, featureChannels, batch, points, w, bias, outs, act);

        var packed = Pack.Transposed(w, bias, outs, ins, PointFeatures.ChannelTile);
        int stride = outStride == 0 ? outs * points : outStride;
        var p = new PointMlpParams
        {
            Batch = batch, Points = points, ExtraChannels = extraChannels, FeatureChannels = featureChannels,
            OutChannels = outs, Activation = (int)act, OutBatchStride = stride,
        };
        using var d = device.Begin();
        const int guard = 19;
        var output = d.Poisoned((long)batch * stride + guard);
        d.Kernels.PointMlp(d.Stream, p.Config(d.Kernels.GroupSize), extra is null ? d.Unused : d.Upload(extra).View,
            d.Upload(features).View, d.Upload(packed.Weight).View, d.Upload(packed.Bias).View, output.View, p);
        var got = d.Download(output);

        int At(int i) => i / (outs * points) * stride + i % (outs * points);
        string what = $"PointMlp [{batch},{extraChannels}+{featureChannels},{points}]->{outs} {act} (row stride {stride}) on {device.Description}";
        Expect.Close(what, got, expected, 1e-5, at: At, name: i => $"[face {i / (outs * points)}, out {i / points % outs}, point {i % points}]");
        Expect.Untouched(what + ": outside the output rows", got, i => i < batch * stride && i % stride < outs * points);
    }
}
