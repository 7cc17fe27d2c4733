namespace TrgIlgpu.Engine;

/// <summary>
/// The dimensions of a tensor (row-major; NCHW for feature maps). Immutable, compared by value, printed as
/// <c>[1,3,192,192]</c>.
/// </summary>
public sealed class TensorShape : IEquatable<TensorShape>
{
    private readonly int[] _dims;

    /// <summary>A shape of the given dimensions; every dimension must be at least 1.</summary>
    /// <exception cref="ArgumentException">No dimensions, or one below 1.</exception>
    public TensorShape(params int[] dims)
    {
        if (dims.Length == 0) throw new ArgumentException("a tensor shape needs at least one dimension", nameof(dims));
        if (dims.Any(d => d < 1)) throw new ArgumentException($"tensor dimensions must be at least 1, got [{string.Join(",", dims)}]", nameof(dims));
        _dims = (int[])dims.Clone();
    }

    /// <summary>A feature map [batch, channels, height, width].</summary>
    public static TensorShape Nchw(int batch, int channels, int height, int width) => new(batch, channels, height, width);

    public IReadOnlyList<int> Dims => _dims;
    public int Rank => _dims.Length;
    public int this[int axis] => _dims[axis];
    /// <summary>The leading dimension (the batch for every tensor of a forward).</summary>
    public int Batch => _dims[0];
    /// <summary>Elements in all (the product of the dimensions).</summary>
    public long ElementCount => _dims.Aggregate(1L, (a, d) => a * d);

    public bool Equals(TensorShape? other) => other is not null && _dims.AsSpan().SequenceEqual(other._dims);
    public override bool Equals(object? obj) => Equals(obj as TensorShape);
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var d in _dims) h.Add(d);
        return h.ToHashCode();
    }

    public override string ToString() => "[" + string.Join(",", _dims) + "]";
}

/// <summary>
/// Zero padding of a 2-D window op, per side. <see cref="Same"/> is TensorFlow's 'same': the output has
/// ceil(input / stride) positions and an odd total goes to the end (pad_before = total / 2).
/// </summary>
public readonly record struct Padding2D(int Top, int Left, int Bottom, int Right)
{
    /// <summary>The same padding on all four sides (PyTorch's <c>padding=p</c>).</summary>
    public static Padding2D Symmetric(int pad) => new(pad, pad, pad, pad);

    /// <summary>No padding (TensorFlow's 'valid').</summary>
    public static Padding2D Valid => default;

    /// <summary>TensorFlow 'same' for a square window over an input of <paramref name="height"/> x <paramref name="width"/>.</summary>
    public static Padding2D Same(int height, int width, int kernel, int stride)
    {
        var (top, bottom) = SameAxis(height, kernel, stride);
        var (left, right) = SameAxis(width, kernel, stride);
        return new Padding2D(top, left, bottom, right);
    }

    private static (int Before, int After) SameAxis(int size, int kernel, int stride)
    {
        int output = (size + stride - 1) / stride;
        int total = Math.Max((output - 1) * stride + kernel - size, 0);
        return (total / 2, total - total / 2);
    }

    /// <summary>True when all four sides are equal (what the convolution kernels implement).</summary>
    public bool IsSymmetric => Top == Bottom && Left == Right && Top == Left;

    public override string ToString() => IsSymmetric ? $"p{Top}" : $"p{Top},{Left},{Bottom},{Right}";
}

/// <summary>
/// A graph that cannot be built as written: an op's input shape, weight shape or batch does not fit, or a tensor is
/// read before anything wrote it. Raised while the graph is built, before anything is launched; the message names
/// the op.
/// </summary>
public sealed class GraphException(string op, string problem)
    : TrgException(ErrorKind.InvalidModel, $"op '{op}': {problem}")
{
    /// <summary>The op (its name in the graph) that does not fit.</summary>
    public string Op { get; } = op;
}
