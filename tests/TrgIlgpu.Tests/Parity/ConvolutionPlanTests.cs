using TrgIlgpu.Backends;
using TrgIlgpu.Engine;
using TrgIlgpu.Kernels;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.Parity;

/// <summary>Which kernel the forward plan launches for each convolution (from the session's <see cref="KernelPolicy"/>), and how the algorithm is chosen.</summary>
public sealed class ConvolutionPlanTests
{
    /// <summary>The 3x3 stride-1 convolutions of TRGv2 (ResNet-18 layers 1-4 without the downsampling conv1s, heatmap).</summary>
    private static readonly string[] Stride1Conv3x3 =
    [
        "layer1.0.conv1", "layer1.0.conv2", "layer1.1.conv1", "layer1.1.conv2",
        "layer2.0.conv2", "layer2.1.conv1", "layer2.1.conv2",
        "layer3.0.conv2", "layer3.1.conv1", "layer3.1.conv2",
        "layer4.0.conv2", "layer4.1.conv1", "layer4.1.conv2",
        "heatmap.conv3x3",
    ];

    /// <summary>The blocks' conv2 with a 1x1 projection shortcut: the direct plan runs them with the 8-channel kernel, the
    /// other 3x3 stride-1 convolutions as phase convolutions over one zero-padded plane.</summary>
    private static readonly string[] ProjectionConv2 = ["layer2.0.conv2", "layer3.0.conv2", "layer4.0.conv2"];

    /// <summary>
    /// Launches of the TRGv2 plan with one launch a convolution (the fused Winograd or the direct kernels); each of
    /// its two transposed convolutions is two (DeconvPad + Deconv4x4S2).
    /// </summary>
    private const int FusedLaunches = 39;

    /// <summary>The conv2s whose output only the next layer's stride-2 conv1 reads (through its phase planes).</summary>
    private static readonly string[] PlaneWriters = ["layer1.1.conv2", "layer2.1.conv2", "layer3.1.conv2"];

