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
    private sealed record Loaded(int Index, InputItem Item, RgbImage? Image, TrgException? Error, double DecodeMs);

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
        var overlays = OverlayTarget.Resolve(settings.OverlayPath, multi, items);
        CheckOutputs(items, overlays);
        using var sink = ResultSink.Open(settings, multi, stdout);

        var loadClock = Stopwatch.StartNew();
        var imageOptions = new ImageLoadOptions { MaxPixels = settings.MaxPixels, ApplyExifOrientation = !settings.IgnoreExif };
        // Decoding starts before the model loads (on another thread), so the first images are ready when the device is.
        using var decoding = new DecodeAhead(items, imageOptions, cancellationToken);
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
            Process(decoding, boxesFile, estimator, sink, overlays, advance, cancellationToken);
        // Ctrl-C: the images finished so far keep complete outputs (JSON Lines already streamed, overlays written, the
        // JSON document committed with "cancelled": true), and the run ends with 130.
        try
        {
            if (showProgress)
            {
                _deferMessages = true;
                try { ProgressDisplay.Run(stderr, items.Count, Work); }
                finally
                {
                    _deferMessages = false;
                    foreach (var m in _deferredMessages) stderr.WriteLine(m);
                }
            }
            else Work(_ => { });
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _stats.Cancelled = true;
        }

        _stats.TotalMs = clock.Elapsed.TotalMilliseconds;
        bool wrote;
        using (_timings.Time(StartupPhase.Output)) wrote = sink.Finish(_stats);
        if (_stats.Cancelled)
        {
            stderr.WriteLine($"trg: cancelled after {_stats.Images} of {items.Count} image{(items.Count == 1 ? "" : "s")}; "
                + (!wrote ? "nothing was written" : $"the finished images' results are complete in {sink.Where}"
                    + (overlays is null ? "" : $" and {overlays.Where}")));
            return CliApp.Cancelled;
        }
        if (!settings.Quiet) stderr.WriteLine(Summary(estimator.DeviceName, sink.Where, overlays));
        if (_timings is not null) stderr.WriteLine($"trg estimate --timings (ms from process start; docs/startup.md):\n{_timings.Format()}");
        return ExitCode();
    }

    /// <summary>
    /// Before any work: every output is usable (not a folder, its folder writable), and none is an input (image, boxes,
    /// calibration or model file) or another output.
    /// </summary>
    private void CheckOutputs(List<InputItem> items, OverlayTarget? overlays)
    {
        var outputs = new List<(string What, string Path)>();
        if (settings.JsonPath is { } json && json != "-")
        {
            OutputPaths.CheckFile("--json", json);
            outputs.Add(($"--json {json}", json));
        }
        if (settings.JsonLinesPath is { } jsonl && jsonl != "-")
        {
            OutputPaths.CheckFile("--jsonl", jsonl);
            outputs.Add(($"--jsonl {jsonl}", jsonl));
        }
        if (overlays is not null)
        {
            OutputPaths.CheckFile("--overlay", overlays.Probe);
            outputs.AddRange(overlays.Targets.Select(t => ($"--overlay {t}", t)));
        }
        var inputs = items.Where(i => i.Error is null).Select(i => ($"input image {i.Path}", i.Path)).ToList();
        if (settings.BoxesFile is { } boxes) inputs.Add(($"--boxes {boxes}", boxes));
        if (settings.CalibrationPath is { } calibration) inputs.Add(($"--calibration {calibration}", calibration));
        if (settings.Model is { } model && File.Exists(model)) inputs.Add(($"--model {model}", model));
        OutputPaths.CheckDistinct(outputs, inputs);
    }

    private void Process(DecodeAhead decoding, BoxesFile? boxesFile, HeadPoseEstimator estimator,
        ResultSink sink, OverlayTarget? overlays, Action<int> advance, CancellationToken ct)
    {
        var pending = new List<(Loaded Loaded, ImageOutcome Outcome, PhotoRequest? Photo)>();
        int pendingFaces = 0;
        try
        {
            foreach (var loaded in decoding.Reader.ReadAllAsync(ct).ToBlockingEnumerable(ct))
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
            decoding.Finish();
        }
        ct.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// Decodes the inputs ahead, in order, on a worker: a few images, so that the device works while the next ones are
    /// decoded. Kept small because a batch already holds up to BatchSize decoded photos (a 12-megapixel photo is 36 MB
    /// as RGB). Started before the model loads; disposing stops it (a fatal error must not leave it blocked on a full
    /// channel).
    /// </summary>
    private sealed class DecodeAhead : IDisposable
    {
        private readonly Channel<Loaded> _channel = Channel.CreateBounded<Loaded>(new BoundedChannelOptions(4) { SingleReader = true, SingleWriter = true });
        private readonly CancellationTokenSource _stop;
        private readonly Task _producer;

        public DecodeAhead(List<InputItem> items, ImageLoadOptions options, CancellationToken ct)
        {
            _stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var stop = _stop.Token;
            _producer = Task.Run(async () =>
            {
                try
                {
                    for (int i = 0; i < items.Count; i++)
                        await _channel.Writer.WriteAsync(Decode(i, items[i], options, stop), stop);
                }
                finally
                {
                    _channel.Writer.Complete();
                }
            }, stop);
        }

        /// <summary>The decoded images (or their errors), in input order.</summary>
        public ChannelReader<Loaded> Reader => _channel.Reader;

        /// <summary>Stops the worker and surfaces a bug in it; its cancellation is expected here.</summary>
        public void Finish()
        {
            _stop.Cancel();
            try { _producer.GetAwaiter().GetResult(); }
            catch (OperationCanceledException) { }
        }

        /// <summary>Stops the worker without waiting (the run already failed, or <see cref="Finish"/> ran).</summary>
        public void Dispose()
        {
            _stop.Cancel();
            _producer.ContinueWith(t => { _ = t.Exception; _stop.Dispose(); }, TaskScheduler.Default); // observed; the token is released once unused
        }
    }

    private static Loaded Decode(int index, InputItem item, ImageLoadOptions options, CancellationToken ct)
    {
        if (item.Error is not null) return new Loaded(index, item, null, item.Error, 0);
        var t = Stopwatch.StartNew();
        try
        {
            var image = ImageLoader.LoadFile(item.Path, options, ct);
            return new Loaded(index, item, image, null, t.Elapsed.TotalMilliseconds);
        }
        catch (TrgException e)
        {
            return new Loaded(index, item, null, e, t.Elapsed.TotalMilliseconds);
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
        if (FaceRequestChecks.CameraProblem(camera, image.Width, image.Height) is { } cameraProblem)
            return (new ImageOutcome { Path = path, Error = new TrgException(ErrorKind.Usage, cameraProblem, path), DecodeMs = loaded.DecodeMs }, null);
        var outcome = new ImageOutcome { Path = path, Width = image.Width, Height = image.Height, Camera = camera, DecodeMs = loaded.DecodeMs };
        if (boxes is null) return (outcome, new PhotoRequest(image, camera));
        var (usable, refused) = FaceRequestChecks.SplitBoxes(boxes, image.Width, image.Height, path);
        foreach (var r in refused) outcome.FaceErrors.Add((r.Box, r.Error));
        return (outcome, new PhotoRequest(image, camera, usable));
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
            if (loaded.DecodeMs > 0) _timings?.Add(StartupPhase.ImageDecode, TimeSpan.FromMilliseconds(loaded.DecodeMs), inParallel: true); // on the decode worker
            if (overlays is not null && loaded.Image is { } image && outcome.Error is null)
            {
                try
                {
                    overlays.Write(loaded.Index, image, outcome.Faces, estimator.Triangles, settings.SidePanel);
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

/// <summary>
/// Where --overlay pictures go: one PNG file (a single image), or a folder of &lt;name&gt;.overlay.png, the names fixed
/// up front in input order (a repeated name gets -2, -3, ...) so that they can be checked against the inputs.
/// </summary>
internal sealed class OverlayTarget
{
    private readonly string? _file, _folder;
    private readonly string[] _names;
    public string Where => _file ?? _folder!;

    /// <summary>Every path an overlay may be written to, one per input item.</summary>
    public IReadOnlyList<string> Targets => _names;

    /// <summary>A file name in the overlay's folder, to check that the folder takes new files.</summary>
    public string Probe => _file ?? Path.Combine(_folder!, "trg-probe.overlay.png");

    private OverlayTarget(string? file, string? folder, string[] names) { _file = file; _folder = folder; _names = names; }

    public static OverlayTarget? Resolve(string? path, bool multi, IReadOnlyList<InputItem> items)
    {
        if (path is null) return null;
        if (path.Length == 0) throw new TrgException(ErrorKind.Usage, "--overlay: the path is empty");
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
            var used = new HashSet<string>(OutputPaths.Comparer);
            var names = items.Select(item =>
            {
                var stem = Path.GetFileNameWithoutExtension(item.Path);
                var name = $"{stem}.overlay.png";
                for (int k = 2; !used.Add(name); k++) name = $"{stem}-{k}.overlay.png";
                return Path.Combine(path, name);
            }).ToArray();
            return new OverlayTarget(null, path, names);
        }
        if (multi)
            throw new TrgException(ErrorKind.Usage, $"--overlay {path}: several images need a folder for their overlays, not one .png file");
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(dir)) throw new TrgException(ErrorKind.NotFound, "the overlay's folder does not exist", dir);
        return new OverlayTarget(path, null, [path]);
    }

    /// <summary>Writes the overlay of input item <paramref name="index"/> (atomically: the old file or the complete new one).</summary>
    public void Write(int index, RgbImage image, IReadOnlyList<FaceResult> faces, int[]? triangles, bool sidePanel) =>
        Overlay.SavePng(image, faces, _names[index], triangles, new OverlayOptions { SidePanel = sidePanel });
}
