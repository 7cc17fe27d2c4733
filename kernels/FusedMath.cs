using ILGPU.IR.Intrinsics;

namespace TrgIlgpu.Kernels;

/// <summary>
/// A fused multiply-add kernels can call. ILGPU 1.5.3 writes <c>acc += w * x</c> as a separate multiply and add
/// statement in OpenCL C (clang does not contract across statements, so PoCL ran <c>vmulps</c> + <c>vaddps</c>), and
/// cannot compile <see cref="MathF.FusedMultiplyAdd"/> (an internal call); this method is an ILGPU intrinsic that the
/// engine's context lowers to OpenCL C's <c>fma</c> and PTX's <c>fma.rn.f32</c> (<c>Backends/FusedMultiplyAdd</c>,
/// registered by <c>ContextFactory</c>). The CPU accelerator runs its body.
/// </summary>
public static class FusedMath
{
    /// <summary>a * b + c with one rounding.</summary>
    [IntrinsicImplementation]
    public static float MultiplyAdd(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
}
