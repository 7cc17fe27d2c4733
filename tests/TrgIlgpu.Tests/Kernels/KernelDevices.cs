using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Backends;
using TrgIlgpu.Engine;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>One accelerator with every kernel loaded on it, opened once per test run.</summary>
public sealed class DeviceUnderTest : IDisposable
{
    private readonly ComputeDevice _device;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _unused;

    internal DeviceKernels Kernels { get; }
    public Accelerator Accelerator => _device.Accelerator;
    public string Description => _device.Description;

    public DeviceUnderTest(DeviceKind kind)
    {
        _device = ComputeDevice.Open(kind);
        try
        {
            Kernels = new DeviceKernels(_device.Accelerator);
            _unused = _device.Accelerator.Allocate1D(Poison.Array(4));
        }
        catch
        {
            _device.Dispose();
            throw;
        }
    }

    /// <summary>Starts one test's work: its buffers are freed when the returned scope is disposed.</summary>
    public DeviceScope Begin() => new(this, _unused.View);

    public void Dispose()
    {
        _unused.Dispose();
        _device.Dispose();
    }
}

/// <summary>The buffers of one test on one device, and the helpers to fill, poison and read them.</summary>
public sealed class DeviceScope : IDisposable
{
    private readonly List<MemoryBuffer> _buffers = new();

    public DeviceScope(DeviceUnderTest device, ArrayView<float> unused)
    {
        Device = device;
        Unused = unused;
    }

    public DeviceUnderTest Device { get; }
    internal DeviceKernels Kernels => Device.Kernels;
    public AcceleratorStream Stream => Device.Accelerator.DefaultStream;
    /// <summary>Bound to kernel arguments a launch does not read; poisoned so that a stray read shows up as NaN.</summary>
    public ArrayView<float> Unused { get; }

    public MemoryBuffer1D<T, Stride1D.Dense> Upload<T>(T[] data) where T : unmanaged
    {
        var buffer = Device.Accelerator.Allocate1D(data);
        _buffers.Add(buffer);
        return buffer;
    }

    /// <summary>A buffer filled with <see cref="Poison.Value"/>, so any element a kernel fails to write stays recognisable.</summary>
    public MemoryBuffer1D<float, Stride1D.Dense> Poisoned(long length) => Upload(Poison.Array(length));

    public float[] Download(MemoryBuffer1D<float, Stride1D.Dense> buffer)
    {
        Stream.Synchronize();
        return buffer.GetAsArray1D();
    }

    public KernelConfig Config(long threads) => Kernels.Config(threads);

    public void Dispose()
    {
        Stream.Synchronize();
        foreach (var b in _buffers) b.Dispose();
    }
}

/// <summary>
/// The accelerators the kernel tests run on, opened once per test run: ILGPU's CPU accelerator (a slow simulator:
/// small shapes) and, when the machine has one, an OpenCL device (PoCL in CI: the model's real shapes).
/// OpenCL is opened on first use, since PoCL compiles each kernel when it is loaded (seconds).
/// </summary>
public sealed class KernelDevices : IDisposable
{
    private readonly Lazy<DeviceUnderTest> _cpu = new(() => new DeviceUnderTest(DeviceKind.Cpu));
    private readonly Lazy<DeviceUnderTest> _openCL = new(() =>
    {
        if (OpenCLAvailability.Missing is { } why) throw new InvalidOperationException(why);
        return new DeviceUnderTest(DeviceKind.OpenCL);
    });

    public DeviceUnderTest Cpu => _cpu.Value;
    public DeviceUnderTest OpenCL => _openCL.Value;

    public void Dispose()
    {
        if (_cpu.IsValueCreated) _cpu.Value.Dispose();
        if (_openCL.IsValueCreated) _openCL.Value.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class KernelCollection : ICollectionFixture<KernelDevices>
{
    public const string Name = "Kernels";
}

/// <summary>Whether an OpenCL device exists, probed once (the skip decision of <see cref="OpenCLFactAttribute"/>).</summary>
public static class OpenCLAvailability
{
    /// <summary>Set to 1 (CI with PoCL) to make a missing OpenCL device a failure instead of a skip.</summary>
    public const string RequireVariable = "TRG_REQUIRE_OPENCL";

    private static readonly Lazy<string?> Probe = new(() =>
    {
        try
        {
            using var device = ComputeDevice.Open(DeviceKind.OpenCL);
            return null;
        }
        catch (Exception e)
        {
            // Any failure to open one means "no OpenCL here"; TRG_REQUIRE_OPENCL=1 turns it into a test failure.
            return $"no OpenCL device: {e.Message}";
        }
    });

    /// <summary>Null when an OpenCL device exists, else why not.</summary>
    public static string? Missing => Probe.Value;

    public static bool Required => Environment.GetEnvironmentVariable(RequireVariable) == "1";
}

/// <summary>A fact that runs on the OpenCL device; skipped, with the reason, when there is none (unless TRG_REQUIRE_OPENCL=1).</summary>
public sealed class OpenCLFactAttribute : FactAttribute
{
    public OpenCLFactAttribute()
    {
        if (OpenCLAvailability.Missing is { } why && !OpenCLAvailability.Required)
            Skip = why + "; the full-size kernel tests run on OpenCL (CI installs PoCL)";
    }
}

/// <summary>A theory that runs on the OpenCL device; skipped like <see cref="OpenCLFactAttribute"/>.</summary>
public sealed class OpenCLTheoryAttribute : TheoryAttribute
{
    public OpenCLTheoryAttribute()
    {
        if (OpenCLAvailability.Missing is { } why && !OpenCLAvailability.Required)
            Skip = why + "; these tests run on OpenCL (CI installs PoCL)";
    }
}
