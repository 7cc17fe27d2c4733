using System.Reflection;
using ILGPU;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.IR;
using ILGPU.IR.Intrinsics;

namespace TrgIlgpu.Kernels;

/// <summary>
/// How the kernels' own ILGPU intrinsics (<see cref="FusedMultiplyAdd.Mad"/>, <see cref="VectorStore.Store16"/>) reach a
/// context: each declaring class keeps its code generators as private static <c>GenerateOpenCL</c> and
/// <c>GeneratePtx</c> methods, and <see cref="Register"/> hands both to the context's intrinsic manager. The CPU
/// accelerator needs nothing: it runs the method's .NET body.
/// </summary>
internal static class Intrinsics
{
    /// <summary>
    /// Registers <paramref name="method"/>'s OpenCL and PTX code generators (its declaring class's
    /// <c>GenerateOpenCL</c> and <c>GeneratePtx</c>) with the context <paramref name="builder"/> builds.
    /// </summary>
    public static void Register(Context.Builder builder, MethodInfo method)
    {
        var owner = method.DeclaringType!;
        var manager = builder.GetIntrinsicManager();
        manager.RegisterMethod(method, new CLIntrinsic(Generator(owner, "GenerateOpenCL"), IntrinsicImplementationMode.GenerateCode));
        manager.RegisterMethod(method, new PTXIntrinsic(Generator(owner, "GeneratePtx"), IntrinsicImplementationMode.GenerateCode));
    }

    private static MethodInfo Generator(Type owner, string name) =>
        owner.GetMethod(name, BindingFlags.NonPublic | BindingFlags.Static)
        ?? throw new InvalidOperationException($"{owner.Name} has no private static {name} code generator.");
}
