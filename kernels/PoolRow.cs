using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.IR;
using ILGPU.IR.Intrinsics;
using ILGPU.IR.Types;
using ILGPU.IR.Values;
using ILGPU.Util;

namespace TrgIlgpu.Kernels;

/// <summary>
/// Sixteen consecutive outputs of a 3x3 stride-2 max-pool row (<see cref="Pooling.MaxPool3x3S2"/>'s whole runs). On
/// OpenCL each input row is two contiguous 16-float loads, split into its even and odd columns with
/// <c>__builtin_shufflevector</c>, and the nine taps are nine 16-lane selects: PoCL's compilers (LLVM 15) make neither
/// the stride-2 scalar taps (the work-item vectoriser gathers them, the SLP vectoriser leaves 16 outputs' scalar taps
/// scalar) nor a 16-float run of them into contiguous loads. PTX gets the same chain, one output at a time
/// (<c>ld</c>, <c>setp.gt</c>, <c>selp</c>); the CPU accelerator runs the .NET body. Every context that compiles these
/// kernels for OpenCL or CUDA must <see cref="Register"/> it (TrgIlgpu's <c>ContextFactory</c> does).
/// </summary>
public static class PoolRow
{
    /// <summary>Outputs <see cref="Max16"/> writes.</summary>
    public const int Width = 16;

    /// <summary>
    /// The max-pool's step: <paramref name="v"/> replaces <paramref name="m"/> only if greater, so from -inf the first
    /// maximal value of a chain wins and a NaN never does (a window of NaNs gives -inf).
    /// </summary>
    public static float Max(float m, float v) => v > m ? v : m;

    /// <summary>
    /// <c>target[j] = max over rows r of (r's column 2j-1, 2j, 2j+1)</c> for j = 0..15, a chain of <see cref="Max"/>
    /// from -inf in the order rows (<paramref name="above"/>, <paramref name="row"/>, <paramref name="below"/>) then
    /// columns. The row references point at column 2j for j = 0 (they and the 31 floats after them are read); column
    /// -1 of output 0 is read from <paramref name="aboveLeft"/>, <paramref name="rowLeft"/>, <paramref name="belowLeft"/>
    /// (the caller clamps it). The caller checks every range (<see cref="Pooling.MaxPool3x3S2"/>).
    /// </summary>
    [IntrinsicImplementation]
    public static void Max16(ref float above, ref float row, ref float below,
        ref float aboveLeft, ref float rowLeft, ref float belowLeft, ref float target)
    {
        for (int j = 0; j < Width; j++)
        {
            float m = float.NegativeInfinity;
            m = Taps(m, ref above, ref aboveLeft, j);
            m = Taps(m, ref row, ref rowLeft, j);
            m = Taps(m, ref below, ref belowLeft, j);
            Unsafe.Add(ref target, j) = m;
        }
    }

    private static float Taps(float m, ref float r, ref float left, int j)
    {
        m = Max(m, j == 0 ? left : Unsafe.Add(ref r, 2 * j - 1));
        m = Max(m, Unsafe.Add(ref r, 2 * j));
        return Max(m, Unsafe.Add(ref r, 2 * j + 1));
    }

    /// <summary>Registers <see cref="Max16"/>'s OpenCL and PTX code with the context <paramref name="builder"/> builds.</summary>
    public static void Register(Context.Builder builder) =>
        Intrinsics.Register(builder, typeof(PoolRow).GetMethod(nameof(Max16))!);

    /// <summary>
    /// One block: <c>m = (float16)(-INFINITY)</c>; for each row, <c>lo</c>, <c>hi</c> = the 32 floats from the row
    /// reference (two unaligned 16-float loads), <c>ev</c>/<c>od</c> = their even/odd columns, <c>pv</c> = (left, od[0..14]);
    /// <c>m = pv &gt; m ? pv : m</c>, then <c>ev</c>, then <c>od</c>; one 16-float store of <c>m</c>.
    /// </summary>
    private static void GenerateOpenCL(CLBackend backend, CLCodeGenerator codeGenerator, Value value)
    {
        var call = (MethodCall)value;
        var refs = new CLCodeGenerator.Variable[7];
        for (int i = 0; i < refs.Length; i++) refs[i] = codeGenerator.Load(call[i]);
        using var statement = codeGenerator.BeginStatement((RawString)(
            "{ typedef float trg_f16u __attribute__((ext_vector_type(16), aligned(4))); " +
            "typedef float trg_f16 __attribute__((ext_vector_type(16))); trg_f16 trg_m = (trg_f16)(-INFINITY); "));
        for (int r = 0; r < 3; r++)
        {
            string cast = $"*({Space(call[r])}const trg_f16u*)(";
            statement.AppendOperation((RawString)$"{{ trg_f16 trg_lo = {cast}");
            statement.Append(refs[r]);
            statement.AppendOperation((RawString)$"), trg_hi = {cast}");
            statement.Append(refs[r]);
            statement.AppendOperation((RawString)" + 16); float trg_l = *(");
            statement.Append(refs[r + 3]);
            statement.AppendOperation((RawString)(
                "); trg_f16 trg_ev = __builtin_shufflevector(trg_lo, trg_hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30); " +
                "trg_f16 trg_od = __builtin_shufflevector(trg_lo, trg_hi, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31); " +
                "trg_f16 trg_pv = __builtin_shufflevector(trg_od, (trg_f16)(trg_l), 16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14); " +
                "trg_m = trg_pv > trg_m ? trg_pv : trg_m; trg_m = trg_ev > trg_m ? trg_ev : trg_m; " +
                "trg_m = trg_od > trg_m ? trg_od : trg_m; } "));
        }
        statement.AppendOperation((RawString)$"*({Space(call[6])}trg_f16u*)(");
        statement.Append(refs[6]);
        statement.AppendOperation((RawString)") = trg_m; }");
    }

