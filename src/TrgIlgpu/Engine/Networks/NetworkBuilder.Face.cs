using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Engine;

/// <summary>
/// The face networks' layer helpers (face-api 1.7.15, TF semantics): the square input resize, depthwise 3x3 and
/// pointwise convolutions, TF's 2x2 max pool and the global average pool. Each infers and checks its shapes like the
/// helpers in NetworkBuilder.cs and adds one op.
/// </summary>
internal sealed partial class NetworkBuilder
{
    /// <summary>Colour channels of a face network's input (RGB), as <see cref="FacePreprocess.ResizeToSquare"/> writes them.</summary>
    public const int ImageChannels = 3;

    /// <summary>Window side of <see cref="Depthwise3x3"/>.</summary>
    public const int DepthwiseKernel = 3;

    /// <summary>TensorFlow's 'same' padding of a square <paramref name="kernel"/> over <paramref name="input"/>'s map.</summary>
    public static Padding2D TfSame(string op, GraphTensor input, int kernel, int stride)
    {
        var s = Input(op, input);
        if (s.Rank != 4) throw new GraphException(op, $"expects an NCHW input, got {s}");
        return Padding2D.Same(s[2], s[3], kernel, stride);
    }

    /// <summary>
    /// face-api's toBatchTensor on the device: one <see cref="SquareResizeItem"/> a batch entry (a rectangle of an
    /// uploaded image padded to a square and resized to <paramref name="size"/>), normalised per
    /// <paramref name="normalization"/>, into <c>[batch, 3, size, size]</c>.
    /// </summary>
    public GraphTensor ResizeToSquare(string name, GraphTensor images, Func<ArrayView<byte>> imageView,
        GraphTensor items, ArrayView<SquareResizeItem> itemView, int size, FaceNormalization normalization)
    {
        var itemShape = Input(name, items);
        if (itemShape.Rank != 1) throw new GraphException(name, $"expects one resize item a batch entry, got {itemShape}");
        if (size < 1) throw new GraphException(name, $"input size {size}");
        int batch = itemShape[0];
        var outShape = TensorShape.Nchw(batch, ImageChannels, size, size);
        var output = Graph.Activation(name, outShape);
        var k = Kernels;
        Graph.Add(name, "ResizeToSquare", $"{batch} items->{outShape} {normalization}", outShape.ElementCount * 8, outShape.ElementCount * 8,
            k.Config(outShape.ElementCount / ImageChannels), [images, items], [output], (st, c) =>
            k.ResizeToSquare(st, c, imageView(), itemView, output.View, batch, size, normalization));
        return output;
    }

    /// <summary>
    /// Depthwise 3x3 convolution of the layer <paramref name="name"/> (BatchNorm folded in), stride 1 or 2, padding
    /// <paramref name="pad"/> (the same before rows and columns; past the far edges the kernel reads zeros), the
    /// input read through <paramref name="read"/> and <paramref name="act"/> applied last.
    /// </summary>
    public GraphTensor Depthwise3x3(string name, GraphTensor input, int stride, Padding2D pad, ReadActivation read, Activation act)
    {
        const int taps = DepthwiseKernel * DepthwiseKernel;
        var (layer, weight, bias, _) = Layer(name);
        var inShape = Input(name, input);
        if (pad.Top != pad.Left) throw new GraphException(name, $"the depthwise kernel pads rows and columns alike before the input, got {pad}");
        int channels = WeightInputs(name, layer.Weight.Length, taps, "3x3 taps");
        var outShape = Shapes.Pool2D(name, inShape, DepthwiseKernel, stride, pad);
        if (inShape[1] != channels) throw new GraphException(name, $"input {inShape} has {inShape[1]} channels, the depthwise weight holds {channels}");
        var p = new DepthwiseParams
        {
            Batch = inShape.Batch, Channels = channels, InHeight = inShape[2], InWidth = inShape[3], OutHeight = outShape[2], OutWidth = outShape[3],
            Stride = stride, PadTop = pad.Top, PadLeft = pad.Left, InputActivation = read, Activation = act,
        };
        var output = Graph.Activation(name, outShape);
        var k = Kernels;
        string readText = read == ReadActivation.None ? "" : $" {read}(x)";
        Graph.Add(name, "DepthwiseConv3x3", $"{inShape}->{outShape} dw3s{stride} {pad}{readText} {act}", 2L * taps * outShape.ElementCount,
            4 * (inShape.ElementCount + layer.Weight.Length + outShape.ElementCount), k.Config(p.ThreadCount), [input, weight, bias], [output], (st, c) =>
            k.DepthwiseConv3x3(st, c, input.View, weight.View, bias.View, output.View, p));
        return output;
    }