    [Theory]
    [InlineData(ConvAlgorithm.Winograd, ConvKernel.WinogradGemmF2, 0)]
    [InlineData(ConvAlgorithm.Winograd, ConvKernel.WinogradGemmF2x16, 0)]
    [InlineData(ConvAlgorithm.Winograd, ConvKernel.WinogradF2x3, 0)]
    [InlineData(ConvAlgorithm.Winograd, ConvKernel.WinogradGemmF2x16, 24)]
    [InlineData(ConvAlgorithm.Winograd, ConvKernel.WinogradGemmF2x16, 12)]
    [InlineData(ConvAlgorithm.Direct, ConvKernel.WinogradGemmF2, 24)]
    public void Plan_RunsEveryConvolutionWithTheExpectedKernel(ConvAlgorithm algorithm, ConvKernel winograd, int f4MinMap)
    {
        var policy = KernelPolicy.For(DeviceKind.Cpu) with { Convolutions = algorithm, Winograd = winograd, WinogradF4MinMap = f4MinMap };
        // F(4x4, 3x3) where the form rule says so: maps of at least f4MinMap a side (TRGv2: layer 1 48, layer 2 and the
        // heatmap 24, layer 3 12), the projection conv2s included (their projection its own launch first).
        var f4 = algorithm != ConvAlgorithm.Winograd || f4MinMap == 0 ? new HashSet<string>() : Stride1Conv3x3.Where(n =>
            (n.StartsWith("layer1.") || f4MinMap <= 24 && (n.StartsWith("layer2.") || n == "heatmap.conv3x3") || f4MinMap <= 12 && n.StartsWith("layer3."))).ToHashSet();
        using var session = new InferenceSession(ModelWeights.Load("synthetic:trgv2:3"), ComputeDevice.Open(DeviceKind.Cpu), ConvAlgorithm.Auto, policy);
        Assert.Equal(algorithm, session.Convolutions);
        var plan = session.Plan(2);
        var byName = plan.Ops.ToDictionary(o => o.Name);
        var chosen = plan.Convolutions.ToDictionary(c => c.Name, c => c.Kernel);
        bool gemm = algorithm == ConvAlgorithm.Winograd && winograd is ConvKernel.WinogradGemmF2 or ConvKernel.WinogradGemmF2x16;
        // With the three-launch Winograd the projection shortcuts are convolutions of their own (1x1 stride 2).
        int projections = gemm ? ProjectionConv2.Length : 0;
        Assert.Equal(19 + projections, chosen.Count);

        foreach (var name in Stride1Conv3x3)
        {
            var kernel = chosen[name];
            if (algorithm == ConvAlgorithm.Direct)
            {
                bool projection = ProjectionConv2.Contains(name);
                Assert.Equal(projection ? ConvKernel.Conv2D : ConvKernel.Conv2DPhase, kernel);
                Assert.Equal(kernel.ToString(), byName[name].Kernel);
                Assert.Equal(!projection, byName.ContainsKey($"{name}.phase_split"));
                if (!projection) Assert.Equal(byName[name].Index - 1, byName[$"{name}.phase_split"].Index);
                continue;
            }
            // TRGv2's 3x3 stride-1 convolutions all have whole 16s of output channels: the 16-channel product runs them all
            // (F4's where the form rule packs them F4).
            string form = f4.Contains(name) ? "F4" : "F2";
            Assert.Equal(f4.Contains(name) ? ConvKernel.WinogradGemmF4x16 : winograd, kernel);
            // The three-launch form: input transform and product right before the convolution's output launch, the
            // loop-free output transform (a projection shortcut added as an identity one, computed before the input
            // transform by its own 1x1 stride-2 phase convolution); the fused kernel keeps the projection in its epilogue.
            // The conv2s whose output only a stride-2 conv1 reads (through its planes and its projection's) write those planes.
            bool planes = gemm && PlaneWriters.Contains(name);
            Assert.Equal(gemm ? $"WinogradOutput{form}{(planes ? "Planes" : "")}" : "WinogradF2x3", byName[name].Kernel);
            Assert.Equal(gemm, byName.ContainsKey($"{name}.winograd_in"));
            bool projected = ProjectionConv2.Contains(name);
            Assert.Equal(gemm && projected, byName.ContainsKey($"{name}.projection"));
            Assert.Equal(projected && !gemm, byName[name].Shape.Contains(" +proj", StringComparison.Ordinal));
            if (!gemm) continue;
            Assert.Equal($"WinogradInput{form}", byName[$"{name}.winograd_in"].Kernel);
            Assert.Equal(kernel.ToString(), byName[$"{name}.winograd_gemm"].Kernel);
            Assert.Equal(byName[name].Index - 1, byName[$"{name}.winograd_gemm"].Index);
            if (!projected) continue;
            var proj = byName[$"{name}.projection"];
            Assert.Equal(ConvKernel.Conv2DPhase, chosen[proj.Name]);
            Assert.Equal("Conv2DPhase", proj.Kernel);
            // No split of its own: it reads the planes its block's conv1 split from the same input (their centre tap).
            Assert.False(byName.ContainsKey($"{proj.Name}.phase_split"));
            string conv1 = name.Replace(".conv2", ".conv1", StringComparison.Ordinal);
            Assert.Equal($"{conv1}.phase_planes", proj.Reads[0].Tensor.Name);
            Assert.True(plan.Ops.Single(o => o.Writes.Any(w => w.Tensor == proj.Reads[0].Tensor)).Index < proj.Index);
            Assert.Equal(3, plan.Convolutions.Single(c => c.Name == proj.Name).Params.PlaneKernel);
            Assert.Equal(byName[$"{name}.winograd_in"].Index - 1, proj.Index);
            // The output transform reads the projection's output (the block input's 1x1 stride-2 image).
            Assert.Contains(byName[name].Reads, r => r.Tensor == proj.Writes[0].Tensor);
            Assert.Contains(" k1s2 ", proj.Shape);
        }
        int gemms = chosen.Values.Count(k => k is ConvKernel.WinogradGemmF2 or ConvKernel.WinogradGemmF2x16 or ConvKernel.WinogradGemmF4x16);
        Assert.Equal(f4.Count, chosen.Values.Count(k => k == ConvKernel.WinogradGemmF4x16));
        int phases = chosen.Values.Count(k => k == ConvKernel.Conv2DPhase);
        // heatmap.conv1x1 (24 x 24: whole strips) reads its input in place: no phase split.
        Assert.True(PhaseConvolution.InPlace(plan.Convolutions.Single(c => c.Name == "heatmap.conv1x1").Params));
        Assert.False(byName.ContainsKey("heatmap.conv1x1.phase_split"));
        // A split for each phase convolution but the in-place heatmap.conv1x1 and the projections (which share conv1's), and
        // those whose input's producer writes the planes instead (the crop; with the three-launch Winograd three conv2s).
        int planeWriters = 1 + (gemm ? PlaneWriters.Length : 0);
        Assert.Equal(planeWriters, plan.Ops.Count(o => o.Kernel.EndsWith("Planes", StringComparison.Ordinal)));
        Assert.Equal(FusedLaunches + 2 * gemms + phases - 1 - planeWriters, plan.Ops.Count);
        Assert.Equal(gemm ? Stride1Conv3x3.Length : 0, gemms);

        // The stride-2 convolutions (the 3-channel stem, the 3x3/2 downsampling conv1s) as phase split, its own launch
        // right before the product, and the 68-channel 1x1 as a phase convolution; with direct weights also the 11 stride-1 3x3s without a
        // projection, with the three-launch Winograd the 3 projections.
        Assert.Equal(5 + (algorithm == ConvAlgorithm.Direct ? Stride1Conv3x3.Length - ProjectionConv2.Length : projections), phases);
        Assert.Equal("Conv2DPhase", byName["heatmap.conv1x1"].Kernel);
        Assert.Equal("CropNormalizePlanes", byName["preprocess"].Kernel);
        foreach (var name in new[] { "conv1", "layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1" })
        {
            Assert.Equal(ConvKernel.Conv2DPhase, chosen[name]);
            Assert.Equal("Conv2DPhase", byName[name].Kernel);
            // Split right before the product, unless the input's producer wrote the planes.
            var writer = plan.Ops.Single(o => o.Writes.Any(w => w.Tensor == byName[name].Reads[0].Tensor));
            bool split = name != "conv1" && !gemm;
            Assert.Equal(split, byName.ContainsKey($"{name}.phase_split"));
            if (split) Assert.Equal(byName[name].Index - 1, byName[$"{name}.phase_split"].Index);
            Assert.Equal(split ? "PhaseSplit" : name == "conv1" ? "CropNormalizePlanes" : byName[writer.Name].Kernel, writer.Kernel);
            if (!split) Assert.EndsWith($"for {name}", writer.Shape);
        }
        Assert.Contains(algorithm == ConvAlgorithm.Winograd ? f4.Count == 0 ? "Winograd F(2x2,3x3)\n" : $"Winograd F(2x2,3x3), {f4.Count} of them F(4x4,3x3)"
            : "convolutions direct", plan.Describe());
    }

