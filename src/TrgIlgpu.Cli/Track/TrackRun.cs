using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using TrgIlgpu.Cli.Estimate;
using TrgIlgpu.Engine;
using TrgIlgpu.Imaging;
using TrgIlgpu.Tracking;
using TrgIlgpu.Video;

namespace TrgIlgpu.Cli.Track;

/// <summary>What `trg track` was asked to do, checked and typed.</summary>
internal sealed record TrackSettings
{
    public required string Input { get; init; }
    public string? Model { get; init; }
    public DeviceKind Device { get; init; } = DeviceKind.Auto;
    public Faces.DetectorOptions Detector { get; init; } = new();
    public string? JsonLinesPath { get; init; }
    public string? CsvPath { get; init; }
    public string? OverlayPath { get; init; }
    public required TrackerOptions Tracker { get; init; }
    /// <summary>--realtime: read a file at its frame rate and drop frames when behind (always so for a capture device).</summary>
    public bool Realtime { get; init; }
    /// <summary>Frame rate of a folder or list of frames.</summary>
    public double FramesFps { get; init; } = 30;
    public float? Focal { get; init; }
    public CameraIntrinsics? Camera { get; init; }
    public long MaxPixels { get; init; } = ImageLoadOptions.DefaultMaxPixels;
    public bool Quiet { get; init; }
}

/// <summary>
/// One `trg track` run: open the source (ffmpeg for a video file or capture device, the image decoder for a folder or
/// list of frames), track every frame (live: drop frames when behind), write JSON Lines or CSV and the overlay video,
/// print the summary. Ctrl+C ends a run cleanly: what was tracked is written, the video is finished, exit 130.
/// </summary>
internal sealed class TrackRun(TrackSettings settings, TextWriter stdout, TextWriter stderr)
{
    private static readonly string[] VideoExtensions = [".mp4", ".mkv", ".mov"];

    public int Execute(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        if (settings.OverlayPath is { } o && !VideoExtensions.Contains(Path.GetExtension(o).ToLowerInvariant()))
            throw new TrgException(ErrorKind.Usage, $"--overlay {o}: the overlay is a video: give a .mp4, .mkv or .mov file");
        var source = FrameSource.Open(settings, cancellationToken);
        using var disposeSource = source;
        bool live = source.IsLive;
        var camera = settings.Camera ?? (settings.Focal is { } f ? CameraIntrinsics.FromFocal(f, source.Width, source.Height) : null);
        using var output = TrackOutput.Open(settings.JsonLinesPath, settings.CsvPath, stdout);
        using var tracker = HeadPoseTracker.Create(new HeadPoseOptions
        {
            Model = settings.Model, Device = settings.Device, Log = settings.Quiet ? null : stderr, Detector = settings.Detector,
        }, settings.Tracker with { Camera = camera });
        double loadSeconds = clock.Elapsed.TotalSeconds;
        output.Start();
        using var overlay = settings.OverlayPath is null ? null : VideoWriter.Create(settings.OverlayPath, source.Width, source.Height, source.FrameRate);
        if (!settings.Quiet)
            stderr.WriteLine(string.Format(CultureInfo.InvariantCulture, "trg track: {0} ({1}x{2}, {3:0.###} frames/s{4}), detector every {5} frames, smoothing {6}",
                settings.Input, source.Width, source.Height, source.FrameRate, live ? ", live: frames dropped when behind" : "",
                settings.Tracker.DetectEvery, settings.Tracker.Smoothing is null ? "off" : "One-Euro"));

        var stream = tracker.TrackAsync(source.Frames(cancellationToken), new StreamOptions
        {
            Dropping = live ? FrameDropping.DropOldest : FrameDropping.None,
            QueueCapacity = live ? 1 : 2,
        }, cancellationToken);
        double encodeMs = 0;
        bool cancelled = false;
        try
        {
            foreach (var frame in stream.ToBlockingEnumerable(cancellationToken))
            {
                double encode = 0;
                if (overlay is not null)
                {
                    var t = Stopwatch.StartNew();
                    overlay.Write(TrackOverlay.Render(frame, tracker.Estimator.Triangles));
                    encode = t.Elapsed.TotalMilliseconds;
                    encodeMs += encode;
                }
                output.Write(frame, frame.Timings with { Encode = encode });
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            cancelled = true;
        }
        overlay?.Finish();
        output.Commit();
        var stats = tracker.Stats;
        if (!settings.Quiet) stderr.WriteLine(Summary(stats, encodeMs, loadSeconds, tracker.Estimator.DeviceName, output.Where));
        if (cancelled) stderr.WriteLine("trg: cancelled (the frames tracked so far are written)");
        return cancelled ? (int)ErrorKind.Cancelled : 0;
    }

    private static string Summary(TrackingStats s, double encodeMs, double loadSeconds, string device, string where)
    {
        double n = Math.Max(1, s.FramesProcessed);
        var t = s.Total;
        return string.Format(CultureInfo.InvariantCulture,
            "trg track: {0} frames processed, {1} dropped, {2:0.0} frames/s achieved ({3:0.0} s after {4:0.0} s of model load) on {5}; "
            + "detector on {6} frames ({7:0.0}%), {8} tracks; mean ms per frame: decode {9:0.0}, detect {10:0.0}, landmarks {11:0.0}, pose {12:0.0}, encode {13:0.0}; results to {14}",
            s.FramesProcessed, s.FramesDropped, s.AchievedFps, s.WallSeconds, loadSeconds, device, s.FramesDetected, 100 * s.DetectedShare, s.Tracks,
            t.Decode / n, t.Detect / n, t.Landmarks / n, t.Pose / n, encodeMs / n, where);
    }
}

/// <summary>Frames from a video file or capture device (ffmpeg), or from a folder or @list of image files.</summary>
internal abstract class FrameSource : IDisposable
{
    public abstract int Width { get; }
    public abstract int Height { get; }
    public abstract double FrameRate { get; }
    public abstract bool IsLive { get; }
    public abstract IAsyncEnumerable<VideoFrame> Frames(CancellationToken cancellationToken);
    public virtual void Dispose() { }

