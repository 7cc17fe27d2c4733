using System.Globalization;
using System.Text.Json;

namespace TrgIlgpu.Video;

/// <summary>What ffprobe says about a video's first video stream, checked.</summary>
/// <param name="Width">Frame width in pixels as decoded (after the stream's display rotation).</param>
/// <param name="Height">Frame height in pixels as decoded.</param>
/// <param name="FrameRate">Frames per second (the stream's average rate, else its base rate).</param>
/// <param name="FrameCount">Frames in the stream when the container says, else null.</param>
public sealed record VideoInfo(int Width, int Height, double FrameRate, long? FrameCount);

/// <summary>Reads a video's size and frame rate with ffprobe; every number it reports is checked before use.</summary>
public static class VideoProbe
{
    /// <summary>Largest accepted frame side (pixels).</summary>
    public const int MaxSide = 16384;

    /// <summary>Largest accepted frame rate (frames/s).</summary>
    public const double MaxFrameRate = 1000;

    /// <summary>Probes a file or device (<paramref name="format"/>: e.g. "v4l2" for /dev/video0; null lets ffprobe guess).</summary>
    /// <exception cref="TrgException">NotFound (no such file), Video (ffprobe missing or failing, or absurd values).</exception>
    public static VideoInfo Probe(string input, string? format = null, long maxPixels = Imaging.ImageLoadOptions.DefaultMaxPixels,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (format is null && !File.Exists(input)) throw new TrgException(ErrorKind.NotFound, "video file not found", input);
        var args = new List<string> { "-v", "error" };
        if (format is not null) args.AddRange(["-f", format]);
        args.AddRange(["-select_streams", "v:0", "-show_entries",
            "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames:stream_side_data=rotation", "-of", "json", input]);
        using var p = FfmpegProcess.Start("ffprobe", args, subject: input);
        string json = new StreamReader(p.Output).ReadToEnd();
        int code = p.WaitForExit(cancellationToken);
        if (code != 0) throw new TrgException(ErrorKind.Video, $"ffprobe cannot read it (exit {code}): {p.ErrorText}", input);
        return Parse(json, input, maxPixels);
    }

    /// <summary>The checked stream description from ffprobe's JSON (<c>-of json</c>).</summary>
    /// <exception cref="TrgException">Video: no video stream, or a size or rate that is missing, not finite or absurd.</exception>
    public static VideoInfo Parse(string json, string source, long maxPixels = Imaging.ImageLoadOptions.DefaultMaxPixels)
    {
        JsonElement stream;
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (!doc.RootElement.TryGetProperty("streams", out var streams) || streams.ValueKind != JsonValueKind.Array || streams.GetArrayLength() == 0)
                throw new TrgException(ErrorKind.Video, "no video stream", source);
            stream = streams[0].Clone();
        }
        catch (JsonException e)
        {
            throw new TrgException(ErrorKind.Video, $"ffprobe's answer is not JSON: {e.Message}", source, e);
        }
        long w = Integer(stream, "width", source), h = Integer(stream, "height", source);
        if (w < 1 || h < 1 || w > MaxSide || h > MaxSide)
            throw new TrgException(ErrorKind.Video, $"frame size {w}x{h} is out of range (1..{MaxSide} pixels a side)", source);
        if (w * h > maxPixels) throw new TrgException(ErrorKind.Video, $"frame size {w}x{h} is over the pixel limit {maxPixels}", source);
        if (Rotation(stream) is 90 or 270) (w, h) = (h, w);
        double fps = Rate(stream, "avg_frame_rate") ?? Rate(stream, "r_frame_rate")
            ?? throw new TrgException(ErrorKind.Video, $"no usable frame rate (avg_frame_rate / r_frame_rate missing, zero or above {MaxFrameRate})", source);
        long? count = stream.TryGetProperty("nb_frames", out var n) && n.ValueKind == JsonValueKind.String
            && long.TryParse(n.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out long c) && c > 0 ? c : null;
        return new VideoInfo((int)w, (int)h, fps, count);
    }

    private static long Integer(JsonElement e, string name, string source)
    {
        if (e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long x)) return x;
        throw new TrgException(ErrorKind.Video, $"ffprobe reports no integer {name}", source);
    }

    /// <summary>A rate "num/den" as frames/s, or null when missing, non-finite, zero or absurd.</summary>
    internal static double? Rate(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.String) return null;
        var parts = v.GetString()!.Split('/');
        if (parts.Length is < 1 or > 2) return null;
        if (!double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double num)) return null;
        double den = 1;
        if (parts.Length == 2 && !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out den)) return null;
        double r = num / den;
        return double.IsFinite(r) && r > 0 && r <= MaxFrameRate ? r : null;
    }

    private static int Rotation(JsonElement stream)
    {
        if (!stream.TryGetProperty("side_data_list", out var list) || list.ValueKind != JsonValueKind.Array) return 0;
        foreach (var item in list.EnumerateArray())
            if (item.TryGetProperty("rotation", out var r) && r.ValueKind == JsonValueKind.Number && r.TryGetDouble(out double deg) && double.IsFinite(deg))
                return (int)(((Math.Round(deg) % 360) + 360) % 360);
        return 0;
    }
}
