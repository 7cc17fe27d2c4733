using ILGPU;
using ILGPU.Algorithms;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Backends;

/// <summary>
/// The one ILGPU context configuration of the engine, shared by every device it opens (<see cref="ComputeDevice"/>),
/// the tests, the benchmarks and `trg ptx`, so that what compiles offline is exactly what the engine compiles.
/// </summary>
public static class ContextFactory
{
    /// <summary>
    /// A context with the engine's settings and the devices <paramref name="devices"/> adds (none for an offline
    /// backend such as <see cref="PtxCompiler"/>). ILGPU.Algorithms is enabled for every backend: without it
    /// <c>MathF.Exp</c> (soft-argmax) has no PTX implementation and the CUDA backend cannot compile the kernels.
    /// The kernels' intrinsics are registered too: <see cref="FusedMultiplyAdd.Mad"/> (OpenCL <c>fma</c>, PTX
    /// <c>fma.rn.f32</c>) <see cref="VectorStore.Store16"/> (one OpenCL C 16-float vector store) and <see cref="PoolRow.Max16"/> (16 max-pool
    /// outputs from contiguous vector loads).
    /// </summary>
    public static Context Create(Action<Context.Builder> devices) => Context.Create(builder =>
    {
        builder.Optimize(OptimizationLevel.O2).Inlining(InliningMode.Aggressive).EnableAlgorithms();
        FusedMultiplyAdd.Register(builder);
        VectorStore.Register(builder);
        PoolRow.Register(builder);
        devices(builder);
    });
}
