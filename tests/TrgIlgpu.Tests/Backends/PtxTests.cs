using TrgIlgpu.Backends;
using TrgIlgpu.Cli;
using TrgIlgpu.Engine;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Tests.Backends;

/// <summary>Whether NVIDIA's ptxas can be found (the skip decision of <see cref="PtxasFactAttribute"/>).</summary>
public static class PtxasAvailability
{
    /// <summary>Set (to anything) to make a missing ptxas a failure instead of a skip; CI (the <c>CI</c> variable) does the same.</summary>
    public const string RequireVariable = "TRG_REQUIRE_PTXAS";

    public static bool Required =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(RequireVariable)) || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"));

    /// <summary>The ptxas to use; fails with the way to get one when there is none.</summary>
    public static Ptxas Get() => Ptxas.Find() ?? throw new Xunit.Sdk.XunitException(
        $"ptxas not found: run `bash .ci/setup` (it unpacks Debian's CUDA 11.8 ptxas into {Ptxas.SetupPath}) or set {Ptxas.PathVariable}");
}

/// <summary>A fact that needs ptxas: skipped when there is none, unless CI or TRG_REQUIRE_PTXAS is set (then it fails).</summary>
public sealed class PtxasFactAttribute : FactAttribute
{
    public PtxasFactAttribute()
    {
        if (!PtxasAvailability.Required && Find() is null)
            Skip = $"ptxas not found (run .ci/setup or set {Ptxas.PathVariable}); CI and {PtxasAvailability.RequireVariable} make this a failure";
    }

    /// <summary>A TRG_PTXAS naming no file is not "absent": the test runs and reports it.</summary>
    private static Ptxas? Find()
    {
        try { return Ptxas.Find(); }
        catch (TrgException) { return new Ptxas("(TRG_PTXAS names no file)"); }
    }
}

/// <summary>
/// Every catalogued kernel compiles to PTX through the engine's context and assembles with ptxas for the oldest and
/// newest supported architectures; the rest of `trg ptx` (ISA parsing, ptxas output, occupancy, the command).
/// </summary>
public sealed class PtxTests
{
    [Fact]
    public void SoftArgmax_CompilesToPtx_WithTheEngineContext()
    {
        // MathF.Exp has a PTX implementation only with ILGPU.Algorithms enabled (ContextFactory); this was the
        // InternalCompilerException that kept the CUDA path from ever running.
        using var compiler = new PtxCompiler(CudaTarget.Parse("sm_90"), PtxCompiler.ParseIsa(PtxCompiler.DefaultIsa));
        var ptx = compiler.Compile(KernelCatalog.Get("SoftArgmax")).Ptx;
        // ILGPU 1.5.3 writes .target sm_80 for sm_86/89/90 (the newest target it emits); ptxas and the driver
        // compile that PTX for the actual architecture (docs/devices.md).
        Assert.Contains(".target sm_80", ptx);
        Assert.Contains(".version 7.8", ptx);
        Assert.Contains(".entry", ptx);
        Assert.Contains("ex2.approx", ptx);
    }

    [PtxasFact]
    public void EveryKernel_CompilesAndAssembles_ForSm75() => CompileAndAssembleAll("sm_75");

    [PtxasFact]
    public void EveryKernel_CompilesAndAssembles_ForSm90() => CompileAndAssembleAll("sm_90");

