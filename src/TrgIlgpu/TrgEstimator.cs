using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Engine;
using TrgIlgpu.Imaging;
using TrgIlgpu.Model;

namespace TrgIlgpu;

/// <summary>Settings of a <see cref="TrgEstimator"/>, fixed when it is created.</summary>
public sealed record EstimatorOptions
{
    /// <summary>Compute device; <see cref="DeviceKind.Auto"/> takes CUDA, then OpenCL, then the CPU.</summary>
    public DeviceKind Device { get; init; } = DeviceKind.Auto;

    /// <summary>Where the engine says which device it took and what it planned (null: silent).</summary>
    public TextWriter? Log { get; init; }

    /// <summary>Decoding rules for <see cref="TrgEstimator.EstimateFile(string, IReadOnlyList{FaceBox}, float?, CancellationToken)"/>: pixel limit, EXIF orientation.</summary>
    public ImageLoadOptions Images { get; init; } = ImageLoadOptions.Default;

    /// <summary>
    /// Most faces in one forward pass. Larger requests are split into chunks of this size. The engine plans its
    /// device buffers once per batch size, so a steady stream of same-sized requests allocates nothing on the device.
    /// A size whose plan does not fit the device's memory is lowered to the largest that does
    /// (<see cref="TrgEstimator.BatchSize"/>).
    /// </summary>
    public int MaxBatchSize { get; init; } = 16;

    /// <summary>How 3x3 stride-1 convolutions run (Auto: the TRG_CONV variable, else Winograd except on CUDA); docs/devices.md.</summary>
    public ConvAlgorithm Convolutions { get; init; } = ConvAlgorithm.Auto;

    /// <summary>Packed-weights cache, host copy of the weights, start-up timings (docs/startup.md).</summary>
    public WeightLoadOptions Loading { get; init; } = new();
}

/// <summary>One image and the faces in it, for <see cref="TrgEstimator.EstimateBatch"/>.</summary>
/// <param name="Focal">Focal length in pixels with the principal point at the image centre; null: see <paramref name="Camera"/>.</param>
/// <param name="Camera">Full intrinsics of the image; give this or <paramref name="Focal"/>, not both. Neither: the
/// in-the-wild default <see cref="CameraIntrinsics.Default"/> (f = W + H, principal point at the centre).</param>
public sealed record ImageFaces(RgbImage Image, IReadOnlyList<FaceBox> Boxes, float? Focal = null, CameraIntrinsics? Camera = null);

/// <summary>
/// Head pose (R, metric T), face mesh and landmarks from face boxes in photos: a TRG / TRGv2 model on one device.
/// Create once (loading weights and compiling kernels takes seconds), call many times, dispose at the end.
/// </summary>
/// <remarks>
/// <para><b>Thread safety.</b> One estimator is one device stream. Every public method may be called from any thread;
/// calls are serialised with a lock, so concurrent callers wait for each other rather than overlap. Estimators (and
/// face finders) made on one <see cref="Backends.ComputeDevice"/> may be called from different threads at once: their
/// device work is serialised by the device's lock. For parallel throughput, batch the faces into one call (one forward
/// pass serves them all) or create one estimator per device.</para>
/// <para><b>Memory.</b> The engine plans device buffers once per batch size. After the first call with a given number of
/// faces (the warm-up), later calls with that number allocate nothing on the device; only the returned results and
/// the host copy of a decoded file are allocated on the host (<see cref="Estimate(Image{Rgb24}, IReadOnlyList{FaceBox}, float?, CancellationToken)"/>
/// reuses its host staging buffer while the image size stays the same).</para>
/// <para><b>Boxes</b> are l,t,r,b in pixels of the image as loaded (after EXIF orientation when that is applied); they
/// may reach past the image edges (those pixels read as black) but must overlap the image.</para>
/// <para><b>Validation.</b> Every request (box and camera against its image) is checked by <see cref="FaceRequestChecks"/>
/// before anything runs: a bad box throws <see cref="TrgException"/> (<see cref="ErrorKind.InvalidBox"/>), a camera
/// outside the sane range (<see cref="ErrorKind.Usage"/>). After the run, a face whose outputs (rotation, translation,
/// vertices, landmarks) are not finite fails the call with <see cref="ErrorKind.InvalidModel"/> naming the face: no
/// non-finite number is ever returned. <see cref="HeadPoseEstimator"/> reports such a face as a
/// <see cref="FaceFailure"/> and the other faces as results.</para>
/// </remarks>
public sealed class TrgEstimator : IDisposable
{
    private readonly object _gate = new();
    private readonly Func<IReadOnlyList<FaceRequest>, CancellationToken, FaceResult[]> _run;
    private readonly IDisposable? _owned;
    private readonly InferenceSession? _session;
    private RgbImage? _staging;
    private bool _disposed;

