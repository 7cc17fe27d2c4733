using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Engine;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Cli.Estimate;

/// <summary>
/// One `trg estimate` run: expand the inputs, decode images ahead on a worker while the device runs, batch faces across
/// images, write JSON / overlays in input order, report each failure and carry on, print a summary, pick the exit code.
/// </summary>
internal sealed class EstimateRun(EstimateSettings settings, Func<HeadPoseOptions, HeadPoseEstimator> createEstimator,
    TextWriter stdout, TextWriter stderr, bool stderrIsTerminal)
{
    private sealed record Loaded(InputItem Item, RgbImage? Image, TrgException? Error, double DecodeMs);

    private readonly RunStats _stats = new();
    private readonly List<string> _deferredMessages = [];
    private bool _deferMessages;
    private CameraCalibration? _calibration;

    private StartupTimings? _timings;

    public int Execute(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        _timings = settings.Timings ? new StartupTimings() : null;
        // Everything a user can get wrong is checked before the model loads (seconds) or anything is written.
        var items = Inputs.Expand(settings.Inputs);
        bool multi = Inputs.IsMulti(settings.Inputs);
        var boxesFile = settings.BoxesFile is null ? null : BoxesFile.Load(settings.BoxesFile);
        _calibration = settings.CalibrationPath is null ? null : CameraCalibration.Load(settings.CalibrationPath);
        if (_calibration is { HasDistortion: true } && !settings.Quiet)
            stderr.WriteLine($"{settings.CalibrationPath}: distortion coefficients are not applied (TRG takes a pinhole camera); "
                + "undistort the images first (e.g. OpenCV undistort) for exact poses near the image edges");
        var overlays = OverlayTarget.Resolve(settings.OverlayPath, multi);
        using var sink = ResultSink.Open(settings, multi, stdout);

        var loadClock = Stopwatch.StartNew();
        var imageOptions = new ImageLoadOptions { MaxPixels = settings.MaxPixels, ApplyExifOrientation = !settings.IgnoreExif };
        using var estimator = createEstimator(new HeadPoseOptions
        {
            Model = settings.Model,
            Device = settings.Device,
            Log = settings.Quiet ? null : stderr,
            Detector = settings.Detector,
            MaxBatchSize = settings.BatchSize,
            Loading = new WeightLoadOptions { Timings = _timings },
        });
        _stats.ModelLoadMs = loadClock.Elapsed.TotalMilliseconds;
        sink.Begin(estimator.Weights, estimator.DeviceName, estimator.Method, estimator.Options.Detector);

        bool showProgress = !settings.Quiet && stderrIsTerminal && items.Count > 1;
        void Work(Action<int> advance) =>
            Process(items, boxesFile, imageOptions, estimator, sink, overlays, advance, cancellationToken);
        if (showProgress)
        {
            _deferMessages = true;
            ProgressDisplay.Run(stderr, items.Count, Work);
            _deferMessages = false;
            foreach (var m in _deferredMessages) stderr.WriteLine(m);
        }
        else Work(_ => { });

        _stats.TotalMs = clock.Elapsed.TotalMilliseconds;
        using (_timings.Time(StartupPhase.Output)) sink.Finish(_stats);
        if (!settings.Quiet) stderr.WriteLine(Summary(estimator.DeviceName, sink.Where, overlays));
        if (_timings is not null) stderr.WriteLine($"trg estimate --timings (ms from process start; docs/startup.md):\n{_timings.Format()}");
        return ExitCode();
    }

    private void Process(List<InputItem> items, BoxesFile? boxesFile, ImageLoadOptions imageOptions, HeadPoseEstimator estimator,
        ResultSink sink, OverlayTarget? overlays, Action<int> advance, CancellationToken ct)
    {
        // Decode ahead, in order, a few images: the device works while the next ones are decoded. Kept small because
        // a batch already holds up to BatchSize decoded photos (a 12-megapixel photo is 36 MB as RGB).
        var channel = Channel.CreateBounded<Loaded>(new BoundedChannelOptions(4)
        {
            SingleReader = true, SingleWriter = true,
        });
        // The producer stops when this loop ends for any reason (a fatal engine error must not leave it blocked on a full channel).
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var producer = Task.Run(async () =>
        {
            try
            {
                foreach (var item in items)
                    await channel.Writer.WriteAsync(Decode(item, imageOptions, stop.Token), stop.Token);
            }
            finally
            {
                channel.Writer.Complete();
            }
        }, stop.Token);

        var pending = new List<(Loaded Loaded, ImageOutcome Outcome, PhotoRequest? Photo)>();
        int pendingFaces = 0;
        try
        {
            foreach (var loaded in channel.Reader.ReadAllAsync(ct).ToBlockingEnumerable(ct))
            {
                var (outcome, photo) = Prepare(loaded, boxesFile);
                pending.Add((loaded, outcome, photo));
                // An image whose faces are still to be found counts as one face towards the batch.
                pendingFaces += photo is null ? 0 : photo.Boxes?.Count ?? 1;
                if (pendingFaces >= settings.BatchSize)
                {
                    Flush(pending, estimator, sink, overlays, advance, ct);
                    pendingFaces = 0;
                }
            }
            Flush(pending, estimator, sink, overlays, advance, ct);
        }
        finally
        {
            stop.Cancel();
            // Surface a producer bug; its cancellation is expected here.
            try { producer.GetAwaiter().GetResult(); }
            catch (OperationCanceledException) { }
        }
        ct.ThrowIfCancellationRequested();
    }

    private static Loaded Decode(InputItem item, ImageLoadOptions options, CancellationToken ct)
    {
        if (item.Error is not null) return new Loaded(item, null, item.Error, 0);
        var t = Stopwatch.StartNew();
        try
        {
            var image = ImageLoader.LoadFile(item.Path, options, ct);
            return new Loaded(item, image, null, t.Elapsed.TotalMilliseconds);
        }
        catch (TrgException e)
        {
            return new Loaded(item, null, e, t.Elapsed.TotalMilliseconds);
        }
    }

    /// <summary>The image's outcome so far and what to estimate (null when the image already failed).</summary>
    private (ImageOutcome, PhotoRequest?) Prepare(Loaded loaded, BoxesFile? boxesFile)
    {
        var path = loaded.Item.Path;
        if (loaded.Image is not { } image)
            return (new ImageOutcome { Path = path, Error = loaded.Error, DecodeMs = loaded.DecodeMs }, null);

        // No --bbox and no --boxes: find the faces.
        IReadOnlyList<FaceBox>? boxes = boxesFile is not null ? boxesFile.Find(path) : settings.Boxes.Count > 0 ? settings.Boxes : null;
        if (boxesFile is not null && boxes is null)
        {
            var error = new TrgException(ErrorKind.InvalidBox, $"no entry for this image in the boxes file {boxesFile.Path}", path);
            return (new ImageOutcome { Path = path, Error = error, DecodeMs = loaded.DecodeMs }, null);
        }
        CameraIntrinsics camera;
        try
        {
            camera = CameraFor(image);
        }
        catch (TrgException e)
        {
            return (new ImageOutcome { Path = path, Error = e, DecodeMs = loaded.DecodeMs }, null);
        }
        var outcome = new ImageOutcome { Path = path, Width = image.Width, Height = image.Height, Camera = camera, DecodeMs = loaded.DecodeMs };
        if (boxes is null) return (outcome, new PhotoRequest(image, camera));
        var good = new List<FaceBox>();
        for (int i = 0; i < boxes.Count; i++)
        {
            if (TrgEstimator.BoxProblem(boxes[i], image.Width, image.Height) is { } problem)
                outcome.FaceErrors.Add((boxes[i], new TrgException(ErrorKind.InvalidBox, $"face {i}: {problem}", path)));
            else
                good.Add(boxes[i]);
        }
        return (outcome, new PhotoRequest(image, camera, good));
    }

    /// <summary>An image to run: decoded, and either faces to find or at least one valid box.</summary>
    private static bool HasWork(PhotoRequest? photo) => photo is not null && (photo.Boxes is null || photo.Boxes.Count > 0);

    /// <summary>The camera of one image: --calibration (scaled to its size), --camera, --focal, else the W + H default.</summary>
    private CameraIntrinsics CameraFor(RgbImage image) =>
        _calibration?.For(image.Width, image.Height)
        ?? settings.Camera
        ?? CameraIntrinsics.FromFocalOrDefault(settings.Focal, image.Width, image.Height);

    private void Flush(List<(Loaded Loaded, ImageOutcome Outcome, PhotoRequest? Photo)> pending, HeadPoseEstimator estimator,
        ResultSink sink, OverlayTarget? overlays, Action<int> advance, CancellationToken ct)
    {
        if (pending.Count == 0) return;
        var photos = pending.Where(p => HasWork(p.Photo)).Select(p => p.Photo!).ToList();
        var t = Stopwatch.StartNew();
        PhotoResult[] results;
        using (_timings.Time(StartupPhase.Forward)) results = photos.Count > 0 ? estimator.EstimateBatch(photos, ct) : [];
        double ms = t.Elapsed.TotalMilliseconds;
        int at = 0;
        foreach (var (loaded, outcome, photo) in pending)
        {
            if (HasWork(photo))
            {
                var result = results[at++];
                outcome.Faces.AddRange(result.Faces);
                foreach (var failure in result.Failures)
                    outcome.FaceErrors.Add((failure.Box, new TrgException(failure.Error.Kind, failure.Error.Message, loaded.Item.Path, failure.Error)));
                outcome.InferenceMs = ms;
            }
            using var output = _timings.Time(StartupPhase.Output);
            if (loaded.DecodeMs > 0) _timings?.Add(StartupPhase.ImageDecode, TimeSpan.FromMilliseconds(loaded.DecodeMs));
            if (overlays is not null && loaded.Image is { } image && outcome.Error is null)
            {
                try
                {
                    overlays.Write(loaded.Item.Path, image, outcome.Faces, estimator.Triangles, settings.SidePanel);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or TrgException)
                {
                    var error = e as TrgException ?? new TrgException(ErrorKind.NotFound, $"cannot write the overlay: {e.Message}", loaded.Item.Path, e);
                    outcome.FaceErrors.Add((null, error));
                }
            }
            Record(outcome);
            sink.Add(outcome);
            advance(1);
        }
        pending.Clear();
    }

    private void Record(ImageOutcome o)
    {
        _stats.Images++;
        _stats.Faces += o.Faces.Count;
        if (o.Error is not null)
        {
            _stats.ImagesFailed++;
            _stats.FailureKinds.Add(o.Error.Kind);
            Report($"trg: error: {o.Error.Message} (skipped)");
        }
        foreach (var (_, error) in o.FaceErrors)
        {
            _stats.FacesFailed++;
            _stats.FailureKinds.Add(error.Kind);
            Report($"trg: error: {error.Message} (skipped)");
        }
    }

    private void Report(string message)
    {
        if (_deferMessages) _deferredMessages.Add(message); else stderr.WriteLine(message);
    }

    /// <summary>
    /// 0 when everything succeeded. When something failed: if no face was estimated and every failure is of one kind,
    /// that kind's code (a lone unreadable image gives 6, a missing one 3); otherwise 9 (partial failure).
    /// </summary>
    private int ExitCode()
    {
        if (_stats.FailureKinds.Count == 0) return 0;
        var kinds = _stats.FailureKinds.Distinct().ToList();
        if (_stats.Faces == 0 && kinds.Count == 1) return (int)kinds[0];
        return (int)ErrorKind.PartialFailure;
    }

    private string Summary(string device, string where, OverlayTarget? overlays)
    {
        double s = _stats.TotalMs / 1000, work = (_stats.TotalMs - _stats.ModelLoadMs) / 1000;
        var text = string.Format(CultureInfo.InvariantCulture,
            "trg estimate: {0} image{1} ({2} failed), {3} face{4} ({5} failed) in {6:0.00} s (model load {7:0.00} s, then {8:0.##} images/s) on {9}; JSON to {10}",
            _stats.Images, _stats.Images == 1 ? "" : "s", _stats.ImagesFailed, _stats.Faces, _stats.Faces == 1 ? "" : "s",
            _stats.FacesFailed, s, _stats.ModelLoadMs / 1000, work > 0 ? _stats.Images / work : 0, device, where);
        if (overlays is not null) text += $"; overlays to {overlays.Where}";
        return text;
    }
}

