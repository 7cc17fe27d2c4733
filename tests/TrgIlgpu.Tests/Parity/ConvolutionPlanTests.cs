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
        // heatmap 24, layer 3 12), no projection shortcut.
        var f4 = algorithm != ConvAlgorithm.Winograd || f4MinMap == 0 ? new HashSet<string>() : Stride1Conv3x3.Where(n => !ProjectionConv2.Contains(n) &&
            (n.StartsWith("layer1.") || f4MinMap <= 24 && (n.StartsWith("layer2.") || n == "heatmap.conv3x3") || f4MinMap <= 12 && n.StartsWith("layer3."))).ToHashSet();
        using var session = new InferenceSession(ModelWeights.Load("synthetic:trgv2:3"), ComputeDevice.Open(DeviceKind.Cpu), ConvAlgorithm.Auto, policy);
        Assert.Equal(algorithm, session.Convolutions);
        var plan = session.Plan(2);
        var byName = plan.Ops.ToDictionary(o => o.Name);
        var chosen = plan.Convolutions.ToDictionary(c => c.Name, c => c.Kernel);
        Assert.Equal(19, chosen.Count);

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
            if (f4.Contains(name))
            {
                Assert.Equal(ConvKernel.WinogradGemmF4x16, kernel);
                Assert.Equal("WinogradInputF4", byName[$"{name}.winograd_in"].Kernel);
                Assert.Equal("WinogradGemmF4x16", byName[$"{name}.winograd_gemm"].Kernel);
                Assert.Equal("WinogradOutputF4", byName[name].Kernel);
                Assert.Equal(byName[name].Index - 1, byName[$"{name}.winograd_gemm"].Index);
                continue;
            }
            // TRGv2's 3x3 stride-1 convolutions all have whole 16s of output channels: the 16-channel product runs them all.
            bool gemm = winograd is ConvKernel.WinogradGemmF2 or ConvKernel.WinogradGemmF2x16;
            Assert.Equal(winograd, kernel);
            // The three-launch form: input transform and product right before the convolution's output launch.
            // The output transform: the loop-free one, or the 8-channel one with the projection shortcut's loop.
            string output = ProjectionConv2.Contains(name) ? "WinogradOutputProjectionF2" : "WinogradOutputF2";
            Assert.Equal(gemm ? output : "WinogradF2x3", byName[name].Kernel);
            Assert.Equal(gemm, byName.ContainsKey($"{name}.winograd_in"));
            if (!gemm) continue;
            Assert.Equal("WinogradInputF2", byName[$"{name}.winograd_in"].Kernel);
            Assert.Equal(winograd.ToString(), byName[$"{name}.winograd_gemm"].Kernel);
            Assert.Equal(byName[name].Index - 1, byName[$"{name}.winograd_gemm"].Index);
        }
        int gemms = chosen.Values.Count(k => k is ConvKernel.WinogradGemmF2 or ConvKernel.WinogradGemmF2x16 or ConvKernel.WinogradGemmF4x16);
        Assert.Equal(f4.Count, chosen.Values.Count(k => k == ConvKernel.WinogradGemmF4x16));
        int phases = chosen.Values.Count(k => k == ConvKernel.Conv2DPhase);
        Assert.Equal(FusedLaunches + 2 * gemms + phases, plan.Ops.Count);
        Assert.Equal(algorithm == ConvAlgorithm.Winograd && winograd != ConvKernel.WinogradF2x3 ? Stride1Conv3x3.Length : 0, gemms);

        // The stride-2 convolutions (the 3-channel stem, the 3x3/2 downsampling conv1s) as phase split, its own launch
        // right before the product, and the 68-channel 1x1 (a 16-position strip); with direct weights also the 11
        // stride-1 3x3s without a projection.
        Assert.Equal(algorithm == ConvAlgorithm.Direct ? 4 + Stride1Conv3x3.Length - ProjectionConv2.Length : 4, phases);
        foreach (var name in new[] { "conv1", "layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1" })
        {
            Assert.Equal(ConvKernel.Conv2DPhase, chosen[name]);
            Assert.Equal("Conv2DPhase", byName[name].Kernel);
            Assert.Equal("PhaseSplit", byName[$"{name}.phase_split"].Kernel);
            Assert.Equal(byName[name].Index - 1, byName[$"{name}.phase_split"].Index);
        }
        Assert.Equal("Conv2DStrip", byName["heatmap.conv1x1"].Kernel);
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
