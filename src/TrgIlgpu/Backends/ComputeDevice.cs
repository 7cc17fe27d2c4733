using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using ILGPU.Backends.OpenCL;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Engine;

namespace TrgIlgpu.Backends;

/// <summary>
/// One ILGPU context and accelerator. Choosing: CUDA, then OpenCL, then ILGPU's CPU accelerator for
/// <see cref="DeviceKind.Auto"/>; the named kind otherwise, with a clear error when it is absent.
/// </summary>
public sealed class ComputeDevice : IDisposable
{
    /// <summary>PoCL's platform name; PoCL is the only OpenCL platform the generic-address-space opt-in applies to.</summary>
    public const string PoclPlatform = "Portable Computing Language";

    public Context Context { get; }
    public Accelerator Accelerator { get; }
    public DeviceKind Kind { get; }
    public string Description { get; }

    private readonly TextWriter? _log;

    private ComputeDevice(Context context, Accelerator accelerator, DeviceKind kind, TextWriter? log = null)
    {
        _log = log;
        Context = context;
        Accelerator = accelerator;
        Kind = kind;
        Description = kind switch
        {
            DeviceKind.Cuda => $"CUDA: {accelerator.Name}",
            DeviceKind.OpenCL => $"OpenCL: {accelerator.Name} ({((CLAccelerator)accelerator).PlatformName})",
            _ => $"CPU: ILGPU CPU accelerator ({accelerator.Name})",
        };
    }

    public static ComputeDevice Open(DeviceKind kind, TextWriter? log = null)
    {
        var patched = new List<string>();
        var context = ContextFactory.Create(builder =>
        {
            if (kind is DeviceKind.Auto or DeviceKind.Cuda) TryAdd(() => builder.Cuda());
            if (kind is DeviceKind.Auto or DeviceKind.OpenCL) TryAdd(() => builder.OpenCL(d => AcceptOpenCL(d, patched)));
            if (kind is DeviceKind.Auto or DeviceKind.Cpu) builder.CPU();
        });
        foreach (var name in patched)
            log?.WriteLine($"trg: OpenCL device '{name}' is PoCL, which reports no generic address space; enabling it (PoCL handles ILGPU's kernels correctly, see docs/devices.md).");

        Device? device = kind switch
        {
            DeviceKind.Cuda => context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.Cuda),
            DeviceKind.OpenCL => context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.OpenCL),
            DeviceKind.Cpu => context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.CPU),
            _ => context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.Cuda)
                 ?? context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.OpenCL)
                 ?? context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.CPU),
        };
        if (device is null)
        {
            context.Dispose();
            throw new TrgException(ErrorKind.Device, kind switch
            {
                DeviceKind.Cuda => "no CUDA device found (is the NVIDIA driver's libcuda.so on the library path?)",
                DeviceKind.OpenCL => "no usable OpenCL device found (install an OpenCL driver, e.g. Debian's pocl-opencl-icd, and ocl-icd-libopencl1)",
                _ => "no compute device found",
            });
        }
        var accelerator = device.CreateAccelerator(context);
        var chosen = accelerator.AcceleratorType switch
        {
            AcceleratorType.Cuda => DeviceKind.Cuda,
            AcceleratorType.OpenCL => DeviceKind.OpenCL,
            _ => DeviceKind.Cpu,
        };
        var result = new ComputeDevice(context, accelerator, chosen, log);
        if (kind == DeviceKind.Auto) log?.WriteLine($"trg: --device auto chose {result.Description}");
        return result;
    }

    /// <summary>
    /// ILGPU's CPU accelerator shaped like an NVIDIA GPU (warps of 32, groups up to 1024 threads): a plan made on it
    /// has the launch shapes a CUDA session would use, without a GPU (`trg ptx --plan`).
    /// </summary>
    internal static ComputeDevice OpenCudaShapedCpu()
    {
        var context = ContextFactory.Create(builder => builder.CPU(CPUDeviceKind.Nvidia));
        var device = context.Devices.First(d => d.AcceleratorType == AcceleratorType.CPU);
        return new ComputeDevice(context, device.CreateAccelerator(context), DeviceKind.Cpu);
    }

    private static void TryAdd(Action add)
    {
        // A missing driver library means "no such device", not a crash.
        try { add(); }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or InvalidOperationException) { }
    }

    private static bool AcceptOpenCL(CLDevice device, List<string> patched)
    {
        if (device.CLStdVersion < CLBackend.MinimumVersion) return false;
        if (!device.Capabilities.GenericAddressSpace && device.PlatformName.Contains(PoclPlatform, StringComparison.Ordinal))
        {
            // PoCL 3.x does not advertise the generic address space ILGPU's OpenCL backend asks for, yet the
            // kernels ILGPU emits compile and run correctly on it. The setter is internal to ILGPU.
            typeof(CLCapabilityContext).GetProperty(nameof(CLCapabilityContext.GenericAddressSpace))!
                .GetSetMethod(nonPublic: true)!.Invoke(device.Capabilities, [true]);
            patched.Add(device.Name);
        }
        return device.Capabilities.GenericAddressSpace;
    }

    private readonly Dictionary<int, DeviceKernels> _kernels = new();
    private StartupTimings? _timings;
    private string? _kernelCache;

    /// <summary>
    /// The one kernel set of this device for a group size (<see cref="KernelPolicy.GroupSize"/>): every session on the
    /// device (TRG, the face networks) launches the same compiled kernels, each compiled on its first launch.
    /// </summary>
    internal DeviceKernels Kernels(int groupSize)
    {
        lock (_kernels)
        {
            if (!_kernels.TryGetValue(groupSize, out var kernels))
                _kernels[groupSize] = kernels = new DeviceKernels(Accelerator, groupSize) { Timings = _timings, CacheDirectory = _kernelCache, Log = _log };
            return kernels;
        }
    }

    /// <summary>Where this device's sessions record start-up phases (kernel compilation included); null: not measured.</summary>
    internal StartupTimings? Timings
    {
        get => _timings;
        set => Update(() => _timings = value, k => k.Timings = value);
    }

    /// <summary>Folder of the OpenCL kernel-source cache (<see cref="PackCache.KernelDirectory"/>); null: none.</summary>
    internal string? KernelCache
    {
        get => _kernelCache;
        set => Update(() => _kernelCache = value, k => k.CacheDirectory = value);
    }

    private void Update(Action set, Action<DeviceKernels> apply)
    {
        lock (_kernels)
        {
            set();
            foreach (var k in _kernels.Values) apply(k);
        }
    }

    public void Dispose()
    {
        Accelerator.Dispose();
        Context.Dispose();
    }
}
