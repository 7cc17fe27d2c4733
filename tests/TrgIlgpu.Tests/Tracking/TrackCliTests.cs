using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using TrgIlgpu.Tools;
using TrgIlgpu.Video;
using static TrgIlgpu.Tests.App.AppTestData;

namespace TrgIlgpu.Tests.Tracking;

/// <summary>
/// `trg track` as a user runs it on made clips: JSON Lines with a line per frame (raw and smoothed poses, track ids,
/// stage timings) through the TRG path with synthetic weights, an overlay video ffprobe reads with one frame per frame
/// in, CSV with the face-free frames reported, a folder of frames, --realtime dropping frames, and every usage error.
/// </summary>
[Collection(FfmpegCollection.Name)]
public sealed class TrackCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trg-track-cli-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Out(string name) => Path.Combine(_dir, name);

    [Fact]
    public void Trg_model_json_lines_and_an_overlay_video_one_frame_per_frame()
    {
        var (clip, _) = Clips.Make(_dir, "pan", 10);
        var (code, _, err) = Trg("track", clip, "--model", "synthetic:trgv2:3", "--device", "opencl", "--detect-every", "5",
            "--jsonl", Out("t.jsonl"), "--overlay", Out("t.overlay.mp4"));
        Assert.True(code == 0, err);
        Assert.Matches(@"10 frames processed, 0 dropped, [0-9.]+ frames/s achieved", err);
        var lines = File.ReadAllLines(Out("t.jsonl"));
        Assert.Equal(10, lines.Length);
        int? id = null;
        for (int i = 0; i < lines.Length; i++)
        {
            using var doc = JsonDocument.Parse(lines[i]);
            var root = doc.RootElement;
            Assert.Equal(i, root.GetProperty("frame").GetInt32());
            Assert.Equal(i / 30.0, root.GetProperty("time").GetDouble(), 5);
            Assert.Equal(i % 5 == 0, root.GetProperty("detected").GetBoolean());
            var face = Assert.Single(root.GetProperty("faces").EnumerateArray());
            id ??= face.GetProperty("track_id").GetInt32();
            Assert.Equal(id, face.GetProperty("track_id").GetInt32());
            Assert.Equal(i % 5 == 0 ? "detector" : "tracker", face.GetProperty("source").GetString());
            Assert.Equal("trg", face.GetProperty("method").GetString());
            Assert.Equal(9, Floats(face.GetProperty("rotation")).Length);
            Assert.Equal(1220 * 3, Floats(face.GetProperty("vertices_cam")).Length);
            Assert.Equal(136, Floats(face.GetProperty("detection").GetProperty("landmarks68")).Length);
            var smoothed = face.GetProperty("smoothed");
            Assert.Equal(9, Floats(smoothed.GetProperty("rotation")).Length);
            Assert.Equal(3, Floats(smoothed.GetProperty("translation")).Length);
            if (i == 0)
                Assert.Equal(Floats(face.GetProperty("translation")), Floats(smoothed.GetProperty("translation")));
            var timing = root.GetProperty("timing_ms");
            foreach (var stage in new[] { "decode", "detect", "landmarks", "pose", "encode" })
                Assert.True(timing.GetProperty(stage).GetDouble() >= 0);
            Assert.True(timing.GetProperty("pose").GetDouble() > 0 && timing.GetProperty("encode").GetDouble() > 0);
        }
        var overlay = VideoProbe.Probe(Out("t.overlay.mp4"));
        Assert.Equal(new VideoInfo(Clips.Width, Clips.Height, Clips.Fps, 10), overlay);
    }

    [Fact]
    public void A_folder_of_frames_to_csv_reports_a_face_free_frame_and_smoothing_off_repeats_the_raw_pose()
    {
        var folder = Directory.CreateDirectory(Out("frames")).FullName;
        var rng = new Random(5);
        var views = new[] { Clips.Start, Clips.Start with { CentreX = Clips.Start.CentreX + 4 }, Clips.Start with { FaceFree = true }, Clips.Start };
        for (int i = 0; i < views.Length; i++)
        {
            using var image = Imaging.ImageLoader.ToImage(ClipMaker.Render(Clips.Photo, views[i], Clips.Width, Clips.Height, 2, rng));
            SixLabors.ImageSharp.ImageExtensions.SaveAsPng(image, Path.Combine(folder, $"f{i:000}.png"));
        }
        var (code, stdout, err) = Trg("track", folder, "--device", "opencl", "--fps", "10", "--csv", "-", "--smooth", "off", "-q");
        Assert.True(code == 0, err);
        Assert.Equal("", err);
        var rows = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(TrgIlgpu.Cli.Track.CsvTrackOutput.Header, rows[0]);
        Assert.Equal(1 + views.Length, rows.Length);
        var ids = new List<string>();
        for (int i = 0; i < views.Length; i++)
        {
            var c = rows[i + 1].Split(',');
            Assert.Equal(23, c.Length);
            Assert.Equal(i.ToString(CultureInfo.InvariantCulture), c[0]);
            Assert.Equal(i / 10.0, double.Parse(c[1], CultureInfo.InvariantCulture), 6);
            if (views[i].FaceFree)
            {
                Assert.Equal("", c[4]);
                Assert.Equal("1", c[3]);
                continue;
            }
            ids.Add(c[4]);
            for (int k = 0; k < 6; k++) Assert.Equal(c[11 + k], c[17 + k]);
        }
        // One id before the face-free frame, a new one after it.
        Assert.Equal(new[] { ids[0], ids[0] }, ids.Take(2));
        Assert.NotEqual(ids[0], ids[2]);
    }

    [Fact]
    public void Realtime_drops_frames_when_behind_and_says_so()
    {
        var (clip, _) = Clips.Make(_dir, "static", 24);
        var (code, _, err) = Trg("track", clip, "--device", "opencl", "--realtime", "--detect-every", "3", "--jsonl", Out("rt.jsonl"));
        Assert.True(code == 0, err);
        var m = Regex.Match(err, @"(\d+) frames processed, (\d+) dropped, ([0-9.]+) frames/s achieved");
        Assert.True(m.Success, err);
        int processed = int.Parse(m.Groups[1].Value), dropped = int.Parse(m.Groups[2].Value);
        Assert.Equal(24, processed + dropped);
        // On PoCL the detector alone takes longer than a frame at 30 frames/s.
        Assert.True(dropped > 0, err);
        var frames = File.ReadAllLines(Out("rt.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("frame").GetInt32()).ToList();
        Assert.Equal(processed, frames.Count);
        Assert.True(frames.Zip(frames.Skip(1)).All(p => p.Second > p.First));
        Assert.Contains("mean ms per frame: decode", err);
    }

    [Theory]
    [InlineData(2, "--jsonl", "a.jsonl", "--csv", "a.csv")]
    [InlineData(2, "--overlay", "a.png")]
    [InlineData(2, "--rotation-smoothing", "1,2")]
    [InlineData(2, "--rotation-smoothing", "0,2,1")]
    [InlineData(2, "--smooth", "off", "--translation-smoothing", "1,2,1")]
    [InlineData(2, "--detect-every", "0")]
    [InlineData(2, "--fps", "0")]
    [InlineData(2, "--focal", "100", "--camera", "100,100,160,120")]
    [InlineData(2, "--realtime")]
    public void Usage_errors_exit_2_before_anything_runs(int expected, params string[] extra)
    {
        var folder = Directory.CreateDirectory(Out("empty-ish")).FullName;
        File.WriteAllBytes(Path.Combine(folder, "a.png"), []);
        var args = new List<string> { "track", folder };
        args.AddRange(extra.Select(e => e.EndsWith(".jsonl") || e.EndsWith(".csv") || e.EndsWith(".png") ? Out(e) : e));
        var (code, _, err) = Trg([.. args]);
        Assert.True(code == expected, $"exit {code}: {err}");
        Assert.Contains("trg: error:", err);
    }

    [Fact]
    public void Missing_and_unreadable_videos_are_typed_errors()
    {
        var (code, _, err) = Trg("track", Out("none.mp4"), "-q");
        Assert.Equal((int)ErrorKind.NotFound, code);
        Assert.Contains("none.mp4", err);
        File.WriteAllText(Out("text.mp4"), "not a video");
        (code, _, err) = Trg("track", Out("text.mp4"), "-q");
        Assert.Equal((int)ErrorKind.Video, code);
        Assert.Contains("text.mp4", err);
    }
}
