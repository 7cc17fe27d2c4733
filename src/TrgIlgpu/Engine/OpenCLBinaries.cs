using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime;
using ILGPU.Runtime.OpenCL;

namespace TrgIlgpu.Engine;

/// <summary>
/// OpenCL program binaries for <see cref="KernelSourceCache"/> (docs/startup.md): a kernel built from the driver's own
/// binary (<c>clCreateProgramWithBinary</c>) skips the driver's front end. On PoCL that is the Clang preprocessor run
/// over its builtin header at every <c>clBuildProgram</c> from source, about 40 of a kernel's 55 ms even when PoCL's
/// kernel cache already holds the compiled code; from a binary the same build takes 2-4 ms.
/// </summary>
/// <remarks>
/// ILGPU 1.5 builds an OpenCL kernel only from source (<see cref="CLKernel"/>'s constructor); a kernel from a binary is
/// the same <see cref="CLKernel"/> object with ILGPU's launcher, its program and kernel handles set to the ones built
/// here (private fields, reached by reflection and checked once: <see cref="Supported"/> is false when this ILGPU does
/// not have them, and every kernel is then built from source). The driver checks the binary
/// (<c>CL_INVALID_BINARY</c> for one made by another driver or device); any failure returns null and the caller builds
/// from source.
/// </remarks>
internal static unsafe class OpenCLBinaries
{
    private const int ClSuccess = 0;
    private const uint ClDeviceVersion = 0x102F, ClDriverVersion = 0x102D, ClPlatformVersion = 0x0901;

    private static readonly Native? Api = Native.TryLoad();

    private static readonly FieldInfo? ProgramField = typeof(CLKernel).GetField("programPtr", BindingFlags.NonPublic | BindingFlags.Instance);
    private static readonly FieldInfo? KernelField = typeof(CLKernel).GetField("kernelPtr", BindingFlags.NonPublic | BindingFlags.Instance);
    private static readonly ConstructorInfo? KernelConstructor = typeof(Kernel).GetConstructor(BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Instance,
        [typeof(Accelerator), typeof(ILGPU.Backends.CompiledKernel), typeof(MethodInfo)]);
    private static readonly MethodInfo? LauncherMethod = typeof(CLAccelerator).GetMethod("GenerateKernelLauncherMethod", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Instance,
        [typeof(CLCompiledKernel), typeof(int)]);

    /// <summary>Whether kernels can be built from binaries here: the OpenCL library and the ILGPU members used are present.</summary>
    public static bool Supported => Api is not null && ProgramField is not null && KernelField is not null && KernelConstructor is not null && LauncherMethod is not null;

    /// <summary>The driver's identity for the cache key: platform version (PoCL: its version, LLVM's, build options), device and driver versions.</summary>
    public static string DriverIdentity(CLAccelerator accelerator) => Api is not { } api ? "unknown" :
        $"{api.PlatformText(accelerator.PlatformId, ClPlatformVersion)} | {api.DeviceText(accelerator.DeviceId, ClDeviceVersion)} | {api.DeviceText(accelerator.DeviceId, ClDriverVersion)}";

    /// <summary>The program binary of a kernel built from source (PoCL: generic work-group code, compiled now if not in its cache), or null.</summary>
    public static byte[]? Read(CLKernel kernel)
    {
        if (!Supported) return null;
        try
        {
            var binary = kernel.LoadBinaryRepresentation();
            return binary.Length > 0 ? binary : null;
        }
        catch (Exception e) when (e is CLException or InvalidOperationException or OverflowException)
        {
            return null;
        }
    }

    /// <summary>
    /// The kernel <paramref name="compiled"/> built from <paramref name="binary"/>, as ILGPU would load it from source,
    /// or null (with the driver's reason in <paramref name="failure"/>) when the driver refuses the binary.
    /// </summary>
    public static CLKernel? TryLoad(CLAccelerator accelerator, CLCompiledKernel compiled, byte[] binary, out string? failure)
    {
        failure = null;
        if (!Supported) { failure = "binaries are not supported here"; return null; }
        var api = Api!;
        IntPtr program = IntPtr.Zero, kernel = IntPtr.Zero;
        try
        {
            int status, error;
            IntPtr device = accelerator.DeviceId;
            nuint length = (nuint)binary.Length;
            fixed (byte* bytes = binary)
                program = api.CreateProgramWithBinary(accelerator.NativePtr, 1, &device, &length, &bytes, &status, &error);
            if (error != ClSuccess || status != ClSuccess || program == IntPtr.Zero) { failure = $"clCreateProgramWithBinary: error {error}, status {status}"; return null; }
            var options = Encoding.ASCII.GetBytes("-cl-std=" + compiled.CVersion + "\0");
            fixed (byte* o = options)
                error = api.BuildProgram(program, 1, &device, o, IntPtr.Zero, IntPtr.Zero);
            if (error != ClSuccess) { failure = $"clBuildProgram: error {error}"; return null; }
            var name = Encoding.ASCII.GetBytes(compiled.Name + "\0");
            fixed (byte* n = name)
                kernel = api.CreateKernel(program, n, &error);
            if (error != ClSuccess || kernel == IntPtr.Zero) { failure = $"clCreateKernel: error {error}"; return null; }

            // ILGPU's own kernel object and launcher around these handles: what CLKernel's constructor does after its
            // build from source (the base constructor registers the kernel with the accelerator, which disposes it).
            var launcher = (MethodInfo)LauncherMethod!.Invoke(accelerator, [compiled, 0])!;
            var result = (CLKernel)RuntimeHelpers.GetUninitializedObject(typeof(CLKernel));
            ProgramField!.SetValue(result, program);
            KernelField!.SetValue(result, kernel);
            KernelConstructor!.Invoke(result, [accelerator, compiled, launcher]);
            program = kernel = IntPtr.Zero; // owned by the CLKernel now
            return result;
        }
        catch (TargetInvocationException e)
        {
            failure = e.InnerException?.Message ?? e.Message;
            return null;
        }
        finally
        {
            if (kernel != IntPtr.Zero) api.ReleaseKernel(kernel);
            if (program != IntPtr.Zero) api.ReleaseProgram(program);
        }
    }

