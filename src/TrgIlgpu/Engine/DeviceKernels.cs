using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Backends;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Engine;

using V = ArrayView<float>;

/// <summary>Every kernel of the TRG and face networks on one accelerator (explicitly grouped), each compiled on its first use.</summary>
internal sealed class DeviceKernels
{
    public Action<AcceleratorStream, KernelConfig, ArrayView<byte>, ArrayView<FaceParams>, V, int> CropNormalize => Load(ref field, Preprocess.CropNormalize);
    public Action<AcceleratorStream, KernelConfig, ArrayView<byte>, ArrayView<FaceParams>, V, ConvParams> CropNormalizePlanes => Load(ref field, Preprocess.CropNormalizePlanes);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, V, ConvParams> Conv2D => Load(ref field, Convolution.Conv2D);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, V, ConvParams> WinogradConv3x3 => Load(ref field, WinogradConvolution.WinogradF2x3);
    public Action<AcceleratorStream, KernelConfig, V, V, ConvParams> WinogradInputF2 => Load(ref field, WinogradConvolution.WinogradInputF2);
    public Action<AcceleratorStream, KernelConfig, V, V, V, ConvParams> WinogradGemmF2 => Load(ref field, WinogradConvolution.WinogradGemmF2);
    public Action<AcceleratorStream, KernelConfig, V, V, V, ConvParams> WinogradGemmF2x16 => Load(ref field, WinogradConvolution.WinogradGemmF2x16);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, ConvParams> WinogradOutputF2 => Load(ref field, WinogradConvolution.WinogradOutputF2);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, ConvParams, ConvParams> WinogradOutputF2Planes => Load(ref field, WinogradConvolution.WinogradOutputF2Planes);
    public Action<AcceleratorStream, KernelConfig, V, V, ConvParams> WinogradInputF4 => Load(ref field, WinogradConvolution.WinogradInputF4);
    public Action<AcceleratorStream, KernelConfig, V, V, V, ConvParams> WinogradGemmF4x16 => Load(ref field, WinogradConvolution.WinogradGemmF4x16);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, ConvParams> WinogradOutputF4 => Load(ref field, WinogradConvolution.WinogradOutputF4);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, ConvParams, ConvParams> WinogradOutputF4Planes => Load(ref field, WinogradConvolution.WinogradOutputF4Planes);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, ConvParams> StemConv7x7S2 => Load(ref field, StemConvolution.Stem7x7S2);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, ConvParams> Conv2DWide => Load(ref field, Convolution.Conv2DWide);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, ConvParams> Conv2DStrip => Load(ref field, Convolution.Conv2DStrip);
    public Action<AcceleratorStream, KernelConfig, V, V, ConvParams> PhaseSplit => Load(ref field, PhaseConvolution.PhaseSplit);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, ConvParams> Conv2DPhase => Load(ref field, PhaseConvolution.Conv2DPhase);
    public Action<AcceleratorStream, KernelConfig, V, V, PoolParams> MaxPool3x3S2 => Load(ref field, Pooling.MaxPool3x3S2);
    public Action<AcceleratorStream, KernelConfig, V, V, PoolParams> MaxPool3x3S2PerOutput => Load(ref field, Pooling.MaxPool3x3S2PerOutput);
    public Action<AcceleratorStream, KernelConfig, V, V, DeconvParams> DeconvPad => Load(ref field, TransposedConvolution.DeconvPad);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, DeconvParams> Deconv => Load(ref field, TransposedConvolution.Deconv4x4S2);
    public Action<AcceleratorStream, KernelConfig, V, V, int, int, int, int, int> SoftArgmax => Load(ref field, Heatmap.SoftArgmax);
    public Action<AcceleratorStream, KernelConfig, V, V, ArrayView<int>, V, V, ArrayView<FaceParams>, V, V, V, SampleParams> Sample => Load(ref field, PointFeatures.Sample);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, PointMlpParams> PointMlp => Load(ref field, PointFeatures.PointMlp);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, LinearParams> Dense => Load(ref field, Linear.Dense);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, V, LinearParams, ResultLayout, int> DenseStateUpdate => Load(ref field, Linear.DenseStateUpdate);
    public Action<AcceleratorStream, KernelConfig, ArrayView<FaceParams>, V, ResultLayout, int> FinalGeometry => Load(ref field, PoseMath.FinalGeometry);
    // The face networks (face-api: SSD MobileNet v1, Tiny Face Detector, FaceLandmark68Net).
    public Action<AcceleratorStream, KernelConfig, ArrayView<byte>, ArrayView<SquareResizeItem>, V, int, int, FaceNormalization> ResizeToSquare => Load(ref field, FacePreprocess.ResizeToSquare);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, DepthwiseParams> DepthwiseConv3x3 => Load(ref field, SeparableConvolution.DepthwiseConv3x3);
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, PointwiseParams> PointwiseConv => Load(ref field, SeparableConvolution.PointwiseConv);
    public Action<AcceleratorStream, KernelConfig, V, V, MaxPool2x2Params> MaxPool2x2 => Load(ref field, FacePooling.MaxPool2x2);
    public Action<AcceleratorStream, KernelConfig, V, V, GlobalPoolParams> GlobalAvgPool => Load(ref field, FacePooling.GlobalAvgPool);

