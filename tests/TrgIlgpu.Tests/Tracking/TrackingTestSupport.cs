using TrgIlgpu.Engine;
using TrgIlgpu.Imaging;
using TrgIlgpu.Tools;
using TrgIlgpu.Tracking;
using TrgIlgpu.Video;

namespace TrgIlgpu.Tests.Tracking;

/// <summary>The test classes that start ffmpeg run one after another (one of them changes TRG_FFPROBE for a moment).</summary>
[CollectionDefinition(Name)]
public sealed class FfmpegCollection
{
    public const string Name = "ffmpeg";
}

/// <summary>Clips made at run time from the sample photo by tools/MakeClip's <see cref="ClipMaker"/> (never committed).</summary>
internal static class Clips
{
    public const int Width = 320, Height = 240;
    public const double Fps = 30;

    /// <summary>The astronaut's face near the frame centre at 1:1.</summary>
    public static readonly ClipView Start = new(225, 130, 1.0, 0);

    private static readonly Lazy<RgbImage> PhotoLazy = new(() => ImageLoader.LoadFile(TestPaths.SharedFile("samples", "astronaut.png")));
    public static RgbImage Photo => PhotoLazy.Value;

    /// <summary>Makes a clip of a motion in <paramref name="dir"/>; returns its path and the views of its frames.</summary>
    public static (string Path, ClipView[] Views) Make(string dir, string motion, int frames, double noise = 3, int seed = 1)
    {
        var views = ClipMaker.Motion(motion, frames, Start, Width);
        var path = System.IO.Path.Combine(dir, $"{motion}-{frames}-{seed}.mp4");
        ClipMaker.Write(path, Photo, views, Width, Height, Fps, noise, seed);
        return (path, views);
    }

    /// <summary>Every frame of a clip through a tracker (files: no frame dropped).</summary>
    public static List<TrackedFrame> Track(HeadPoseTracker tracker, string clip)
    {
        using var reader = VideoReader.Open(clip);
        return tracker.TrackAsync(reader.ReadAllAsync()).ToBlockingEnumerable().ToList();
    }
}

/// <summary>One landmark-fit estimator (face finding on PoCL) shared by a test class.</summary>
public sealed class LandmarkFitEstimator : IDisposable
{
    public HeadPoseEstimator Estimator { get; } = HeadPoseEstimator.Create(new HeadPoseOptions { Device = DeviceKind.OpenCL });
    public void Dispose() => Estimator.Dispose();
}