    /// <summary>The few OpenCL entry points ILGPU's API does not expose, from the same ICD loader ILGPU uses.</summary>
    private sealed class Native
    {
        public required delegate* unmanaged<IntPtr, uint, IntPtr*, nuint*, byte**, int*, int*, IntPtr> CreateProgramWithBinary { get; init; }
        public required delegate* unmanaged<IntPtr, uint, IntPtr*, byte*, IntPtr, IntPtr, int> BuildProgram { get; init; }
        public required delegate* unmanaged<IntPtr, byte*, int*, IntPtr> CreateKernel { get; init; }
        public required delegate* unmanaged<IntPtr, int> ReleaseKernel { get; init; }
        public required delegate* unmanaged<IntPtr, int> ReleaseProgram { get; init; }
        public required delegate* unmanaged<IntPtr, uint, nuint, byte*, nuint*, int> GetDeviceInfo { get; init; }
        public required delegate* unmanaged<IntPtr, uint, nuint, byte*, nuint*, int> GetPlatformInfo { get; init; }

        public static Native? TryLoad()
        {
            foreach (var name in new[] { "libOpenCL.so.1", "libOpenCL.so", "OpenCL", "libOpenCL.dylib", "/System/Library/Frameworks/OpenCL.framework/OpenCL" })
            {
                if (!NativeLibrary.TryLoad(name, typeof(OpenCLBinaries).Assembly, null, out var lib)) continue;
                try
                {
                    return new Native
                    {
                        CreateProgramWithBinary = (delegate* unmanaged<IntPtr, uint, IntPtr*, nuint*, byte**, int*, int*, IntPtr>)NativeLibrary.GetExport(lib, "clCreateProgramWithBinary"),
                        BuildProgram = (delegate* unmanaged<IntPtr, uint, IntPtr*, byte*, IntPtr, IntPtr, int>)NativeLibrary.GetExport(lib, "clBuildProgram"),
                        CreateKernel = (delegate* unmanaged<IntPtr, byte*, int*, IntPtr>)NativeLibrary.GetExport(lib, "clCreateKernel"),
                        ReleaseKernel = (delegate* unmanaged<IntPtr, int>)NativeLibrary.GetExport(lib, "clReleaseKernel"),
                        ReleaseProgram = (delegate* unmanaged<IntPtr, int>)NativeLibrary.GetExport(lib, "clReleaseProgram"),
                        GetDeviceInfo = (delegate* unmanaged<IntPtr, uint, nuint, byte*, nuint*, int>)NativeLibrary.GetExport(lib, "clGetDeviceInfo"),
                        GetPlatformInfo = (delegate* unmanaged<IntPtr, uint, nuint, byte*, nuint*, int>)NativeLibrary.GetExport(lib, "clGetPlatformInfo"),
                    };
                }
                catch (EntryPointNotFoundException)
                {
                    return null;
                }
            }
            return null;
        }

        public string DeviceText(IntPtr device, uint param) => Text((size, value, written) => GetDeviceInfo(device, param, size, value, written));

        public string PlatformText(IntPtr platform, uint param) => Text((size, value, written) => GetPlatformInfo(platform, param, size, value, written));

        private delegate int Query(nuint size, byte* value, nuint* written);

        private static string Text(Query query)
        {
            nuint size;
            if (query(0, null, &size) != ClSuccess || size == 0 || size > 4096) return "?";
            var buffer = new byte[(int)size];
            fixed (byte* b = buffer)
                if (query(size, b, null) != ClSuccess) return "?";
            return Encoding.UTF8.GetString(buffer).TrimEnd('\0');
        }
    }
}
