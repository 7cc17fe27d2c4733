using TrgIlgpu.Backends;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Engine;

namespace TrgIlgpu.Faces;

/// <summary>Settings of a <see cref="FaceFinder"/>, fixed when it is created.</summary>
public sealed record FaceFinderOptions
{
    /// <summary>Compute device; <see cref="DeviceKind.Auto"/> takes CUDA, then OpenCL, then the CPU.</summary>
    public DeviceKind Device { get; init; } = DeviceKind.Auto;

    /// <summary>Where the finder says which device it took (null: silent).</summary>
    public TextWriter? Log { get; init; }

    /// <summary>Which detector, thresholds, minimum face size, tiny input size, most faces.</summary>
    public DetectorOptions Detector { get; init; } = new();

    /// <summary>Most images in one detector pass and most faces in one landmark pass.</summary>
    public int MaxBatchSize { get; init; } = 16;
}

/// <summary>
/// A face found in a photo: the detector's box and score, the 68 landmarks (iBUG order, image pixels, x0,y0,x1,...)
/// and the TRG face box derived from them by the official demo's rule (<see cref="FaceBoxRule.FromLandmarks"/>).
/// </summary>
public sealed record FoundFace(FaceDetection Detection, float[] Landmarks68, FaceBox TrgBox);

/// <summary>
/// Finds faces and their 68 landmarks on the engine: face-api's pretrained detector (SSD MobileNet v1 or the tiny
/// face detector) and 68-point landmark net, as forward plans on one device, weights embedded in the library.
/// </summary>
/// <remarks>
/// <para><b>How a call runs.</b> Images go in passes of up to <see cref="FaceFinderOptions.MaxBatchSize"/>: one upload
/// of the pass's images; the detector at batch = images (one ResizeToSquare launch pads and resizes them all), one
/// download of its outputs, decoding and NMS on the host (face-api's own code paths: <see cref="SsdDecoder"/>,
/// <see cref="TinyYoloDecoder"/>); then the landmark net over all faces of the pass in batches of up to MaxBatchSize
/// (the crops of every image resized by one launch), one download each, and the landmarks mapped back to the image
/// (<see cref="LandmarkDecoder.ToImage"/>). A detection whose box, clipped to the image, is empty gets no landmarks
/// (face-api skips it too) and is left out.</para>
/// <para><b>Thread safety.</b> Like <see cref="TrgEstimator"/>: every public method may be called from any thread;
/// calls are serialised with a lock (one device stream). A finder made with <see cref="Create(ComputeDevice, FaceFinderOptions?)"/>
/// shares the device and its default stream with whoever else uses it (e.g. a <see cref="TrgEstimator"/> made on the
/// same <see cref="ComputeDevice"/>): each keeps its own buffers, and their device work is serialised by the device's
/// own lock, so objects that share a device may also be called from different threads at once (tested under load:
/// results bitwise identical to serial calls).</para>
/// <para><b>Memory.</b> Device buffers are planned once per network and batch size, then reused.</para>
/// </remarks>
public sealed class FaceFinder : IDisposable
{
    private readonly object _gate = new();
    private readonly FaceSession _session;
    private readonly FaceFinderOptions _options;
    private readonly float[] _anchors;
    private bool _disposed;

    private FaceFinder(ComputeDevice device, bool ownsDevice, FaceFinderOptions options, FaceApiModels models)
    {
        _options = options;
        _anchors = models.Ssd.Anchors.F32!;
        _session = new FaceSession(device, ownsDevice, models, [DetectorNetwork, FaceNetworkKind.FaceLandmark68]);
        DeviceName = device.Description;
    }

    /// <summary>Opens a device (<see cref="FaceFinderOptions.Device"/>) and loads the embedded networks.</summary>
    /// <exception cref="TrgException">Usage (bad options), Device (no such device), InvalidModel.</exception>
    public static FaceFinder Create(FaceFinderOptions? options = null)
    {
        var o = Validate(options);
        var models = FaceApiModels.LoadEmbedded();
        // With Auto, a backend whose kernels fail to compile is skipped for the next (ComputeDevice.OpenFor).
        return ComputeDevice.OpenFor(o.Device, o.Log, device => new FaceFinder(device, ownsDevice: true, o, models));
    }

