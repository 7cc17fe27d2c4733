using TrgIlgpu.Tracking;
using TrgIlgpu.Video;

namespace TrgIlgpu.Tests.Tracking;

/// <summary>
/// ffprobe's numbers checked (non-finite, absurd or missing values are typed Video errors), frames through ffmpeg and
/// back, and no ffmpeg child left running after a reader or writer is disposed.
/// </summary>
[Collection(FfmpegCollection.Name)]
public sealed class VideoIoTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trg-video-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Stream(string fields) => $"{{\"programs\": [], \"streams\": [{{{fields}}}]}}";

    [Fact]
    public void Probe_output_is_read_with_its_rotation_and_rate()
    {
        var info = VideoProbe.Parse(Stream("\"width\": 640, \"height\": 480, \"avg_frame_rate\": \"30000/1001\", \"r_frame_rate\": \"30/1\", \"nb_frames\": \"120\""), "a.mp4");
        Assert.Equal(new VideoInfo(640, 480, 30000.0 / 1001, 120), info);
        var turned = VideoProbe.Parse(Stream("\"width\": 640, \"height\": 480, \"avg_frame_rate\": \"0/0\", \"r_frame_rate\": \"25/1\", \"side_data_list\": [{\"rotation\": -90}]"), "b.mp4");
        Assert.Equal(new VideoInfo(480, 640, 25, null), turned);
    }

    [Theory]
    [InlineData("\"width\": 0, \"height\": 480, \"avg_frame_rate\": \"30/1\"")]
    [InlineData("\"width\": 100000, \"height\": 480, \"avg_frame_rate\": \"30/1\"")]
    [InlineData("\"width\": 16384, \"height\": 16384, \"avg_frame_rate\": \"30/1\"")]
    [InlineData("\"width\": 640.5, \"height\": 480, \"avg_frame_rate\": \"30/1\"")]
    [InlineData("\"height\": 480, \"avg_frame_rate\": \"30/1\"")]
    [InlineData("\"width\": 640, \"height\": 480, \"avg_frame_rate\": \"0/0\", \"r_frame_rate\": \"1/0\"")]
    [InlineData("\"width\": 640, \"height\": 480, \"avg_frame_rate\": \"nan\"")]
    [InlineData("\"width\": 640, \"height\": 480, \"avg_frame_rate\": \"100000/1\"")]
    [InlineData("\"width\": 640, \"height\": 480, \"avg_frame_rate\": \"-30/1\"")]
    public void Absurd_probe_values_are_video_errors(string fields)
    {
        var e = Assert.Throws<TrgException>(() => VideoProbe.Parse(Stream(fields), "bad.mp4"));
        Assert.Equal(ErrorKind.Video, e.Kind);
        Assert.Contains("bad.mp4", e.Message);
    }

    [Theory]
    [InlineData("{\"streams\": []}")]
    [InlineData("{}")]
    [InlineData("not json")]
    public void No_stream_or_no_json_is_a_video_error(string json) =>
        Assert.Equal(ErrorKind.Video, Assert.Throws<TrgException>(() => VideoProbe.Parse(json, "x.mp4")).Kind);

    private static RgbImage Flat(int w, int h, byte r, byte g, byte b)
    {
        var p = new byte[w * h * 3];
        for (int i = 0; i < p.Length; i += 3) { p[i] = r; p[i + 1] = g; p[i + 2] = b; }
        return new RgbImage(w, h, p);
    }

    [Fact]
    public void Frames_written_are_read_back_in_order_with_their_times()
    {
        var path = Path.Combine(_dir, "flat.mp4");
        var colours = new (byte, byte, byte)[] { (200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40), (90, 90, 90) };
        using (var writer = VideoWriter.Create(path, 64, 48, 25))
        {
            foreach (var (r, g, b) in colours) writer.Write(Flat(64, 48, r, g, b));
            writer.Finish();
        }
        Assert.Empty(Directory.GetFiles(_dir, "*.partial*"));
        using var reader = VideoReader.Open(path);
        Assert.Equal(new VideoInfo(64, 48, 25, colours.Length), reader.Info);
        Assert.False(reader.IsLive);
        var frames = reader.ReadAllAsync().ToBlockingEnumerable().ToList();
        Assert.Equal(colours.Length, frames.Count);
        for (int i = 0; i < frames.Count; i++)
        {
            Assert.Equal(i, frames[i].Index);
            Assert.Equal(i / 25.0, frames[i].Time, 12);
            var p = frames[i].Image.Pixels;
            var (r, g, b) = colours[i];
            // H.264 in yuv420p: a flat colour comes back within a few levels.
            Assert.InRange(p[3 * 500] - r, -8, 8);
            Assert.InRange(p[3 * 500 + 1] - g, -8, 8);
            Assert.InRange(p[3 * 500 + 2] - b, -8, 8);
        }
        Assert.Null(reader.Read());
    }

    [Fact]
    public void An_odd_size_is_padded_by_one_pixel()
    {
        var path = Path.Combine(_dir, "odd.mp4");
        using (var writer = VideoWriter.Create(path, 65, 49, 30))
        {
            writer.Write(Flat(65, 49, 10, 120, 240));
            Assert.Throws<TrgException>(() => writer.Write(Flat(64, 48, 0, 0, 0)));
            writer.Finish();
        }
        Assert.Equal(new VideoInfo(66, 50, 30, 1), VideoProbe.Probe(path));
    }

    private static int FfmpegChildrenWith(string path)
    {
        int n = 0;
        foreach (var dir in Directory.GetDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var cmd = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmd.Contains("ffmpeg") && cmd.Contains(path)) n++;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return n;
    }

    [Fact]
    public void Disposing_a_reader_or_writer_mid_stream_ends_ffmpeg_and_leaves_no_file()
    {
        var (clip, _) = Clips.Make(_dir, "static", 20);
        var reader = VideoReader.Open(clip, new VideoReaderOptions { Realtime = true });
        Assert.True(reader.IsLive);
        Assert.NotNull(reader.Read());
        Assert.Equal(1, FfmpegChildrenWith(clip));
        reader.Dispose();
        Assert.Equal(0, FfmpegChildrenWith(clip));

        var target = Path.Combine(_dir, "unfinished.mp4");
        var writer = VideoWriter.Create(target, 64, 48, 30);
        writer.Write(Flat(64, 48, 1, 2, 3));
        writer.Dispose();
        Assert.Equal(0, FfmpegChildrenWith(_dir));
        Assert.False(File.Exists(target));
        Assert.Empty(Directory.GetFiles(_dir, "*.partial*"));
    }

    [Fact]
    public void Cancelling_a_read_kills_ffmpeg()
    {
        var (clip, _) = Clips.Make(_dir, "static", 20);
        using var reader = VideoReader.Open(clip, new VideoReaderOptions { Realtime = true });
        using var cts = new CancellationTokenSource();
        Assert.NotNull(reader.Read(cts.Token));
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => reader.Read(cts.Token));
        Assert.Equal(0, FfmpegChildrenWith(clip));
    }

    [Fact]
    public void Missing_files_tools_and_non_videos_are_typed_errors()
    {
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<TrgException>(() => VideoReader.Open(Path.Combine(_dir, "none.mp4"))).Kind);
        var text = Path.Combine(_dir, "notes.mp4");
        File.WriteAllText(text, "this is not a video");
        var e = Assert.Throws<TrgException>(() => VideoReader.Open(text));
        Assert.Equal(ErrorKind.Video, e.Kind);
        Assert.Contains(text, e.Message);

        var saved = Environment.GetEnvironmentVariable("TRG_FFPROBE");
        try
        {
            Environment.SetEnvironmentVariable("TRG_FFPROBE", Path.Combine(_dir, "no-such-ffprobe"));
            var missing = Assert.Throws<TrgException>(() => VideoProbe.Probe(text));
            Assert.Equal(ErrorKind.Video, missing.Kind);
            Assert.Contains("not installed", missing.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable("TRG_FFPROBE", saved);
        }
    }

    [Fact]
    public void Bad_writer_arguments_are_usage_errors()
    {
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => VideoWriter.Create(Path.Combine(_dir, "a.mp4"), 0, 10, 30)).Kind);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => VideoWriter.Create(Path.Combine(_dir, "a.mp4"), 10, 10, double.NaN)).Kind);
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<TrgException>(() => VideoWriter.Create(Path.Combine(_dir, "no", "a.mp4"), 10, 10, 30)).Kind);
    }
}