    public EstimatorOptions Options { get; }

    /// <summary>
    /// The weights in use (variant, source, triangles for drawing): a description without the tensors unless
    /// <see cref="WeightLoadOptions.KeepHostWeights"/> (no host copy of the model is kept after the upload).
    /// </summary>
    public ModelWeights Weights { get; }

    /// <summary>The device in words, e.g. "OpenCL: pthread-skylake (Portable Computing Language)".</summary>
    public string DeviceName { get; }

    /// <summary>
    /// The most faces in one forward pass: <see cref="EstimatorOptions.MaxBatchSize"/>, or fewer when a plan that large
    /// does not fit the device's memory (checked when the estimator is created, before anything of the batch's size is
    /// allocated; the log says so). Larger requests are split into chunks of this size.
    /// </summary>
    public int BatchSize { get; }

    /// <summary>Device bytes this estimator holds: weights, the plans made so far, the image buffer (0 for a stand-in engine).</summary>
    public long DeviceBytes => _session?.AllocatedBytes ?? 0;

    /// <summary>
    /// Loads a model and opens a session on a device. <paramref name="model"/> is a model file path
    /// (.safetensors) or <c>synthetic:trgv2[:SEED]</c> / <c>synthetic:trg[:SEED]</c> for deterministic random weights.
    /// Throws <see cref="TrgException"/> (NotFound, InvalidModel, Device) on failure.
    /// </summary>
    public static TrgEstimator Create(string model, EstimatorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var loading = options?.Loading;
        ModelWeights weights;
        using (loading?.Timings.Time(StartupPhase.ModelOpen))
            weights = loading?.KeepHostWeights == true ? ModelWeights.Load(model) : ModelWeights.Open(model);
        return new TrgEstimator(weights, options);
    }

    /// <summary>Opens a session for weights already in memory.</summary>
    public TrgEstimator(ModelWeights weights, EstimatorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        Options = Validate(options ?? new EstimatorOptions());
        var session = new InferenceSession(weights, Options.Device, Options.Log, Options.Convolutions, Options.Loading);
        _owned = _session = session;
        _run = session.Run;
        Weights = session.Weights;
        DeviceName = session.DeviceName;
        BatchSize = FittingBatch(session, Options);
    }

    /// <summary>
    /// Opens a session on a device the caller owns and keeps (it is not disposed with the estimator), e.g. the one a
    /// <see cref="Faces.FaceFinder"/> runs on, so that detection, landmarks and TRG queue as plans on one stream.
    /// <see cref="EstimatorOptions.Device"/> is not used; <see cref="EstimatorOptions.Log"/> gets only the packed-weights cache's messages.
    /// </summary>
    public TrgEstimator(ModelWeights weights, Backends.ComputeDevice device, EstimatorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(device);
        Options = Validate(options ?? new EstimatorOptions());
        var session = new InferenceSession(weights, device, Options.Convolutions, Options.Loading, Options.Log);
        _owned = _session = session;
        _run = session.Run;
        Weights = session.Weights;
        DeviceName = session.DeviceName;
        BatchSize = FittingBatch(session, Options);
    }

    /// <summary>For tests and tools: an estimator around any runner with the engine's contract.</summary>
    internal TrgEstimator(ModelWeights weights, string deviceName,
        Func<IReadOnlyList<FaceRequest>, CancellationToken, FaceResult[]> run, EstimatorOptions? options = null, IDisposable? owned = null)
    {
        Options = Validate(options ?? new EstimatorOptions());
        Weights = weights;
        DeviceName = deviceName;
        _run = run;
        _owned = owned;
        BatchSize = Options.MaxBatchSize;
    }

    /// <summary>MaxBatchSize capped by the device's memory (the session disposed and an OutOfMemory error when not one face fits).</summary>
    private static int FittingBatch(InferenceSession session, EstimatorOptions options)
    {
        int fits = session.LargestBatchThatFits(options.MaxBatchSize);
        if (fits == options.MaxBatchSize) return fits;
        if (fits == 0)
        {
            session.Dispose();
            throw new TrgException(ErrorKind.OutOfMemory, $"not even one face fits next to the weights on {session.DeviceName} ({Backends.DeviceMemory.Size(session.PlanBytes(1).Bytes)} needed); free the device or use another one");
        }
        options.Log?.WriteLine($"trg: a batch of {options.MaxBatchSize} faces does not fit {session.DeviceName}'s memory; forward passes take at most {fits} faces");
        return fits;
    }