    /// <summary>
    /// Loads the embedded networks on a device the caller owns (it is not disposed with the finder);
    /// <see cref="FaceFinderOptions.Device"/> and <see cref="FaceFinderOptions.Log"/> are not used.
    /// </summary>
    public static FaceFinder Create(ComputeDevice device, FaceFinderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        var o = Validate(options);
        FaceApiModels models;
        using (device.Timings.Time(StartupPhase.ModelRead)) models = FaceApiModels.LoadEmbedded();
        return new FaceFinder(device, ownsDevice: false, o, models);
    }

    private static FaceFinderOptions Validate(FaceFinderOptions? options)
    {
        var o = options ?? new FaceFinderOptions();
        if (o.Detector is null) throw new TrgException(ErrorKind.Usage, "the detector options are missing");
        o.Detector.Validate();
        if (o.MaxBatchSize < 1) throw new TrgException(ErrorKind.Usage, $"the batch size must be at least 1 (got {o.MaxBatchSize})");
        return o;
    }

    /// <summary>The device in words.</summary>
    public string DeviceName { get; }

    /// <summary>The detector settings in use (validated).</summary>
    public DetectorOptions Detector => _options.Detector;

    /// <summary>The settings the finder was made with (validated).</summary>
    public FaceFinderOptions Options => _options;

    /// <summary>Device bytes in use: weights, plans made so far, image buffer.</summary>
    public long AllocatedBytes
    {
        get { lock (_gate) return _session.AllocatedBytes; }
    }

    private FaceNetworkKind DetectorNetwork => _options.Detector.Detector == DetectorKind.Ssd ? FaceNetworkKind.SsdMobilenetV1 : FaceNetworkKind.TinyFaceDetector;

    /// <summary>Every face in an image, highest score first, with landmarks and TRG box.</summary>
    public FoundFace[] Find(RgbImage image, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        return FindBatch([image], cancellationToken)[0];
    }

