using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Backends;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Kernels;
using TrgIlgpu.Model;

namespace TrgIlgpu.Engine;

/// <summary>Which compute device to run on. Auto picks CUDA, then OpenCL, then the CPU accelerator.</summary>
public enum DeviceKind { Auto, Cuda, OpenCL, Cpu }

/// <summary>
/// How the 3x3 stride-1 convolutions run: <see cref="Winograd"/> F(2x2, 3x3) (16 multiply-adds per 2x2 output tile
/// and input channel instead of 36) or <see cref="Direct"/>. <see cref="Auto"/>: the environment variable
/// <c>TRG_CONV</c> (<c>direct</c>, <c>winograd</c> or <c>auto</c>) when set, else the device's
/// <see cref="Backends.KernelPolicy"/> (Winograd on OpenCL and the CPU accelerator, direct on CUDA).
/// </summary>
public enum ConvAlgorithm { Auto, Direct, Winograd }

/// <summary>How a session brings its weights to the device (docs/startup.md).</summary>
public sealed record WeightLoadOptions
{
    /// <summary>
    /// Packed-weights cache for weights read from a model file (<see cref="ModelWeights.ContentHash"/>); null: pack at
    /// every start. Default: <see cref="PackCache.FromEnvironment"/> (<c>~/.cache/trg-ilgpu</c>, <c>TRG_CACHE=off</c> disables it).
    /// </summary>
    public PackCache? Cache { get; init; } = PackCache.FromEnvironment();

    /// <summary>
    /// Keep the state dict in host memory after the upload (<see cref="InferenceSession.Weights"/> then has its
    /// tensors). Default false: the session keeps only the description (<see cref="ModelWeights.WithoutTensors"/>).
    /// </summary>
    public bool KeepHostWeights { get; init; }

    /// <summary>Where the start-up phases (reading, packing, cache, upload, compiling, plans) are recorded; null: not measured.</summary>
    public StartupTimings? Timings { get; init; }
}

/// <summary>
/// Weights uploaded to one device, with forward plans made once per batch size. <see cref="Run"/> takes a batch of
/// faces (from one or many images) and returns one FaceResult per face, in order: one upload of the images and
/// boxes, the plan's launches on one stream, one download of every result.
/// Thread-safe: calls are serialised (one device stream per session).
/// </summary>
public sealed class InferenceSession : IDisposable
{
    private readonly ComputeDevice _device;
    private readonly bool _ownsDevice;
    private readonly DeviceKernels _kernels;
    private readonly DeviceWeights _weights;
    private readonly Dictionary<int, (ForwardPlan Plan, float[] Host, FaceParams[] Faces)> _plans = new();
    private readonly object _gate = new();
    private MemoryBuffer1D<byte, Stride1D.Dense>? _images;
    private byte[] _staging = [];
    private readonly Dictionary<RgbImage, int> _imageOffsets = new(ReferenceEqualityComparer.Instance);
    private readonly StartupTimings? _timings;
    private bool _disposed;

    /// <summary>The weights' description, or the weights with their tensors when <see cref="WeightLoadOptions.KeepHostWeights"/>.</summary>
    public ModelWeights Weights { get; }
    public VariantInfo Variant => Weights.Variant;
    public DeviceKind Kind => _device.Kind;
    /// <summary>Human-readable device, e.g. "OpenCL: pthread-skylake-avx512 (Portable Computing Language)".</summary>
    public string DeviceName => _device.Description;
    public Accelerator Accelerator => _device.Accelerator;
    /// <summary>Device bytes of the uploaded weights.</summary>
    public long WeightBytes => _weights.AllocatedBytes;
    /// <summary>How this session runs its 3x3 stride-1 convolutions (never <see cref="ConvAlgorithm.Auto"/>).</summary>
    public ConvAlgorithm Convolutions { get; }

    /// <summary>Environment variable that chooses the convolution algorithm when the caller passes Auto.</summary>
    public const string ConvVariable = "TRG_CONV";

    public InferenceSession(ModelWeights weights, DeviceKind device = DeviceKind.Auto, TextWriter? log = null,
        ConvAlgorithm convolutions = ConvAlgorithm.Auto, WeightLoadOptions? loading = null)
        : this(weights, OpenLoaded(weights, device, log, convolutions, batch: null, loading ?? new()), ownsDevice: true, loading, log)
    {
    }

