using TrgIlgpu.Faces;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Engine;

/// <summary>
/// face-api's SSD MobileNet v1 (ssdMobilenetv1/mobileNetV1.ts, predictionLayer.ts) over the graph builder: conv0 3x3/2
/// + relu6; 13 pairs of depthwise 3x3 (BatchNorm folded) + relu6 and pointwise + offset + relu6; 8 extra convs (1x1 or
/// 3x3/2, relu6); six heads of 1x1 box-encoding and class convs written straight into the output buffer. All 'same'.
/// </summary>
internal static class SsdMobilenetV1Network
{
    /// <summary>MobileNet's first convolution: a plain 3x3 stride-2 conv.</summary>
    private const int Conv0Kernel = 3, Conv0Stride = 2;

    /// <summary>The MobileNet pairs whose depthwise convolution has stride 2.</summary>
    private static readonly int[] DownsamplingPairs = [2, 4, 6, 12];

    /// <summary>The MobileNet pair whose output feeds head 0 (conv 11).</summary>
    private const int FirstHeadPair = 11;

    /// <summary>The extra prediction convs feeding heads 2..5 (heads 0 and 1 read pair 11 and the MobileNet output).</summary>
    private static readonly int[] HeadPredictionConvs = [1, 3, 5, 7];

    /// <summary>The stride of the extra convs with a 3x3 kernel (the 1x1 ones have stride 1).</summary>
    private const int PredictionStride = 2;

    /// <summary>Output buffer regions: head i's box encodings and class logits, [B, 4A, S, S] and [B, 3A, S, S].</summary>
    public static string BoxOutput(int head) => $"box_encodings{head}";
    public static string ClassOutput(int head) => $"class_logits{head}";

    /// <summary>The packed layers: BatchNorm folded into the depthwise convolutions in float64.</summary>
    public static IEnumerable<NamedFaceLayer> Pack(SsdMobilenetV1Weights w)
    {
        var ch = SsdMobilenetV1Weights.MobileNetChannels;
        yield return Conv("conv0", w.Conv0, Conv0Kernel, NetworkBuilder.ImageChannels, ch[0]);
        for (int i = 1; i < ch.Length; i++)
        {
            var pair = w.ConvPairs[i - 1];
            var d = pair.Depthwise;
            var bn = new TfBatchNorm(d.Mean.F32!, d.Variance.F32!, d.Offset.F32!, d.Scale.F32!);
            yield return new($"conv{i}.depthwise", FacePacking.Depthwise($"conv{i}.depthwise", d.Filters.F32!, ch[i - 1], bn), ch[i - 1]);
            yield return Pointwise($"conv{i}.pointwise", pair.Pointwise, ch[i - 1], ch[i]);
        }
        for (int i = 0; i < w.PredictionConvs.Count; i++)
        {
            var (cin, cout, k) = SsdMobilenetV1Weights.PredictionConvShapes[i];
            yield return k == 1 ? Pointwise($"prediction{i}", w.PredictionConvs[i], cin, cout) : Conv($"prediction{i}", w.PredictionConvs[i], k, cin, cout);
        }
        for (int h = 0; h < w.BoxPredictors.Count; h++)
        {
            int cin = SsdMobilenetV1Weights.BoxPredictorChannels[h], a = SsdDecoder.Heads[h].AnchorsPerCell;
            yield return Pointwise($"box{h}.encoding", w.BoxPredictors[h].BoxEncoding, cin, SsdDecoder.BoxValues * a);
            yield return Pointwise($"box{h}.class", w.BoxPredictors[h].ClassLogits, cin, SsdDecoder.ClassValues * a);
        }
    }

    private static NamedFaceLayer Conv(string name, ConvWeights c, int k, int cin, int cout) =>
        new(name, FacePacking.Conv(name, c.Filters.F32!, k, cin, cout, c.Bias.F32!), cout);

    private static NamedFaceLayer Pointwise(string name, ConvWeights c, int cin, int cout) =>
        new(name, FacePacking.Pointwise(name, c.Filters.F32!, cin, cout, c.Bias.F32!), cout);

    /// <summary>
    /// Adds the forward from the normalised input <c>[B, 3, 512, 512]</c>; <paramref name="output"/> makes each
    /// head's output tensor (named <see cref="BoxOutput"/> / <see cref="ClassOutput"/>) from its shape.
    /// </summary>
    public static void Define(NetworkBuilder nb, GraphTensor input, Func<string, TensorShape, GraphTensor> output)
    {
        var x = nb.Conv("conv0", input, Conv0Kernel, Conv0Stride, NetworkBuilder.TfSame("conv0", input, Conv0Kernel, Conv0Stride), Activation.Relu6);
        GraphTensor? firstHead = null;
        for (int i = 1; i < SsdMobilenetV1Weights.MobileNetChannels.Length; i++)
        {
            int stride = DownsamplingPairs.Contains(i) ? 2 : 1;
            string dw = $"conv{i}.depthwise";
            var d = nb.Depthwise3x3(dw, x, stride, NetworkBuilder.TfSame(dw, x, NetworkBuilder.DepthwiseKernel, stride), ReadActivation.None, Activation.Relu6);
            x = nb.Pointwise($"conv{i}.pointwise", d, Activation.Relu6);
            if (i == FirstHeadPair) firstHead = x;
        }
        var extra = new List<GraphTensor>();
        var e = x;
        for (int i = 0; i < SsdMobilenetV1Weights.PredictionConvShapes.Length; i++)
        {
            string name = $"prediction{i}";
            int k = SsdMobilenetV1Weights.PredictionConvShapes[i].Kernel;
            e = k == 1
                ? nb.Pointwise(name, e, Activation.Relu6)
                : nb.Conv(name, e, k, PredictionStride, NetworkBuilder.TfSame(name, e, k, PredictionStride), Activation.Relu6);
            extra.Add(e);
        }
        GraphTensor[] sources = [firstHead!, x, .. HeadPredictionConvs.Select(i => extra[i])];
        for (int h = 0; h < sources.Length; h++)
        {
            var head = SsdDecoder.Heads[h];
            GraphTensor Out(string name, TensorShape shape, int perAnchor)
            {
                // The host decoder reads each head as [S, S] cells of AnchorsPerCell anchors: the graph must agree.
                if (shape[2] != head.Size || shape[3] != head.Size || shape[1] != perAnchor * head.AnchorsPerCell)
                    throw new GraphException(name, $"head {h} is {shape}, the decoder expects {perAnchor * head.AnchorsPerCell} channels of {head.Size}x{head.Size}");
                return output(name, shape);
            }
            nb.Pointwise($"box{h}.encoding", sources[h], Activation.None, into: s => Out(BoxOutput(h), s, SsdDecoder.BoxValues));
            nb.Pointwise($"box{h}.class", sources[h], Activation.None, into: s => Out(ClassOutput(h), s, SsdDecoder.ClassValues));
        }
    }
}
