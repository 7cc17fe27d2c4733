using ILGPU;
using ILGPU.Backends;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using TrgIlgpu.Engine;

namespace TrgIlgpu.Backends;

/// <summary>What the engine was doing on a device when it failed: decides the <see cref="ErrorKind"/> of the error.</summary>
public enum DeviceStage
{
    /// <summary>Creating the accelerator (driver, context): <see cref="ErrorKind.Device"/>.</summary>
    Open,
    /// <summary>Compiling or loading a kernel: <see cref="ErrorKind.KernelCompile"/>.</summary>
    Compile,
    /// <summary>Allocating or uploading device memory (weights, plans, image buffer): <see cref="ErrorKind.OutOfMemory"/>.</summary>
    Allocate,
    /// <summary>Launching, copying or synchronising during a forward: <see cref="ErrorKind.Device"/> (out-of-memory codes: OutOfMemory).</summary>
    Forward,
}

/// <summary>
/// The one place that turns the exceptions of ILGPU and the drivers (<see cref="AcceleratorException"/>: CUDA and
/// OpenCL error codes; ILGPU's compiler exceptions; <see cref="OutOfMemoryException"/>) into a
/// <see cref="TrgException"/> that says what was asked, on which device, and what to do. Other exceptions (bugs)
/// pass through unchanged.
/// </summary>
internal static class DeviceFailures
{
    /// <summary>Runs <paramref name="body"/>, mapping a device failure at <paramref name="stage"/> (<see cref="Map"/>).</summary>
    public static T Guard<T>(DeviceStage stage, DeviceKind kind, string device, string what, Func<T> body)
    {
        try
        {
            DeviceFaults.Check(stage, kind);
            return body();
        }
        catch (Exception e) when (IsDeviceFailure(e, stage))
        {
            throw Map(e, stage, device, what);
        }
    }

    /// <summary>
    /// Compiles the engine's kernels with <paramref name="load"/>; a failure is a <see cref="ErrorKind.KernelCompile"/>
    /// error naming the kernel (found by loading the catalogue's kernels one by one, on the failure path only).
    /// </summary>
    public static T LoadKernels<T>(ComputeDevice device, Func<T> load)
    {
        try
        {
            DeviceFaults.Check(DeviceStage.Compile, device.Kind);
            return load();
        }
        catch (Exception e) when (IsDeviceFailure(e, DeviceStage.Compile))
        {
            string? kernel = FailingKernel(device);
            throw Map(e, DeviceStage.Compile, device.Description, kernel is null ? "compiling the kernels" : $"compiling kernel {kernel}");
        }
    }

    /// <summary>The first kernel of <see cref="KernelCatalog"/> that does not load on <paramref name="device"/>, or null.</summary>
    private static string? FailingKernel(ComputeDevice device)
    {
        foreach (var entry in KernelCatalog.All)
        {
            try
            {
                DeviceFaults.Check(DeviceStage.Compile, device.Kind, entry.Name);
                using var kernel = device.Accelerator.LoadKernel(entry.Method);
            }
            catch (Exception e) when (IsDeviceFailure(e, DeviceStage.Compile))
            {
                return entry.Name;
            }
        }
        return null;
    }

    /// <summary>Whether <paramref name="e"/> comes from the device, its driver or ILGPU's compiler rather than from a bug.</summary>
    public static bool IsDeviceFailure(Exception e, DeviceStage stage) => e switch
    {
        TrgException => false,
        AcceleratorException or OutOfMemoryException or DllNotFoundException or EntryPointNotFoundException => true,
        InternalCompilerException or InvalidCodeGenerationException or NotSupportedIntrinsicException
            or CapabilityNotSupportedException or InvalidKernelOperationException => true,
        // ILGPU's frontend reports unsupported IL as NotSupportedException; the OpenCL/CUDA loaders wrap build logs in
        // InvalidOperationException. Only while compiling are these the device's, not the engine's.
        NotSupportedException or InvalidOperationException => stage == DeviceStage.Compile,
        _ => false,
    };

