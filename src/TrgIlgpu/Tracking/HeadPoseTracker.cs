using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using TrgIlgpu.Faces;

namespace TrgIlgpu.Tracking;

/// <summary>
/// Head poses through a video: faces found by the detector on the first frame, after a scene cut, when a track is lost
/// and every <see cref="TrackerOptions.DetectEvery"/> frames; in between each face's landmark-net box comes from its
/// landmarks in the previous frame, so most frames run only the landmark net and TRG (or the landmark fit). Faces keep a
/// track id across frames and short occlusions; each pose is smoothed on SE(3) (<see cref="PoseSmoother"/>).
/// </summary>
/// <remarks>Built on <see cref="HeadPoseEstimator"/>'s public calls; one frame at a time (calls are serialised).</remarks>
public sealed class HeadPoseTracker : IDisposable
{
    private sealed class FaceTrack(int id)
    {
        public int Id { get; } = id;
        public float[] Landmarks = [];
        /// <summary>The landmark-net box relative to the landmarks, from the face's last detection.</summary>
        public BoxShape Shape = BoxShape.Typical;
        public double LastSeen;
        /// <summary>The landmarks' centroid velocity (pixels per second) between the track's last two frames; 0 for a new,
        /// found-again or lost track.</summary>
        public double VelocityX, VelocityY;

        /// <summary>Where the face is expected at <paramref name="time"/>: its box moved on at its last velocity.</summary>
        public FaceBox Predict(double time)
        {
            var b = TrackBoxes.LandmarkNetBox(Landmarks, Shape);
            double dt = Math.Max(0, time - LastSeen);
            float dx = (float)(VelocityX * dt), dy = (float)(VelocityY * dt);
            return new FaceBox(b.Left + dx, b.Top + dy, b.Right + dx, b.Bottom + dy);
        }
        public PoseSmoother? Smoother;
    }

    private readonly object _gate = new();
    private readonly HeadPoseEstimator _estimator;
    private readonly bool _ownsEstimator;
    private readonly SceneCuts _cuts = new();
    private readonly List<FaceTrack> _active = [], _lost = [];
    private int _nextId = 1, _sinceDetect;
    private long _processed, _detected, _dropped;
    private StageTimings _total;
    private Stopwatch? _clock;
    private double _wall;
    private bool _disposed;

    /// <summary>The tracking settings (validated).</summary>
    public TrackerOptions Options { get; }

    /// <summary>The estimator the tracker runs the networks on.</summary>
    public HeadPoseEstimator Estimator => _estimator;

    /// <summary>
    /// A tracker over an estimator (TRG with a model, the landmark fit without). With <paramref name="ownsEstimator"/>
    /// the tracker disposes it.
    /// </summary>
    /// <exception cref="TrgException">Usage: a bad setting.</exception>
    public HeadPoseTracker(HeadPoseEstimator estimator, TrackerOptions? options = null, bool ownsEstimator = false)
    {
        ArgumentNullException.ThrowIfNull(estimator);
        options ??= new TrackerOptions();
        options.Validate();
        _estimator = estimator;
        _ownsEstimator = ownsEstimator;
        Options = options;
    }

    /// <summary>Creates the estimator (loads the networks, opens the device) and a tracker that owns it.</summary>
    public static HeadPoseTracker Create(HeadPoseOptions? estimator = null, TrackerOptions? options = null)
    {
        (options ?? new TrackerOptions()).Validate();
        var e = HeadPoseEstimator.Create(estimator);
        try
        {
            return new HeadPoseTracker(e, options, ownsEstimator: true);
        }
        catch
        {
            e.Dispose();
            throw;
        }
    }

    /// <summary>Counts and times so far.</summary>
    public TrackingStats Stats
    {
        get
        {
            lock (_gate)
            {
                long dropped = Interlocked.Read(ref _dropped);
                return new TrackingStats(_processed + dropped, _processed, dropped, _detected, _nextId - 1, _total, _wall);
            }
        }
    }

