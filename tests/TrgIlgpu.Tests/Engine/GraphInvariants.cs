using TrgIlgpu.Engine;

namespace TrgIlgpu.Tests.Engine;

/// <summary>
/// The allocator's contract, checked over a whole graph after <see cref="ComputeGraph.AssignSlots"/>, independently
/// of how the allocator reached its answer.
/// </summary>
internal static class GraphInvariants
{
    public static void Check(ComputeGraph g, string context)
    {
        var slots = g.SlotLengths;
        var roots = g.Tensors.Where(t => t.Kind == TensorKind.Activation && t.Source is null && t.FirstUse >= 0).ToList();

        // Externals never get a slot; every used activation has one that holds it; views live in their root's slot.
        foreach (var t in g.Tensors)
        {
            if (t.Kind == TensorKind.External) Assert.True(t.Slot == -1, $"{context}: external '{t.Name}' was given slot {t.Slot}");
            else if (t.Root.FirstUse >= 0)
            {
                Assert.True(t.Slot >= 0 && t.Slot < slots.Count, $"{context}: '{t.Name}' has slot {t.Slot}");
                Assert.Equal(t.Root.Slot, t.Slot);
                Assert.True(slots[t.Slot] >= t.Length, $"{context}: '{t.Name}' ({t.Length}) does not fit slot {t.Slot} ({slots[t.Slot]})");
            }
        }

        // Liveness recomputed here from the op lists: first and last op touching each root.
        var first = new Dictionary<GraphTensor, int>();
        var last = new Dictionary<GraphTensor, int>();
        foreach (var op in g.Ops)
            foreach (var a in op.Reads.Concat(op.Writes))
            {
                var r = a.Tensor.Root;
                if (r.Kind != TensorKind.Activation) continue;
                first.TryAdd(r, op.Index);
                last[r] = op.Index;
            }
        foreach (var r in roots)
        {
            Assert.Equal(first[r], r.FirstUse);
            Assert.Equal(last[r], r.LastUse);
        }

        // Two tensors whose lifetimes overlap never share a slot.
        foreach (var group in roots.GroupBy(r => r.Slot))
        {
            var ordered = group.OrderBy(r => r.FirstUse).ToList();
            for (int i = 1; i < ordered.Count; i++)
                Assert.True(ordered[i - 1].LastUse < ordered[i].FirstUse,
                    $"{context}: '{ordered[i - 1].Name}' [{ordered[i - 1].FirstUse},{ordered[i - 1].LastUse}] and '{ordered[i].Name}' [{ordered[i].FirstUse},{ordered[i].LastUse}] share slot {group.Key}");
        }

        // Replay the ops: a slot belongs to the root written into it last; every read must find its own data there,
        // every activation read was written by an earlier op, and an op's inputs and outputs are in different slots.
        var owner = new Dictionary<int, GraphTensor>();
        foreach (var op in g.Ops)
        {
            foreach (var a in op.Reads.Where(a => a.Tensor.Kind == TensorKind.Activation))
            {
                var r = a.Tensor.Root;
                Assert.True(owner.TryGetValue(r.Slot, out var o), $"{context}: op '{op.Name}' reads '{a.Tensor.Name}' before any op wrote it");
                Assert.True(ReferenceEquals(o, r), $"{context}: op '{op.Name}' reads '{a.Tensor.Name}' from slot {r.Slot}, which now holds '{o!.Name}'");
            }
            var readSlots = op.Reads.Where(a => a.Tensor.Kind == TensorKind.Activation).Select(a => (a.Tensor.Root.Slot, a.Tensor.Root)).ToList();
            foreach (var w in op.Writes.Where(a => a.Tensor.Kind == TensorKind.Activation))
            {
                var r = w.Tensor.Root;
                Assert.DoesNotContain(readSlots, s => s.Slot == r.Slot && !ReferenceEquals(s.Root, r));
                owner[r.Slot] = r;
            }
        }

        // The slots can be no smaller than the largest set of activations live at one op, nor larger than all of them.
        long peak = g.Ops.Max(op => roots.Where(r => r.FirstUse <= op.Index && op.Index <= r.LastUse).Sum(r => r.Length));
        Assert.InRange(slots.Sum(), peak, roots.Sum(r => r.Length));
    }
}