    [Fact]
    public void Auto_OnTheCpuAccelerator_IsWinogradUnlessTheEnvironmentSaysOtherwise()
    {
        using var session = new InferenceSession(ModelWeights.Load("synthetic:trg:3"), DeviceKind.Cpu);
        var expected = InferenceSession.ParseConv(Environment.GetEnvironmentVariable(InferenceSession.ConvVariable)) switch
        {
            ConvAlgorithm.Auto => ConvAlgorithm.Winograd,
            var chosen => chosen,
        };
        Assert.Equal(expected, session.Convolutions);
    }

    [Theory]
    [InlineData(null, ConvAlgorithm.Auto)]
    [InlineData("", ConvAlgorithm.Auto)]
    [InlineData("auto", ConvAlgorithm.Auto)]
    [InlineData("direct", ConvAlgorithm.Direct)]
    [InlineData(" Winograd ", ConvAlgorithm.Winograd)]
    [InlineData("DIRECT", ConvAlgorithm.Direct)]
    public void ConvVariable_Parses(string? value, ConvAlgorithm expected) => Assert.Equal(expected, InferenceSession.ParseConv(value));

    [Fact]
    public void ConvVariable_Invalid_IsAUsageErrorNamingTheVariable()
    {
        var e = Assert.Throws<TrgException>(() => InferenceSession.ParseConv("fft"));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("TRG_CONV", e.Message);
        Assert.Contains("'fft'", e.Message);
    }
}
