using System.Buffers.Binary;
using System.IO.Hashing;
using System.Reflection;
using System.Text;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime;
using ILGPU.Runtime.OpenCL;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Engine;

/// <summary>Where a kernel came from when it was loaded (<see cref="KernelSourceCache"/>).</summary>
internal enum KernelOrigin
{
    /// <summary>Compiled by ILGPU (MSIL to IR to OpenCL C or PTX) and built by the driver: no entry, or not OpenCL.</summary>
    Compiled,
    /// <summary>Built by the driver from the OpenCL C source of a cache entry.</summary>
    CachedSource,
    /// <summary>Built from the driver's program binary of a cache entry (<see cref="OpenCLBinaries"/>).</summary>
    CachedBinary,
}

/// <summary>
/// Kernels compiled on first use, with ILGPU's OpenCL C output and the driver's program binary cached on disk
/// (docs/startup.md). ILGPU turns a kernel's MSIL into IR, optimises it and writes OpenCL C at every start, and the
/// driver then builds that source (PoCL: its Clang preprocessor over its builtin header, about 40 ms a kernel, before
/// it finds its own compiled code under <c>POCL_CACHE_DIR</c>). An entry holds the source, the few launch facts ILGPU
/// derives with it, and the program binary the driver returned for it; a later process builds the kernel from the
/// binary (2-4 ms on PoCL), or from the source when the driver refuses the binary.
/// </summary>
/// <remarks>
/// The key is the kernel method (type, name, metadata token), the kernel and engine assemblies' module version ids,
/// ILGPU's, the device (name, platform, OpenCL C version, every capability flag) and the driver (platform, device and
/// driver version strings): anything that changes the generated source or the binary. The whole key is stored in the
/// entry and compared; entries are written atomically and checked by an XxHash128 of their bytes; one that fails a
/// check is ignored and rewritten, and one whose binary the driver refuses is rebuilt from its source and rewritten.
/// CUDA and the CPU accelerator compile as before (no entry).
/// </remarks>
internal static class KernelSourceCache
{
    private const int FormatVersion = 2;
    private static ReadOnlySpan<byte> Magic => "TRGCLKN\0"u8;

    /// <summary>ILGPU's <c>Kernel.CreateLauncherDelegate&lt;TDelegate&gt;()</c>, for a launcher type known at run time.</summary>
    private static readonly MethodInfo CreateLauncher = typeof(Kernel).GetMethod(nameof(Kernel.CreateLauncherDelegate))!;

    private static Delegate Launcher(Kernel loaded, Type launcher)
    {
        try
        {
            return (Delegate)CreateLauncher.MakeGenericMethod(launcher).Invoke(loaded, null)!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }

    /// <summary>
    /// The launcher (a delegate of type <paramref name="launcher"/>) of <paramref name="kernel"/>, an explicitly grouped
    /// kernel, on <paramref name="accelerator"/>, and where it came from.
    /// </summary>
    public static (Delegate Launcher, KernelOrigin Origin) Load(Accelerator accelerator, MethodInfo kernel, Type launcher, string? directory, TextWriter? log)
    {
        var description = EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
        if (directory is null || accelerator is not CLAccelerator cl)
            return (Launcher(accelerator.LoadKernel(accelerator.CompileKernel(description)), launcher), KernelOrigin.Compiled);

        string key = Key(cl, kernel);
        string path = Path.Combine(directory, Convert.ToHexStringLower(XxHash128.Hash(Encoding.UTF8.GetBytes(key))) + ".clkernel");
        var (compiled, binary) = TryRead(cl, description, key, path, log);
        CLKernel? loaded = null;
        if (compiled is not null && binary is not null)
        {
            loaded = OpenCLBinaries.TryLoad(cl, compiled, binary, out var failure);
            if (loaded is null) log?.WriteLine($"trg: kernel cache entry {path}: the driver refused its program binary ({failure}); building {kernel.Name} from its source");
        }
        if (loaded is not null) return (Launcher(loaded, launcher), KernelOrigin.CachedBinary);

        var origin = compiled is null ? KernelOrigin.Compiled : KernelOrigin.CachedSource;
        bool rewrite = compiled is null || binary is not null; // a new entry, or one whose binary the driver refused
        compiled ??= (CLCompiledKernel)cl.CompileKernel(description);
        loaded = (CLKernel)cl.LoadKernel(compiled);
        // The binary is read once, when the entry is written (PoCL compiles its generic work-group code for it then).
        var fresh = OpenCLBinaries.Read(loaded);
        if (rewrite || fresh is not null) Write(compiled, fresh, key, path, log);
        return (Launcher(loaded, launcher), origin);
    }

    /// <summary>Everything that changes ILGPU's OpenCL C for <paramref name="kernel"/> on this device.</summary>
    internal static string Key(CLAccelerator accelerator, MethodInfo kernel)
    {
        var sb = new StringBuilder();
        sb.Append($"trg-cl-kernel {FormatVersion}\n");
        sb.Append($"kernel {kernel.DeclaringType!.FullName}.{kernel.Name} {kernel.MetadataToken:x8}\n");
        sb.Append($"assemblies {typeof(Tiling).Module.ModuleVersionId:N} {typeof(KernelSourceCache).Module.ModuleVersionId:N} {typeof(Context).Module.ModuleVersionId:N}\n");
        sb.Append($"device {accelerator.Name} | {accelerator.PlatformName} | {accelerator.VendorName} | C {accelerator.CLStdVersion} | {accelerator.CVersion}\n");
        sb.Append($"driver {OpenCLBinaries.DriverIdentity(accelerator)}\n");
        foreach (var p in accelerator.Capabilities.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.Name, StringComparer.Ordinal))
            if (p.PropertyType == typeof(bool)) sb.Append($"{p.Name}={p.GetValue(accelerator.Capabilities)} ");
        sb.Append('\n');
        return sb.ToString();
    }

