using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Backends;
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
    private bool _disposed;

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
        ConvAlgorithm convolutions = ConvAlgorithm.Auto)
        : this(weights, OpenChecked(convolutions, device, log, out var requested), requested, policy: null, ownsDevice: true)
    {
    }

    /// <summary>
    /// A session on a device the caller owns (not disposed with the session), e.g. one a <see cref="Faces.FaceFinder"/>
    /// also runs on: both queue their plans on the device's default stream. <paramref name="convolutions"/> as for
    /// the other constructor (Auto: <see cref="ConvVariable"/>, else the device's policy).
    /// </summary>
    public InferenceSession(ModelWeights weights, ComputeDevice device, ConvAlgorithm convolutions = ConvAlgorithm.Auto)
        : this(weights, device ?? throw new ArgumentNullException(nameof(device)),
            convolutions == ConvAlgorithm.Auto ? FromEnvironment() : convolutions, policy: null, ownsDevice: false)
    {
    }

    /// <summary>
    /// A session on an open device (owned from here on unless <paramref name="ownsDevice"/> is false) with
    /// <see cref="KernelPolicy.For"/> its kind, the convolutions overridden by <paramref name="convolutions"/> unless Auto.
    /// </summary>
    internal InferenceSession(ModelWeights weights, ComputeDevice device, ConvAlgorithm convolutions, KernelPolicy? policy, bool ownsDevice = true)
    {
        Weights = weights;
        _device = device;
        _ownsDevice = ownsDevice;
        try
        {
            Policy = (policy ?? KernelPolicy.For(_device.Kind)).With(convolutions);
            Convolutions = Policy.Convolutions;
            _kernels = new DeviceKernels(_device.Accelerator, Policy);
            _weights = new DeviceWeights(_device.Accelerator, new PackedModel(weights, winograd: Policy.PacksWinograd));
        }
        catch
        {
            if (_ownsDevice) _device.Dispose();
            throw;
        }
    }

    /// <summary>Reads <see cref="ConvVariable"/> before opening the device, so that a bad value fails fast and opens nothing.</summary>
    private static ComputeDevice OpenChecked(ConvAlgorithm convolutions, DeviceKind device, TextWriter? log, out ConvAlgorithm requested)
    {
        requested = convolutions == ConvAlgorithm.Auto ? FromEnvironment() : convolutions;
        return ComputeDevice.Open(device, log);
    }

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
            var plan = new ForwardPlan(_device.Accelerator, _kernels, _weights, () => _images!.View, batch);
            entry = (plan, new float[batch * plan.Layout.Stride], new FaceParams[batch]);
            _plans[batch] = entry;
        }
        return entry;
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
            var problem = faces[i].Box.Problem();
            if (problem is not null) throw new TrgException(ErrorKind.InvalidBox, $"face {i}: {problem}");
            if (faces[i].Camera is null) throw new ArgumentNullException(nameof(faces), $"face {i} has no camera intrinsics");
        }
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var (plan, host, faceParams) = PlanFor(faces.Count);
            Upload(faces, faceParams, plan);
            var stream = _device.Accelerator.DefaultStream;
            foreach (var op in plan.Ops) op.Launch(stream);
            plan.Results.View.CopyToCPU(stream, host);
            stream.Synchronize();
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
        {
            var (plan, host, faceParams) = PlanFor(faces.Count);
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
            _images = _device.Accelerator.Allocate1D<byte>(Math.Max(total, 1));
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
