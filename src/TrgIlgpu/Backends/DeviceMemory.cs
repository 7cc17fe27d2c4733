using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace TrgIlgpu.Backends;

/// <summary>
/// A device's memory as the engine budgets it. <paramref name="Total"/>: what the device reports (CUDA's total,
/// OpenCL's global memory size, the host's memory for the CPU accelerator); <paramref name="Free"/>: what is free now
/// when the driver says so (CUDA), else null; <paramref name="MaxBuffer"/>: the largest single buffer
/// (OpenCL's <c>CL_DEVICE_MAX_MEM_ALLOC_SIZE</c>; the budget elsewhere); <paramref name="HostBound"/>: the device's
/// memory is the host's (PoCL, the CPU accelerator), so the budget is also capped by the memory the process may use.
/// </summary>
public sealed record DeviceMemoryInfo(long Total, long? Free, long MaxBuffer, bool HostBound)
{
    /// <summary>
    /// Bytes a new allocation may take when <paramref name="inUse"/> bytes are already held by the caller: the free
    /// memory (CUDA), else the total less what is in use, capped for host-bound devices by the memory the .NET
    /// runtime reports as available to the process.
    /// </summary>
    public long Budget(long inUse)
    {
        long budget = Free ?? Math.Max(0, Total - inUse);
        if (HostBound) budget = Math.Min(budget, Math.Max(0, HostAvailable() - inUse));
        return budget;
    }

    /// <summary>Memory the process may use (physical memory or the container's limit).</summary>
    internal static long HostAvailable() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
}

/// <summary>The one check of a planned allocation against <see cref="DeviceMemoryInfo"/>, made before anything is allocated.</summary>
internal static class DeviceMemory
{
    /// <summary>Queries <paramref name="device"/>'s memory (cheap; CUDA's free memory is read each time).</summary>
    public static DeviceMemoryInfo Query(ComputeDevice device)
    {
        var a = device.Accelerator;
        switch (a)
        {
            case CudaAccelerator:
                try
                {
                    a.Bind();
                    if (CudaAPI.CurrentAPI.GetMemoryInfo(out long free, out long total) == CudaError.CUDA_SUCCESS)
                        return new DeviceMemoryInfo(total, free, free, HostBound: false);
                }
                catch (Exception e) when (DeviceFailures.IsDeviceFailure(e, DeviceStage.Forward)) { }
                return new DeviceMemoryInfo(a.MemorySize, null, a.MemorySize, HostBound: false);
            case CLAccelerator cl:
                long max = cl.Device.GetDeviceInfo<long>(CLDeviceInfoType.CL_DEVICE_MAX_MEM_ALLOC_SIZE);
                return new DeviceMemoryInfo(a.MemorySize, null, max > 0 ? max : a.MemorySize,
                    HostBound: cl.DeviceType == CLDeviceType.CL_DEVICE_TYPE_CPU);
            default:
                long host = DeviceMemoryInfo.HostAvailable();
                return new DeviceMemoryInfo(host, null, host, HostBound: true);
        }
    }

    /// <summary>
    /// Throws <see cref="ErrorKind.OutOfMemory"/> when <paramref name="bytes"/> (largest buffer
    /// <paramref name="largestBuffer"/>) cannot be allocated next to the <paramref name="inUse"/> bytes already held.
    /// <paramref name="what"/> names the request ("a forward plan for 100000 faces"); <paramref name="advice"/> says what
    /// to do instead (e.g. the largest batch that fits), computed only when the check fails. <paramref name="lowerBound"/>:
    /// <paramref name="bytes"/> is a lower bound of the need (the message says "at least").
    /// </summary>
    public static void EnsureFits(ComputeDevice device, long bytes, long largestBuffer, long inUse, string what, Func<string> advice, bool lowerBound = false)
    {
        var memory = Query(device);
        long budget = memory.Budget(inUse);
        if (bytes <= budget && largestBuffer <= memory.MaxBuffer) return;
        string has = memory.Free is { } free ? $"{Size(free)} free of {Size(memory.Total)}" : $"{Size(memory.Total)}";
        string limit = bytes <= budget
            ? $"its largest buffer ({Size(largestBuffer)}) is over the device's {Size(memory.MaxBuffer)} limit for one buffer"
            : $"{device.Description} has {has}{(memory.HostBound ? $" (host memory available: {Size(DeviceMemoryInfo.HostAvailable())})" : "")}"
              + (inUse > 0 ? $", {Size(inUse)} of it already used by this session" : "");
        throw new TrgException(ErrorKind.OutOfMemory, $"{what} needs {(lowerBound ? "at least " : "")}{Size(bytes)} of device memory, but {limit}; {advice()}");
    }

    /// <summary>Bytes in binary units, e.g. "1.5 GiB".</summary>
    public static string Size(long bytes) => bytes switch
    {
        long.MaxValue => "more than can be counted",
        >= 1L << 40 => $"{bytes / (double)(1L << 40):0.0} TiB",
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.0} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MiB",
        _ => $"{bytes / 1024.0:0.0} KiB",
    };
}
