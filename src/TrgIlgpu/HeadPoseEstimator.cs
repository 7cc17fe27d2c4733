using TrgIlgpu.Backends;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Engine;
using TrgIlgpu.Faces;
using TrgIlgpu.Geometry;
using TrgIlgpu.Imaging;
using TrgIlgpu.Model;

namespace TrgIlgpu;

/// <summary>Settings of a <see cref="HeadPoseEstimator"/>, fixed when it is created.</summary>
public sealed record HeadPoseOptions
{
    /// <summary>
    /// The TRG model: a model file (.safetensors) or <c>synthetic:trgv2[:SEED]</c>. Null: no TRG network; poses come
    /// from fitting the detected landmarks to the TRG template (<see cref="PoseMethod.Landmarks"/>).
    /// </summary>
    public string? Model { get; init; }

    /// <summary>Compute device for every network; <see cref="DeviceKind.Auto"/> takes CUDA, then OpenCL, then the CPU.</summary>
    public DeviceKind Device { get; init; } = DeviceKind.Auto;

    /// <summary>Where the engine says which device and which pose method it took (null: silent).</summary>
    public TextWriter? Log { get; init; }

    /// <summary>Face finding: detector, score threshold, minimum face size.</summary>
    public DetectorOptions Detector { get; init; } = new();

    /// <summary>Most faces in one TRG or landmark pass, most images in one detector pass.</summary>
    public int MaxBatchSize { get; init; } = 16;

    /// <summary>How TRG's 3x3 stride-1 convolutions run (docs/devices.md).</summary>
    public ConvAlgorithm Convolutions { get; init; } = ConvAlgorithm.Auto;

    /// <summary>Packed-weights cache, host copy of the weights, start-up timings (docs/startup.md).</summary>
    public WeightLoadOptions Loading { get; init; } = new();
}

/// <summary>One photo to estimate: the image, its camera (null: f = W + H, principal point at the centre) and, to skip
/// detection, the face boxes.</summary>
/// <param name="Boxes">
/// Null: find the faces. Given, with a TRG model: TRG runs on these boxes as they are (the boxes TRG expects, as
/// <see cref="FaceBoxRule"/> makes them). Given, without a model: they are face boxes as a detector gives them, and the
/// landmark net runs on them.
/// </param>
public sealed record PhotoRequest(RgbImage Image, CameraIntrinsics? Camera = null, IReadOnlyList<FaceBox>? Boxes = null);

/// <summary>A face that could not be estimated: its box and why (the other faces of the photo are still reported).</summary>
public sealed record FaceFailure(FaceBox Box, TrgException Error);

/// <summary>The faces of one photo, in detection (score) order or box order, and the faces that failed.</summary>
public sealed record PhotoResult(FaceResult[] Faces, FaceFailure[] Failures);

/// <summary>
/// Photo in, head poses out: finds the faces (face-api's detector and 68-point landmark net on the engine), derives
/// each TRG box from the landmarks by the official demo's rule, and estimates the pose with the TRG network when a model
/// is given, or by fitting the landmarks to the TRG template when not. Every network runs on one device.
/// </summary>
/// <remarks>
/// <para>Thread-safe: calls are serialised (one device stream).</para>
/// <para>Requests are checked by <see cref="FaceRequestChecks"/> first: a given box that is unusable throws
/// <see cref="TrgException"/> (<see cref="ErrorKind.InvalidBox"/>), a camera outside the sane range for its image
/// (<see cref="ErrorKind.Usage"/>). A found face whose TRG box is unusable, and a face whose outputs are not finite
/// (<see cref="ErrorKind.InvalidModel"/> from the TRG network, <see cref="ErrorKind.InvalidBox"/> from the landmark
/// fit), is a <see cref="FaceFailure"/> of its photo: never a result with non-finite numbers.</para>
/// </remarks>
public sealed class HeadPoseEstimator : IDisposable
{
    private readonly object _gate = new();
    private readonly ComputeDevice? _ownedDevice;
    private readonly TrgEstimator? _trg;
    private readonly Func<FaceFinder> _createFinder;
    private FaceFinder? _finder;
    private bool _disposed;

    /// <summary>The settings in use.</summary>
    public HeadPoseOptions Options { get; }

    /// <summary>The pose method: <see cref="PoseMethod.Trg"/> with a model, <see cref="PoseMethod.Landmarks"/> without.</summary>
    public PoseMethod Method => _trg is null ? PoseMethod.Landmarks : PoseMethod.Trg;

