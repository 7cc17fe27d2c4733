using System.Reflection;
using ILGPU.Runtime;
using TrgIlgpu.Backends;
using TrgIlgpu.Engine;
using TrgIlgpu.Model;
using TrgIlgpu.Tests.Kernels;

namespace TrgIlgpu.Tests.Backends;

/// <summary>
/// The kernel catalogue holds every kernel of the kernels assembly under its method name, the plan labels its
/// launches with those names, and every catalogued kernel loads on the CPU accelerator and on OpenCL (PoCL in CI),
/// so a new kernel cannot escape `trg ptx`, the PTX tests or the OpenCL compiler.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class KernelCatalogTests
{
    /// <summary>The kernels the engine's forward plans launch today (the catalogue may hold more).</summary>
    private static readonly string[] EngineKernels =
    [
        "Conv2D", "Conv2DPhase", "Conv2DStrip", "Conv2DWide", "CropNormalize", "Deconv4x4S2", "DeconvPad", "Dense", "DenseStateUpdate",
        "FinalGeometry", "MaxPool3x3S2", "PhaseSplit", "PointMlp", "Sample", "SoftArgmax", "Stem7x7S2", "WinogradF2x3",
    ];

    [Fact]
    public void Catalogue_HoldsEveryKernelShapedMethodOfTheKernelsAssembly()
    {
        // Any non-private static void method taking an ArrayView, in any class: a kernel the catalogue's rule misses
        // (internal, or in an internal class) would escape `trg ptx` and these tests. Private ones are helpers.
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var kernelShaped = KernelCatalog.KernelAssembly.GetTypes()
            .SelectMany(t => t.GetMethods(all))
            .Where(m => !m.IsPrivate && KernelCatalog.HasKernelShape(m))
            .ToList();
        AssertCatalogued(kernelShaped, "kernel-shaped methods");
        Assert.Equal(kernelShaped.Count, KernelCatalog.All.Count);
    }

    [Fact]
    public void Catalogue_HoldsEveryKernelTheEngineLoads()
    {
        // Every method of the kernels assembly whose address the engine takes (ldftn: the method groups handed to
        // Accelerator.LoadKernel) must be catalogued, whichever engine class loads it.
        var loaded = typeof(InferenceSession).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly)
                .Cast<MethodBase>().Concat(t.GetConstructors(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance)))
            .SelectMany(FunctionPointersTaken)
            .Where(m => m.DeclaringType?.Assembly == KernelCatalog.KernelAssembly)
            .Distinct()
            .ToList();
        Assert.Contains(loaded, m => m.Name == "SoftArgmax");
        AssertCatalogued(loaded, "kernels the engine loads");
    }

    private static void AssertCatalogued(IEnumerable<MethodBase> methods, string what)
    {
        var catalogued = KernelCatalog.All.Select(e => (MethodBase)e.Method).ToHashSet();
        var missed = methods.Where(m => !catalogued.Contains(m)).Select(m => $"{m.DeclaringType!.FullName}.{m.Name}").ToList();
        Assert.True(missed.Count == 0, $"{what} the catalogue misses (make them public static in a public class): {string.Join(", ", missed)}");
    }

    /// <summary>The methods a method body loads with <c>ldftn</c> (0xFE 0x06, then a metadata token).</summary>
    private static IEnumerable<MethodBase> FunctionPointersTaken(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray() ?? [];
        for (int i = 0; i + 5 < il.Length; i++)
        {
            if (il[i] != 0xFE || il[i + 1] != 0x06) continue;
            MethodBase? target = null;
            try { target = method.Module.ResolveMethod(BitConverter.ToInt32(il, i + 2)); }
            catch (ArgumentException) { } // the two bytes were part of another instruction's operand
            if (target is not null) yield return target;
        }
    }

    [Fact]
    public void Catalogue_NamesAreTheMethodNamesUniqueAndCoverTheEngine()
    {
        var names = KernelCatalog.All.Select(e => e.Name).ToList();
        Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
        foreach (var e in KernelCatalog.All) Assert.Equal(e.Method.Name, e.Name);
        foreach (var k in EngineKernels) Assert.Contains(k, names);
        Assert.Equal("Heatmap.SoftArgmax", KernelCatalog.Get("SoftArgmax").Qualified);
        var error = Assert.Throws<TrgException>(() => KernelCatalog.Get("NoSuchKernel"));
        Assert.Equal(ErrorKind.Usage, error.Kind);
        Assert.Contains("SoftArgmax", error.Message);
    }

    [Theory]
    [InlineData("synthetic:trgv2:5", ConvAlgorithm.Winograd)]
    [InlineData("synthetic:trgv2:5", ConvAlgorithm.Direct)]
    [InlineData("synthetic:trg:5", ConvAlgorithm.Direct)]
    public void Plan_LabelsEveryLaunchWithACataloguedKernelAndItsLaunchShape(string model, ConvAlgorithm algorithm)
    {
        using var session = new InferenceSession(ModelWeights.Load(model), DeviceKind.Cpu, null, algorithm);
        var names = KernelCatalog.All.Select(e => e.Name).ToHashSet();
        foreach (int batch in new[] { 1, 3 })
            foreach (var op in session.Plan(batch).Ops)
            {
                Assert.True(names.Contains(op.Kernel), $"{op.Name}: kernel label '{op.Kernel}' is not a catalogue name");
                Assert.True(op.Groups >= 1, $"{op.Name}: {op.Config}");
                Assert.InRange(op.GroupSize, 1, session.Accelerator.MaxNumThreadsPerGroup);
            }
    }

    // A device of its own: ILGPU caches loaded kernels per accelerator, so disposing one here would release the
    // kernel the shared test devices launch (every later OpenCL kernel test then fails with a CLException).
    [Fact]
    public void EveryCataloguedKernel_LoadsOnTheCpuAccelerator() => LoadAll(DeviceKind.Cpu);

    [OpenCLFact]
    public void EveryCataloguedKernel_CompilesOnOpenCL() => LoadAll(DeviceKind.OpenCL);

    private static void LoadAll(DeviceKind kind)
    {
        using var device = ComputeDevice.Open(kind);
        var failed = new List<string>();
        foreach (var kernel in KernelCatalog.All)
        {
            try
            {
                using var loaded = device.Accelerator.LoadKernel(kernel.Method);
                Assert.NotNull(loaded);
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                failed.Add($"{kernel.Qualified}: {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.True(failed.Count == 0, $"on {device.Description}: {string.Join("; ", failed)}");
    }
}