    /// <summary>Whether the error code itself says memory ran out (device or host), whatever the stage.</summary>
    public static bool IsOutOfMemory(Exception e) => e switch
    {
        OutOfMemoryException => true,
        CLException cl => cl.Error is CLError.CL_MEM_OBJECT_ALLOCATION_FAILURE or CLError.CL_OUT_OF_RESOURCES
            or CLError.CL_OUT_OF_HOST_MEMORY or CLError.CL_INVALID_BUFFER_SIZE,
        // ILGPU keeps the CUDA error as the driver's text; the code's name is in the message.
        CudaException cuda => $"{cuda.Error} {cuda.Message}".Contains(nameof(CudaError.CUDA_ERROR_OUT_OF_MEMORY), StringComparison.Ordinal)
            || $"{cuda.Error} {cuda.Message}".Contains("out of memory", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    /// <summary>The error a caller gets for <paramref name="e"/> at <paramref name="stage"/> while doing <paramref name="what"/>.</summary>
    public static TrgException Map(Exception e, DeviceStage stage, string device, string what)
    {
        string cause = Cause(e);
        if (stage == DeviceStage.Allocate || IsOutOfMemory(e))
            return new TrgException(ErrorKind.OutOfMemory,
                $"out of memory on {device} while {what} ({cause}); use a smaller batch, free the device, or run on another device", inner: e);
        return stage switch
        {
            DeviceStage.Compile => new TrgException(ErrorKind.KernelCompile,
                $"{what} failed on {device} ({cause}); try another --device (auto falls back to the next backend)", inner: e),
            DeviceStage.Open => new TrgException(ErrorKind.Device, $"{device} could not be opened ({cause})", inner: e),
            _ => new TrgException(ErrorKind.Device,
                $"{device} failed while {what} ({cause}); the device may have been lost or reset: dispose the estimator and create a new one", inner: e),
        };
    }

    /// <summary>The exception in one line: its type and message, without a stack trace.</summary>
    private static string Cause(Exception e)
    {
        string message = e.Message.ReplaceLineEndings(" ").Trim();
        if (message.Length > 300) message = message[..300] + "...";
        string code = e switch
        {
            CLException cl => $" {cl.Error}",
            CudaException { Error: { Length: > 0 } error } when !message.Contains(error, StringComparison.Ordinal) => $" {error}",
            _ => "",
        };
        return $"{e.GetType().Name}{code}: {message}";
    }
}

/// <summary>
/// Tests only: device failures injected at the points where real ones are mapped (<see cref="DeviceFailures.Guard"/>,
/// the kernel probe, <see cref="ComputeDevice"/>'s open), so that the mapping and <c>--device auto</c>'s fallback are
/// tested without a broken driver. The injection is scoped to the current async flow (<see cref="AsyncLocal{T}"/>), so
/// tests running in parallel do not see each other's faults; with none injected, <see cref="Check"/> does nothing.
/// </summary>
internal static class DeviceFaults
{
    /// <summary>Given a stage, a device kind and (for a kernel) its name, the exception to throw there, or null.</summary>
    public delegate Exception? Fault(DeviceStage stage, DeviceKind kind, string? kernel);

    private static readonly AsyncLocal<Fault?> Injected = new();

    /// <summary>Injects <paramref name="fault"/> until the returned scope is disposed.</summary>
    public static IDisposable Inject(Fault fault)
    {
        var previous = Injected.Value;
        Injected.Value = fault;
        return new Scope(() => Injected.Value = previous);
    }

    /// <summary>Throws the injected exception for this point, if any.</summary>
    public static void Check(DeviceStage stage, DeviceKind kind, string? kernel = null)
    {
        if (Injected.Value?.Invoke(stage, kind, kernel) is { } e) throw e;
    }

    private sealed class Scope(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }
}
