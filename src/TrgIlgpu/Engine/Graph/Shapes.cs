namespace TrgIlgpu.Engine;

/// <summary>
/// Output shapes of the graph's ops, inferred from the input shapes and the op's parameters and checked: a wrong
/// rank, channel count, weight shape or batch throws a <see cref="GraphException"/> naming the op. Network
/// definitions never write a dimension by hand; they get every shape from here.
/// </summary>
public static class Shapes
{
    /// <summary>
    /// A 2-D convolution of an NCHW <paramref name="input"/> by a square <paramref name="kernel"/>:
    /// out = (in + pad_before + pad_after - kernel) / stride + 1. <paramref name="weightInChannels"/> is the weight's
    /// input-channel count, which must match the input's channels.
    /// </summary>
    public static TensorShape Conv2D(string op, TensorShape input, int weightInChannels, int outChannels, int kernel, int stride, Padding2D pad)
    {
        RequireNchw(op, input);
        RequireWindow(op, kernel, stride, pad);
        if (input[1] != weightInChannels)
            throw new GraphException(op, $"input {input} has {input[1]} channels, the weight expects {weightInChannels}");
        if (outChannels < 1) throw new GraphException(op, $"{outChannels} output channels");
        return TensorShape.Nchw(input.Batch, outChannels,
            WindowOutput(op, "height", input[2], kernel, stride, pad.Top, pad.Bottom),
            WindowOutput(op, "width", input[3], kernel, stride, pad.Left, pad.Right));
    }

    /// <summary>A square pooling window over an NCHW input (channels kept); sizes as for <see cref="Conv2D"/>.</summary>
    public static TensorShape Pool2D(string op, TensorShape input, int kernel, int stride, Padding2D pad)
    {
        RequireNchw(op, input);
        RequireWindow(op, kernel, stride, pad);
        return TensorShape.Nchw(input.Batch, input[1],
            WindowOutput(op, "height", input[2], kernel, stride, pad.Top, pad.Bottom),
            WindowOutput(op, "width", input[3], kernel, stride, pad.Left, pad.Right));
    }

    /// <summary>
    /// A transposed convolution (PyTorch ConvTranspose2d, symmetric <paramref name="pad"/>):
    /// out = (in - 1) * stride - 2 * pad + kernel + outputPadding.
    /// </summary>
    public static TensorShape ConvTranspose2D(string op, TensorShape input, int weightInChannels, int outChannels, int kernel, int stride, int pad,
        int outputPadding = 0)
    {
        RequireNchw(op, input);
        RequireWindow(op, kernel, stride, Padding2D.Symmetric(pad));
        if (input[1] != weightInChannels)
            throw new GraphException(op, $"input {input} has {input[1]} channels, the weight expects {weightInChannels}");
        if (outChannels < 1) throw new GraphException(op, $"{outChannels} output channels");
        int Out(int size) => (size - 1) * stride - 2 * pad + kernel + outputPadding;
        int h = Out(input[2]), w = Out(input[3]);
        if (h < 1 || w < 1) throw new GraphException(op, $"input {input} gives an empty output ({h}x{w})");
        return TensorShape.Nchw(input.Batch, outChannels, h, w);
    }

    /// <summary>
    /// A dense (fully connected) layer: every non-batch element of <paramref name="input"/> is a feature, and their
    /// count must equal <paramref name="weightInFeatures"/>. Output [batch, outFeatures].
    /// </summary>
    public static TensorShape Dense(string op, TensorShape input, int weightInFeatures, int outFeatures)
    {
        long features = input.ElementCount / input.Batch;
        if (features != weightInFeatures)
            throw new GraphException(op, $"input {input} has {features} features per item, the weight expects {weightInFeatures}");
        if (outFeatures < 1) throw new GraphException(op, $"{outFeatures} output features");
        return new TensorShape(input.Batch, outFeatures);
    }

    /// <summary>
    /// The same elements seen with other dimensions (a view: no data moves). One dimension may be -1, inferred from
    /// the element count; the batch must stay the leading dimension.
    /// </summary>
    public static TensorShape Reshape(string op, TensorShape input, params int[] dims)
    {
        if (dims.Count(d => d == -1) > 1) throw new GraphException(op, $"at most one dimension may be -1, got [{string.Join(",", dims)}]");
        if (dims.Any(d => d == 0 || d < -1)) throw new GraphException(op, $"dimensions must be at least 1 (or one -1), got [{string.Join(",", dims)}]");
        long known = dims.Where(d => d != -1).Aggregate(1L, (a, d) => a * d);
        var resolved = (int[])dims.Clone();
        int free = Array.IndexOf(dims, -1);
        if (free >= 0)
        {
            if (input.ElementCount % known != 0)
                throw new GraphException(op, $"cannot view {input} ({input.ElementCount} elements) as [{string.Join(",", dims)}]");
            resolved[free] = checked((int)(input.ElementCount / known));
        }
        var shape = new TensorShape(resolved);
        if (shape.ElementCount != input.ElementCount)
            throw new GraphException(op, $"cannot view {input} ({input.ElementCount} elements) as {shape} ({shape.ElementCount} elements)");
        if (shape.Batch != input.Batch) throw new GraphException(op, $"a view keeps the batch leading: {input} -> {shape}");
        return shape;
    }

    /// <summary>Two tensors an op combines must agree on the batch.</summary>
    public static void RequireSameBatch(string op, TensorShape a, TensorShape b)
    {
        if (a.Batch != b.Batch) throw new GraphException(op, $"batch mismatch: {a} and {b}");
    }

    /// <summary>A tensor must have exactly this shape (e.g. an identity shortcut and the output it is added to).</summary>
    public static void RequireShape(string op, string what, TensorShape actual, TensorShape expected)
    {
        if (!actual.Equals(expected)) throw new GraphException(op, $"{what} is {actual}, expected {expected}");
    }

    private static void RequireNchw(string op, TensorShape input)
    {
        if (input.Rank != 4) throw new GraphException(op, $"expects an NCHW input, got {input}");
    }

    private static void RequireWindow(string op, int kernel, int stride, Padding2D pad)
    {
        if (kernel < 1 || stride < 1) throw new GraphException(op, $"kernel {kernel} and stride {stride} must be at least 1");
        if (pad.Top < 0 || pad.Left < 0 || pad.Bottom < 0 || pad.Right < 0) throw new GraphException(op, $"negative padding {pad}");
    }

    private static int WindowOutput(string op, string axis, int size, int kernel, int stride, int before, int after)
    {
        int padded = size + before + after;
        if (padded < kernel) throw new GraphException(op, $"{axis} {size} (padded {padded}) is smaller than the {kernel}-wide window");
        return (padded - kernel) / stride + 1;
    }
}
