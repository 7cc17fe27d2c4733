using System.Globalization;

namespace TrgIlgpu.Video;

/// <summary>
/// Writes RGB frames to a video file through an ffmpeg child (raw RGB24 on its stdin; H.264 yuv420p in MP4/MKV/MOV,
/// odd sizes padded by one pixel). The file appears only when <see cref="Finish"/> succeeds (written to a temporary
/// name in the same folder, then renamed); disposing without finishing kills ffmpeg and removes the partial file.
/// </summary>
public sealed class VideoWriter : IDisposable
{
    private readonly FfmpegProcess _ffmpeg;
    private readonly string _path, _temp;
    private bool _finished;

    /// <summary>Frame width and height.</summary>
    public int Width { get; }
    public int Height { get; }

    /// <summary>Frames written so far.</summary>
    public long FramesWritten { get; private set; }

    private VideoWriter(string path, string temp, int width, int height, FfmpegProcess ffmpeg)
    {
        _path = path; _temp = temp; Width = width; Height = height; _ffmpeg = ffmpeg;
    }

    /// <summary>Starts ffmpeg writing <paramref name="path"/> (its extension picks the container) at <paramref name="frameRate"/> frames/s.</summary>
    /// <exception cref="TrgException">Usage (bad size or rate), NotFound (no such folder), Video (ffmpeg missing).</exception>
    public static VideoWriter Create(string path, int width, int height, double frameRate)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (width < 1 || height < 1 || width > VideoProbe.MaxSide || height > VideoProbe.MaxSide)
            throw new TrgException(ErrorKind.Usage, $"frame size {width}x{height} is out of range", path);
        if (!double.IsFinite(frameRate) || frameRate <= 0 || frameRate > VideoProbe.MaxFrameRate)
            throw new TrgException(ErrorKind.Usage, $"frame rate {frameRate} is out of range (0, {VideoProbe.MaxFrameRate}]", path);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new TrgException(ErrorKind.NotFound, "the video's folder does not exist", dir);
        var temp = Path.Combine(dir, $".{Path.GetFileNameWithoutExtension(full)}.{Guid.NewGuid():N}.partial{Path.GetExtension(full)}");
        var args = new List<string>
        {
            "-hide_banner", "-nostdin", "-v", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", string.Create(CultureInfo.InvariantCulture, $"{width}x{height}"),
            "-r", frameRate.ToString("R", CultureInfo.InvariantCulture), "-i", "-",
            "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
        };
        if (Path.GetExtension(full).Equals(".mp4", StringComparison.OrdinalIgnoreCase)) args.AddRange(["-movflags", "+faststart"]);
        args.Add(temp);
        return new VideoWriter(full, temp, width, height, FfmpegProcess.Start("ffmpeg", args, writeInput: true, subject: path));
    }

    /// <summary>Appends one frame (its size must be the writer's).</summary>
    public void Write(RgbImage frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        ObjectDisposedException.ThrowIf(_finished, this);
        if (frame.Width != Width || frame.Height != Height)
            throw new TrgException(ErrorKind.Video, $"frame {FramesWritten} is {frame.Width}x{frame.Height}, the video is {Width}x{Height}", _path);
        try
        {
            _ffmpeg.Input.Write(frame.Pixels);
        }
        catch (IOException e)
        {
            throw new TrgException(ErrorKind.Video, $"ffmpeg stopped taking frames: {_ffmpeg.ErrorText} ({e.Message})", _path, e);
        }
        FramesWritten++;
    }

    /// <summary>Ends the stream, waits for ffmpeg and puts the file in place.</summary>
    /// <exception cref="TrgException">Video: ffmpeg failed.</exception>
    public void Finish(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        _finished = true;
        try
        {
            _ffmpeg.Input.Close();
        }
        catch (IOException) { }
        int code = _ffmpeg.WaitForExit(cancellationToken);
        if (code != 0)
        {
            TryDelete(_temp);
            throw new TrgException(ErrorKind.Video, $"ffmpeg failed to write the video (exit {code}): {_ffmpeg.ErrorText}", _path);
        }
        File.Move(_temp, _path, overwrite: true);
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Kills ffmpeg and removes the partial file unless <see cref="Finish"/> succeeded.</summary>
    public void Dispose()
    {
        _ffmpeg.Dispose();
        if (File.Exists(_temp)) TryDelete(_temp);
        _finished = true;
    }
}
