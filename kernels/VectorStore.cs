using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.IR;
using ILGPU.IR.Intrinsics;
using ILGPU.IR.Types;
using ILGPU.IR.Values;
using ILGPU.Util;

namespace TrgIlgpu.Kernels;

/// <summary>
/// A row of 16 consecutive floats written as one OpenCL C vector store, so that a register tile's
/// epilogue does not decide how wide LLVM vectorises its loop. LLVM's SLP vectoriser (PoCL 3.1, LLVM 15) visits a
/// kernel's blocks from the last to the first and starts in each with its consecutive scalar stores; a store chain
/// is cut at the preferred vector register width, 256 bits on Skylake-AVX512. With <see cref="Acc16"/>'s 16 scalar stores
/// after the loop, the store trees reached back through the loop's accumulators and made every multiply-add 8 lanes
/// wide (<c>vfmadd231ps ymm</c>). A vector store is no such seed: the 16 values become one build-vector, whose tree is
/// 16 lanes wide, and so is the loop (<c>vfmadd231ps zmm</c>: docs/devices.md, "The product in 512-bit vectors (round six)").
/// PTX gets 16 scalar <c>st.f32</c> (as before); the CPU accelerator runs the .NET body. Every context that compiles
/// these kernels for OpenCL or CUDA must <see cref="Register"/> it (TrgIlgpu's <c>ContextFactory</c> does).
/// </summary>
public static class VectorStore
{
    /// <summary>Floats <see cref="Store16"/> writes.</summary>
    public const int Width = 16;

    /// <summary>
    /// Writes <paramref name="t0"/> .. <paramref name="t15"/> to <paramref name="target"/> and the 15 floats after it (the
    /// caller checks the range: <see cref="Acc16.Store"/> takes a 16-float sub-view first).
    /// </summary>
    [IntrinsicImplementation]
    public static void Store16(ref float target,
        float t0, float t1, float t2, float t3, float t4, float t5, float t6, float t7,
        float t8, float t9, float t10, float t11, float t12, float t13, float t14, float t15)
    {
        target = t0; Unsafe.Add(ref target, 1) = t1; Unsafe.Add(ref target, 2) = t2; Unsafe.Add(ref target, 3) = t3;
        Unsafe.Add(ref target, 4) = t4; Unsafe.Add(ref target, 5) = t5; Unsafe.Add(ref target, 6) = t6;
        Unsafe.Add(ref target, 7) = t7; Unsafe.Add(ref target, 8) = t8; Unsafe.Add(ref target, 9) = t9;
        Unsafe.Add(ref target, 10) = t10; Unsafe.Add(ref target, 11) = t11; Unsafe.Add(ref target, 12) = t12;
        Unsafe.Add(ref target, 13) = t13; Unsafe.Add(ref target, 14) = t14; Unsafe.Add(ref target, 15) = t15;
    }

    /// <summary>Registers <see cref="Store16"/>'s OpenCL and PTX code with the context <paramref name="builder"/> builds.</summary>
    public static void Register(Context.Builder builder) =>
        Intrinsics.Register(builder, typeof(VectorStore).GetMethod(nameof(Store16))!);

    /// <summary>
    /// <c>{ typedef float trg_float16u __attribute__((ext_vector_type(16), aligned(4)));
    /// *(global trg_float16u*)target = (trg_float16u)(t0, ..., t15); }</c> (the target's address space): one 16-float
    /// store that assumes only a float's
    /// alignment (the row need not start on 64 bytes). Not <c>vstore16</c>: PoCL's library writes it as four
    /// 4-float stores, which the SLP vectoriser then follows with 4- and 8-lane trees.
    /// </summary>
    private static void GenerateOpenCL(CLBackend backend, CLCodeGenerator codeGenerator, Value value)
    {
        var call = (MethodCall)value;
        var target = codeGenerator.Load(call[0]);
        var values = new CLCodeGenerator.Variable[Width];
        for (int i = 0; i < Width; i++) values[i] = codeGenerator.Load(call[i + 1]);
        using var statement = codeGenerator.BeginStatement(
            (RawString)"{ typedef float trg_float16u __attribute__((ext_vector_type(16), aligned(4))); *(");
        statement.AppendOperation((RawString)(AddressSpace(call[0]) switch
        {
            MemoryAddressSpace.Global => "global ",
            MemoryAddressSpace.Shared => "local ",
            MemoryAddressSpace.Local => "private ",
            _ => "",
        }));
        statement.AppendOperation((RawString)"trg_float16u*)");
        statement.Append(target);
        statement.AppendOperation((RawString)" = (trg_float16u)(");
        for (int i = 0; i < Width; i++)
        {
            if (i > 0) statement.AppendOperation((RawString)", ");
            statement.Append(values[i]);
        }
        statement.AppendOperation((RawString)"); }");
    }

    private static MemoryAddressSpace AddressSpace(Value pointer) =>
        pointer.Type is AddressSpaceType type ? type.AddressSpace : MemoryAddressSpace.Generic;

    /// <summary>Sixteen <c>st[.space].f32 [target + 4i], ti;</c>.</summary>
    private static void GeneratePtx(PTXBackend backend, PTXCodeGenerator codeGenerator, Value value)
    {
        var call = (MethodCall)value;
        var space = AddressSpace(call[0]);
        var address = codeGenerator.LoadHardware(call[0]);
        for (int i = 0; i < Width; i++)
        {
            var v = codeGenerator.LoadPrimitive(call[i + 1]);
            using var command = codeGenerator.BeginCommand("st");
            command.AppendAddressSpace(space);
            command.AppendSuffix(BasicValueType.Float32);
            command.AppendArgumentValue(address, sizeof(float) * i);
            command.AppendArgument(v);
        }
    }
}