    /// <summary>
    /// A session for forwards of <paramref name="batch"/> faces (`trg bench`, `trg profile`): right after the device
    /// opens, before any kernel is compiled or weight uploaded, a batch whose crop inputs and results alone
    /// (<see cref="ForwardPlan"/>'s lower bound) cannot fit the device's memory fails with
    /// <see cref="ErrorKind.OutOfMemory"/>; the exact check follows when the plan is made (<see cref="Plan"/>).
    /// </summary>
    public static InferenceSession ForBatch(ModelWeights weights, int batch, DeviceKind device = DeviceKind.Auto, TextWriter? log = null,
        ConvAlgorithm convolutions = ConvAlgorithm.Auto, WeightLoadOptions? loading = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        return new InferenceSession(weights, OpenLoaded(weights, device, log, convolutions, batch, loading ?? new()), ownsDevice: true, loading, log);
    }

    /// <summary>
    /// A session on a device the caller owns (not disposed with the session), e.g. one a <see cref="Faces.FaceFinder"/>
    /// also runs on: both queue their plans on the device's default stream. <paramref name="convolutions"/> as for
    /// the other constructor (Auto: <see cref="ConvVariable"/>, else the device's policy).
    /// </summary>
    public InferenceSession(ModelWeights weights, ComputeDevice device, ConvAlgorithm convolutions = ConvAlgorithm.Auto,
        WeightLoadOptions? loading = null, TextWriter? log = null)
        : this(weights, Load(weights, device ?? throw new ArgumentNullException(nameof(device)),
            convolutions == ConvAlgorithm.Auto ? FromEnvironment() : convolutions, policy: null, loading ?? new(), log), ownsDevice: false, loading, log)
    {
    }

    /// <summary>
    /// A session on an open device (owned from here on unless <paramref name="ownsDevice"/> is false) with
    /// <see cref="KernelPolicy.For"/> its kind, the convolutions overridden by <paramref name="convolutions"/> unless Auto.
    /// </summary>
    internal InferenceSession(ModelWeights weights, ComputeDevice device, ConvAlgorithm convolutions, KernelPolicy? policy, bool ownsDevice = true,
        WeightLoadOptions? loading = null, TextWriter? log = null)
        : this(weights, LoadOwned(weights, device, convolutions, policy, ownsDevice, loading ?? new(), log), ownsDevice, loading, log)
    {
    }

    private InferenceSession(ModelWeights weights, Loaded loaded, bool ownsDevice, WeightLoadOptions? loading, TextWriter? log)
    {
        Weights = loaded.HostWeights;
        _device = loaded.Device;
        _ownsDevice = ownsDevice;
        _timings = loading?.Timings;
        Policy = loaded.Policy;
        Convolutions = Policy.Convolutions;
        _kernels = loaded.Kernels;
        _weights = loaded.Weights;
        CacheHit = loaded.CacheHit;
        _launches = loaded.Launches;
        _log = log;
    }

    /// <summary>Where this session records the kernels its first forward launched (<see cref="LaunchList"/>); null once done, or without a cache.</summary>
    private string? _launches;
    private readonly TextWriter? _log;

    /// <summary>
    /// What a session holds once its kernel set is ready and the weights are on the device; <paramref name="HostWeights"/>
    /// is the description (or the tensors, with <see cref="WeightLoadOptions.KeepHostWeights"/>).
    /// </summary>
    private sealed record Loaded(ComputeDevice Device, KernelPolicy Policy, DeviceKernels Kernels, DeviceWeights Weights, bool CacheHit, ModelWeights HostWeights, string? Launches);