    private static string Space(Value pointer) => AddressSpace(pointer) switch
    {
        MemoryAddressSpace.Global => "global ",
        MemoryAddressSpace.Shared => "local ",
        MemoryAddressSpace.Local => "private ",
        _ => "",
    };

    private static MemoryAddressSpace AddressSpace(Value pointer) =>
        pointer.Type is AddressSpaceType type ? type.AddressSpace : MemoryAddressSpace.Generic;

    /// <summary>
    /// For each output j: <c>mov.f32 m, -inf</c>; for each of the nine taps <c>ld.f32 v, [tap]</c>,
    /// <c>setp.gt.f32 p, v, m</c>, <c>selp.f32 m, v, m, p</c>; <c>st.f32 [target + 4j], m</c>.
    /// </summary>
    private static void GeneratePtx(PTXBackend backend, PTXCodeGenerator codeGenerator, Value value)
    {
        var call = (MethodCall)value;
        var rows = new[] { codeGenerator.LoadHardware(call[0]), codeGenerator.LoadHardware(call[1]), codeGenerator.LoadHardware(call[2]) };
        var lefts = new[] { codeGenerator.LoadHardware(call[3]), codeGenerator.LoadHardware(call[4]), codeGenerator.LoadHardware(call[5]) };
        var target = codeGenerator.LoadHardware(call[6]);
        var m = Allocate(codeGenerator, BasicValueType.Float32, PTXRegisterKind.Float32);
        var v = Allocate(codeGenerator, BasicValueType.Float32, PTXRegisterKind.Float32);
        var p = Allocate(codeGenerator, BasicValueType.Int1, PTXRegisterKind.Predicate);
        for (int j = 0; j < Width; j++)
        {
            using (var mov = codeGenerator.BeginCommand("mov.f32"))
            {
                mov.AppendArgument(m);
                mov.AppendConstant(float.NegativeInfinity);
            }
            for (int r = 0; r < 3; r++)
            {
                for (int k = -1; k <= 1; k++)
                {
                    using (var load = codeGenerator.BeginCommand("ld"))
                    {
                        load.AppendAddressSpace(AddressSpace(call[j == 0 && k < 0 ? r + 3 : r]));
                        load.AppendSuffix(BasicValueType.Float32);
                        load.AppendArgument(v);
                        if (j == 0 && k < 0) load.AppendArgumentValue(lefts[r], 0);
                        else load.AppendArgumentValue(rows[r], sizeof(float) * (2 * j + k));
                    }
                    using (var compare = codeGenerator.BeginCommand("setp.gt.f32"))
                    {
                        compare.AppendArgument(p);
                        compare.AppendArgument(v);
                        compare.AppendArgument(m);
                    }
                    using var select = codeGenerator.BeginCommand("selp.f32");
                    select.AppendArgument(m);
                    select.AppendArgument(v);
                    select.AppendArgument(m);
                    select.AppendArgument(p);
                }
            }
            using var store = codeGenerator.BeginCommand("st");
            store.AppendAddressSpace(AddressSpace(call[6]));
            store.AppendSuffix(BasicValueType.Float32);
            store.AppendArgumentValue(target, sizeof(float) * j);
            store.AppendArgument(m);
        }
        codeGenerator.FreeRegister(m);
        codeGenerator.FreeRegister(v);
        codeGenerator.FreeRegister(p);
    }

    private static RegisterAllocator<PTXRegisterKind>.HardwareRegister Allocate(PTXCodeGenerator codeGenerator, BasicValueType type, PTXRegisterKind kind) =>
        codeGenerator.AllocateRegister(RegisterAllocator<PTXRegisterKind>.RegisterDescription.Create(
            codeGenerator.TypeContext.GetPrimitiveType(type), kind));
}
