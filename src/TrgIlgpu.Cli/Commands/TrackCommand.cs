using System.CommandLine;
using System.Globalization;
using TrgIlgpu.Cli.Estimate;
using TrgIlgpu.Cli.Track;
using TrgIlgpu.Imaging;
using TrgIlgpu.Tracking;

namespace TrgIlgpu.Cli.Commands;

/// <summary>`trg track`: head poses through a video, camera or frame sequence, with stable track ids and smoothed poses (docs/video.md).</summary>
internal static class TrackCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("INPUT")
        {
            Description = "Video file (read by ffmpeg), capture device (/dev/video0: live), folder of frames (name order) or @LIST of frame files",
        };
        var model = CommonOptions.Model(required: false);
        model.Description = "TRG model file or synthetic:trgv2[:SEED]; without it, poses come from fitting the 68 landmarks to the TRG template";
        model.Aliases.Add("-m");
        var device = CommonOptions.Device();
        device.Aliases.Add("-d");
        var jsonl = new Option<string?>("--jsonl") { Description = "JSON Lines, one line a frame, to this file ('-' = stdout, the default)" };
        var csv = new Option<string?>("--csv") { Description = "CSV, one row a face (a frame without faces: one row without a track), to this file ('-' = stdout)" };
        var overlay = new Option<string?>("--overlay") { Description = "Overlay video (.mp4, .mkv or .mov): each frame with its faces' meshes, axes and track ids" };
        var detectEvery = new Option<int>("--detect-every") { Description = "Run the face detector at least every N frames (also on the first frame, after a cut and when a track is lost)", DefaultValueFactory = _ => 10 };
        var smooth = new Option<string>("--smooth") { Description = "Pose smoothing preset: off, light or strong (One-Euro on rotation and translation; docs/video.md)", DefaultValueFactory = _ => "light" };
        smooth.AcceptOnlyFromAmong("off", "light", "strong");
        var rotationSmoothing = new Option<string?>("--rotation-smoothing") { Description = "Rotation One-Euro parameters MIN_CUTOFF,BETA,D_CUTOFF (Hz, Hz per rad/s, Hz); overrides the preset's" };
        var translationSmoothing = new Option<string?>("--translation-smoothing") { Description = "Translation One-Euro parameters MIN_CUTOFF,BETA,D_CUTOFF (Hz, Hz per m/s, Hz); overrides the preset's" };
        var realtime = new Option<bool>("--realtime") { Description = "Read a video file at its frame rate, as a camera, dropping frames when the engine falls behind" };
        var fps = new Option<double>("--fps") { Description = "Frame rate of a folder or list of frames", DefaultValueFactory = _ => 30 };
        var matchIou = new Option<double>("--match-iou") { Description = "Least IoU between a detection and a track's predicted box to continue the track", DefaultValueFactory = _ => 0.3 };
        var lostTimeout = new Option<double>("--lost-timeout") { Description = "Seconds a lost track keeps its id for the face to come back", DefaultValueFactory = _ => 1.0 };
        var cutThreshold = new Option<double>("--cut-threshold") { Description = "Colour-histogram distance (0..1) between frames that counts as a scene cut (new track ids); 1 disables", DefaultValueFactory = _ => 0.5 };
        var detection = new DetectorCliOptions();
        var focal = new Option<float?>("--focal") { Description = "Focal length in pixels (principal point at the frame centre); default W+H" };
        var camera = new Option<string?>("--camera") { Description = "Camera intrinsics fx,fy,cx,cy in pixels" };
        var maxPixels = new Option<long>("--max-pixels") { Description = "Refuse frames larger than this many pixels", DefaultValueFactory = _ => ImageLoadOptions.DefaultMaxPixels };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No engine log or summary (errors are still reported)" };

        var cmd = new Command("track", "Track head poses through a video, camera or frame sequence: stable face ids, raw and smoothed poses")
        {
            input, model, device, jsonl, csv, overlay, detectEvery, smooth, rotationSmoothing, translationSmoothing, realtime, fps,
            matchIou, lostTimeout, cutThreshold, focal, camera, maxPixels, quiet,
        };
        foreach (var option in detection.All) cmd.Options.Add(option);
        cmd.SetAction((parse, cancellationToken) =>
        {
            var preset = SmoothingOptions.For(Enum.Parse<SmoothingPreset>(parse.GetValue(smooth)!, ignoreCase: true));
            var rotation = parse.GetValue(rotationSmoothing) is { } r ? ParseOneEuro("--rotation-smoothing", r) : (OneEuroParameters?)null;
            var translation = parse.GetValue(translationSmoothing) is { } t ? ParseOneEuro("--translation-smoothing", t) : (OneEuroParameters?)null;
            if (preset is null && (rotation is not null || translation is not null))
                throw new TrgException(ErrorKind.Usage, "--smooth off cannot be combined with --rotation-smoothing / --translation-smoothing");
            var smoothing = preset is null ? null : new SmoothingOptions(rotation ?? preset.Rotation, translation ?? preset.Translation);
            var settings = new TrackSettings
            {
                Input = parse.GetValue(input)!,
                Model = parse.GetValue(model),
                Device = CommonOptions.ParseDevice(parse.GetValue(device)!),
                Detector = detection.Parse(parse),
                JsonLinesPath = parse.GetValue(jsonl),
                CsvPath = parse.GetValue(csv),
                OverlayPath = parse.GetValue(overlay),
                Tracker = new TrackerOptions
                {
                    DetectEvery = parse.GetValue(detectEvery),
                    MatchIou = parse.GetValue(matchIou),
                    LostTimeout = parse.GetValue(lostTimeout),
                    CutThreshold = parse.GetValue(cutThreshold),
                    Smoothing = smoothing,
                },
                Realtime = parse.GetValue(realtime),
                FramesFps = parse.GetValue(fps),
                Focal = parse.GetValue(focal),
                Camera = parse.GetValue(camera) is { } c ? EstimateSettings.ParseCamera(c) : null,
                MaxPixels = parse.GetValue(maxPixels),
                Quiet = parse.GetValue(quiet),
            };
            Check(settings);
            return Task.FromResult(new TrackRun(settings, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error).Execute(cancellationToken));
        });
        return cmd;
    }

    private static void Check(TrackSettings s)
    {
        s.Detector.Validate();
        s.Tracker.Validate();
        if (s.JsonLinesPath is not null && s.CsvPath is not null)
            throw new TrgException(ErrorKind.Usage, "--jsonl and --csv cannot be combined: choose one output form");
        if (s.Focal is not null && s.Camera is not null)
            throw new TrgException(ErrorKind.Usage, "--focal and --camera cannot be combined: give one description of the camera");
        if (s.Focal is { } f && CameraIntrinsics.Problem(f, f, 0, 0) is { } problem)
            throw new TrgException(ErrorKind.Usage, $"--focal {f}: {problem}");
        if (!(s.FramesFps > 0 && s.FramesFps <= Video.VideoProbe.MaxFrameRate))
            throw new TrgException(ErrorKind.Usage, $"--fps {s.FramesFps}: must be in (0, {Video.VideoProbe.MaxFrameRate}]");
        if (s.MaxPixels < 1) throw new TrgException(ErrorKind.Usage, $"--max-pixels {s.MaxPixels}: must be at least 1");
    }

    /// <summary>"MIN_CUTOFF,BETA,D_CUTOFF" as checked One-Euro parameters.</summary>
    internal static OneEuroParameters ParseOneEuro(string option, string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var v = new double[3];
        if (parts.Length != 3 || !parts.Select((p, i) => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out v[i])).All(ok => ok))
            throw new TrgException(ErrorKind.Usage, $"{option} '{text}': expected three numbers MIN_CUTOFF,BETA,D_CUTOFF, e.g. 1.0,3,1.0");
        var p = new OneEuroParameters(v[0], v[1], v[2]);
        if (p.Problem() is { } problem) throw new TrgException(ErrorKind.Usage, $"{option} '{text}': {problem}");
        return p;
    }
}