    /// <summary>
    /// Pointwise (1x1) convolution of the layer <paramref name="name"/> + bias, optionally adding
    /// <paramref name="accumulate"/> in place (the result is written over it: the dense blocks' running sum), then
    /// <paramref name="act"/>. <paramref name="into"/> makes the tensor to write from the output shape (an external
    /// output buffer); otherwise a new activation.
    /// </summary>
    public GraphTensor Pointwise(string name, GraphTensor input, Activation act, GraphTensor? accumulate = null, Func<TensorShape, GraphTensor>? into = null)
    {
        var (layer, weight, bias, _) = Layer(name);
        var inShape = Input(name, input);
        if (inShape.Rank != 4) throw new GraphException(name, $"expects an NCHW input, got {inShape}");
        int cout = layer.OutChannels, padded = Tiling.PadChannels(cout, SeparableConvolution.PointwiseChannelTile);
        var outShape = Shapes.Conv2D(name, inShape, WeightInputs(name, layer.Weight.Length, padded, $"{padded} padded outputs"), cout, 1, 1, Padding2D.Valid);
        if (accumulate is not null && into is not null) throw new GraphException(name, "accumulates in place or writes an external output, not both");
        GraphTensor output;
        if (accumulate is not null)
        {
            Shapes.RequireShape(name, "the accumulated tensor", Input(name, accumulate), outShape);
            output = accumulate;
        }
        else output = Target(name, outShape, into);
        var p = new PointwiseParams
        {
            Batch = inShape.Batch, InChannels = inShape[1], OutChannels = cout, Positions = inShape[2] * inShape[3],
            Accumulate = accumulate is null ? PointwiseAccumulate.None : PointwiseAccumulate.Add, Activation = act,
        };
        var reads = new List<TensorAccess> { input, weight, bias };
        if (accumulate is not null) reads.Add(accumulate);
        var k = Kernels;
        var dummy = Weights.Dummy;
        Graph.Add(name, "PointwiseConv", $"{inShape}->{outShape}{(accumulate is null ? "" : " +=")} {act}", 2L * outShape.ElementCount * inShape[1],
            4 * (inShape.ElementCount + layer.Weight.Length + outShape.ElementCount), k.Config(p.ThreadCount), reads, [output], (st, c) =>
            k.PointwiseConv(st, c, input.View, weight.View, bias.View, accumulate?.View ?? dummy, output.View, p));
        return output;
    }

    /// <summary>TF's <c>maxPool(x, [2, 2], [s, s], 'same')</c>, s = 1 or 2 (nothing padded before, -inf after).</summary>
    public GraphTensor MaxPool2x2(string name, GraphTensor input, int stride)
    {
        var pad = TfSame(name, input, 2, stride);
        if (pad.Top != 0 || pad.Left != 0) throw new GraphException(name, $"the 2x2 pool pads only after the input, got {pad}");
        var inShape = Input(name, input);
        var outShape = Shapes.Pool2D(name, inShape, 2, stride, pad);
        var p = new MaxPool2x2Params
        {
            Batch = inShape.Batch, Channels = inShape[1], InHeight = inShape[2], InWidth = inShape[3], Stride = stride,
            OutHeight = outShape[2], OutWidth = outShape[3],
        };
        var output = Graph.Activation(name, outShape);
        var k = Kernels;
        Graph.Add(name, "MaxPool2x2", $"{inShape}->{outShape} s{stride}", outShape.ElementCount * 4, 4 * (inShape.ElementCount + outShape.ElementCount),
            k.Config(p.ThreadCount), [input], [output], (st, c) => k.MaxPool2x2(st, c, input.View, output.View, p));
        return output;
    }

    /// <summary>
    /// TF's <c>avgPool(x, [k, k], [s, s], 'valid')</c> where the window covers the whole map (one output a plane),
    /// into <c>[B, C]</c>, the input read through <paramref name="read"/>.
    /// </summary>
    public GraphTensor AvgPoolWhole(string name, GraphTensor input, int kernel, int stride, ReadActivation read)
    {
        var inShape = Input(name, input);
        var pooled = Shapes.Pool2D(name, inShape, kernel, stride, Padding2D.Valid);
        if (pooled[2] != 1 || pooled[3] != 1 || inShape[2] != kernel || inShape[3] != kernel)
            throw new GraphException(name, $"the average pool kernel takes a {kernel}x{kernel} window over a {kernel}x{kernel} map, got {inShape}");
        var outShape = new TensorShape(inShape.Batch, inShape[1]);
        var p = new GlobalPoolParams { Batch = inShape.Batch, Channels = inShape[1], Height = inShape[2], Width = inShape[3], InputActivation = read };
        var output = Graph.Activation(name, outShape);
        var k = Kernels;
        Graph.Add(name, "GlobalAvgPool", $"{inShape}->{outShape}", inShape.ElementCount, 4 * (inShape.ElementCount + outShape.ElementCount),
            k.Config(p.ThreadCount), [input], [output], (st, c) => k.GlobalAvgPool(st, c, input.View, output.View, p));
        return output;
    }

    /// <summary>The tensor an op writes: <paramref name="into"/>'s (checked against the shape) or a new activation.</summary>
    private GraphTensor Target(string name, TensorShape shape, Func<TensorShape, GraphTensor>? into)
    {
        if (into is null) return Graph.Activation(name, shape);
        var t = into(shape);
        Shapes.RequireShape(name, $"output '{t.Name}'", Input(name, t), shape);
        return t;
    }
}