    /// <summary>The ILGPU entry point a compiled kernel carries (internal to ILGPU; read by reflection).</summary>
    private static readonly PropertyInfo EntryPointProperty =
        typeof(CompiledKernel).GetProperty("EntryPoint", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Instance)
        ?? throw new MissingMemberException(nameof(CompiledKernel), "EntryPoint");

    /// <summary>The context's type information, which ILGPU's OpenCL backend builds entry points with (internal; read by reflection).</summary>
    private static readonly PropertyInfo TypeContextProperty =
        typeof(Context).GetProperty("TypeContext", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Instance)
        ?? throw new MissingMemberException(nameof(Context), "TypeContext");

    private static (CLCompiledKernel? Kernel, byte[]? Binary) TryRead(CLAccelerator accelerator, EntryPointDescription description, string key, string path, TextWriter? log)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return default; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { log?.WriteLine($"trg: kernel cache entry {path} cannot be read ({e.Message}); compiling"); return default; }
        try
        {
            if (bytes.Length < Magic.Length + 16) throw new InvalidDataException("truncated");
            var body = bytes.AsSpan(0, bytes.Length - 16);
            if (!XxHash128.Hash(body).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 16))) throw new InvalidDataException("checksum mismatch (corrupt or truncated entry)");
            int at = 0;
            if (!body[..Magic.Length].SequenceEqual(Magic)) throw new InvalidDataException("not a kernel entry");
            at += Magic.Length;
            if (Int(body, ref at) != FormatVersion) throw new InvalidDataException("another entry format version");
            if (Text(body, ref at) != key) throw new InvalidDataException("the key differs");
            var cVersion = new CLCVersion(Int(body, ref at), Int(body, ref at));
            var shared = new SharedMemorySpecification(Int(body, ref at), Int(body, ref at) != 0);
            int fieldsPerView = Int(body, ref at);
            string source = Text(body, ref at);
            var binary = Bytes(body, ref at);
            if (at != body.Length) throw new InvalidDataException("unexpected bytes at the end");
            var types = (ILGPU.IR.Types.TypeInformationManager)TypeContextProperty.GetValue(accelerator.Context)!;
            var entry = new SeparateViewEntryPoint(description, shared, KernelSpecialization.Empty, types, fieldsPerView);
            return (new CLCompiledKernel(accelerator.Context, entry, null, source, cVersion), binary.Length > 0 ? binary : null);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            log?.WriteLine($"trg: ignoring kernel cache entry {path}: {e.Message}; compiling it again");
            return default;
        }
    }

    private static void Write(CLCompiledKernel kernel, byte[]? binary, string key, string path, TextWriter? log)
    {
        if (EntryPointProperty.GetValue(kernel) is not SeparateViewEntryPoint entry || entry.Specialization.MaxNumThreadsPerGroup is not null) return;
        var body = new List<byte>();
        body.AddRange(Magic.ToArray());
        AddInt(body, FormatVersion);
        AddText(body, key);
        AddInt(body, kernel.CVersion.Major);
        AddInt(body, kernel.CVersion.Minor);
        AddInt(body, entry.SharedMemory.StaticSize);
        AddInt(body, entry.SharedMemory.HasDynamicMemory ? 1 : 0);
        AddInt(body, entry.NumImplementationFieldsPerView);
        AddText(body, kernel.Source);
        AddInt(body, binary?.Length ?? 0);
        if (binary is not null) body.AddRange(binary);
        var bytes = body.ToArray();
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using var pending = new AtomicFile.Pending(path);
            pending.Stream.Write(bytes);
            pending.Stream.Write(XxHash128.Hash(bytes));
            pending.Commit(durable: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or TrgException)
        {
            log?.WriteLine($"trg: cannot write the kernel cache entry {path}: {e.Message}");
        }
    }

    private static int Int(ReadOnlySpan<byte> b, ref int at)
    {
        if (at + 4 > b.Length) throw new InvalidDataException("truncated");
        int v = BinaryPrimitives.ReadInt32LittleEndian(b[at..]);
        at += 4;
        return v;
    }

    private static string Text(ReadOnlySpan<byte> b, ref int at) => Encoding.UTF8.GetString(Bytes(b, ref at));

    private static byte[] Bytes(ReadOnlySpan<byte> b, ref int at)
    {
        int n = Int(b, ref at);
        if (n < 0 || n > b.Length - at) throw new InvalidDataException("truncated");
        var bytes = b.Slice(at, n).ToArray();
        at += n;
        return bytes;
    }

    private static void AddInt(List<byte> b, int v)
    {
        Span<byte> x = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(x, v);
        b.AddRange(x.ToArray());
    }

    private static void AddText(List<byte> b, string s)
    {
        var x = Encoding.UTF8.GetBytes(s);
        AddInt(b, x.Length);
        b.AddRange(x);
    }
}
