using ILGPU;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.IR;
using ILGPU.IR.Intrinsics;
using ILGPU.IR.Values;

namespace TrgIlgpu.Kernels;

/// <summary>
/// The multiply-add of every accumulation in the kernels: <c>a x b + c</c> rounded once. ILGPU 1.5.3 has no C#
/// construct that compiles to a floating-point fused multiply-add (its IR has one, used only for index arithmetic),
/// and its OpenCL C writes each <c>acc += w * x</c> as two statements that PoCL's clang never contracts: PoCL's
/// compiled convolutions had separate multiplies and adds and no FMA instruction (docs/devices.md, "Batch-1 latency and
/// batching on PoCL"). <see cref="Mad"/> is an ILGPU intrinsic instead: OpenCL C <c>fma(a, b, c)</c>, PTX
/// <c>fma.rn.f32</c>, and on the CPU accelerator (which runs the .NET code) <c>MathF.FusedMultiplyAdd</c>.
/// Every context that compiles these kernels for OpenCL or CUDA must <see cref="Register"/> it (TrgIlgpu's
/// <c>ContextFactory</c> does). One rounding instead of two: never further from the float64 reference.
/// </summary>
public static class FusedMultiplyAdd
{
    /// <summary><paramref name="a"/> x <paramref name="b"/> + <paramref name="c"/>, rounded once.</summary>
    [IntrinsicImplementation]
    public static float Mad(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);

    /// <summary>Registers <see cref="Mad"/>'s OpenCL and PTX code with the context <paramref name="builder"/> builds.</summary>
    public static void Register(Context.Builder builder) =>
        Intrinsics.Register(builder, typeof(FusedMultiplyAdd).GetMethod(nameof(Mad), [typeof(float), typeof(float), typeof(float)])!);

    /// <summary><c>target = fma(a, b, c);</c> (OpenCL C's correctly rounded fused multiply-add).</summary>
    private static void GenerateOpenCL(CLBackend backend, CLCodeGenerator codeGenerator, Value value)
    {
        var call = (MethodCall)value;
        var a = codeGenerator.Load(call[0]);
        var b = codeGenerator.Load(call[1]);
        var c = codeGenerator.Load(call[2]);
        var target = codeGenerator.Allocate(call, ArithmeticBasicValueType.Float32);
        using var statement = codeGenerator.BeginStatement(target);
        statement.AppendCommand("fma");
        statement.BeginArguments();
        statement.AppendArgument(a);
        statement.AppendArgument(b);
        statement.AppendArgument(c);
        statement.EndArguments();
    }

    /// <summary><c>fma.rn.f32 target, a, b, c;</c></summary>
    private static void GeneratePtx(PTXBackend backend, PTXCodeGenerator codeGenerator, Value value)
    {
        var call = (MethodCall)value;
        var a = codeGenerator.LoadPrimitive(call[0]);
        var b = codeGenerator.LoadPrimitive(call[1]);
        var c = codeGenerator.LoadPrimitive(call[2]);
        var target = codeGenerator.AllocateHardware(call);
        using var command = codeGenerator.BeginCommand("fma.rn.f32");
        command.AppendArgument(target);
        command.AppendArgument(a);
        command.AppendArgument(b);
        command.AppendArgument(c);
    }
}
