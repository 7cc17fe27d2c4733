using TrgIlgpu.Backends;
using System.Text;
using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Kernels;
using TrgIlgpu.Model;

namespace TrgIlgpu.Engine;

/// <summary>
/// The TRG / TRGv2 forward pass for one batch size: the <see cref="TrgNetwork"/> graph, its activation slots
/// assigned from liveness and allocated once, and the external face-parameter and results buffers. Nothing is
/// allocated while running.
/// </summary>
public sealed class ForwardPlan : IDisposable
{
    public int Batch { get; }
    /// <summary>The launches in order (the graph's ops).</summary>
    public IReadOnlyList<PlanOp> Ops => Graph.Ops;
    /// <summary>The graph: tensors with shapes, ops with their reads and writes, slot assignment.</summary>
    public ComputeGraph Graph { get; }
    public ResultLayout Layout { get; }
    public MemoryBuffer1D<FaceParams, Stride1D.Dense> Faces { get; }
    public MemoryBuffer1D<float, Stride1D.Dense> Results { get; }
    /// <summary>Bytes of device memory this plan allocated (activation slots, faces, results).</summary>
    public long AllocatedBytes { get; }

    private readonly DeviceWeights _w;

    /// <summary>Every convolution of the forward with its launch parameters and kernel (the kernel benchmark's shapes).</summary>
    internal IReadOnlyList<NetworkBuilder.NamedConvolution> Convolutions { get; } = [];

    internal ForwardPlan(Accelerator accelerator, DeviceKernels kernels, DeviceWeights weights, Func<ArrayView<byte>> images, int batch)
    {
        Batch = batch;
        _w = weights;
        var v = weights.Variant;
        Layout = new ResultLayout { Iterations = v.Iterations };
        Faces = accelerator.Allocate1D<FaceParams>(batch);
        Results = accelerator.Allocate1D<float>((long)batch * Layout.Stride);
        Graph = new ComputeGraph(v.Name);
        try
        {
            var builder = new NetworkBuilder(Graph, kernels, weights);
            TrgNetwork.Build(builder, batch, Layout, images, Faces, Results);
            Convolutions = builder.Convolutions;
            Graph.Allocate(accelerator);
        }
        catch
        {
            Dispose();
            throw;
        }
        AllocatedBytes = Graph.SlotBytes + Faces.LengthInBytes + Results.LengthInBytes;
    }

    /// <summary>
    /// What a plan for <paramref name="batch"/> faces would allocate on the device, from its graph (built and slotted
    /// on the host; nothing of the batch's size is allocated): total bytes and the largest single buffer.
    /// </summary>
    internal static (long Bytes, long LargestBuffer) RequiredBytes(Accelerator accelerator, DeviceKernels kernels, DeviceWeights weights, int batch)
    {
        var layout = new ResultLayout { Iterations = weights.Variant.Iterations };
        // One-element stand-ins: the graph only records the buffers, the sizes below are the batch's.
        using var faces = accelerator.Allocate1D<FaceParams>(1);
        using var results = accelerator.Allocate1D<float>(1);
        using var graph = new ComputeGraph(weights.Variant.Name);
        TrgNetwork.Build(new NetworkBuilder(graph, kernels, weights), batch, layout, () => default, faces, results);
        var slots = graph.AssignSlots();
        long faceBytes = checked((long)batch * Interop.SizeOf<FaceParams>());
        long resultBytes = checked((long)batch * layout.Stride * sizeof(float));
        long largest = Math.Max(slots.Count == 0 ? 0 : slots.Max() * sizeof(float), Math.Max(faceBytes, resultBytes));
        return (checked(graph.SlotBytes + faceBytes + resultBytes), largest);
    }

    /// <summary>
    /// A lower bound of <see cref="RequiredBytes"/> from the variant alone (no device, no kernels): every plan holds
    /// the batch's crop input (3 x 192 x 192 floats a face), its face parameters and its result rows.
    /// </summary>
    internal static long MinimumBytes(VariantInfo variant, int batch)
    {
        long perFace = (long)ImageChannelsOfCrop * VariantInfo.InputSize * VariantInfo.InputSize * sizeof(float)
            + Interop.SizeOf<FaceParams>() + (long)new ResultLayout { Iterations = variant.Iterations }.Stride * sizeof(float);
        return checked(batch * perFace);
    }

    private const int ImageChannelsOfCrop = 3;

    /// <summary>The plan as a table: one line per launch with its shapes, counted work and the slot it writes.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        bool winograd = Convolutions.Any(c => KernelPolicy.IsWinograd(c.Kernel));
        int f4 = Convolutions.Count(c => KernelPolicy.FormOf(c.Kernel) == WinogradForm.F4);
        string form = f4 == 0 ? "Winograd F(2x2,3x3)" : $"Winograd F(2x2,3x3), {f4} of them F(4x4,3x3)";
        sb.AppendLine($"forward plan: {_w.Variant.Name}, batch {Batch}, {Ops.Count} launches, {AllocatedBytes / 1048576.0:F1} MiB activations+results, {_w.AllocatedBytes / 1048576.0:F1} MiB weights, 3x3 stride-1 convolutions {(winograd ? form : "direct")}");
        int i = 0;
        foreach (var op in Ops)
            sb.AppendLine($"{i++,3}  {op.Name,-22} {op.Kernel,-17} {op.Shape,-58} {op.Flops / 1e6,9:F1} MFLOP  {Written(op)}");
        sb.AppendLine($"total {Ops.Sum(o => o.Flops) / 1e9:F2} GFLOP{(winograd ? " (Winograd convolutions counted as the direct ones they replace)" : "")}, {Graph.SlotLengths.Count} activation slots");
        return sb.ToString();
    }

    /// <summary>Where an op's output goes: its activation slots, else the external it writes.</summary>
    private static string Written(PlanOp op) => string.Join(",", op.Writes.Select(w =>
        w.Tensor.Kind == TensorKind.Activation ? $"slot {w.Tensor.Slot}" : w.Tensor.Name).Distinct());

    public void Dispose()
    {
        Graph?.Dispose();
        Faces.Dispose();
        Results.Dispose();
    }
}