    /// <summary>
    /// The face finder (detector and landmark net), loaded on first use: a TRG run on given boxes never loads it.
    /// </summary>
    public FaceFinder Finder
    {
        get
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                return _finder ??= _createFinder();
            }
        }
    }

    /// <summary>The TRG weights, or null for the landmark fit.</summary>
    public ModelWeights? Weights => _trg?.Weights;

    /// <summary>The device in words.</summary>
    public string DeviceName { get; }

    /// <summary>Triangles of the mesh the results' vertices belong to (TRG's topology is the template's), for drawing.</summary>
    public int[] Triangles { get; }

    /// <summary>Loads the networks and opens the device (seconds). Throws <see cref="TrgException"/> on failure.</summary>
    public static HeadPoseEstimator Create(HeadPoseOptions? options = null)
    {
        options = Validate(options ?? new HeadPoseOptions());
        var timings = options.Loading.Timings;
        // The model file is opened (header, hash) on another thread while the device opens.
        var model = options.Model;
        var opening = model is null ? null : Task.Run(() =>
        {
            using (timings.Time(StartupPhase.ModelOpen))
                return options.Loading.KeepHostWeights ? ModelWeights.Load(model) : ModelWeights.Open(model);
        });
        ComputeDevice device;
        TrgEstimator? trg;
        try
        {
            // The estimator owns the device; TRG and the finder borrow it, so all three networks share one stream and one
            // set of compiled kernels. With --device auto, a backend that fails to load TRG is skipped for the next
            // (ComputeDevice.OpenFor). The session keeps no host copy of the weights unless asked.
            using (timings.Time(StartupPhase.DeviceOpen))
                (device, trg) = ComputeDevice.OpenFor(options.Device, options.Log, d =>
                {
                    d.Timings = timings;
                    d.KernelCache = options.Loading.Cache?.KernelDirectory;
                    var weights = opening?.GetAwaiter().GetResult();
                    return (d, weights is null ? null : new TrgEstimator(weights, d, new EstimatorOptions
                    {
                        Device = options.Device, Log = options.Log, MaxBatchSize = options.MaxBatchSize, Convolutions = options.Convolutions,
                        Loading = options.Loading,
                    }));
                });
        }
        catch
        {
            opening?.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted); // observed, superseded by this error
            throw;
        }
        return new HeadPoseEstimator(options, trg, device.Description, device, () => FaceFinder.Create(device, FinderOptions(options)));
    }

    /// <summary>For the CLI's tests: any TRG estimator (a stand-in engine); the finder opens its own device when needed.</summary>
    internal static HeadPoseEstimator ForTrg(TrgEstimator trg, HeadPoseOptions options)
    {
        options = Validate(options);
        return new HeadPoseEstimator(options, trg, trg.DeviceName, null, () => FaceFinder.Create(FinderOptions(options)));
    }

    private HeadPoseEstimator(HeadPoseOptions options, TrgEstimator? trg, string deviceName, ComputeDevice? ownedDevice, Func<FaceFinder> createFinder)
    {
        Options = options;
        _trg = trg;
        _ownedDevice = ownedDevice;
        _createFinder = createFinder;
        DeviceName = deviceName;
        Triangles = trg?.Weights.Triangles ?? HeadTemplate.Trg.Triangles.ToArray();
        options.Log?.WriteLine(trg is not null
            ? $"trg: pose method: TRG network ({trg.Weights.Variant.Name}, {trg.Weights.Source}); faces without a given box are found by {Describe(options.Detector)}"
            : $"trg: pose method: landmark fit (no --model: the 68 detected landmarks fitted to the TRG template by PnP, not the TRG network); faces found by {Describe(options.Detector)}");
    }

    private static FaceFinderOptions FinderOptions(HeadPoseOptions o) =>
        new() { Device = o.Device, Log = o.Log, Detector = o.Detector, MaxBatchSize = o.MaxBatchSize };

    private static string Describe(DetectorOptions d) =>
        d.Detector == DetectorKind.Ssd ? "face-api SSD MobileNet v1 (512)" : $"face-api tiny face detector ({d.TinyInputSize})";

    private static HeadPoseOptions Validate(HeadPoseOptions o)
    {
        if (o.MaxBatchSize < 1) throw new TrgException(ErrorKind.Usage, $"the batch size must be at least 1 (got {o.MaxBatchSize})");
        ArgumentNullException.ThrowIfNull(o.Detector);
        o.Detector.Validate();
        return o;
    }

    /// <summary>Head poses of every face in one photo (found, or in <paramref name="boxes"/>).</summary>
    public PhotoResult Estimate(RgbImage image, CameraIntrinsics? camera = null, IReadOnlyList<FaceBox>? boxes = null,
        CancellationToken cancellationToken = default) =>
        EstimateBatch([new PhotoRequest(image, camera, boxes)], cancellationToken)[0];

    /// <summary>
    /// Head poses of every face in several photos: detection in passes of up to <see cref="HeadPoseOptions.MaxBatchSize"/>
    /// images, landmarks and TRG over the faces of all photos together. One result per photo, in order.
    /// </summary>
    public PhotoResult[] EstimateBatch(IReadOnlyList<PhotoRequest> photos, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(photos);
        var cameras = new CameraIntrinsics[photos.Count];
        for (int i = 0; i < photos.Count; i++)
        {
            var p = photos[i] ?? throw new ArgumentNullException(nameof(photos), $"photo {i} is null");
            ArgumentNullException.ThrowIfNull(p.Image);
            cameras[i] = CheckedCamera(p.Image, p.Camera, p.Boxes ?? [], photos.Count > 1 ? $"image {i}" : null);
        }
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var found = FindFaces(photos, cancellationToken);
            return _trg is not null ? RunTrg(photos, cameras, found, cancellationToken) : RunFit(photos, cameras, found);
        }
    }

    /// <summary>
    /// Head poses of faces already found in a photo (e.g. by a tracker: the landmark net on boxes predicted from the
    /// previous frame): TRG on each face's <see cref="FoundFace.TrgBox"/> with a model, the landmark fit on its
    /// <see cref="FoundFace.Landmarks68"/> without. Each result's <see cref="FaceResult.Detection"/> is the face given
    /// (the same instance), in the order given; a face the fit could not pose is in <see cref="PhotoResult.Failures"/>.
    /// </summary>
    /// <exception cref="TrgException">InvalidBox: a TRG box that is empty or not finite.</exception>
    public PhotoResult EstimateFound(RgbImage image, IReadOnlyList<FoundFace> faces, CameraIntrinsics? camera = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(faces);
        var found = faces.ToArray();
        foreach (var face in found) ArgumentNullException.ThrowIfNull(face, nameof(faces));
        var photo = new PhotoRequest(image, camera, found.Select(f => f.TrgBox).ToArray());
        CameraIntrinsics[] cameras = [CheckedCamera(image, camera, photo.Boxes!, where: null)];
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _trg is not null ? RunTrg([photo], cameras, [found], cancellationToken)[0] : RunFit([photo], cameras, [found])[0];
        }
    }

    /// <summary>
    /// A photo's camera (given, or the default for its size) once it and the given boxes pass
    /// <see cref="FaceRequestChecks"/>: Usage for the camera, InvalidBox naming the face for a box.
    /// </summary>
    private static CameraIntrinsics CheckedCamera(RgbImage image, CameraIntrinsics? camera, IReadOnlyList<FaceBox> boxes, string? where)
    {
        var checkedCamera = camera ?? CameraIntrinsics.Default(image.Width, image.Height);
        if (FaceRequestChecks.CameraProblem(checkedCamera, image.Width, image.Height) is { } cameraProblem)
            throw new TrgException(ErrorKind.Usage, cameraProblem, where);
        for (int k = 0; k < boxes.Count; k++)
            if (FaceRequestChecks.BoxProblem(boxes[k], image.Width, image.Height) is { } problem)
                throw new TrgException(ErrorKind.InvalidBox, $"face {k}: {problem}", where);
        return checkedCamera;
    }

    /// <summary>Per photo: the faces found (null where TRG runs on given boxes directly).</summary>
    private FoundFace[]?[] FindFaces(IReadOnlyList<PhotoRequest> photos, CancellationToken ct)
    {
        var found = new FoundFace[]?[photos.Count];
        var detect = new List<int>();
        for (int i = 0; i < photos.Count; i++)
        {
            if (photos[i].Boxes is null) detect.Add(i);
            else if (_trg is null)
            {
                // No model: the given boxes are detections; the landmark net gives the points to fit.
                var boxes = photos[i].Boxes!;
                var points = boxes.Count == 0 ? [] : Finder.Landmarks(photos[i].Image, boxes, ct);
                found[i] = boxes.Select((b, k) => new FoundFace(new FaceDetection(b, float.NaN), points[k], FaceBoxRule.FromLandmarks(points[k]))).ToArray();
            }
        }
        if (detect.Count > 0)
        {
            var results = Finder.FindBatch(detect.Select(i => photos[i].Image).ToList(), ct);
            for (int k = 0; k < detect.Count; k++) found[detect[k]] = results[k];
        }
        return found;
    }

    private PhotoResult[] RunTrg(IReadOnlyList<PhotoRequest> photos, CameraIntrinsics[] cameras, FoundFace[]?[] found, CancellationToken ct)
    {
        // Every face of every photo, in order; a found face whose TRG box is unusable fails alone, before the run.
        var faces = new List<(int Photo, FaceRequest Request, FoundFace? Found, TrgException? Refused)>();
        for (int i = 0; i < photos.Count; i++)
        {
            var p = photos[i];
            if (found[i] is { } detected)
                foreach (var f in detected)
                {
                    var request = new FaceRequest(p.Image, f.TrgBox, cameras[i]);
                    faces.Add((i, request, f, FaceRequestChecks.Check(request, $"face at {f.Detection.Box}")));
                }
            else
                foreach (var box in p.Boxes!) faces.Add((i, new FaceRequest(p.Image, box, cameras[i]), null, null));
        }
        var runnable = faces.Where(f => f.Refused is null).Select(f => f.Request).ToList();
        var outcomes = runnable.Count == 0 ? [] : _trg!.EstimateEach(runnable, ct);
        var results = new List<FaceResult>[photos.Count];
        var failures = new List<FaceFailure>[photos.Count];
        for (int i = 0; i < photos.Count; i++) { results[i] = []; failures[i] = []; }
        int at = 0;
        foreach (var (photo, request, detection, refused) in faces)
        {
            if (refused is not null) { failures[photo].Add(new FaceFailure(request.Box, refused)); continue; }
            var (result, error) = outcomes[at++];
            if (error is not null) failures[photo].Add(new FaceFailure(request.Box, error));
            else results[photo].Add(detection is null ? result! : With(result!, detection));
        }
        return Enumerable.Range(0, photos.Count).Select(i => new PhotoResult([.. results[i]], [.. failures[i]])).ToArray();
    }

    private static FaceResult With(FaceResult r, FoundFace detection) => new()
    {
        Method = PoseMethod.Trg, Detection = detection,
        Box = r.Box, Camera = r.Camera, Rotation = r.Rotation, Translation = r.Translation,
        VerticesCam = r.VerticesCam, VerticesHead = r.VerticesHead, Landmarks68Norm = r.Landmarks68Norm, Landmarks68 = r.Landmarks68,
        Iterations = r.Iterations, SamplingPoints = r.SamplingPoints,
    };

    private static PhotoResult[] RunFit(IReadOnlyList<PhotoRequest> photos, CameraIntrinsics[] cameras, FoundFace[]?[] found)
    {
        var template = HeadTemplate.Trg;
        var vertices = template.Vertices.ToArray();
        var results = new PhotoResult[photos.Count];
        for (int i = 0; i < photos.Count; i++)
        {
            var faces = new List<FaceResult>();
            var failures = new List<FaceFailure>();
            var c = cameras[i];
            foreach (var face in found[i]!)
            {
                try
                {
                    var fit = LandmarkPoseFit.Fit(face.Landmarks68, c.Fx, c.Fy, c.Cx, c.Cy);
                    if (!fit.Converged)
                        throw new TrgException(ErrorKind.InvalidBox, $"the landmark fit did not converge (reprojection error {fit.RmsPixels:0.0} px)");
                    var result = FitResult(face, fit, c, vertices);
                    if (FaceRequestChecks.OutputProblem(result) is { } output)
                        throw new TrgException(ErrorKind.InvalidBox, $"the landmark fit's {output} is not finite");
                    faces.Add(result);
                }
                catch (TrgException e)
                {
                    failures.Add(new FaceFailure(face.TrgBox, new TrgException(e.Kind, $"face at {face.Detection.Box}: {e.Message}")));
                }
            }
            results[i] = new PhotoResult([.. faces], [.. failures]);
        }
        return results;
    }

    /// <summary>The landmark fit in the TRG result schema: template vertices, the fit's R, T, reprojected landmarks.</summary>
    private static FaceResult FitResult(FoundFace face, LandmarkFitResult fit, CameraIntrinsics camera, float[] vertices)
    {
        var box = face.TrgBox;
        var landmarks = Array.ConvertAll(fit.Reprojected, v => (float)v);
        // Image pixels -> the crop coordinates TRG reports (inverse of the engine's crop warp, 191 steps over 192 pixels).
        var norm = new float[landmarks.Length];
        for (int l = 0; l < landmarks.Length / 2; l++)
        {
            norm[2 * l] = (landmarks[2 * l] - box.Left) * 191f / (192f * box.Width) * 2f - 1f;
            norm[2 * l + 1] = (landmarks[2 * l + 1] - box.Top) * 191f / (192f * box.Height) * 2f - 1f;
        }
        var rotation = fit.RotationSingle();
        var translation = fit.TranslationSingle();
        return new FaceResult
        {
            Method = PoseMethod.Landmarks, Detection = face, FitRmsPixels = fit.RmsPixels,
            Box = box, Camera = camera, Rotation = rotation, Translation = translation,
            VerticesHead = (float[])vertices.Clone(), VerticesCam = fit.CameraVertices(vertices),
            Landmarks68Norm = norm, Landmarks68 = landmarks,
            Iterations = [new IterationResult(rotation, translation)], SamplingPoints = [],
        };
    }

    /// <summary>Releases the networks and the device. Waits for a call in progress.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _finder?.Dispose();
            _trg?.Dispose();
            _ownedDevice?.Dispose();
        }
    }
}
