using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using TrgIlgpu.Backends;
using TrgIlgpu.Engine;
using TrgIlgpu.Model;
using TrgIlgpu.Tests.App;
using TrgIlgpu.Tests.Kernels;

namespace TrgIlgpu.Tests.Hostile;

/// <summary>
/// Device failures as a user meets them: a batch too large for the device, a backend that does not open, a kernel that
/// does not compile, an allocation or a forward that fails. Real failures where this machine can produce them (PoCL's
/// memory), injected ones (<see cref="DeviceFaults"/>: real ILGPU exception types at the points where real ones are
/// mapped) elsewhere. Each gives its documented exit code and one line, never a stack trace.
/// </summary>
public class HostileDeviceTests
{
    private const string StackTraceMarker = "   at ";

    /// <summary>
    /// A CUDA error as the driver reports it. ILGPU's <c>CudaException(CudaError)</c> asks the driver for the text, which
    /// needs libcuda; the message form carries the same code and text.
    /// </summary>
    internal static CudaException Cuda(CudaError code, string text) => new($"{code}: {text}");

    private static void AssertCleanError((int Code, string Out, string Err) run, ErrorKind kind, params string[] mentions)
    {
        Assert.True(run.Code == (int)kind, $"exit {run.Code}, expected {(int)kind} ({kind}); stderr:\n{run.Err}");
        Assert.DoesNotContain(StackTraceMarker, run.Err);
        Assert.DoesNotContain("internal error", run.Err);
        var error = run.Err.Split('\n').Single(l => l.StartsWith("trg: error: ", StringComparison.Ordinal));
        foreach (var m in mentions) Assert.Contains(m, error);
    }