/// <summary>Where --overlay pictures go: one PNG file (a single image), or a folder of &lt;name&gt;.overlay.png.</summary>
internal sealed class OverlayTarget
{
    private readonly string? _file, _folder;
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    public string Where => _file ?? _folder!;

    private OverlayTarget(string? file, string? folder) { _file = file; _folder = folder; }

    public static OverlayTarget? Resolve(string? path, bool multi)
    {
        if (path is null) return null;
        bool isPng = Path.GetExtension(path).Equals(".png", StringComparison.OrdinalIgnoreCase);
        bool looksLikeFolder = Directory.Exists(path) || path.EndsWith('/') || path.EndsWith(Path.DirectorySeparatorChar) || !Path.HasExtension(path);
        if (!looksLikeFolder && !isPng)
            throw new TrgException(ErrorKind.Usage, $"--overlay {path}: overlays are PNG files; give a .png file or a folder");
        if (looksLikeFolder)
        {
            try { Directory.CreateDirectory(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new TrgException(ErrorKind.NotFound, $"cannot create the overlay folder: {e.Message}", path, e);
            }
            return new OverlayTarget(null, path);
        }
        if (multi)
            throw new TrgException(ErrorKind.Usage, $"--overlay {path}: several images need a folder for their overlays, not one .png file");
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(dir)) throw new TrgException(ErrorKind.NotFound, "the overlay's folder does not exist", dir);
        return new OverlayTarget(path, null);
    }

    public void Write(string imagePath, RgbImage image, IReadOnlyList<FaceResult> faces, int[]? triangles, bool sidePanel)
    {
        string target = _file ?? NextName(imagePath);
        Overlay.SavePng(image, faces, target, triangles, new OverlayOptions { SidePanel = sidePanel });
    }

    private string NextName(string imagePath)
    {
        var stem = Path.GetFileNameWithoutExtension(imagePath);
        var name = $"{stem}.overlay.png";
        for (int k = 2; !_used.Add(name); k++) name = $"{stem}-{k}.overlay.png";
        return Path.Combine(_folder!, name);
    }
}
