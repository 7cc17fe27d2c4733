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

/// <summary>
/// Kernels compiled on first use, with ILGPU's OpenCL C output cached on disk (docs/startup.md). ILGPU turns a kernel's
/// MSIL into IR, optimises it and writes OpenCL C at every start (about two thirds of a kernel's start-up cost on PoCL,
/// which caches its own binaries by source under <c>POCL_CACHE_DIR</c>); an entry holds that source and the few
/// launch facts ILGPU derives with it, so a later process builds the kernel from the stored source directly.
/// </summary>
/// <remarks>
/// The key is the kernel method (type, name, metadata token), the kernel and engine assemblies' module version ids,
/// ILGPU's, and the device (name, platform, OpenCL C version, every capability flag): anything that changes the
/// generated source. The whole key is stored in the entry and compared; entries are written atomically and checked by
/// an XxHash128 of their bytes; one that fails a check is ignored and rewritten. CUDA and the CPU accelerator compile
/// as before (no entry).
/// </remarks>
internal static class KernelSourceCache
{
    private const int FormatVersion = 1;
    private static ReadOnlySpan<byte> Magic => "TRGCLKN\0"u8;

    /// <summary>The launcher of <paramref name="kernel"/> (an explicitly grouped kernel) on <paramref name="accelerator"/>.</summary>
    public static T Load<T>(Accelerator accelerator, MethodInfo kernel, string? directory, TextWriter? log) where T : Delegate
    {
        var description = EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
        CompiledKernel? compiled = null;
        string? key = null, path = null;
        if (directory is not null && accelerator is CLAccelerator cl)
        {
            key = Key(cl, kernel);
            path = Path.Combine(directory, Convert.ToHexStringLower(XxHash128.Hash(Encoding.UTF8.GetBytes(key))) + ".clkernel");
            compiled = TryRead(cl, description, key, path, log);
        }
        if (compiled is null)
        {
            compiled = accelerator.CompileKernel(description);
            if (path is not null && compiled is CLCompiledKernel source) Write(source, key!, path, log);
        }
        return accelerator.LoadKernel(compiled).CreateLauncherDelegate<T>();
    }

    /// <summary>Everything that changes ILGPU's OpenCL C for <paramref name="kernel"/> on this device.</summary>
    internal static string Key(CLAccelerator accelerator, MethodInfo kernel)
    {
        var sb = new StringBuilder();
        sb.Append($"trg-cl-kernel {FormatVersion}\n");
        sb.Append($"kernel {kernel.DeclaringType!.FullName}.{kernel.Name} {kernel.MetadataToken:x8}\n");
        sb.Append($"assemblies {typeof(Tiling).Module.ModuleVersionId:N} {typeof(KernelSourceCache).Module.ModuleVersionId:N} {typeof(Context).Module.ModuleVersionId:N}\n");
        sb.Append($"device {accelerator.Name} | {accelerator.PlatformName} | {accelerator.VendorName} | C {accelerator.CLStdVersion} | {accelerator.CVersion}\n");
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

    private static CompiledKernel? TryRead(CLAccelerator accelerator, EntryPointDescription description, string key, string path, TextWriter? log)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { log?.WriteLine($"trg: kernel cache entry {path} cannot be read ({e.Message}); compiling"); return null; }
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
            if (at != body.Length) throw new InvalidDataException("unexpected bytes at the end");
            var types = (ILGPU.IR.Types.TypeInformationManager)TypeContextProperty.GetValue(accelerator.Context)!;
            var entry = new SeparateViewEntryPoint(description, shared, KernelSpecialization.Empty, types, fieldsPerView);
            return new CLCompiledKernel(accelerator.Context, entry, null, source, cVersion);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            log?.WriteLine($"trg: ignoring kernel cache entry {path}: {e.Message}; compiling it again");
            return null;
        }
    }

    private static void Write(CLCompiledKernel kernel, string key, string path, TextWriter? log)
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

    private static string Text(ReadOnlySpan<byte> b, ref int at)
    {
        int n = Int(b, ref at);
        if (n < 0 || at + n > b.Length) throw new InvalidDataException("truncated");
        var s = Encoding.UTF8.GetString(b.Slice(at, n));
        at += n;
        return s;
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