    private static void CompileAndAssembleAll(string arch)
    {
        var ptxas = PtxasAvailability.Get();
        var target = CudaTarget.Parse(arch);
        var dir = Directory.CreateTempSubdirectory("trg-ptx-test-");
        try
        {
            using var compiler = new PtxCompiler(target, PtxCompiler.ParseIsa(PtxCompiler.DefaultIsa));
            var failed = new List<string>();
            foreach (var kernel in KernelCatalog.All)
            {
                try
                {
                    var file = Path.Combine(dir.FullName, kernel.Name + ".ptx");
                    File.WriteAllText(file, compiler.Compile(kernel).Ptx);
                    var report = ptxas.Assemble(file, target);
                    Assert.InRange(report.Registers, 1, CudaTarget.MaxRegistersPerThread);
                    Assert.True(target.OccupancyOf(64, report.Registers, report.SharedBytes).BlocksPerSm >= 1, $"{kernel.Name}: a group of 64 does not fit an SM");
                }
                catch (TrgException e)
                {
                    failed.Add(e.Message);
                }
            }
            Assert.True(failed.Count == 0, string.Join("\n", failed));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Why CUDA's policy keeps the 8-channel Winograd product: the 16-channel one (256 accumulators a thread) runs out of
    /// registers and spills under ptxas, where the 8-channel one does not; the CUDA policy never chooses it.
    /// </summary>
    [PtxasFact]
    public void Gemm16_SpillsOnSm90_SoCudaKeepsTheEightChannelProduct()
    {
        var ptxas = PtxasAvailability.Get();
        var target = CudaTarget.Parse("sm_90");
        var dir = Directory.CreateTempSubdirectory("trg-ptx-gemm16-");
        try
        {
            using var compiler = new PtxCompiler(target, PtxCompiler.ParseIsa(PtxCompiler.DefaultIsa));
            PtxasReport Report(string name)
            {
                var file = Path.Combine(dir.FullName, name + ".ptx");
                File.WriteAllText(file, compiler.Compile(KernelCatalog.Get(name)).Ptx);
                return ptxas.Assemble(file, target);
            }
            var eight = Report("WinogradGemmF2");
            var sixteen = Report("WinogradGemmF2x16");
            Assert.Equal(0, eight.SpillStores);
            Assert.True(sixteen.SpillStores > 0 && sixteen.Registers > eight.Registers,
                $"WinogradGemmF2x16: {sixteen.Registers} registers, {sixteen.SpillStores} bytes of spill stores (WinogradGemmF2: {eight.Registers})");
            var cuda = KernelPolicy.For(DeviceKind.Cuda) with { Convolutions = ConvAlgorithm.Winograd };
            var p = new ConvParams
            {
                Batch = 1, InChannels = 64, InHeight = 48, InWidth = 48, OutChannels = 64, OutHeight = 48, OutWidth = 48, Kernel = 3, Stride = 1, Pad = 1,
            };
            Assert.Equal(ConvKernel.WinogradGemmF2, cuda.ConvKernelFor(p, WinogradForm.F2));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("7.8", 7, 8)]
    [InlineData("78", 7, 8)]
    [InlineData("6.0", 6, 0)]
    public void ParseIsa_AcceptsSupportedVersions(string text, int major, int minor)
    {
        var isa = PtxCompiler.ParseIsa(text);
        Assert.Equal((major, minor), (isa.Major, isa.Minor));
    }

    [Theory]
    [InlineData("7")]
    [InlineData("x.y")]
    [InlineData("1.0")]
    public void ParseIsa_RejectsOthersAsUsage(string text) =>
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => PtxCompiler.ParseIsa(text)).Kind);

    [Fact]
    public void CudaTarget_ParsesTheFiveArchitectures()
    {
        Assert.Equal(["sm_75", "sm_80", "sm_86", "sm_89", "sm_90"], CudaTarget.All.Select(t => t.Name));
        Assert.Equal(CudaArch.Sm86, CudaTarget.Parse("86").Arch);
        Assert.Equal(132, CudaTarget.Parse("SM_90").DefaultSms);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => CudaTarget.Parse("sm_61")).Kind);
    }

    [Theory]
    // Values of NVIDIA's occupancy calculator (cuda_occupancy.h rules) for these inputs.
    [InlineData("sm_90", 64, 168, 0, 6, OccupancyLimit.Registers)]   // 168 regs: 5376 a warp, 3 warps a sub-partition
    [InlineData("sm_90", 64, 72, 0, 14, OccupancyLimit.Registers)]
    [InlineData("sm_90", 64, 19, 0, 32, OccupancyLimit.Threads)]    // the 32-block limit
    [InlineData("sm_90", 256, 32, 0, 8, OccupancyLimit.Threads)]    // 2048 threads
    [InlineData("sm_86", 256, 32, 0, 6, OccupancyLimit.Threads)]    // 1536 threads
    [InlineData("sm_75", 64, 32, 0, 16, OccupancyLimit.Threads)]    // 16 blocks
    [InlineData("sm_80", 128, 32, 48 * 1024, 3, OccupancyLimit.Shared)] // 164 KB / (48 KB + 1 KB reserved)
    [InlineData("sm_90", 1024, 255, 0, 0, OccupancyLimit.Registers)] // 255 x 1024 registers exceed the file
    public void Occupancy_FollowsTheCalculator(string arch, int threads, int registers, int shared, int blocks, OccupancyLimit limit)
    {
        var target = CudaTarget.Parse(arch);
        var o = target.OccupancyOf(threads, registers, shared);
        Assert.Equal(blocks, o.BlocksPerSm);
        Assert.Equal(limit, o.Limit);
        Assert.Equal(blocks * ((threads + 31) / 32), o.WarpsPerSm);
        Assert.Equal((double)o.WarpsPerSm / target.MaxWarpsPerSm, o.Fraction, 12);
    }

    [Fact]
    public void PtxasOutput_IsParsedForTheEntryFunction()
    {
        const string output = """
            ptxas info    : 0 bytes gmem
            ptxas info    : Compiling entry function 'Kernel_SoftArgmax' for 'sm_90'
            ptxas info    : Function properties for Kernel_SoftArgmax
                24 bytes stack frame, 8 bytes spill stores, 12 bytes spill loads
            ptxas info    : Used 37 registers, 2048 bytes smem, 400 bytes cmem[0]
            """;
        Assert.Equal(new PtxasReport(37, 8, 12, 24, 2048), Ptxas.Parse(output));
        Assert.Null(Ptxas.Parse("ptxas fatal   : Unresolved extern function"));
    }

    [Fact]
    public void PtxCommand_WritesOnePtxFilePerKernel()
    {
        var dir = Directory.CreateTempSubdirectory("trg-ptx-cli-");
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = CliApp.Run(["ptx", "--arch", "sm_80", "--out", dir.FullName], stdout, stderr);
            Assert.True(code == 0, $"exit {code}: {stderr}");
            var files = dir.GetFiles("*.ptx").Select(f => Path.GetFileNameWithoutExtension(f.Name)).Order().ToList();
            Assert.Equal(KernelCatalog.All.Select(e => e.Name).Order(), files);
            Assert.All(dir.GetFiles("*.ptx"), f => Assert.Contains(".target sm_80", File.ReadAllText(f.FullName)));
            if (Ptxas.Find() is not null)
                foreach (var k in KernelCatalog.All) Assert.Contains($"| {k.Name} | ", stdout.ToString());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void PtxCommand_AnAssemblerFailure_IsAKernelCompileErrorWithoutStackTrace()
    {
        var dir = Directory.CreateTempSubdirectory("trg-ptx-fail-");
        var saved = Environment.GetEnvironmentVariable(Ptxas.PathVariable);
        try
        {
            Environment.SetEnvironmentVariable(Ptxas.PathVariable, "/bin/false"); // an "assembler" that always fails
            var stderr = new StringWriter();
            int code = CliApp.Run(["ptx", "--arch", "sm_90", "--out", dir.FullName], new StringWriter(), stderr);
            Assert.Equal((int)ErrorKind.KernelCompile, code);
            var text = stderr.ToString();
            Assert.Contains("trg: error: ", text);
            Assert.Contains("SoftArgmax.ptx: ptxas -arch=sm_90 failed (exit 1)", text);
            Assert.Contains($"{KernelCatalog.All.Count} of {KernelCatalog.All.Count} kernels failed for sm_90", text);
            Assert.DoesNotContain("   at ", text);
            Assert.Equal(KernelCatalog.All.Count, dir.GetFiles("*.ptx").Length); // the PTX is still written
        }
        finally
        {
            Environment.SetEnvironmentVariable(Ptxas.PathVariable, saved);
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void PtxasVariable_NamingNoFile_IsNotFound()
    {
        var saved = Environment.GetEnvironmentVariable(Ptxas.PathVariable);
        try
        {
            Environment.SetEnvironmentVariable(Ptxas.PathVariable, "/nonexistent/ptxas");
            var e = Assert.Throws<TrgException>(() => Ptxas.Find());
            Assert.Equal(ErrorKind.NotFound, e.Kind);
            Assert.Contains("/nonexistent/ptxas", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Ptxas.PathVariable, saved);
        }
    }

    [Theory]
    [InlineData("--arch", "sm_61")]
    [InlineData("--arch", "sm_90", "--isa", "9.9")]
    [InlineData("--arch", "sm_90", "--sms", "0")]
    public void PtxCommand_RejectsBadOptionsAsUsage(params string[] args) =>
        Assert.Equal((int)ErrorKind.Usage, CliApp.Run(["ptx", .. args, "--out", Path.GetTempPath()], new StringWriter(), new StringWriter()));
}