    /// <summary>Ends every track and clears the counts: the next frame starts a new stream.</summary>
    public void Reset()
    {
        lock (_gate)
        {
            _active.Clear();
            _lost.Clear();
            _cuts.Reset();
            _nextId = 1;
            _sinceDetect = 0;
            _processed = _detected = 0;
            Interlocked.Exchange(ref _dropped, 0);
            _total = default;
            _clock = null;
            _wall = 0;
        }
    }

    /// <summary>Tracks the faces of the next frame (frames in stream order, times non-decreasing).</summary>
    /// <exception cref="TrgException">From the networks (e.g. Device); the tracks are kept as they were before a frame that throws.</exception>
    public TrackedFrame Track(VideoFrame frame, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(frame);
        ArgumentNullException.ThrowIfNull(frame.Image);
        if (!double.IsFinite(frame.Time)) throw new TrgException(ErrorKind.Usage, $"frame {frame.Index}: time {frame.Time} is not finite");
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _clock ??= Stopwatch.StartNew();
            var result = TrackFrame(frame, cancellationToken);
            _processed++;
            if (result.Detected) _detected++;
            _total = _total.Add(result.Timings);
            _wall = _clock.Elapsed.TotalSeconds;
            return result;
        }
    }

    /// <summary>
    /// The streaming call: frames in (a file reader, or an app's own camera), tracked frames out, in order. With
    /// <see cref="FrameDropping.DropOldest"/> the source is read on its own task into a queue of
    /// <see cref="StreamOptions.QueueCapacity"/> frames and the oldest waiting frame is dropped when the tracker falls
    /// behind (counted in <see cref="TrackingStats.FramesDropped"/>); with <see cref="FrameDropping.None"/> every frame
    /// is tracked and the source waits. Work runs off the caller's thread; cancelling ends the source too.
    /// </summary>
    public async IAsyncEnumerable<TrackedFrame> TrackAsync(IAsyncEnumerable<VideoFrame> frames, StreamOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(frames);
        options ??= new StreamOptions();
        if (options.QueueCapacity < 1) throw new TrgException(ErrorKind.Usage, $"queue capacity {options.QueueCapacity}: must be at least 1");
        var queueOptions = new BoundedChannelOptions(options.QueueCapacity)
        {
            SingleReader = true, SingleWriter = true,
            FullMode = options.Dropping == FrameDropping.DropOldest ? BoundedChannelFullMode.DropOldest : BoundedChannelFullMode.Wait,
        };
        var queue = Channel.CreateBounded<VideoFrame>(queueOptions, _ => Interlocked.Increment(ref _dropped));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        ExceptionDispatchInfo? sourceError = null;
        var pump = Task.Run(async () =>
        {
            try
            {
                await foreach (var f in frames.WithCancellation(stop.Token).ConfigureAwait(false))
                    await queue.Writer.WriteAsync(f, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
            catch (Exception e)
            {
                sourceError = ExceptionDispatchInfo.Capture(e);
            }
            finally
            {
                queue.Writer.TryComplete();
            }
        }, CancellationToken.None);
        try
        {
            while (await queue.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                while (queue.Reader.TryRead(out var frame))
                    yield return await Task.Run(() => Track(frame, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            stop.Cancel();
            await pump.ConfigureAwait(false);
        }
        sourceError?.Throw();
        cancellationToken.ThrowIfCancellationRequested();
    }

    private TrackedFrame TrackFrame(VideoFrame frame, CancellationToken ct)
    {
        var image = frame.Image;
        var camera = Options.Camera ?? CameraIntrinsics.Default(image.Width, image.Height);
        var finder = _estimator.Finder;
        // Work on copies: a frame that throws (cancelled, device error) leaves the tracks as they were.
        var active = new List<FaceTrack>(_active);
        var lost = new List<FaceTrack>(_lost);
        double distance = _cuts.Next(image);
        bool cut = distance >= Options.CutThreshold;
        if (cut)
        {
            active.Clear();
            lost.Clear();
        }
        lost.RemoveAll(t => frame.Time - t.LastSeen > Options.LostTimeout);

        bool detect = cut || active.Count == 0 || lost.Count > 0 || _sinceDetect + 1 >= Options.DetectEvery;
        var faces = new List<(FaceTrack Track, FoundFace Face, bool Detected)>();
        double detectMs = 0, landmarksMs = 0;
        if (!detect)
        {
            var boxes = active.Select(t => t.Predict(frame.Time)).ToArray();
            if (boxes.Any(b => TrackBoxes.InsideShare(b, image.Width, image.Height) <= 0)) detect = true;
            else
            {
                var clock = Stopwatch.StartNew();
                var points = finder.Landmarks(image, boxes, ct);
                landmarksMs = clock.Elapsed.TotalMilliseconds;
                for (int i = 0; i < active.Count && !detect; i++)
                {
                    if (Degraded(active[i], frame.Time, points[i], image)) detect = true;
                    else faces.Add((active[i], new FoundFace(new FaceDetection(boxes[i], float.NaN), points[i], FaceBoxRule.FromLandmarks(points[i])), false));
                }
            }
        }
        if (detect)
        {
            var clock = Stopwatch.StartNew();
            var found = finder.Find(image, ct);
            detectMs = clock.Elapsed.TotalMilliseconds;
            faces = Match(found, active, lost, frame.Time);
        }

        var poseClock = Stopwatch.StartNew();
        var posed = _estimator.EstimateFound(image, faces.Select(f => f.Face).ToArray(), camera, ct);
        var byFace = faces.ToDictionary(f => (object)f.Face, ReferenceEqualityComparer.Instance);
        var posedTracks = posed.Faces.Select(r => (Face: byFace[r.Detection!], Result: r)).ToList();
        ct.ThrowIfCancellationRequested();

        // Nothing below can fail: commit the new state. Tracks without a pose this frame are lost (a new one is dropped).
        var seen = new HashSet<FaceTrack>(posedTracks.Select(p => p.Face.Track));
        var returning = new HashSet<FaceTrack>(_lost);
        foreach (var t in active.Where(t => !seen.Contains(t) && t.Landmarks.Length > 0))
        {
            t.VelocityX = t.VelocityY = 0;
            lost.Add(t);
        }
        active.RemoveAll(t => !seen.Contains(t));
        lost.RemoveAll(seen.Contains);
        var tracked = new List<TrackedFace>();
        foreach (var ((track, face, detected), r) in posedTracks)
        {
            if (track.Landmarks.Length > 0 && !returning.Contains(track) && frame.Time > track.LastSeen)
            {
                var (x0, y0, _) = TrackBoxes.Spread(track.Landmarks);
                var (x1, y1, _) = TrackBoxes.Spread(face.Landmarks68);
                track.VelocityX = (x1 - x0) / (frame.Time - track.LastSeen);
                track.VelocityY = (y1 - y0) / (frame.Time - track.LastSeen);
            }
            else track.VelocityX = track.VelocityY = 0;
            track.Landmarks = face.Landmarks68;
            if (detected) track.Shape = BoxShape.Of(face.Detection.Box, face.Landmarks68);
            track.LastSeen = frame.Time;
            track.Smoother ??= Options.Smoothing is { } s ? new PoseSmoother(s) : null;
            var smoothed = track.Smoother?.Update(frame.Time, r.Rotation, r.Translation)
                ?? new SmoothedPose((float[])r.Rotation.Clone(), (float[])r.Translation.Clone());
            tracked.Add(new TrackedFace(track.Id, r, smoothed, detected));
        }
        _active.Clear();
        _active.AddRange(active);
        _lost.Clear();
        _lost.AddRange(lost);
        _sinceDetect = detect ? 0 : _sinceDetect + 1;
        var timings = new StageTimings(frame.DecodeMs, detectMs, landmarksMs, poseClock.Elapsed.TotalMilliseconds, 0);
        return new TrackedFrame(frame, camera, [.. tracked.OrderBy(t => t.TrackId)], posed.Failures, detect, cut, timings);
    }

    /// <summary>
    /// A tracked face's new landmarks no longer follow it: their spread (RMS radius) changed by more than MaxScaleChange,
    /// their centroid is more than MaxShift radii from where the track's velocity put it, or less than MinInside of the
    /// TRG box is in the image.
    /// </summary>
    private bool Degraded(FaceTrack track, double time, float[] next, RgbImage image)
    {
        var (x0, y0, r0) = TrackBoxes.Spread(track.Landmarks);
        var (x1, y1, r1) = TrackBoxes.Spread(next);
        if (!(r1 > 0) || r1 > r0 * Options.MaxScaleChange || r0 > r1 * Options.MaxScaleChange) return true;
        double dt = Math.Max(0, time - track.LastSeen);
        double ex = x1 - (x0 + track.VelocityX * dt), ey = y1 - (y0 + track.VelocityY * dt);
        if (Math.Sqrt(ex * ex + ey * ey) > Options.MaxShift * r0) return true;
        return TrackBoxes.InsideShare(FaceBoxRule.FromLandmarks(next), image.Width, image.Height) < Options.MinInside;
    }

    /// <summary>
    /// Detections to tracks, greedily by <see cref="MatchScore"/> (IoU, else centre distance) between each detection
    /// box and the landmark-net box predicted from a track's last landmarks and velocity; active and recently lost tracks both compete. A lost track that matches
    /// comes back with its id (its smoothing restarts); unmatched detections start new tracks.
    /// </summary>
    private List<(FaceTrack, FoundFace, bool)> Match(FoundFace[] found, List<FaceTrack> active, List<FaceTrack> lost, double time)
    {
        var candidates = active.Concat(lost).ToList();
        var pairs = new List<(double Score, int Track, int Face)>();
        for (int t = 0; t < candidates.Count; t++)
        {
            var predicted = candidates[t].Predict(time);
            for (int f = 0; f < found.Length; f++)
                if (MatchScore(predicted, found[f].Detection.Box) is double score) pairs.Add((score, t, f));
        }
        var trackOf = new FaceTrack?[found.Length];
        var used = new bool[candidates.Count];
        foreach (var (_, t, f) in pairs.OrderByDescending(p => p.Score))
        {
            if (used[t] || trackOf[f] is not null) continue;
            used[t] = true;
            trackOf[f] = candidates[t];
        }
        var result = new List<(FaceTrack, FoundFace, bool)>();
        for (int f = 0; f < found.Length; f++)
        {
            var track = trackOf[f];
            if (track is null)
            {
                track = new FaceTrack(_nextId++);
                active.Add(track);
            }
            else if (lost.Remove(track))
            {
                active.Add(track);
                track.Smoother?.Reset();
            }
            result.Add((track, found[f], true));
        }
        return result;
    }

    /// <summary>
    /// How well a detection fits a track's predicted box, or null: the IoU when it is at least MatchIou; else, for a
    /// face that moved fast (landmark distance), a score below every IoU match when the centres are less than one
    /// predicted box width apart and the sizes within MaxScaleChange.
    /// </summary>
    private double? MatchScore(FaceBox predicted, FaceBox detection)
    {
        double iou = TrackBoxes.Iou(predicted, detection);
        if (iou >= Options.MatchIou) return iou;
        double w = predicted.Width, dw = detection.Width;
        if (!(w > 0 && dw > 0) || dw > w * Options.MaxScaleChange || w > dw * Options.MaxScaleChange) return null;
        double dx = 0.5 * (detection.Left + detection.Right - predicted.Left - predicted.Right);
        double dy = 0.5 * (detection.Top + detection.Bottom - predicted.Top - predicted.Bottom);
        double d = Math.Sqrt(dx * dx + dy * dy) / w;
        return d < 1 ? Options.MatchIou * (1 - d) : null;
    }

    /// <summary>Disposes the estimator when the tracker owns it.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            if (_ownsEstimator) _estimator.Dispose();
        }
    }
}