    private readonly Accelerator _accelerator;
    private readonly object _gate = new();

    /// <summary>The launcher of max-pool variant <paramref name="kernel"/> (<see cref="KernelPolicy.Pool"/>).</summary>
    public Action<AcceleratorStream, KernelConfig, V, V, PoolParams> MaxPoolOf(PoolKernel kernel) =>
        kernel == PoolKernel.MaxPool3x3S2PerOutput ? MaxPool3x3S2PerOutput : MaxPool3x3S2;

    /// <summary>The kernel policy of the plans that launch these kernels (each picks its convolutions' kernels from it).</summary>
    public KernelPolicy Policy { get; }

    /// <summary>Threads per group: the policy's (64), or the device's maximum when smaller.</summary>
    public readonly int GroupSize;

    /// <summary>Threads a group of the dense layers' launches: the policy's <see cref="KernelPolicy.DenseGroupSize"/>, capped likewise.</summary>
    public readonly int DenseGroupSize;

    /// <summary>Threads a group of the transposed convolutions: the policy's <see cref="KernelPolicy.DeconvGroupSize"/>, capped likewise.</summary>
    public readonly int DeconvGroupSize;

    /// <summary>Where the time spent compiling goes (<see cref="StartupPhase.KernelCompile"/>); null: not measured.</summary>
    public StartupTimings? Timings { get; set; }

    /// <summary>Folder of the OpenCL kernel-source cache (<see cref="KernelSourceCache"/>); null: compile every kernel.</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>Where the kernel-source cache reports an entry it ignored; null: silent.</summary>
    public TextWriter? Log { get; set; }

    /// <summary>How many kernels have been compiled so far (each on its first launch).</summary>
    public int CompiledCount { get; private set; }

    private readonly int[] _origins = new int[Enum.GetValues<KernelOrigin>().Length];

    /// <summary>Every kernel loaded so far, by method (under <see cref="_gate"/>): the typed slots and <see cref="Prefetch"/> share it.</summary>
    private readonly Dictionary<System.Reflection.MethodInfo, Delegate> _loaded = new();

    /// <summary>The kernels being loaded ahead (<see cref="Prefetch"/>); completed when none are.</summary>
    private Task _prefetch = Task.CompletedTask;

    /// <summary>How many of the kernels compiled so far came from <paramref name="origin"/> (<see cref="KernelSourceCache"/>).</summary>
    public int LoadedFrom(KernelOrigin origin)
    {
        lock (_gate) return _origins[(int)origin];
    }

    /// <param name="a">The accelerator the kernels run on.</param>
    /// <param name="policy">
    /// The policy of the plans that launch these kernels (default: Winograd convolutions, groups of
    /// <see cref="Tiling.GroupSize"/>); its group size is capped by the device's maximum.
    /// </param>
    /// <remarks>
    /// Nothing is compiled here: each kernel is compiled on its first use (the first launch of a plan that uses it),
    /// so a session compiles exactly the kernels its plans launch, and the sessions of one device share one set
    /// (<see cref="Backends.ComputeDevice.Kernels"/>): the face finder and TRG never compile a kernel twice.
    /// </remarks>
    public DeviceKernels(Accelerator a, KernelPolicy? policy = null)
    {
        _accelerator = a;
        Policy = policy ?? new KernelPolicy(ConvAlgorithm.Winograd, Tiling.GroupSize);
        GroupSize = Math.Min(Policy.GroupSize, a.MaxNumThreadsPerGroup);
        DenseGroupSize = Math.Min(Policy.DenseGroupSize, a.MaxNumThreadsPerGroup);
        DeconvGroupSize = Math.Min(Policy.DeconvGroupSize, a.MaxNumThreadsPerGroup);
    }

    /// <summary>The kernel in <paramref name="slot"/>, compiled on first use (once, thread-safe; <see cref="KernelSourceCache"/>).</summary>
    private T Load<T>(ref T? slot, System.Reflection.MethodInfo kernel) where T : Delegate
    {
        var loaded = Volatile.Read(ref slot);
        if (loaded is not null) return loaded;
        lock (_gate)
        {
            if (slot is null) Volatile.Write(ref slot, (T)LoadLocked(kernel, typeof(T)));
            return slot!;
        }
    }

