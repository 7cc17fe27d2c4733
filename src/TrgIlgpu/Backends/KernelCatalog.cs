using System.Reflection;
using ILGPU;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Backends;

/// <summary>One kernel the engine can load: its name (the method's name, also the plan's kernel label) and method.</summary>
public sealed record KernelEntry(string Name, MethodInfo Method)
{
    /// <summary>The declaring class and method, e.g. <c>Heatmap.SoftArgmax</c>.</summary>
    public string Qualified => $"{Method.DeclaringType!.Name}.{Method.Name}";
}

/// <summary>
/// Every kernel in the TrgIlgpu.Kernels assembly, discovered by reflection, by name. A kernel is a public static
/// void method of a public class there with at least one <see cref="ArrayView{T}"/> parameter and no ref/out
/// parameter (the explicitly grouped kernels ILGPU loads). Adding a kernel file under kernels/ adds it here with no
/// other change; names must be unique across classes (a duplicate fails the catalogue, and the catalogue tests).
/// `trg ptx`, the PTX tests and the OpenCL load test compile exactly this list.
/// </summary>
public static class KernelCatalog
{
    private static readonly Lazy<IReadOnlyList<KernelEntry>> Entries = new(Discover);

    /// <summary>The assembly the kernels live in.</summary>
    public static Assembly KernelAssembly => typeof(Tiling).Assembly;

    /// <summary>All kernels, ordered by name.</summary>
    public static IReadOnlyList<KernelEntry> All => Entries.Value;

    /// <summary>The kernel called <paramref name="name"/>; a <see cref="TrgException"/> (Usage) names the known ones otherwise.</summary>
    public static KernelEntry Get(string name) =>
        All.FirstOrDefault(e => e.Name == name)
        ?? throw new TrgException(ErrorKind.Usage, $"no kernel '{name}' (known: {string.Join(", ", All.Select(e => e.Name))})");

    /// <summary>Whether <paramref name="method"/> has a kernel's shape (the rule in the class summary, visibility aside).</summary>
    public static bool HasKernelShape(MethodInfo method) =>
        method.IsStatic && method.ReturnType == typeof(void) && !method.IsGenericMethodDefinition
        && method.GetParameters() is { Length: > 0 } ps
        && ps.Any(p => p.ParameterType.IsGenericType && p.ParameterType.GetGenericTypeDefinition() == typeof(ArrayView<>))
        && ps.All(p => !p.ParameterType.IsByRef);

    private static IReadOnlyList<KernelEntry> Discover()
    {
        var entries = KernelAssembly.GetExportedTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(HasKernelShape)
            .Select(m => new KernelEntry(m.Name, m))
            .OrderBy(e => e.Name, StringComparer.Ordinal)
            .ToList();
        var duplicate = entries.GroupBy(e => e.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new InvalidOperationException($"kernel name '{duplicate.Key}' is used by {string.Join(" and ", duplicate.Select(e => e.Qualified))}; kernel names must be unique (they are the plan's labels and the PTX file names)");
        return entries;
    }
}