    /// <summary>
    /// Reads <see cref="ConvVariable"/> before opening the device, so that a bad value fails fast and opens nothing; then
    /// opens the device and loads the session on it (<see cref="ComputeDevice.OpenFor"/>: with Auto, a backend that
    /// fails to open or to compile the kernels is skipped for the next).
    /// </summary>
    private static Loaded OpenLoaded(ModelWeights weights, DeviceKind device, TextWriter? log, ConvAlgorithm convolutions, int? batch, WeightLoadOptions loading)
    {
        var requested = convolutions == ConvAlgorithm.Auto ? FromEnvironment() : convolutions;
        using var _ = loading.Timings.Time(StartupPhase.DeviceOpen);
        return ComputeDevice.OpenFor(device, log, d =>
        {
            if (batch is { } b)
            {
                long atLeast = ForwardPlan.MinimumBytes(weights.Variant, b);
                DeviceMemory.EnsureFits(d, atLeast, 0, 0, $"a forward plan for {b} faces ({weights.Variant.Name})",
                    () => $"use a smaller batch (fewer than {Math.Max(1, d.Memory.Budget(0) / ForwardPlan.MinimumBytes(weights.Variant, 1))} faces)", lowerBound: true);
            }
            return Load(weights, d, requested, policy: null, loading, log);
        });
    }

    private static Loaded LoadOwned(ModelWeights weights, ComputeDevice device, ConvAlgorithm convolutions, KernelPolicy? policy, bool ownsDevice,
        WeightLoadOptions loading, TextWriter? log)
    {
        try
        {
            return Load(weights, device, convolutions, policy, loading, log);
        }
        catch
        {
            if (ownsDevice) device.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Takes the device's kernel set (compiled lazily, shared with every session on the device) and brings the packed
    /// weights to the device (<c>Upload</c>); device failures become <see cref="TrgException"/>s
    /// (<see cref="DeviceFailures"/>).
    /// </summary>
    private static Loaded Load(ModelWeights weights, ComputeDevice device, ConvAlgorithm convolutions, KernelPolicy? policy,
        WeightLoadOptions loading, TextWriter? log)
    {
        var chosen = (policy ?? KernelPolicy.For(device.Kind)).With(convolutions);
        if (loading.Timings is not null) device.Timings ??= loading.Timings;
        if (loading.Cache is not null) device.KernelCache ??= loading.Cache.KernelDirectory;
        var kernels = DeviceFailures.LoadKernels(device, () => device.Kernels(chosen));
        // OpenCL: the kernels the last run's plan launched load on a worker while the weights upload (LaunchList).
        string? launches = null;
        if (loading.Cache is not null && device.Kind == DeviceKind.OpenCL)
        {
            launches = LaunchList.PathFor(loading.Cache.KernelDirectory, weights.Variant, chosen, device);
            kernels.Prefetch(LaunchList.Read(launches, log));
        }
        var (uploaded, hit) = Upload(weights, device, chosen, loading, log);
        try
        {
            return new Loaded(device, chosen, kernels, uploaded, hit, loading.KeepHostWeights ? weights.ReadTensors() : weights.WithoutTensors(), launches);
        }
        catch
        {
            uploaded.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The packed weights on the device: streamed from the packed-weights cache when it holds this model's entry, else
    /// read (model files are read here, not when opened), packed, uploaded and stored in the cache. No host copy of
    /// the packed weights outlives this call.
    /// </summary>
    private static (DeviceWeights Weights, bool CacheHit) Upload(ModelWeights weights, ComputeDevice device, KernelPolicy policy,
        WeightLoadOptions loading, TextWriter? log)
    {
        var convolutions = policy.Convolutions;
        var timings = loading.Timings;
        var cache = loading.Cache;
        var key = cache is null ? null : PackCache.Key(weights, convolutions, policy.PacksWinograd ? policy.WinogradF4MinMap : 0);
        string what = $"uploading the {weights.Variant.Name} weights";
        if (key is not null)
            using (timings.Time(StartupPhase.CacheRead))
                if (DeviceFailures.Guard(DeviceStage.Allocate, device.Kind, device.Description, what,
                        () => cache!.TryLoad(device.Accelerator, weights, convolutions, key, log)) is { } cached)
                    return (cached, true);
        ModelWeights full;
        using (timings.Time(StartupPhase.ModelRead)) full = weights.ReadTensors();
        PackedModel packed;
        using (timings.Time(StartupPhase.Packing)) packed = new PackedModel(full, policy.PacksWinograd, policy.WinogradFormFor);
        DeviceWeights uploaded;
        using (timings.Time(StartupPhase.Upload))
            uploaded = DeviceFailures.Guard(DeviceStage.Allocate, device.Kind, device.Description, what, () => new DeviceWeights(device.Accelerator, packed));
        if (key is not null)
            using (timings.Time(StartupPhase.CacheWrite)) cache!.Store(weights, convolutions, key, packed, log);
        return (uploaded, false);
    }

    /// <summary>The device's kernel set this session launches (shared with every session on the device).</summary>
    internal DeviceKernels Kernels => _kernels;

    /// <summary>True when the weights came from the packed-weights cache.</summary>
    public bool CacheHit { get; }

    /// <summary>The kernel shapes this session uses (<see cref="KernelPolicy.For"/> the device, with any override applied).</summary>
    public KernelPolicy Policy { get; }

    private static ConvAlgorithm FromEnvironment() => ParseConv(Environment.GetEnvironmentVariable(ConvVariable));

    /// <summary>A <see cref="ConvVariable"/> value: direct, winograd, auto or unset (any case, spaces ignored).</summary>
    internal static ConvAlgorithm ParseConv(string? value) =>
        value?.Trim().ToLowerInvariant() switch
        {
            null or "" or "auto" => ConvAlgorithm.Auto,
            "direct" => ConvAlgorithm.Direct,
            "winograd" => ConvAlgorithm.Winograd,
            _ => throw new TrgException(ErrorKind.Usage, $"{ConvVariable} must be direct, winograd or auto, got '{value}'"),
        };

    /// <summary>The plan for a batch size (made on first use, then reused).</summary>
    public ForwardPlan Plan(int batch)
    {
        lock (_gate) return PlanFor(batch).Plan;
    }

    private (ForwardPlan Plan, float[] Host, FaceParams[] Faces) PlanFor(int batch)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_plans.TryGetValue(batch, out var entry))
        {
            EnsureFits(batch);
            using var _ = _timings.Time(StartupPhase.PlanBuild);
            entry = DeviceFailures.Guard(DeviceStage.Allocate, Kind, DeviceName, $"allocating the forward plan for {batch} faces", () =>
            {
                // Host arrays first: a plan is never left allocated behind a failed host allocation.
                var host = new float[checked(batch * ResultStride)];
                var faceParams = new FaceParams[batch];
                return (new ForwardPlan(_device.Accelerator, _kernels, _weights, () => _images!.View, batch), host, faceParams);
            });
            _plans[batch] = entry;
        }
        return entry;
    }

    /// <summary>
    /// Device bytes a plan for <paramref name="batch"/> faces needs, and its largest buffer, without allocating it.
    /// Every activation, face parameter and result row scales with the batch, so the plan's graphs at batch 1 and 2
    /// (built and slotted on the host, once per session) give both exactly as a fixed part plus a per-face part; the
    /// tests check this against real plans. Batches too large to count give <see cref="long.MaxValue"/>.
    /// </summary>
    public (long Bytes, long LargestBuffer) PlanBytes(int batch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_sizing is not { } s)
            {
                var one = ForwardPlan.RequiredBytes(_device.Accelerator, _kernels, _weights, 1);
                var two = ForwardPlan.RequiredBytes(_device.Accelerator, _kernels, _weights, 2);
                _sizing = s = (one.Bytes - (two.Bytes - one.Bytes), two.Bytes - one.Bytes, one.LargestBuffer - (two.LargestBuffer - one.LargestBuffer), two.LargestBuffer - one.LargestBuffer);
            }
            try
            {
                return (checked(s.Fixed + batch * s.PerFace), checked(s.LargestFixed + batch * s.LargestPerFace));
            }
            catch (OverflowException)
            {
                return (long.MaxValue, long.MaxValue);
            }
        }
    }

