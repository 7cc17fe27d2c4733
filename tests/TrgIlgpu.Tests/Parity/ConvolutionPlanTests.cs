using TrgIlgpu.Engine;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.Parity;

/// <summary>Which kernel the forward plan launches for each convolution, and how the algorithm is chosen.</summary>
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

    /// <summary>The blocks' conv2 with a 1x1 projection shortcut: the direct plan runs them with the 8-channel kernel.</summary>
    private static readonly string[] ProjectionConv2 = ["layer2.0.conv2", "layer3.0.conv2", "layer4.0.conv2"];

    [Theory]
    [InlineData(ConvAlgorithm.Winograd)]
    [InlineData(ConvAlgorithm.Direct)]
    public void Plan_RunsEveryConvolutionWithTheExpectedKernel(ConvAlgorithm algorithm)
    {
        using var session = new InferenceSession(ModelWeights.Load("synthetic:trgv2:3"), DeviceKind.Cpu, null, algorithm);
        Assert.Equal(algorithm, session.Convolutions);
        var plan = session.Plan(2);

        Assert.True(plan.Ops.Count <= 37, $"{plan.Ops.Count} launches per forward");
        var byName = plan.Ops.ToDictionary(o => o.Name);
        foreach (var name in Stride1Conv3x3)
        {
            string expected = algorithm == ConvAlgorithm.Winograd ? "WinogradF2x3"
                : ProjectionConv2.Contains(name) ? "Conv2D" : "Conv2DWide";
            Assert.Equal(expected, byName[name].Kernel);
        }
        // The 3-channel stem, the 3x3/2 downsampling convolutions (whole 16-channel tiles) and the 68-channel 1x1.
        Assert.Equal("Stem7x7S2", byName["conv1"].Kernel);
        foreach (var name in new[] { "layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1" })
            Assert.Equal("Conv2DWide", byName[name].Kernel);
        Assert.Equal("Conv2D", byName["heatmap.conv1x1"].Kernel);
        Assert.Equal(algorithm == ConvAlgorithm.Winograd ? Stride1Conv3x3.Length : 0, plan.Ops.Count(o => o.Kernel == "WinogradF2x3"));
        Assert.Contains(algorithm == ConvAlgorithm.Winograd ? "Winograd F(2x2,3x3)" : "convolutions direct", plan.Describe());
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
