using ILGPU;
using ILGPU.Runtime;

namespace TrgIlgpu.Engine;

/// <summary>
/// One kernel launch of a forward: what it computes (<see cref="Name"/>, <see cref="Kernel"/>, <see cref="Shape"/>),
/// its counted work, its launch configuration, the tensors it reads and writes, and the launch itself.
/// </summary>
public sealed class PlanOp
{
    internal PlanOp(int index, string name, string kernel, string shape, long flops, long bytes, KernelConfig config,
        IReadOnlyList<TensorAccess> reads, IReadOnlyList<TensorAccess> writes, Action<AcceleratorStream, KernelConfig> launch)
    {
        Index = index;
        Name = name;
        Kernel = kernel;
        Shape = shape;
        Flops = flops;
        Bytes = bytes;
        Config = config;
        Reads = reads;
        Writes = writes;
        Launch = stream => launch(stream, config);
    }

    /// <summary>Position in the graph's op order.</summary>
    public int Index { get; internal set; }
    /// <summary>The op's name in the network, e.g. <c>layer2.0.conv1</c>.</summary>
    public string Name { get; }
    /// <summary>The kernel method launched, e.g. <c>WinogradF2x3</c>.</summary>
    public string Kernel { get; }
    /// <summary>Shapes as text, e.g. <c>[1,64,48,48]->[1,128,24,24] k3s2 Relu</c>.</summary>
    public string Shape { get; }
    /// <summary>Counted floating-point operations (a multiply-add is 2).</summary>
    public long Flops { get; }
    /// <summary>Counted bytes moved (inputs, weights, outputs once each).</summary>
    public long Bytes { get; }
    /// <summary>The launch configuration: <c>Config.GridDim.X</c> groups of <c>Config.GroupDim.X</c> threads.</summary>
    public KernelConfig Config { get; }
    /// <summary>Thread groups launched (all grid dimensions together).</summary>
    public int Groups => Config.GridDim.Size;
    /// <summary>Threads a group (all group dimensions together).</summary>
    public int GroupSize => Config.GroupDim.Size;
    /// <summary>Every tensor the launch reads (activations, externals, weights).</summary>
    public IReadOnlyList<TensorAccess> Reads { get; }
    /// <summary>Every tensor (or region of one) the launch writes.</summary>
    public IReadOnlyList<TensorAccess> Writes { get; }
    /// <summary>Enqueues the kernel on a stream (no allocation, no synchronisation).</summary>
    public Action<AcceleratorStream> Launch { get; }

    public override string ToString() => $"{Index} {Name} {Kernel} {Shape}";
}