    private (long Fixed, long PerFace, long LargestFixed, long LargestPerFace)? _sizing;

    /// <summary>
    /// The largest batch, up to <paramref name="wanted"/>, whose plan fits the device's memory now (next to what this
    /// session already holds; <see cref="Backends.DeviceMemoryInfo.Budget"/>), or 0 when not even one face fits. A
    /// plan that exists already fits by definition.
    /// </summary>
    public int LargestBatchThatFits(int wanted)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(wanted, 1);
        lock (_gate)
        {
            if (_plans.ContainsKey(wanted) || Fits(wanted)) return wanted;
            int lo = 0, hi = wanted; // Fits(lo) (0: nothing), !Fits(hi)
            while (hi - lo > 1)
            {
                int mid = lo + (hi - lo) / 2;
                if (Fits(mid)) lo = mid; else hi = mid;
            }
            return lo;
        }
    }

    private bool Fits(int batch)
    {
        var (bytes, largest) = PlanBytes(batch);
        var memory = _device.Memory;
        return bytes <= memory.Budget(AllocatedBytes) && largest <= memory.MaxBuffer && HostFits(batch);
    }

    /// <summary>Floats of one face's result row (the plan's <see cref="ResultLayout"/>).</summary>
    private int ResultStride => new ResultLayout { Iterations = Variant.Iterations }.Stride;

    /// <summary>The host copy of a plan's results (one float row per face) must fit a .NET array and the process's memory.</summary>
    private bool HostFits(int batch)
    {
        long floats = (long)batch * ResultStride;
        return floats <= Array.MaxLength && floats * sizeof(float) <= DeviceMemoryInfo.HostAvailable() / 2;
    }

    /// <summary>The memory check before a plan is made: <see cref="ErrorKind.OutOfMemory"/> naming the batch that would fit.</summary>
    private void EnsureFits(int batch)
    {
        var (bytes, largest) = PlanBytes(batch);
        string what = $"a forward plan for {batch} faces ({Variant.Name})";
        string Advice()
        {
            int fits = LargestBatchThatFits(batch);
            return fits > 0 ? $"use a smaller batch (at most {fits} faces fit now)" : "not even one face fits: free the device or use another one";
        }
        DeviceMemory.EnsureFits(_device, bytes, largest, AllocatedBytes, what, Advice);
        if (!HostFits(batch))
            throw new TrgException(ErrorKind.OutOfMemory,
                $"{what}: its results need {DeviceMemory.Size((long)batch * ResultStride * sizeof(float))} of host memory, more than half of the {DeviceMemory.Size(DeviceMemoryInfo.HostAvailable())} available; {Advice()}");
    }

    /// <summary>Device bytes allocated in total: weights, every plan made so far, and the image buffer.</summary>
    public long AllocatedBytes
    {
        get { lock (_gate) return _weights.AllocatedBytes + _plans.Values.Sum(p => p.Plan.AllocatedBytes) + (_images?.LengthInBytes ?? 0); }
    }

    public FaceResult[] Run(IReadOnlyList<FaceRequest> faces, CancellationToken cancellationToken = default)
    {
        if (faces.Count == 0) return [];
        for (int i = 0; i < faces.Count; i++)
        {
            if (faces[i].Camera is null) throw new ArgumentNullException(nameof(faces), $"face {i} has no camera intrinsics");
            if (FaceRequestChecks.Check(faces[i], $"face {i}") is { } error) throw error;
        }
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            ForwardPlan plan;
            float[] host;
            lock (_device.Gate)
            {
                (plan, host, var faceParams) = PlanFor(faces.Count);
                DeviceFailures.Guard(DeviceStage.Forward, Kind, DeviceName, $"running a forward of {faces.Count} faces", () =>
                {
                    Upload(faces, faceParams, plan);
                    var stream = _device.Accelerator.DefaultStream;
                    foreach (var op in plan.Ops) op.Launch(stream);
                    plan.Results.View.CopyToCPU(stream, host);
                    stream.Synchronize();
                    return 0;
                });
            }
            if (_launches is { } launches)
            {
                _launches = null;
                LaunchList.Update(launches, plan.Ops.Select(o => o.Kernel), _log);
            }
            return Unpack(faces, host, plan.Layout);
        }
    }

    /// <summary>
    /// Runs the plan once per op with a synchronisation after each, returning each op's wall time: the per-kernel
    /// view for profiling. Results are the same as <see cref="Run"/>'s.
    /// </summary>
    public (FaceResult[] Results, double[] OpMilliseconds) RunProfiled(IReadOnlyList<FaceRequest> faces)
    {
        lock (_gate)
        lock (_device.Gate)
        {
            var (plan, host, faceParams) = PlanFor(faces.Count);
            var times = DeviceFailures.Guard(DeviceStage.Forward, Kind, DeviceName, $"profiling a forward of {faces.Count} faces", () =>
            {
                Upload(faces, faceParams, plan);
                var stream = _device.Accelerator.DefaultStream;
                stream.Synchronize();
                var times = new double[plan.Ops.Count];
                for (int i = 0; i < plan.Ops.Count; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    plan.Ops[i].Launch(stream);
                    stream.Synchronize();
                    times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                }
                plan.Results.View.CopyToCPU(stream, host);
                stream.Synchronize();
                return times;
            });
            return (Unpack(faces, host, plan.Layout), times);
        }
    }

    private void Upload(IReadOnlyList<FaceRequest> faces, FaceParams[] faceParams, ForwardPlan plan)
    {
        // Each distinct image is uploaded once, however many faces it holds. The map is reused (no per-call allocation).
        var offsets = _imageOffsets;
        offsets.Clear();
        long total = 0;
        foreach (var f in faces)
            if (!offsets.ContainsKey(f.Image)) { offsets[f.Image] = checked((int)total); total += f.Image.Pixels.Length; }
        if (total > int.MaxValue) throw new TrgException(ErrorKind.InvalidImage, "the images of one batch exceed 2 GiB; use smaller batches");
        if (_images is null || _images.Length < total)
        {
            _images?.Dispose();
            _images = null;
            _images = DeviceFailures.Guard(DeviceStage.Allocate, Kind, DeviceName, $"allocating the image buffer ({DeviceMemory.Size(total)})",
                () => _device.Accelerator.Allocate1D<byte>(Preprocess.ImageBufferBytes(total)));
            Array.Resize(ref _staging, (int)_images.Length);
        }
        foreach (var (img, off) in offsets) img.Pixels.CopyTo(_staging, off);
        _images.View.SubView(0, total).CopyFromCPU(_device.Accelerator.DefaultStream, _staging.AsSpan(0, (int)total));
        for (int i = 0; i < faces.Count; i++)
        {
            var f = faces[i];
            faceParams[i] = new FaceParams
            {
                ImageOffset = offsets[f.Image], Width = f.Image.Width, Height = f.Image.Height,
                Left = f.Box.Left, Top = f.Box.Top, Right = f.Box.Right, Bottom = f.Box.Bottom,
                Focal = f.Camera.Focal, PrincipalX = f.Camera.Cx, PrincipalY = f.Camera.Cy,
            };
        }
        offsets.Clear(); // hold no reference to the caller's images between calls
        plan.Faces.View.CopyFromCPU(_device.Accelerator.DefaultStream, faceParams);
    }

    private static FaceResult[] Unpack(IReadOnlyList<FaceRequest> faces, float[] host, ResultLayout layout)
    {
        var results = new FaceResult[faces.Count];
        int n = layout.Iterations;
        for (int b = 0; b < faces.Count; b++)
        {
            var row = host.AsSpan(b * layout.Stride, layout.Stride);
            var box = faces[b].Box;
            var lmk = row.Slice(layout.Landmarks, 136).ToArray();
            var lmkPx = new float[136];
            for (int l = 0; l < 68; l++)
            {
                // Normalised -> crop pixel (192 wide) -> full image through the crop's warp (191 steps).
                lmkPx[2 * l] = box.Left + (lmk[2 * l] + 1f) / 2f * 192f * (box.Right - box.Left) / 191f;
                lmkPx[2 * l + 1] = box.Top + (lmk[2 * l + 1] + 1f) / 2f * 192f * (box.Bottom - box.Top) / 191f;
            }
            var iterations = new IterationResult[n];
            for (int i = 0; i < n; i++)
                iterations[i] = new IterationResult(row.Slice(layout.Rotations + 9 * i, 9).ToArray(), row.Slice(layout.Translations + 3 * i, 3).ToArray());
            var points = new float[n - 1][];
            for (int i = 1; i < n; i++) points[i - 1] = row.Slice(layout.Points + (i - 1) * 610, 610).ToArray();
            results[b] = new FaceResult
            {
                Box = box,
                Camera = faces[b].Camera,
                Rotation = iterations[n - 1].Rotation,
                Translation = iterations[n - 1].Translation,
                VerticesHead = row.Slice(layout.FaceHead, 3660).ToArray(),
                VerticesCam = row.Slice(layout.FaceCam, 3660).ToArray(),
                Landmarks68Norm = lmk,
                Landmarks68 = lmkPx,
                Iterations = iterations,
                SamplingPoints = points,
            };
        }
        return results;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var p in _plans.Values) p.Plan.Dispose();
            _images?.Dispose();
            _weights.Dispose();
            if (_ownsDevice) _device.Dispose();
        }
    }
}