    /// <summary>Every face in each image: detector passes of up to MaxBatchSize images, landmarks over all faces.</summary>
    public FoundFace[][] FindBatch(IReadOnlyList<RgbImage> images, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        for (int i = 0; i < images.Count; i++)
            if (images[i] is null) throw new ArgumentNullException(nameof(images), $"image {i} is null");
        var found = new FoundFace[images.Count][];
        lock (_gate)
        lock (_session.Device.Gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int max = _options.MaxBatchSize;
            for (int start = 0; start < images.Count; start += max)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var pass = images.Skip(start).Take(max).ToList();
                var offsets = _session.Upload(pass);
                var detections = Detect(pass, offsets);
                var faces = new List<(int Image, FaceDetection Detection, FaceCrop Crop)>();
                for (int i = 0; i < pass.Count; i++)
                    foreach (var d in detections[i])
                        if (FaceApiGeometry.LandmarkCrop(d.Box, pass[i].Width, pass[i].Height) is { } crop) faces.Add((i, d, crop));
                var outputs = RunLandmarks(faces.Select(f => (pass[f.Image], offsets[f.Image], f.Crop)).ToList(), cancellationToken);
                var perImage = pass.Select(_ => new List<FoundFace>()).ToArray();
                for (int f = 0; f < faces.Count; f++)
                {
                    var (i, d, crop) = faces[f];
                    var landmarks = LandmarkDecoder.ToImage(outputs[f], crop, d.Box);
                    perImage[i].Add(new FoundFace(d, landmarks, FaceBoxRule.FromLandmarks(landmarks)));
                }
                for (int i = 0; i < pass.Count; i++) found[start + i] = perImage[i].ToArray();
            }
        }
        return found;
    }

    /// <summary>The landmark net alone on given face boxes (as a detector gives them): 68x2 image pixels each.</summary>
    /// <exception cref="TrgException">InvalidBox: a box that is not finite or, clipped to the image, empty.</exception>
    public float[][] Landmarks(RgbImage image, IReadOnlyList<FaceBox> boxes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(boxes);
        var crops = new FaceCrop[boxes.Count];
        for (int i = 0; i < boxes.Count; i++)
        {
            var b = boxes[i];
            if (!float.IsFinite(b.Left) || !float.IsFinite(b.Top) || !float.IsFinite(b.Right) || !float.IsFinite(b.Bottom))
                throw new TrgException(ErrorKind.InvalidBox, $"face {i}: box coordinates must be finite numbers");
            crops[i] = FaceApiGeometry.LandmarkCrop(b, image.Width, image.Height)
                ?? throw new TrgException(ErrorKind.InvalidBox, $"face {i}: box {b} clipped to the {image.Width}x{image.Height} image is empty");
        }
        if (boxes.Count == 0) return [];
        lock (_gate)
        lock (_session.Device.Gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            cancellationToken.ThrowIfCancellationRequested();
            int offset = _session.Upload([image])[0];
            var outputs = RunLandmarks(crops.Select(c => (image, offset, c)).ToList(), cancellationToken);
            return outputs.Select((o, i) => LandmarkDecoder.ToImage(o, crops[i], boxes[i])).ToArray();
        }
    }

    /// <summary>The detector alone (upload, forward, download, decoding and NMS) on up to MaxBatchSize images: for the benchmark.</summary>
    internal IReadOnlyList<FaceDetection>[] DetectOnly(IReadOnlyList<RgbImage> images)
    {
        if (images.Count > _options.MaxBatchSize) throw new TrgException(ErrorKind.Usage, $"{images.Count} images, more than the batch size {_options.MaxBatchSize}");
        lock (_gate)
        lock (_session.Device.Gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return Detect(images, _session.Upload(images));
        }
    }

    /// <summary>The detector on a pass of uploaded images: one forward, one download, host decoding and NMS per image.</summary>
    private IReadOnlyList<FaceDetection>[] Detect(IReadOnlyList<RgbImage> images, int[] offsets)
    {
        var options = _options.Detector;
        int size = options.InputSize;
        var items = images.Select((img, i) =>
            FacePacking.ResizeItem(offsets[i], img.Width, img.Height, 0, 0, img.Width, img.Height, SquarePadding.BottomRight, size)).ToList();
        var plan = _session.Run(DetectorNetwork, size, items);
        var result = new IReadOnlyList<FaceDetection>[images.Count];
        for (int i = 0; i < images.Count; i++)
        {
            var img = images[i];
            result[i] = options.Detector == DetectorKind.Ssd
                ? SsdDecoder.Faces(DecodeSsd(plan, i), img.Width, img.Height, options)
                : TinyYoloDecoder.Faces(plan.Output(TinyFaceDetectorNetwork.GridOutput, i), TensorLayout.Chw, img.Width, img.Height, options);
        }
        return result;
    }

    /// <summary>Batch entry <paramref name="item"/>'s SSD heads (CHW on the device) decoded against the anchors.</summary>
    internal SsdRawOutput DecodeSsd(FaceNetworkPlan plan, int item) => SsdDecoder.Decode(_anchors,
        SsdDecoder.Heads.Select((_, h) => plan.Output(SsdMobilenetV1Network.BoxOutput(h), item)).ToList(),
        SsdDecoder.Heads.Select((_, h) => plan.Output(SsdMobilenetV1Network.ClassOutput(h), item)).ToList(), TensorLayout.Chw);

    /// <summary>The landmark net's 136 outputs for each crop, in batches of up to MaxBatchSize faces from any of the uploaded images.</summary>
    private float[][] RunLandmarks(IReadOnlyList<(RgbImage Image, int Offset, FaceCrop Crop)> faces, CancellationToken cancellationToken)
    {
        var outputs = new float[faces.Count][];
        int max = _options.MaxBatchSize;
        for (int start = 0; start < faces.Count; start += max)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var items = faces.Skip(start).Take(max).Select(f => FacePacking.ResizeItem(f.Offset, f.Image.Width, f.Image.Height,
                f.Crop.X, f.Crop.Y, f.Crop.Width, f.Crop.Height, SquarePadding.Centred, FaceApiGeometry.LandmarkInputSize)).ToList();
            var plan = _session.Run(FaceNetworkKind.FaceLandmark68, FaceApiGeometry.LandmarkInputSize, items);
            for (int k = 0; k < items.Count; k++) outputs[start + k] = plan.Output(FaceLandmark68Network.LandmarkOutput, k);
        }
        return outputs;
    }

    /// <summary>The engine session (tests: plans fed a tensor input).</summary>
    internal FaceSession Session => _session;

    /// <summary>Releases the device buffers (and the device when the finder opened it). Waits for a call in progress.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _session.Dispose();
        }
    }
}
