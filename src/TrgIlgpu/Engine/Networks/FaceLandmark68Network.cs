using TrgIlgpu.Faces;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Engine;

/// <summary>
/// face-api's FaceLandmark68Net (faceFeatureExtractor/denseBlock.ts, FaceProcessor.runNet) over the graph builder:
/// four dense blocks in 8 launches each (the recipe in <see cref="SeparableConvolution"/>: the running pre-activation
/// sum updated in place, each ReLU applied on read by the next kernel), the 7x7/2 'valid' average pool (one output a
/// plane) and fc 256 -> 136 into the output buffer <c>[B, 136]</c>.
/// </summary>
internal static class FaceLandmark68Network
{
    /// <summary>Output buffer region: the 136 outputs a face.</summary>
    public const string LandmarkOutput = "landmarks";

    /// <summary>Separable convs of a dense block after its conv0.</summary>
    private const int BlockSeparables = 3;

    /// <summary>dense0's conv0: a plain 3x3 conv.</summary>
    private const int Conv0Kernel = 3;

    /// <summary>Each block's conv0 halves the map.</summary>
    private const int BlockStride = 2;

    /// <summary>The final average pool: window and stride (over the 7x7 map of a 112 input).</summary>
    private const int PoolWindow = 7, PoolStride = 2;

    /// <summary>The packed layers.</summary>
    public static IEnumerable<NamedFaceLayer> Pack(FaceLandmark68Weights w)
    {
        var ch = FaceLandmark68Weights.Channels;
        for (int b = 0; b < ch.Length; b++)
        {
            var d = w.DenseBlocks[b];
            int cin = b == 0 ? NetworkBuilder.ImageChannels : ch[b - 1];
            if (d.Conv0 is { } c0) yield return new($"dense{b}.conv0", FacePacking.Conv($"dense{b}.conv0", c0.Filters.F32!, Conv0Kernel, cin, ch[b], c0.Bias.F32!), ch[b]);
            else foreach (var l in Separable($"dense{b}.conv0", d.SeparableConv0!, cin, ch[b])) yield return l;
            SeparableConvWeights[] rest = [d.Conv1, d.Conv2, d.Conv3];
            for (int k = 0; k < BlockSeparables; k++)
                foreach (var l in Separable($"dense{b}.conv{k + 1}", rest[k], ch[b], ch[b])) yield return l;
        }
        yield return new("fc", FacePacking.Dense("fc", w.FcWeights.F32!, ch[^1], LandmarkDecoder.Outputs, w.FcBias.F32!), LandmarkDecoder.Outputs);
    }

    private static IEnumerable<NamedFaceLayer> Separable(string name, SeparableConvWeights s, int cin, int cout)
    {
        yield return new($"{name}.depthwise", FacePacking.Depthwise($"{name}.depthwise", s.Depthwise.F32!, cin), cin);
        yield return new($"{name}.pointwise", FacePacking.Pointwise($"{name}.pointwise", s.Pointwise.F32!, cin, cout, s.Bias.F32!), cout);
    }

    /// <summary>Adds the forward from the normalised crops <c>[B, 3, 112, 112]</c>; <paramref name="output"/> makes the output tensor.</summary>
    public static void Define(NetworkBuilder nb, GraphTensor input, Func<string, TensorShape, GraphTensor> output)
    {
        GraphTensor? sum = null;
        for (int b = 0; b < FaceLandmark68Weights.Channels.Length; b++)
        {
            string conv0 = $"dense{b}.conv0";
            if (sum is null)
                sum = nb.Conv(conv0, input, Conv0Kernel, BlockStride, NetworkBuilder.TfSame(conv0, input, Conv0Kernel, BlockStride), Activation.Relu);
            else
            {
                // The previous block's ReLU is applied as its running sum is read.
                var t = nb.Depthwise3x3($"{conv0}.depthwise", sum, BlockStride, NetworkBuilder.TfSame(conv0, sum, NetworkBuilder.DepthwiseKernel, BlockStride), ReadActivation.Relu, Activation.None);
                sum = nb.Pointwise($"{conv0}.pointwise", t, Activation.Relu);
            }
            for (int k = 1; k <= BlockSeparables; k++)
            {
                string conv = $"dense{b}.conv{k}";
                var t = nb.Depthwise3x3($"{conv}.depthwise", sum, 1, NetworkBuilder.TfSame(conv, sum, NetworkBuilder.DepthwiseKernel, 1), ReadActivation.Relu, Activation.None);
                nb.Pointwise($"{conv}.pointwise", t, Activation.None, accumulate: sum);
            }
        }
        var pooled = nb.AvgPoolWhole("avgpool", sum!, PoolWindow, PoolStride, ReadActivation.Relu);
        nb.Dense("fc", "fc", pooled, into: s => output(LandmarkOutput, s));
    }
}
