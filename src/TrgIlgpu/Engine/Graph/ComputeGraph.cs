using ILGPU;
using ILGPU.Runtime;

namespace TrgIlgpu.Engine;

/// <summary>
/// A network's forward as a graph in launch order, in the style of ggml's graph allocator: tensors that carry their
/// shapes, ops that record what they read and write, and device memory assigned AFTER the graph is built, from each
/// activation's lifetime (first to last op that touches it). Activations share a slot only when their lifetimes do not
/// overlap; externals are never placed in a slot. Network definitions add ops and never free anything.
/// </summary>
/// <remarks>
/// Build: <see cref="External"/>, <see cref="Activation"/>, <see cref="View"/>, <see cref="Add"/>. Then
/// <see cref="AssignSlots"/> (pure, no device) or <see cref="Allocate"/> (assigns, then allocates one device buffer a
/// slot). Ops cannot be added afterwards.
/// </remarks>
public sealed class ComputeGraph(string name) : IDisposable
{
    private readonly List<GraphTensor> _tensors = new();
    private readonly List<PlanOp> _ops = new();
    private readonly HashSet<GraphTensor> _written = new();
    private long[]? _slotLengths;
    private MemoryBuffer1D<float, Stride1D.Dense>[] _buffers = [];

    /// <summary>The network's name (used in messages).</summary>
    public string Name { get; } = name;
    public IReadOnlyList<GraphTensor> Tensors => _tensors;
    public IReadOnlyList<PlanOp> Ops => _ops;
    /// <summary>Elements of each slot (the largest tensor it holds); empty until <see cref="AssignSlots"/>.</summary>
    public IReadOnlyList<long> SlotLengths => _slotLengths ?? [];
    /// <summary>Device bytes of all slots (float32).</summary>
    public long SlotBytes => SlotLengths.Sum() * sizeof(float);
    public bool SlotsAssigned => _slotLengths is not null;

    /// <summary>
    /// A tensor owned outside the graph: an input (images, per-face parameters, weights) or an output buffer (results).
    /// <paramref name="view"/> binds its float memory for <see cref="GraphTensor.View"/> (null for buffers of other
    /// element types, which the launch closures bind themselves). <paramref name="shape"/> is null only for a buffer
    /// whose size changes between calls.
    /// </summary>
    public GraphTensor External(string name, TensorShape? shape, Func<ArrayView<float>>? view = null) =>
        NewTensor(name, shape, TensorKind.External, null, view);

    /// <summary>A new activation (the output of the op that writes it next). Its slot is assigned later.</summary>
    public GraphTensor Activation(string name, TensorShape shape) => NewTensor(name, shape, TensorKind.Activation, null, null);

    /// <summary>
    /// <paramref name="source"/>'s storage seen with another shape of the same element count (a reshape: no op, no
    /// copy). Uses of the view keep the source alive. Shape it with <see cref="Shapes.Reshape"/>.
    /// </summary>
    public GraphTensor View(string name, GraphTensor source, TensorShape shape)
    {
        Require(source);
        if (source.Kind != TensorKind.Activation) throw new GraphException(name, $"only activations can be viewed, '{source.Name}' is external");
        if (shape.ElementCount != source.Length)
            throw new GraphException(name, $"a view of '{source.Name}' {source.Shape} must keep its {source.Length} elements, got {shape}");
        return NewTensor(name, shape, TensorKind.Activation, source, null);
    }

    /// <summary>
    /// Appends one launch. Every activation it reads must have been written by an earlier op; what it writes counts
    /// as written from the next op on. <paramref name="launch"/> receives <paramref name="config"/>.
    /// </summary>
    /// <exception cref="GraphException">A read of an activation that no earlier op wrote, or a tensor of another graph.</exception>
    public PlanOp Add(string name, string kernel, string shape, long flops, long bytes, KernelConfig config,
        IReadOnlyList<TensorAccess> reads, IReadOnlyList<TensorAccess> writes, Action<AcceleratorStream, KernelConfig> launch)
    {
        if (SlotsAssigned) throw new InvalidOperationException($"graph '{Name}': slots are assigned, no op can be added ({name})");
        foreach (var r in reads)
        {
            Require(r.Tensor);
            if (r.Tensor.Kind == TensorKind.Activation && !_written.Contains(r.Tensor.Root))
                throw new GraphException(name, $"reads '{r.Tensor.Name}' before any op writes it");
        }
        foreach (var w in writes) Require(w.Tensor);
        var op = new PlanOp(_ops.Count, name, kernel, shape, flops, bytes, config, reads.ToArray(), writes.ToArray(), launch);
        _ops.Add(op);
        foreach (var w in writes) _written.Add(w.Tensor.Root);
        return op;
    }

    /// <summary>The ops that read <paramref name="tensor"/>'s storage (it, or a view of it, or the tensor it views), in order.</summary>
    public IEnumerable<PlanOp> Readers(GraphTensor tensor) =>
        _ops.Where(op => op.Reads.Any(r => r.Tensor.Root == tensor.Root));

