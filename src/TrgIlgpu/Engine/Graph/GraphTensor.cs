using ILGPU;

namespace TrgIlgpu.Engine;

/// <summary>Who owns a tensor's memory.</summary>
public enum TensorKind
{
    /// <summary>Produced and consumed inside the forward; stored in a device slot that the allocator may reuse.</summary>
    Activation,
    /// <summary>
    /// Owned outside the graph (uploaded images, per-face parameters, the results buffer, weights, model constants):
    /// a graph input or output, never placed in a slot.
    /// </summary>
    External,
}

/// <summary>
/// A tensor of a <see cref="ComputeGraph"/>: its shape, who owns its memory, and (for activations, after
/// <see cref="ComputeGraph.AssignSlots"/>) the slot it lives in and the ops between which it is live.
/// </summary>
public sealed class GraphTensor
{
    private readonly ComputeGraph _graph;
    private readonly Func<ArrayView<float>>? _external;

    internal GraphTensor(ComputeGraph graph, int id, string name, TensorShape? shape, TensorKind kind, GraphTensor? source,
        Func<ArrayView<float>>? external)
    {
        _graph = graph;
        Id = id;
        Name = name;
        Shape = shape;
        Kind = kind;
        Source = source;
        _external = external;
    }

    /// <summary>Position in <see cref="ComputeGraph.Tensors"/>.</summary>
    public int Id { get; }
    public string Name { get; }
    /// <summary>The dimensions; null only for an external buffer whose size changes between calls (the images).</summary>
    public TensorShape? Shape { get; }
    public TensorKind Kind { get; }
    /// <summary>For a view (<see cref="ComputeGraph.View"/>): the tensor whose storage it shares; null otherwise.</summary>
    public GraphTensor? Source { get; }
    /// <summary>The tensor that owns the storage: the end of the <see cref="Source"/> chain (itself when not a view).</summary>
    public GraphTensor Root => Source?.Root ?? this;
    public long Length => Shape?.ElementCount ?? 0;

    /// <summary>The device slot of an activation's storage (a view's is its root's); -1 for externals and before slots are assigned.</summary>
    public int Slot { get; internal set; } = -1;
    /// <summary>Index of the first op that touches this tensor's storage (root tensors only; -1 before slots are assigned).</summary>
    public int FirstUse { get; internal set; } = -1;
    /// <summary>Index of the last op that touches this tensor's storage (root tensors only; -1 before slots are assigned).</summary>
    public int LastUse { get; internal set; } = -1;

    /// <summary>
    /// The tensor's device memory, resolved at launch time: the first <see cref="Length"/> elements of its slot for an
    /// activation, the bound buffer for an external.
    /// </summary>
    public ArrayView<float> View => Kind == TensorKind.Activation
        ? _graph.SlotView(Root.Slot, Length)
        : _external?.Invoke() ?? throw new InvalidOperationException($"external tensor '{Name}' has no float buffer bound");

    public override string ToString() => $"{Name}{Shape}";
}

/// <summary>One tensor an op reads or writes; <see cref="Region"/> names the part when it is not the whole tensor.</summary>
public readonly record struct TensorAccess(GraphTensor Tensor, string? Region = null)
{
    public static implicit operator TensorAccess(GraphTensor tensor) => new(tensor);
    public override string ToString() => Region is null ? Tensor.Name : $"{Tensor.Name}[{Region}]";
}
