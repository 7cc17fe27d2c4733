using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using TrgIlgpu.Tracking;

namespace TrgIlgpu.Video;

/// <summary>Settings of a <see cref="VideoReader"/>.</summary>
public sealed record VideoReaderOptions
{
    /// <summary>Input format for ffmpeg (e.g. "v4l2"); null: a file, guessed by ffmpeg; a /dev/video* path implies "v4l2".</summary>
    public string? Format { get; init; }

    /// <summary>Read a file at its own frame rate (ffmpeg <c>-re</c>), as a camera would deliver it.</summary>
    public bool Realtime { get; init; }

    /// <summary>Refuse frames larger than this many pixels.</summary>
    public long MaxPixels { get; init; } = Imaging.ImageLoadOptions.DefaultMaxPixels;
}

/// <summary>
/// Frames of a video file or capture device, decoded by an ffmpeg child process and read from its stdout as raw RGB24
/// (every decoded frame once, <c>-fps_mode passthrough</c>). The size and rate come from ffprobe first (checked).
/// A frame's time is its index over the frame rate. Disposing (or cancelling a read) kills ffmpeg.
/// </summary>
public sealed class VideoReader : IDisposable
{
    private readonly string _input;
    private readonly VideoReaderOptions _options;
    private FfmpegProcess? _ffmpeg;
    private long _next;
    private bool _ended;

    /// <summary>Size and rate of the stream.</summary>
    public VideoInfo Info { get; }

    /// <summary>True for a capture device or a realtime read: frames come at the source's pace, whether or not they are taken.</summary>
    public bool IsLive => _options.Realtime || _options.Format is not null;

    private VideoReader(string input, VideoReaderOptions options, VideoInfo info)
    {
        _input = input;
        _options = options;
        Info = info;
    }

    /// <summary>True for a capture device path such as /dev/video0.</summary>
    public static bool IsCaptureDevice(string input) => input.StartsWith("/dev/video", StringComparison.Ordinal);

    /// <summary>Probes the input and prepares to read it (ffmpeg starts on the first read).</summary>
    /// <exception cref="TrgException">NotFound, Video.</exception>
    public static VideoReader Open(string input, VideoReaderOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        options ??= new VideoReaderOptions();
        if (options.Format is null && IsCaptureDevice(input)) options = options with { Format = "v4l2" };
        var info = VideoProbe.Probe(input, options.Format, options.MaxPixels, cancellationToken);
        return new VideoReader(input, options, info);
    }

    /// <summary>The next frame, or null at the end of the stream.</summary>
    /// <exception cref="TrgException">Video: ffmpeg failed or the stream ended inside a frame.</exception>
    public VideoFrame? Read(CancellationToken cancellationToken = default)
    {
        if (_ended) return null;
        var ffmpeg = _ffmpeg ??= Start();
        var clock = Stopwatch.StartNew();
        var pixels = new byte[checked(Info.Width * Info.Height * 3)];
        int got;
        try
        {
            got = ffmpeg.Output.ReadAtLeastAsync(pixels, pixels.Length, throwOnEndOfStream: false, cancellationToken).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            Dispose();
            throw;
        }
        catch (IOException e)
        {
            throw new TrgException(ErrorKind.Video, $"reading ffmpeg's frames failed: {e.Message}", _input, e);
        }
        if (got < pixels.Length)
        {
            _ended = true;
            int code = ffmpeg.WaitForExit(cancellationToken);
            if (code != 0) throw new TrgException(ErrorKind.Video, $"ffmpeg failed (exit {code}): {ffmpeg.ErrorText}", _input);
            if (got > 0) throw new TrgException(ErrorKind.Video, $"the stream ended inside frame {_next} ({got} of {pixels.Length} bytes)", _input);
            return null;
        }
        long index = _next++;
        return new VideoFrame(new RgbImage(Info.Width, Info.Height, pixels), index / Info.FrameRate, index, clock.Elapsed.TotalMilliseconds);
    }

    /// <summary>Every frame, in order (for <see cref="HeadPoseTracker.TrackAsync"/>).</summary>
    public async IAsyncEnumerable<VideoFrame> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // The reads block on the pipe: run them off the caller's thread.
        while (await Task.Run(() => Read(cancellationToken), cancellationToken).ConfigureAwait(false) is { } frame)
            yield return frame;
    }

    private FfmpegProcess Start()
    {
        var args = new List<string> { "-hide_banner", "-nostdin", "-v", "error" };
        if (_options.Realtime) args.Add("-re");
        if (_options.Format is not null) args.AddRange(["-f", _options.Format]);
        args.AddRange(["-i", _input, "-map", "0:v:0", "-fps_mode", "passthrough",
            "-s", string.Create(CultureInfo.InvariantCulture, $"{Info.Width}x{Info.Height}"), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);
        return FfmpegProcess.Start("ffmpeg", args, subject: _input);
    }

    /// <summary>Stops ffmpeg if it is still running.</summary>
    public void Dispose()
    {
        _ended = true;
        _ffmpeg?.Dispose();
    }
}