    /// <summary>The launcher of <paramref name="kernel"/> (of type <paramref name="launcher"/>), loaded now unless it was; under <see cref="_gate"/>.</summary>
    private Delegate LoadLocked(System.Reflection.MethodInfo kernel, Type launcher)
    {
        if (_loaded.TryGetValue(kernel, out var known)) return known;
        try
        {
            (Delegate Launcher, KernelOrigin Origin) built;
            using (Timings.Time(StartupPhase.KernelCompile)) built = KernelSourceCache.Load(_accelerator, kernel, launcher, CacheDirectory, Log);
            _loaded[kernel] = built.Launcher;
            _origins[(int)built.Origin]++;
            CompiledCount++;
            return built.Launcher;
        }
        catch (Exception e) when (Backends.DeviceFailures.IsDeviceFailure(e, Backends.DeviceStage.Compile))
        {
            // Compiled on first use, so a kernel that does not compile fails here, named (ErrorKind.KernelCompile).
            throw Backends.DeviceFailures.Map(e, Backends.DeviceStage.Compile, _accelerator.Name, $"compiling kernel {kernel.Name}");
        }
    }

    /// <summary>
    /// Starts loading <paramref name="kernels"/> on a worker thread, one by one, and returns at once: kernels a plan is
    /// about to launch (<see cref="LaunchList"/>) load while the caller uploads the weights, instead of during the first
    /// forward. A launch waits for a kernel still loading; a kernel that fails to load here is loaded again, and its
    /// error reported, by its launch. Kernels already loaded are skipped.
    /// </summary>
    public void Prefetch(IReadOnlyList<System.Reflection.MethodInfo> kernels)
    {
        lock (_gate)
        {
            var todo = kernels.Where(k => !_loaded.ContainsKey(k)).ToList();
            if (todo.Count == 0) return;
            var previous = _prefetch;
            _prefetch = Task.Run(() =>
            {
                try { previous.Wait(); }
                catch (AggregateException) { } // that batch's kernels load on their launches
                foreach (var kernel in todo)
                {
                    try
                    {
                        lock (_gate) LoadLocked(kernel, LauncherType(kernel));
                    }
                    catch (TrgException) { } // reported by the launch that needs it
                }
            });
        }
    }

    /// <summary>Waits for the kernels <see cref="Prefetch"/> is loading (before the accelerator is released).</summary>
    public void WaitForPrefetch()
    {
        Task pending;
        lock (_gate) pending = _prefetch;
        try { pending.Wait(); }
        catch (AggregateException) { } // a bug there surfaces when the kernel is launched
    }

    /// <summary>The launcher delegate of an explicitly grouped kernel: stream, configuration, then the kernel's parameters.</summary>
    private static Type LauncherType(System.Reflection.MethodInfo kernel) =>
        System.Linq.Expressions.Expression.GetActionType([typeof(AcceleratorStream), typeof(KernelConfig), .. kernel.GetParameters().Select(p => p.ParameterType)]);

    // One overload per kernel arity, so that each property above names its kernel method once.
    private Action<AcceleratorStream, KernelConfig, T1, T2, T3> Load<T1, T2, T3>(ref Action<AcceleratorStream, KernelConfig, T1, T2, T3>? slot, Action<T1, T2, T3> kernel)
        where T1 : struct where T2 : struct where T3 : struct => Load(ref slot, kernel.Method);

    private Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4> Load<T1, T2, T3, T4>(ref Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4>? slot, Action<T1, T2, T3, T4> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct => Load(ref slot, kernel.Method);

    private Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5> Load<T1, T2, T3, T4, T5>(ref Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5>? slot, Action<T1, T2, T3, T4, T5> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct => Load(ref slot, kernel.Method);

    private Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6> Load<T1, T2, T3, T4, T5, T6>(ref Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6>? slot, Action<T1, T2, T3, T4, T5, T6> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct => Load(ref slot, kernel.Method);

    private Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7> Load<T1, T2, T3, T4, T5, T6, T7>(ref Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7>? slot, Action<T1, T2, T3, T4, T5, T6, T7> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct => Load(ref slot, kernel.Method);

    private Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9> Load<T1, T2, T3, T4, T5, T6, T7, T8, T9>(ref Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9>? slot, Action<T1, T2, T3, T4, T5, T6, T7, T8, T9> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct => Load(ref slot, kernel.Method);

    private Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> Load<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(ref Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>? slot, Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct => Load(ref slot, kernel.Method);

    /// <summary>Launch shape for a barrier-free kernel over <paramref name="threads"/> threads.</summary>
    public KernelConfig Config(long threads) => new((int)((threads + GroupSize - 1) / GroupSize), GroupSize);
}