    /// <summary>
    /// Fuses <paramref name="consumer"/> into <paramref name="producer"/>, before slots are assigned: a launch that does
    /// both (given as to <see cref="Add"/>) takes the producer's place, writing what the consumer wrote, and the consumer's
    /// launch goes. Allowed only when the consumer is the one reader of every activation the producer writes (which then no
    /// op touches, so it takes no slot), and the fused launch reads nothing written after the producer.
    /// </summary>
    /// <exception cref="GraphException">Another op reads what the producer writes, or the fused launch reads too late.</exception>
    public PlanOp Fuse(PlanOp producer, PlanOp consumer, string kernel, string shape, long flops, long bytes, KernelConfig config,
        IReadOnlyList<TensorAccess> reads, IReadOnlyList<TensorAccess> writes, Action<AcceleratorStream, KernelConfig> launch)
    {
        if (SlotsAssigned) throw new InvalidOperationException($"graph '{Name}': slots are assigned, no op can be fused ({producer.Name})");
        if (producer.Index >= consumer.Index || !ReferenceEquals(_ops[producer.Index], producer) || !ReferenceEquals(_ops[consumer.Index], consumer))
            throw new GraphException(producer.Name, $"cannot fuse '{consumer.Name}' into it: not two ops of graph '{Name}' in that order");
        foreach (var w in producer.Writes.Where(w => w.Tensor.Kind == TensorKind.Activation))
        {
            var other = Readers(w.Tensor).FirstOrDefault(op => op != consumer);
            if (other is not null)
                throw new GraphException(producer.Name, $"cannot fuse '{consumer.Name}' into it: '{other.Name}' also reads '{w.Tensor.Name}'");
        }
        foreach (var r in reads.Where(r => r.Tensor.Kind == TensorKind.Activation))
        {
            Require(r.Tensor);
            if (!_ops.Take(producer.Index).Any(op => op.Writes.Any(w => w.Tensor.Root == r.Tensor.Root)))
                throw new GraphException(producer.Name, $"the fused launch reads '{r.Tensor.Name}', which no op before it writes");
        }
        foreach (var w in writes) Require(w.Tensor);
        var fused = new PlanOp(producer.Index, producer.Name, kernel, shape, flops, bytes, config, reads.ToArray(), writes.ToArray(), launch);
        _ops[producer.Index] = fused;
        _ops.RemoveAt(consumer.Index);
        for (int i = consumer.Index; i < _ops.Count; i++) _ops[i].Index = i;
        _written.Clear();
        foreach (var op in _ops)
            foreach (var w in op.Writes) _written.Add(w.Tensor.Root);
        return fused;
    }

    /// <summary>
    /// Liveness and slot assignment, once, after the graph is built. Each root activation is live from the first to
    /// the last op that reads or writes it (or a view of it). Walking the ops in order, an op's new tensors take
    /// slots first (best fit: the smallest free slot that holds it, else the largest free slot, grown, else a new
    /// one), then the tensors whose last use it is give their slots back; so an op's inputs and outputs never share a
    /// slot, and a slot is reused only when the lifetimes do not overlap.
    /// </summary>
    public IReadOnlyList<long> AssignSlots()
    {
        if (_slotLengths is not null) return _slotLengths;
        var roots = _tensors.Where(t => t.Kind == TensorKind.Activation && t.Source is null).ToList();
        foreach (var op in _ops)
            foreach (var a in op.Reads.Concat(op.Writes))
            {
                var root = a.Tensor.Root;
                if (root.Kind != TensorKind.Activation) continue;
                if (root.FirstUse < 0) root.FirstUse = op.Index;
                root.LastUse = op.Index;
            }

        var lengths = new List<long>();
        var free = new List<int>();
        var born = roots.Where(t => t.FirstUse >= 0).ToLookup(t => t.FirstUse);
        var dying = roots.Where(t => t.FirstUse >= 0).ToLookup(t => t.LastUse);
        for (int i = 0; i < _ops.Count; i++)
        {
            foreach (var t in born[i])
            {
                int slot = BestFit(free, lengths, t.Length);
                if (slot < 0) { slot = lengths.Count; lengths.Add(0); }
                else free.Remove(slot);
                lengths[slot] = Math.Max(lengths[slot], t.Length);
                t.Slot = slot;
            }
            foreach (var t in dying[i]) free.Add(t.Slot);
        }
        foreach (var v in _tensors.Where(t => t.Source is not null)) v.Slot = v.Root.Slot;
        _slotLengths = lengths.ToArray();
        return _slotLengths;
    }

    private static int BestFit(List<int> free, List<long> lengths, long length)
    {
        if (free.Count == 0) return -1;
        var fitting = free.Where(s => lengths[s] >= length).ToList();
        return fitting.Count > 0 ? fitting.MinBy(s => lengths[s]) : free.MaxBy(s => lengths[s]);
    }

    /// <summary>Assigns the slots (if not yet) and allocates one device buffer per slot.</summary>
    public void Allocate(Accelerator accelerator)
    {
        if (_buffers.Length > 0) throw new InvalidOperationException($"graph '{Name}' is already allocated");
        _buffers = AssignSlots().Select(n => accelerator.Allocate1D<float>(n)).ToArray();
    }

    internal ArrayView<float> SlotView(int slot, long length)
    {
        if (slot < 0 || slot >= _buffers.Length) throw new InvalidOperationException($"graph '{Name}': slot {slot} is not allocated");
        return _buffers[slot].View.SubView(0, length);
    }

    private GraphTensor NewTensor(string name, TensorShape? shape, TensorKind kind, GraphTensor? source, Func<ArrayView<float>>? view)
    {
        if (SlotsAssigned) throw new InvalidOperationException($"graph '{Name}': slots are assigned, no tensor can be added ({name})");
        if (kind == TensorKind.Activation && shape is null) throw new GraphException(name, "an activation needs a shape");
        var t = new GraphTensor(this, _tensors.Count, name, shape, kind, source, view);
        _tensors.Add(t);
        return t;
    }

    private void Require(GraphTensor t)
    {
        if (t.Id >= _tensors.Count || !ReferenceEquals(_tensors[t.Id], t))
            throw new GraphException(t.Name, $"tensor '{t.Name}' belongs to another graph than '{Name}'");
    }

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
        _buffers = [];
    }
}
