using System.Reflection;
using ILGPU;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.IR;
using ILGPU.IR.Intrinsics;
using ILGPU.IR.Values;
using ILGPU.Runtime.Cuda;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Backends;

/// <summary>
/// Lowers <see cref="FusedMath.MultiplyAdd"/> in kernels to a hardware fused multiply-add: OpenCL C's
/// <c>fma(a, b, c)</c> and PTX's <c>fma.rn.f32</c> (the CPU accelerator runs its body, .NET's
/// <see cref="MathF.FusedMultiplyAdd"/>). ILGPU 1.5.3 has no frontend route to its IR multiply-add for floats: it
/// writes every <c>acc += w * x</c> as a separate multiply and add statement, which clang does not contract across
/// statements, so PoCL's kernels ran <c>vmulps</c> + <c>vaddps</c> (docs/devices.md, "Transposed convolutions and the
/// iteration"). ILGPU only looks up registered implementations for methods marked <c>[IntrinsicImplementation]</c>
/// (<see cref="MathF.FusedMultiplyAdd"/> itself is an internal call, which ILGPU emits as a call by name).
/// </summary>
internal static class FusedMultiplyAdd
{
    private static readonly MethodInfo Target = typeof(FusedMath).GetMethod(nameof(FusedMath.MultiplyAdd))
        ?? throw new MissingMethodException(nameof(FusedMath), nameof(FusedMath.MultiplyAdd));

    /// <summary>Registers the OpenCL and PTX implementations on a context being built.</summary>
    public static Context.Builder EnableFusedMultiplyAdd(this Context.Builder builder)
    {
        var manager = builder.GetIntrinsicManager();
        manager.RegisterMethod(Target, new CLIntrinsic(typeof(FusedMultiplyAdd), nameof(GenerateOpenCL), IntrinsicImplementationMode.GenerateCode));
        manager.RegisterMethod(Target, new PTXIntrinsic(typeof(FusedMultiplyAdd).GetMethod(nameof(Ptx), BindingFlags.NonPublic | BindingFlags.Static)!,
            IntrinsicImplementationMode.Redirect));
        return builder;
    }

    /// <summary>OpenCL C: <c>target = fma(a, b, c);</c> (single rounding, as the CPU accelerator's <see cref="MathF.FusedMultiplyAdd"/>).</summary>
    private static void GenerateOpenCL(CLBackend backend, CLCodeGenerator codeGenerator, Value value)
    {
        var call = (MethodCall)value;
        var a = codeGenerator.Load(call[0]);
        var b = codeGenerator.Load(call[1]);
        var c = codeGenerator.Load(call[2]);
        var target = codeGenerator.Allocate(call);
        using var statement = codeGenerator.BeginStatement(target);
        statement.AppendCommand("fma");
        statement.BeginArguments();
        statement.AppendArgument(a);
        statement.AppendArgument(b);
        statement.AppendArgument(c);
        statement.EndArguments();
    }

    /// <summary>PTX: one <c>fma.rn.f32</c> (round to nearest even, as IEEE's fusedMultiplyAdd).</summary>
    private static float Ptx(float a, float b, float c)
    {
        CudaAsm.Emit("fma.rn.f32 %0, %1, %2, %3;", out float r, a, b, c);
        return r;
    }
}