    [Theory]
    [InlineData("bench")]
    [InlineData("profile")]
    public void A_batch_far_beyond_the_device_fails_before_anything_is_compiled_or_allocated(string command)
    {
        if (OpenCLAvailability.Missing is not null) return;
        var clock = Stopwatch.StartNew();
        var run = AppTestData.Trg(command, "--model", "synthetic:trgv2", "--device", "opencl", "--batch", "100000");
        clock.Stop();
        AssertCleanError(run, ErrorKind.OutOfMemory, "100000 faces", "needs at least", "GiB", "use a smaller batch");
        // Compiling the kernels alone takes seconds on PoCL; the check comes before it (the bound is generous for a
        // loaded machine: synthetic weights and the OpenCL platform's start are all that run).
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public void Auto_falls_back_past_backends_that_fail_to_open_and_says_so_in_one_line()
    {
        var log = new StringWriter();
        using (DeviceFaults.Inject((stage, kind, _) => stage == DeviceStage.Open && kind is DeviceKind.Cuda or DeviceKind.OpenCL
                   ? kind == DeviceKind.Cuda ? Cuda(CudaError.CUDA_ERROR_NOT_INITIALIZED, "initialization error") : new CLException(CLError.CL_DEVICE_NOT_AVAILABLE)
                   : null))
        using (var device = ComputeDevice.Open(DeviceKind.Auto, log))
        {
            Assert.Equal(DeviceKind.Cpu, device.Kind);
        }
        var line = Assert.Single(log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.Contains("--device auto", StringComparison.Ordinal));
        Assert.Contains("chose CPU", line);
        Assert.Contains("Cuda failed", line);
        Assert.Contains("CUDA_ERROR_NOT_INITIALIZED", line);
        Assert.Contains("OpenCL failed", line);
        Assert.Contains("CL_DEVICE_NOT_AVAILABLE", line);
    }

    [Fact]
    public void An_explicit_device_that_fails_to_open_is_a_device_error_without_fallback()
    {
        using var _ = DeviceFaults.Inject((stage, kind, _) => stage == DeviceStage.Open && kind == DeviceKind.Cpu
            ? new OutOfMemoryException("injected") : null);
        var e = Assert.Throws<TrgException>(() => ComputeDevice.Open(DeviceKind.Cpu));
        // Out of memory while opening is still memory: the code says what to fix.
        Assert.Equal(ErrorKind.OutOfMemory, e.Kind);
        using var __ = DeviceFaults.Inject((stage, kind, _) => stage == DeviceStage.Open ? new CLException(CLError.CL_DEVICE_NOT_AVAILABLE) : null);
        var lost = Assert.Throws<TrgException>(() => ComputeDevice.Open(DeviceKind.OpenCL));
        Assert.Equal(ErrorKind.Device, lost.Kind);
        Assert.Contains("could not be opened", lost.Message);
    }

    [Fact]
    public void Auto_falls_back_when_the_kernels_do_not_compile_and_names_the_kernel()
    {
        string first = KernelCatalog.All[0].Name; // the probe meets it first: no real kernel is compiled for the probe
        var log = new StringWriter();
        using (DeviceFaults.Inject((stage, kind, kernel) =>
                   stage == DeviceStage.Open && kind == DeviceKind.Cuda ? Cuda(CudaError.CUDA_ERROR_NO_DEVICE, "no CUDA-capable device is detected")
                   : stage == DeviceStage.Compile && kind == DeviceKind.OpenCL && (kernel is null || kernel == first)
                       ? new InternalCompilerException("injected: unsupported intrinsic") : null))
        {
            // The load step of a real session (compile kernels, upload weights), on whichever backend survives.
            using var device = ComputeDevice.OpenFor(DeviceKind.Auto, log, d =>
            {
                DeviceFailures.LoadKernels(d, () => new DeviceKernels(d.Accelerator));
                return d;
            });
            Assert.Equal(DeviceKind.Cpu, device.Kind);
        }
        var line = Assert.Single(log.ToString().Split('\n'), l => l.Contains("--device auto", StringComparison.Ordinal));
        Assert.Contains("chose CPU", line);
        Assert.Contains($"compiling kernel {first}", line);
        Assert.Contains("InternalCompilerException", line);
        Assert.Contains("Cuda failed", line);
    }

    [Fact]
    public void A_kernel_that_does_not_compile_on_the_chosen_device_exits_10_naming_it()
    {
        if (OpenCLAvailability.Missing is not null) return;
        string first = KernelCatalog.All[0].Name;
        using var _ = DeviceFaults.Inject((stage, kind, kernel) => stage == DeviceStage.Compile && (kernel is null || kernel == first)
            ? new CLException(CLError.CL_BUILD_PROGRAM_FAILURE) : null);
        var run = AppTestData.Trg("bench", "--model", "synthetic:trgv2", "--device", "opencl", "--iters", "1", "--warmup", "0");
        AssertCleanError(run, ErrorKind.KernelCompile, $"compiling kernel {first}", "CL_BUILD_PROGRAM_FAILURE");
    }

    [Fact]
    public void Every_backend_failing_under_auto_is_one_error_listing_each()
    {
        using var _ = DeviceFaults.Inject((stage, kind, _) => stage == DeviceStage.Open ? new CLException(CLError.CL_DEVICE_NOT_AVAILABLE) : null);
        var e = Assert.Throws<TrgException>(() => ComputeDevice.Open(DeviceKind.Auto));
        Assert.Equal(ErrorKind.Device, e.Kind);
        Assert.Contains("no backend could be used", e.Message);
        foreach (var kind in ComputeDevice.AutoOrder) Assert.Contains($"{kind} failed", e.Message);
    }

    [Theory]
    [MemberData(nameof(Mappings))]
    public void Driver_and_compiler_exceptions_map_to_documented_kinds(string name, DeviceStage stage, ErrorKind expected)
    {
        var e = Failures[name]();
        Assert.True(DeviceFailures.IsDeviceFailure(e, stage));
        var mapped = DeviceFailures.Map(e, stage, "Test device", "doing the test's work");
        Assert.Equal(expected, mapped.Kind);
        Assert.Contains("Test device", mapped.Message);
        Assert.Contains(e.GetType().Name, mapped.Message);
        Assert.DoesNotContain(StackTraceMarker, mapped.Message);
        Assert.DoesNotContain("\n", mapped.Message);
        Assert.Same(e, mapped.InnerException);
        if (expected == ErrorKind.OutOfMemory) Assert.Contains("smaller batch", mapped.Message);
    }

    private static readonly Dictionary<string, Func<Exception>> Failures = new()
    {
        ["cl-alloc"] = () => new CLException(CLError.CL_MEM_OBJECT_ALLOCATION_FAILURE),
        ["cl-resources"] = () => new CLException(CLError.CL_OUT_OF_RESOURCES),
        ["cl-build"] = () => new CLException(CLError.CL_BUILD_PROGRAM_FAILURE),
        ["cl-lost"] = () => new CLException(CLError.CL_DEVICE_NOT_AVAILABLE),
        ["cuda-oom"] = () => Cuda(CudaError.CUDA_ERROR_OUT_OF_MEMORY, "out of memory"),
        ["cuda-launch"] = () => Cuda(CudaError.CUDA_ERROR_LAUNCH_FAILED, "unspecified launch failure"),
        ["cuda-ptx"] = () => Cuda(CudaError.CUDA_ERROR_INVALID_PTX, "a PTX JIT compilation failed"),
        ["host-oom"] = () => new OutOfMemoryException("host"),
        ["ilgpu-compiler"] = () => new InternalCompilerException("MathF.Exp has no PTX implementation"),
        ["ilgpu-unsupported"] = () => new NotSupportedException("unsupported IL"),
    };

    public static TheoryData<string, DeviceStage, ErrorKind> Mappings => new()
    {
        { "cl-alloc", DeviceStage.Allocate, ErrorKind.OutOfMemory },
        { "cl-alloc", DeviceStage.Forward, ErrorKind.OutOfMemory }, // PoCL allocates lazily: the first use can fail
        { "cl-resources", DeviceStage.Forward, ErrorKind.OutOfMemory },
        { "cl-lost", DeviceStage.Allocate, ErrorKind.OutOfMemory },
        { "cl-lost", DeviceStage.Forward, ErrorKind.Device },
        { "cl-lost", DeviceStage.Open, ErrorKind.Device },
        { "cl-build", DeviceStage.Compile, ErrorKind.KernelCompile },
        { "cuda-oom", DeviceStage.Forward, ErrorKind.OutOfMemory },
        { "cuda-launch", DeviceStage.Forward, ErrorKind.Device },
        { "cuda-ptx", DeviceStage.Compile, ErrorKind.KernelCompile },
        { "host-oom", DeviceStage.Forward, ErrorKind.OutOfMemory },
        { "ilgpu-compiler", DeviceStage.Compile, ErrorKind.KernelCompile },
        { "ilgpu-unsupported", DeviceStage.Compile, ErrorKind.KernelCompile },
    };

    [Fact]
    public void Bugs_are_not_mistaken_for_device_failures()
    {
        Assert.False(DeviceFailures.IsDeviceFailure(new IndexOutOfRangeException(), DeviceStage.Forward));
        Assert.False(DeviceFailures.IsDeviceFailure(new InvalidOperationException(), DeviceStage.Forward));
        Assert.False(DeviceFailures.IsDeviceFailure(new NotSupportedException(), DeviceStage.Allocate));
        Assert.False(DeviceFailures.IsDeviceFailure(new TrgException(ErrorKind.Usage, "x"), DeviceStage.Compile));
        var bug = new IndexOutOfRangeException("a bug");
        Assert.Same(bug, Assert.Throws<IndexOutOfRangeException>(() =>
            DeviceFailures.Guard<int>(DeviceStage.Forward, DeviceKind.Cpu, "Test device", "testing", () => throw bug)));
    }
}

/// <summary>
/// One session on ILGPU's CPU accelerator (no OpenCL needed) for the failures of a running session: an allocation
/// refused while planning, a device lost during a forward, the memory check of a plan. Injected faults throw before
/// any launch, so no forward runs on the slow CPU accelerator.
/// </summary>
public sealed class CpuSessionFixture : IDisposable
{
    public InferenceSession Session { get; } = new(ModelWeights.Load("synthetic:trgv2:4"), DeviceKind.Cpu, convolutions: ConvAlgorithm.Direct);
    public void Dispose() => Session.Dispose();
}

public class HostileSessionTests(CpuSessionFixture fixture) : IClassFixture<CpuSessionFixture>
{
    private InferenceSession Session => fixture.Session;

