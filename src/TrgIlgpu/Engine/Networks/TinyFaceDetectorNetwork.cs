using TrgIlgpu.Faces;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Engine;

/// <summary>
/// face-api's tiny face detector (TinyYolov2Base.runMobilenet with separable convs, no BatchNorm) over the graph
/// builder: conv0 3x3 'valid' + bias + leaky 0.1; five times a 2x2 max pool (stride 2) then a separable conv (pad 1,
/// depthwise 3x3 without bias, pointwise + bias + leaky 0.1); a 2x2 max pool with stride 1; conv8 1x1 into the output
/// grid <c>[B, 25, S, S]</c>.
/// </summary>
internal static class TinyFaceDetectorNetwork
{
    /// <summary>Output buffer region: the grid.</summary>
    public const string GridOutput = "grid";

    /// <summary>Separable convs (conv1..conv5), each after a stride-2 pool.</summary>
    private static int SeparableCount => TinyFaceDetectorWeights.Channels.Length - 1;

    /// <summary>conv0: a plain 3x3 'valid' conv.</summary>
    private const int Conv0Kernel = 3;

    /// <summary>The pools before conv1..conv5 halve the map; the one before conv8 keeps it.</summary>
    private const int PoolStride = 2, LastPoolStride = 1;

    /// <summary>The separable convs pad one pixel all round (face-api's tf.pad before a 'valid' conv).</summary>
    private const int SeparablePad = 1;

    /// <summary>The packed layers.</summary>
    public static IEnumerable<NamedFaceLayer> Pack(TinyFaceDetectorWeights w)
    {
        var ch = TinyFaceDetectorWeights.Channels;
        yield return new("conv0", FacePacking.Conv("conv0", w.Conv0.Filters.F32!, Conv0Kernel, NetworkBuilder.ImageChannels, ch[0], w.Conv0.Bias.F32!), ch[0]);
        for (int i = 1; i <= SeparableCount; i++)
        {
            var s = w.Separable[i - 1];
            yield return new($"conv{i}.depthwise", FacePacking.Depthwise($"conv{i}.depthwise", s.Depthwise.F32!, ch[i - 1]), ch[i - 1]);
            yield return new($"conv{i}.pointwise", FacePacking.Pointwise($"conv{i}.pointwise", s.Pointwise.F32!, ch[i - 1], ch[i], s.Bias.F32!), ch[i]);
        }
        yield return new("conv8", FacePacking.Pointwise("conv8", w.Conv8.Filters.F32!, ch[^1], TinyYoloDecoder.Channels, w.Conv8.Bias.F32!), TinyYoloDecoder.Channels);
    }

    /// <summary>Adds the forward from the normalised input <c>[B, 3, size, size]</c>; <paramref name="output"/> makes the grid tensor.</summary>
    public static void Define(NetworkBuilder nb, GraphTensor input, Func<string, TensorShape, GraphTensor> output)
    {
        var x = nb.Conv("conv0", input, Conv0Kernel, 1, Padding2D.Valid, Activation.LeakyRelu01);
        for (int i = 1; i <= SeparableCount; i++)
        {
            x = nb.MaxPool2x2($"pool{i - 1}", x, PoolStride);
            var d = nb.Depthwise3x3($"conv{i}.depthwise", x, 1, Padding2D.Symmetric(SeparablePad), ReadActivation.None, Activation.None);
            x = nb.Pointwise($"conv{i}.pointwise", d, Activation.LeakyRelu01);
        }
        x = nb.MaxPool2x2($"pool{SeparableCount}", x, LastPoolStride);
        nb.Pointwise("conv8", x, Activation.None, into: s =>
        {
            if (s[2] != s[3]) throw new GraphException("conv8", $"the grid {s} is not square");
            return output(GridOutput, s);
        });
    }
}
