using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace TrgIlgpu.Backends;

/// <summary>One catalogued kernel compiled to PTX.</summary>
public sealed record PtxKernel(KernelEntry Kernel, string Ptx);

/// <summary>
/// Compiles catalogued kernels to PTX with ILGPU's PTX backend, without a GPU or driver, through the engine's own
/// context (<see cref="ContextFactory"/>) and with the engine's (empty) kernel specialisation.
/// </summary>
public sealed class PtxCompiler : IDisposable
{
    /// <summary>The PTX ISA of CUDA 11.8's ptxas (the newest that ptxas 11.8 accepts), the default of `trg ptx --isa`.</summary>
    public const string DefaultIsa = "7.8";

    private readonly Context _context;
    private readonly PTXBackend _backend;

    public CudaTarget Target { get; }
    public CudaInstructionSet Isa { get; }

    public PtxCompiler(CudaTarget target, CudaInstructionSet isa)
    {
        Target = target;
        Isa = isa;
        _context = ContextFactory.Create(_ => { });
        try
        {
            _backend = new PTXBackend(_context, new CudaCapabilityContext(target.Architecture), target.Architecture, isa, nvvmAPI: null);
        }
        catch
        {
            _context.Dispose();
            throw;
        }
    }

    /// <summary>"7.8" (or "78") as ILGPU's instruction set; a Usage error names the supported ones otherwise.</summary>
    public static CudaInstructionSet ParseIsa(string text)
    {
        var digits = text.Trim().Replace(".", "");
        var supported = PTXCodeGenerator.SupportedInstructionSets;
        if (digits.Length == 2 && char.IsAsciiDigit(digits[0]) && char.IsAsciiDigit(digits[1]))
        {
            var isa = new CudaInstructionSet(digits[0] - '0', digits[1] - '0');
            if (supported.Contains(isa)) return isa;
        }
        throw new TrgException(ErrorKind.Usage, $"--isa '{text}': use one of {string.Join(", ", supported.Select(s => $"{s.Major}.{s.Minor}"))}");
    }

    /// <summary>
    /// The PTX of <paramref name="kernel"/>. A <see cref="TrgException"/> (<see cref="ErrorKind.KernelCompile"/>)
    /// names the kernel and ILGPU's reason when it cannot be compiled.
    /// </summary>
    public PtxKernel Compile(KernelEntry kernel)
    {
        try
        {
            var entry = EntryPointDescription.FromExplicitlyGroupedKernel(kernel.Method);
            var compiled = (PTXCompiledKernel)_backend.Compile(entry, KernelSpecialization.Empty);
            return new PtxKernel(kernel, compiled.PTXAssembly);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var reason = e.InnerException is null ? e.Message : $"{e.Message} ({e.InnerException.Message})";
            throw new TrgException(ErrorKind.KernelCompile,
                $"kernel {kernel.Qualified} does not compile to PTX for {Target.Name} (ISA {Isa.Major}.{Isa.Minor}): {e.GetType().Name}: {reason}", inner: e);
        }
    }

    public void Dispose()
    {
        _backend.Dispose();
        _context.Dispose();
    }
}