    private static EstimatorOptions Validate(EstimatorOptions o)
    {
        if (o.MaxBatchSize < 1) throw new TrgException(ErrorKind.Usage, $"the batch size must be at least 1 (got {o.MaxBatchSize})");
        if (o.Images.MaxPixels < 1) throw new TrgException(ErrorKind.Usage, $"the pixel limit must be positive (got {o.Images.MaxPixels})");
        return o;
    }

    /// <summary>Estimates every box of an ImageSharp image. Results are in box order.</summary>
    /// <param name="focal">Focal length in pixels (principal point at the image centre); null: W + H.</param>
    public FaceResult[] Estimate(Image<Rgb24> image, IReadOnlyList<FaceBox> boxes, float? focal = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        return Estimate(image, boxes, CameraIntrinsics.FromFocalOrDefault(focal, image.Width, image.Height), cancellationToken);
    }

    /// <summary>Estimates every box of an ImageSharp image seen by <paramref name="camera"/>. Results are in box order.</summary>
    public FaceResult[] Estimate(Image<Rgb24> image, IReadOnlyList<FaceBox> boxes, CameraIntrinsics camera, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(camera);
        ArgumentNullException.ThrowIfNull(boxes);
        lock (_gate)
        {
            ThrowIfDisposed();
            // Reuse the host staging copy while the size stays the same: a video loop allocates nothing here.
            if (_staging is null || _staging.Width != image.Width || _staging.Height != image.Height)
                _staging = new RgbImage(image.Width, image.Height, new byte[checked(image.Width * image.Height * 3)]);
            ImageLoader.CopyTo(image, _staging);
            return RunLocked(Requests(_staging, boxes, camera, null), cancellationToken);
        }
    }

    /// <summary>Estimates every box of an RGB image. Results are in box order.</summary>
    /// <param name="focal">Focal length in pixels (principal point at the image centre); null: W + H.</param>
    public FaceResult[] Estimate(RgbImage image, IReadOnlyList<FaceBox> boxes, float? focal = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        return Estimate(image, boxes, CameraIntrinsics.FromFocalOrDefault(focal, image.Width, image.Height), cancellationToken);
    }

    /// <summary>Estimates every box of an RGB image seen by <paramref name="camera"/>. Results are in box order.</summary>
    public FaceResult[] Estimate(RgbImage image, IReadOnlyList<FaceBox> boxes, CameraIntrinsics camera, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(boxes);
        ArgumentNullException.ThrowIfNull(camera);
        var requests = Requests(image, boxes, camera, null);
        lock (_gate)
        {
            ThrowIfDisposed();
            return RunLocked(requests, cancellationToken);
        }
    }

    /// <summary>Decodes an image file (<see cref="EstimatorOptions.Images"/> rules) and estimates every box.</summary>
    /// <param name="focal">Focal length in pixels (principal point at the image centre); null: W + H.</param>
    public FaceResult[] EstimateFile(string path, IReadOnlyList<FaceBox> boxes, float? focal = null, CancellationToken cancellationToken = default) =>
        EstimateFile(path, boxes, image => CameraIntrinsics.FromFocalOrDefault(focal, image.Width, image.Height), cancellationToken);

    /// <summary>
    /// Decodes an image file and estimates every box with the intrinsics <paramref name="camera"/> gives for the decoded
    /// image (its size is known only then: e.g. <c>img =&gt; calibration.For(img.Width, img.Height)</c>).
    /// </summary>
    public FaceResult[] EstimateFile(string path, IReadOnlyList<FaceBox> boxes, Func<RgbImage, CameraIntrinsics> camera, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(boxes);
        ArgumentNullException.ThrowIfNull(camera);
        var image = ImageLoader.LoadFile(path, Options.Images, cancellationToken);
        var requests = Requests(image, boxes, camera(image), path);
        lock (_gate)
        {
            ThrowIfDisposed();
            return RunLocked(requests, cancellationToken);
        }
    }