    public static FrameSource Open(TrackSettings s, CancellationToken ct)
    {
        var input = s.Input;
        if ((input.StartsWith('@') && input.Length > 1) || Directory.Exists(input))
        {
            if (s.Realtime) throw new TrgException(ErrorKind.Usage, "--realtime is for video files; a folder or list of frames is read frame by frame");
            return ImageFrames.Open(input, s.FramesFps, s.MaxPixels, ct);
        }
        return new VideoFrames(VideoReader.Open(input, new VideoReaderOptions { Realtime = s.Realtime, MaxPixels = s.MaxPixels }, ct));
    }

    private sealed class VideoFrames(VideoReader reader) : FrameSource
    {
        public override int Width => reader.Info.Width;
        public override int Height => reader.Info.Height;
        public override double FrameRate => reader.Info.FrameRate;
        public override bool IsLive => reader.IsLive;
        public override IAsyncEnumerable<VideoFrame> Frames(CancellationToken ct) => reader.ReadAllAsync(ct);
        public override void Dispose() => reader.Dispose();
    }

    /// <summary>Image files as frames at a fixed rate; all must have the first one's size; an unreadable one stops the run.</summary>
    private sealed class ImageFrames(List<string> paths, RgbImage first, double fps, ImageLoadOptions options) : FrameSource
    {
        public override int Width => first.Width;
        public override int Height => first.Height;
        public override double FrameRate => fps;
        public override bool IsLive => false;

        public static ImageFrames Open(string input, double fps, long maxPixels, CancellationToken ct)
        {
            var items = Inputs.Expand([input]);
            if (items.FirstOrDefault(i => i.Error is not null) is { Error: { } error }) throw error;
            var options = new ImageLoadOptions { MaxPixels = maxPixels };
            var paths = items.Select(i => i.Path).ToList();
            return new ImageFrames(paths, ImageLoader.LoadFile(paths[0], options, ct), fps, options);
        }

        public override async IAsyncEnumerable<VideoFrame> Frames([EnumeratorCancellation] CancellationToken ct)
        {
            for (int i = 0; i < paths.Count; i++)
            {
                var clock = Stopwatch.StartNew();
                var image = i == 0 ? first : await Task.Run(() => ImageLoader.LoadFile(paths[i], options, ct), ct).ConfigureAwait(false);
                if (image.Width != first.Width || image.Height != first.Height)
                    throw new TrgException(ErrorKind.InvalidImage, $"frame {i} is {image.Width}x{image.Height}, the first frame {first.Width}x{first.Height}: frames must share one size", paths[i]);
                yield return new VideoFrame(image, i / fps, i, clock.Elapsed.TotalMilliseconds);
            }
        }
    }
}