    private static FaceRequest[] Faces(int n) => Diagnostics.Benchmark.SyntheticBatch(n).ToArray();

    [Fact]
    public void A_plan_whose_allocation_fails_is_out_of_memory_and_leaves_the_session_usable()
    {
        long before = Session.AllocatedBytes;
        using (DeviceFaults.Inject((stage, _, _) => stage == DeviceStage.Allocate ? new CLException(CLError.CL_MEM_OBJECT_ALLOCATION_FAILURE) : null))
        {
            var e = Assert.Throws<TrgException>(() => Session.Plan(7));
            Assert.Equal(ErrorKind.OutOfMemory, e.Kind);
            Assert.Contains("forward plan for 7 faces", e.Message);
            Assert.Contains("CL_MEM_OBJECT_ALLOCATION_FAILURE", e.Message);
        }
        Assert.Equal(before, Session.AllocatedBytes);
        Assert.Equal(7, Session.Plan(7).Batch); // nothing half-made was kept: the plan is made afresh
    }

    [Fact]
    public void A_device_lost_during_a_forward_is_a_device_error()
    {
        using var _ = DeviceFaults.Inject((stage, _, _) => stage == DeviceStage.Forward ? HostileDeviceTests.Cuda(CudaError.CUDA_ERROR_LAUNCH_FAILED, "unspecified launch failure") : null);
        var e = Assert.Throws<TrgException>(() => Session.Run(Faces(1)));
        Assert.Equal(ErrorKind.Device, e.Kind);
        Assert.Contains("CUDA_ERROR_LAUNCH_FAILED", e.Message);
        Assert.Contains("create a new one", e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void Plan_bytes_are_exactly_what_a_plan_allocates(int batch)
    {
        var (bytes, largest) = Session.PlanBytes(batch);
        var plan = Session.Plan(batch);
        Assert.Equal(plan.AllocatedBytes, bytes);
        long realLargest = Math.Max(plan.Graph.SlotLengths.Max() * sizeof(float), Math.Max(plan.Faces.LengthInBytes, plan.Results.LengthInBytes));
        Assert.Equal(realLargest, largest);
        Assert.True(ForwardPlan.MinimumBytes(Session.Variant, batch) <= bytes);
    }

    [Fact]
    public void A_plan_too_large_fails_before_allocating_and_names_the_batch_that_fits()
    {
        long before = Session.AllocatedBytes;
        int fits = Session.LargestBatchThatFits(int.MaxValue / 2);
        Assert.InRange(fits, 1, int.MaxValue / 2 - 1);
        var e = Assert.Throws<TrgException>(() => Session.Plan(fits + 1));
        Assert.Equal(ErrorKind.OutOfMemory, e.Kind);
        Assert.Contains($"at most {fits} faces fit", e.Message);
        Assert.Equal(before, Session.AllocatedBytes);
        // The largest that fits really is the edge: one more face is over the budget.
        Assert.True(Session.PlanBytes(fits + 1).Bytes > Session.PlanBytes(fits).Bytes);
    }

    [Fact]
    public void Absurd_batches_are_counted_without_overflow()
    {
        var (bytes, _) = Session.PlanBytes(int.MaxValue);
        Assert.True(bytes > 1L << 40);
        Assert.Throws<TrgException>(() => Session.Plan(int.MaxValue));
    }
}
