using System.CommandLine;
using TrgIlgpu.Cli.Estimate;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Cli.Commands;

/// <summary>`trg estimate`: head poses for the face boxes in images, as JSON / JSON Lines, with optional overlay pictures.</summary>
internal static class EstimateCommand
{
    public const string Name = "estimate";

    public static Command Create() => Create(HeadPoseEstimator.Create);

    /// <summary>
    /// The command with a chosen TRG engine (tests pass a stand-in): runs with a model use it; face finding and the
    /// landmark fit (no model) run on the real networks.
    /// </summary>
    internal static Command Create(Func<string, EstimatorOptions, TrgEstimator> createEstimator) =>
        Create(o => o.Model is null
            ? HeadPoseEstimator.Create(o)
            : HeadPoseEstimator.ForTrg(createEstimator(o.Model, new EstimatorOptions
            {
                Device = o.Device, Log = o.Log, MaxBatchSize = o.MaxBatchSize, Convolutions = o.Convolutions, Loading = o.Loading,
            }), o));

    /// <summary>The command with a chosen way to make the photo-to-pose estimator.</summary>
    internal static Command Create(Func<HeadPoseOptions, HeadPoseEstimator> createEstimator)
    {
        var inputs = new Argument<string[]>("INPUT")
        {
            Description = "Image files, folders (their image files, not recursive) or @LIST files (one path per line, relative to the list)",
            Arity = ArgumentArity.OneOrMore,
        };
        var model = CommonOptions.Model(required: false);
        model.Description = "TRG model file (.safetensors from `trg export`) or synthetic:trgv2[:SEED]; without it, poses come from fitting "
            + "the detected 68 landmarks to the TRG template (\"method\": \"landmarks\")";
        model.Aliases.Add("-m");
        var detection = new DetectorCliOptions();
        var bbox = new Option<string[]>("--bbox")
        {
            Description = "Face box l,t,r,b in pixels, for every image (repeat for several faces)",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var boxes = new Option<string?>("--boxes")
        {
            Description = "JSON file mapping image path or file name to boxes: {\"a.jpg\": [[l,t,r,b], ...], ...}",
        };
        var focal = new Option<string?>("--focal")
        {
            Description = "Focal length in pixels (principal point at the image centre); default W+H per image",
        };
        var camera = new Option<string?>("--camera")
        {
            Description = "Camera intrinsics fx,fy,cx,cy in pixels, for every image (fx = fy: square pixels)",
        };
        var calibration = new Option<string?>("--calibration")
        {
            Description = "Calibration JSON (OpenCV FileStorage camera_matrix, K, or fx/fy/cx/cy; optional image_width/height to scale by)",
        };
        var device = CommonOptions.Device();
        device.Aliases.Add("-d");
        var json = new Option<string?>("--json") { Description = "Write one JSON document to this file ('-' = stdout, the default)" };
        var jsonl = new Option<string?>("--jsonl") { Description = "Write JSON Lines (one line per image) to this file ('-' = stdout)" };
        var overlay = new Option<string?>("--overlay")
        {
            Description = "Draw the results: OUT.png for one image, or a folder (gets NAME.overlay.png per image)",
        };
        var sidePanel = new Option<bool>("--side-panel") { Description = "Add a side view of the camera-space meshes to each overlay" };
        var ignoreExif = new Option<bool>("--ignore-exif")
        {
            Description = "Do not rotate images by their EXIF orientation (the official TRG preprocessing ignores it)",
        };
        var maxPixels = new Option<long>("--max-pixels")
        {
            Description = "Refuse images larger than this many pixels (checked from the header, before decoding)",
            DefaultValueFactory = _ => ImageLoadOptions.DefaultMaxPixels,
        };
        var batch = new Option<int>("--batch")
        {
            Description = "Most faces in one forward pass (faces of several images share a pass)",
            DefaultValueFactory = _ => 16,
        };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar, engine log or summary (errors are still reported)" };
        var timings = new Option<bool>("--timings")
        {
            Description = "Print where the time went to stderr at the end: each start-up phase (device, model, packed-weights cache, kernel compile, plans, forward, decode, output) from process start",
        };

        var cmd = new Command(Name, "Estimate head pose (R, T), face mesh and landmarks for face boxes in images")
        {
            inputs, model, bbox, boxes, focal, camera, calibration, device, json, jsonl, overlay, sidePanel, ignoreExif, maxPixels, batch, quiet, timings,
        };
        foreach (var option in detection.All) cmd.Options.Add(option);
        cmd.SetAction((parse, cancellationToken) =>
        {
            var boxTexts = parse.GetValue(bbox) ?? [];
            var settings = new EstimateSettings
            {
                Inputs = parse.GetValue(inputs)!,
                Model = parse.GetValue(model),
                Detector = detection.Parse(parse),
                Boxes = boxTexts.Select(EstimateSettings.ParseBox).ToArray(),
                BoxesFile = parse.GetValue(boxes),
                Focal = parse.GetValue(focal) is { } focalText ? EstimateSettings.ParseFocal(focalText) : null,
                Camera = parse.GetValue(camera) is { } cameraText ? EstimateSettings.ParseCamera(cameraText) : null,
                CalibrationPath = parse.GetValue(calibration),
                Device = CommonOptions.ParseDevice(parse.GetValue(device)!),
                JsonPath = parse.GetValue(json),
                JsonLinesPath = parse.GetValue(jsonl),
                OverlayPath = parse.GetValue(overlay),
                SidePanel = parse.GetValue(sidePanel),
                IgnoreExif = parse.GetValue(ignoreExif),
                MaxPixels = parse.GetValue(maxPixels),
                BatchSize = parse.GetValue(batch),
                Quiet = parse.GetValue(quiet),
                Timings = parse.GetValue(timings),
            };
            Check(settings);
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            bool terminal = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
            int code = new EstimateRun(settings, createEstimator, stdout, stderr, terminal).Execute(cancellationToken);
            return Task.FromResult(code);
        });
        return cmd;
    }

    private static void Check(EstimateSettings s)
    {
        // The parser hands unknown options to INPUT (it takes any number of values): catch them here.
        foreach (var input in s.Inputs)
            if (input.Length > 1 && input[0] == '-' && !char.IsDigit(input[1]) && !File.Exists(input) && !Directory.Exists(input))
                throw new TrgException(ErrorKind.Usage, $"unknown option '{input}' (see trg estimate --help)");
        s.Detector.Validate();
        if (s.Boxes.Count > 0 && s.BoxesFile is not null)
            throw new TrgException(ErrorKind.Usage, "--bbox and --boxes cannot be combined: put every box in the boxes file");
        if (s.JsonPath is not null && s.JsonLinesPath is not null)
            throw new TrgException(ErrorKind.Usage, "--json and --jsonl cannot be combined: choose one output form");
        if ((s.Focal is null ? 0 : 1) + (s.Camera is null ? 0 : 1) + (s.CalibrationPath is null ? 0 : 1) > 1)
            throw new TrgException(ErrorKind.Usage, "--focal, --camera and --calibration cannot be combined: give one description of the camera");
        if (s.MaxPixels < 1) throw new TrgException(ErrorKind.Usage, $"--max-pixels {s.MaxPixels}: must be at least 1");
        if (s.BatchSize < 1) throw new TrgException(ErrorKind.Usage, $"--batch {s.BatchSize}: must be at least 1");
    }
}
