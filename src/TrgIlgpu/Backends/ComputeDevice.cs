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

    /// <summary>The device's memory as the engine budgets it (CUDA's free memory is read on each call).</summary>
    public DeviceMemoryInfo Memory => DeviceMemory.Query(this);

    /// <summary>
    /// Taken by every object that runs on this device (<see cref="Engine.InferenceSession"/>, <see cref="Faces.FaceFinder"/>)
    /// around its device work, innermost (no other lock is taken while it is held): objects sharing a device may be
    /// called from different threads at once, and their allocations, uploads, launches and downloads do not interleave.
    /// </summary>
    internal object Gate { get; } = new();

    private bool _disposed;

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

    /// <summary>The order <see cref="DeviceKind.Auto"/> tries the backends in.</summary>
    public static IReadOnlyList<DeviceKind> AutoOrder { get; } = [DeviceKind.Cuda, DeviceKind.OpenCL, DeviceKind.Cpu];

    /// <summary>
    /// Opens a device of <paramref name="kind"/> (<see cref="DeviceKind.Auto"/>: the first of <see cref="AutoOrder"/>
    /// that opens). Throws <see cref="TrgException"/> (<see cref="ErrorKind.Device"/>) when none can be opened.
    /// </summary>
    public static ComputeDevice Open(DeviceKind kind, TextWriter? log = null) => OpenFor(kind, log, device => device);

    /// <summary>
    /// Opens a device and runs <paramref name="load"/> on it (compile kernels, upload weights), which takes ownership of
    /// the device when it returns; when it throws, the device is disposed. With <see cref="DeviceKind.Auto"/>, a backend
    /// that fails to open or whose <paramref name="load"/> fails with <see cref="ErrorKind.Device"/> or
    /// <see cref="ErrorKind.KernelCompile"/> is skipped for the next one (CUDA, then OpenCL, then the CPU accelerator),
    /// and <paramref name="log"/> gets one line: the backend taken and, before it, each that failed and why. Any other
    /// error (e.g. <see cref="ErrorKind.OutOfMemory"/>, a bad model) is thrown as it is: another backend would not fix it.
    /// </summary>
    public static T OpenFor<T>(DeviceKind kind, TextWriter? log, Func<ComputeDevice, T> load)
    {
        ArgumentNullException.ThrowIfNull(load);
        if (kind != DeviceKind.Auto)
            return LoadOrDispose(TryOpen(kind, log) ?? throw Missing(kind), load);

        var failures = new List<TrgException>();
        var reasons = new List<string>();
        foreach (var candidate in AutoOrder)
        {
            try
            {
                if (TryOpen(candidate, log) is not { } device) continue;
                string description = device.Description;
                var loaded = LoadOrDispose(device, load);
                log?.WriteLine(reasons.Count == 0
                    ? $"trg: --device auto chose {description}"
                    : $"trg: --device auto chose {description} after {string.Join("; ", reasons)}");
                return loaded;
            }
            catch (TrgException e) when (e.Kind is ErrorKind.Device or ErrorKind.KernelCompile)
            {
                failures.Add(e);
                reasons.Add($"{candidate} failed: {e.Message}");
            }
        }
        if (failures.Count == 0) throw new TrgException(ErrorKind.Device, "no compute device found");
        throw new TrgException(failures[^1].Kind, $"--device auto: no backend could be used ({string.Join("; ", reasons)})", inner: failures[^1]);
    }

    private static T LoadOrDispose<T>(ComputeDevice device, Func<ComputeDevice, T> load)
    {
        try
        {
            return load(device);
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    private static TrgException Missing(DeviceKind kind) => new(ErrorKind.Device, kind switch
    {
        DeviceKind.Cuda => "no CUDA device found (is the NVIDIA driver's libcuda.so on the library path?)",
        DeviceKind.OpenCL => "no usable OpenCL device found (install an OpenCL driver, e.g. Debian's pocl-opencl-icd, and ocl-icd-libopencl1)",
        _ => "no compute device found",
    });

    /// <summary>The first device of one backend (never <see cref="DeviceKind.Auto"/>), or null when there is none.</summary>
    private static ComputeDevice? TryOpen(DeviceKind kind, TextWriter? log)
    {
        var patched = new List<string>();
        string backend = kind.ToString();
        var context = DeviceFailures.Guard(DeviceStage.Open, kind, $"the {backend} backend", "creating its context", () => ContextFactory.Create(builder =>
        {
            switch (kind)
            {
                case DeviceKind.Cuda: TryAdd(() => builder.Cuda()); break;
                case DeviceKind.OpenCL: TryAdd(() => builder.OpenCL(d => AcceptOpenCL(d, patched))); break;
                default: builder.CPU(); break;
            }
        }));
        foreach (var name in patched)
            log?.WriteLine($"trg: OpenCL device '{name}' is PoCL, which reports no generic address space; enabling it (PoCL handles ILGPU's kernels correctly, see docs/devices.md).");

        var type = kind switch { DeviceKind.Cuda => AcceleratorType.Cuda, DeviceKind.OpenCL => AcceleratorType.OpenCL, _ => AcceleratorType.CPU };
        if (context.Devices.FirstOrDefault(d => d.AcceleratorType == type) is not { } device)
        {
            context.Dispose();
            return null;
        }
        try
        {
            var accelerator = DeviceFailures.Guard(DeviceStage.Open, kind, $"{backend} device '{device.Name}'", "creating its accelerator",
                () => device.CreateAccelerator(context));
            return new ComputeDevice(context, accelerator, kind, log);
        }
        catch
        {
            context.Dispose();
            throw;
        }
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

    private readonly Dictionary<KernelPolicy, DeviceKernels> _kernels = new();
    private StartupTimings? _timings;
    private string? _kernelCache;

    /// <summary>
    /// The one kernel set of this device for a kernel policy: every session on the device with that policy (TRG and the
    /// face networks, with the device's default policy) launches the same compiled kernels, each compiled on its first
    /// launch.
    /// </summary>
    internal DeviceKernels Kernels(KernelPolicy policy)
    {
        lock (_kernels)
        {
            if (!_kernels.TryGetValue(policy, out var kernels))
                _kernels[policy] = kernels = new DeviceKernels(Accelerator, policy) { Timings = _timings, CacheDirectory = _kernelCache, Log = _log };
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

    /// <summary>Releases the accelerator and its context (once; later calls do nothing).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_kernels)
            foreach (var k in _kernels.Values) k.WaitForPrefetch(); // no kernel is loading on a worker when the accelerator goes
        Accelerator.Dispose();
        Context.Dispose();
    }
}