    /// <summary>
    /// Estimates the faces of many images together: all faces go through shared forward passes of up to
    /// <see cref="EstimatorOptions.MaxBatchSize"/> faces. Returns one array per image, in order, each in box order.
    /// Every box is checked before anything runs; a bad one throws <see cref="TrgException"/> (InvalidBox).
    /// </summary>
    public FaceResult[][] EstimateBatch(IReadOnlyList<ImageFaces> images, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        var all = new List<FaceRequest>();
        var counts = new int[images.Count];
        for (int i = 0; i < images.Count; i++)
        {
            var item = images[i] ?? throw new ArgumentNullException(nameof(images), $"image {i} is null");
            string? where = images.Count > 1 ? $"image {i}" : null;
            ArgumentNullException.ThrowIfNull(item.Image);
            if (item.Focal is not null && item.Camera is not null)
                throw new TrgException(ErrorKind.Usage, "give Focal or Camera, not both", where);
            var requests = Requests(item.Image, item.Boxes, item.Camera ?? CameraIntrinsics.FromFocalOrDefault(item.Focal, item.Image.Width, item.Image.Height), where);
            all.AddRange(requests);
            counts[i] = requests.Length;
        }
        FaceResult[] flat;
        lock (_gate)
        {
            ThrowIfDisposed();
            flat = RunLocked(all, cancellationToken);
        }
        var results = new FaceResult[images.Count][];
        for (int i = 0, at = 0; i < images.Count; at += counts[i], i++)
            results[i] = flat.AsSpan(at, counts[i]).ToArray();
        return results;
    }

    /// <summary>Estimates prepared requests (any mix of images), chunked by the batch size; results in order.</summary>
    public FaceResult[] Estimate(IReadOnlyList<FaceRequest> faces, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(faces);
        for (int i = 0; i < faces.Count; i++)
        {
            var f = faces[i] ?? throw new ArgumentNullException(nameof(faces), $"face {i} is null");
            if (f.Camera is null) throw new ArgumentNullException(nameof(faces), $"face {i} has no camera intrinsics");
            if (FaceRequestChecks.Check(f, $"face {i}") is { } error) throw error;
        }
        lock (_gate)
        {
            ThrowIfDisposed();
            return RunLocked(faces, cancellationToken);
        }
    }

    /// <summary>
    /// Like <see cref="Estimate(IReadOnlyList{FaceRequest}, CancellationToken)"/> with every face's outcome apart: its
    /// result, or its error when its outputs are not finite (<see cref="FaceRequestChecks.NonFiniteOutput"/>); the other
    /// faces are still reported. Requests are checked first, as there.
    /// </summary>
    internal (FaceResult? Result, TrgException? Error)[] EstimateEach(IReadOnlyList<FaceRequest> faces, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(faces);
        for (int i = 0; i < faces.Count; i++)
            if (FaceRequestChecks.Check(faces[i], $"face {i}") is { } error) throw error;
        FaceResult[] results;
        lock (_gate)
        {
            ThrowIfDisposed();
            results = RunUnchecked(faces, cancellationToken);
        }
        return results.Select(r => FaceRequestChecks.OutputProblem(r) is { } output
            ? ((FaceResult?)null, FaceRequestChecks.NonFiniteOutput(r, output)) : (r, null)).ToArray();
    }

    private static FaceRequest[] Requests(RgbImage image, IReadOnlyList<FaceBox> boxes, CameraIntrinsics camera, string? where)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(boxes);
        var requests = new FaceRequest[boxes.Count];
        for (int i = 0; i < boxes.Count; i++)
        {
            requests[i] = new FaceRequest(image, boxes[i], camera);
            if (FaceRequestChecks.Check(requests[i], $"face {i}", where) is { } error) throw error;
        }
        return requests;
    }

    // Caller holds _gate. A face whose outputs are not finite fails the call (TrgException, InvalidModel, naming it).
    private FaceResult[] RunLocked(IReadOnlyList<FaceRequest> faces, CancellationToken cancellationToken)
    {
        var results = RunUnchecked(faces, cancellationToken);
        for (int i = 0; i < results.Length; i++)
            if (FaceRequestChecks.OutputProblem(results[i]) is { } output) throw FaceRequestChecks.NonFiniteOutput(results[i], output, $"face {i}");
        return results;
    }

    // Caller holds _gate. Full chunks of MaxBatchSize, then one remainder: at most two plan sizes per request size.
    private FaceResult[] RunUnchecked(IReadOnlyList<FaceRequest> faces, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (faces.Count == 0) return [];
        int max = BatchSize;
        if (faces.Count <= max) return Check(_run(faces, cancellationToken), faces.Count);
        var results = new FaceResult[faces.Count];
        for (int at = 0; at < faces.Count; at += max)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = Math.Min(max, faces.Count - at);
            var chunk = new FaceRequest[n];
            for (int k = 0; k < n; k++) chunk[k] = faces[at + k];
            Check(_run(chunk, cancellationToken), n).CopyTo(results, at);
        }
        return results;
    }

    private static FaceResult[] Check(FaceResult[] results, int expected) =>
        results.Length == expected ? results
            : throw new InvalidOperationException($"the engine returned {results.Length} results for {expected} faces");

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Releases the device session. Waits for a call in progress; later calls throw ObjectDisposedException.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _staging = null;
            _owned?.Dispose();
        }
    }
}
