using System.CommandLine;
using System.Diagnostics;
using TrgIlgpu.Cli.Estimate;
using TrgIlgpu.Evaluation;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Cli.Commands;

/// <summary>
/// `trg eval`: reads a dataset in its published layout, runs the engine over its frames in batches (each frame with its
/// own camera), writes predictions and ground truth as pose JSON Lines and the metrics report (docs/evaluation.md).
/// </summary>
internal static class EvalCommand
{
    public const string Name = "eval";

    public static Command Create()
    {
        var dataset = new Option<string>("--dataset") { Description = "biwi or arkitface", Required = true };
        dataset.AcceptOnlyFromAmong("biwi", "arkitface");
        var root = new Argument<string>("ROOT") { Description = "The dataset folder (BIWI: hpdb or the folder holding it; ARKitFace: the folder holding ARKitFace_list, ARKitFace_image_test, ARKitFace_info_test)" };
        var model = CommonOptions.Model(required: false);
        model.Description = "TRG model file or synthetic:trgv2[:SEED]; without it, the landmark fit (docs/landmark-fit.md)";
        model.Aliases.Add("-m");
        var boxes = new Option<string?>("--boxes") { Description = "Boxes file as for `trg estimate --boxes` (keys relative to the boxes file's folder); default: find faces" };
        var device = CommonOptions.Device();
        var batch = new Option<int>("--batch") { Description = "Frames per engine pass", DefaultValueFactory = _ => 16 };
        var limit = new Option<int?>("--limit") { Description = "Evaluate only the first N usable frames (a quick check)" };
        var align = new Option<string?>("--align") { Description = "dT file from `trg align --json`: report with and without alignment" };
        var output = new Option<string>("--out") { Description = "Folder for predictions.jsonl, ground_truth.jsonl, metrics.json, metrics.md (created)", Required = true };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress, engine log or summary; errors are still reported" };
        var cmd = new Command(Name, "Run the engine over a dataset (BIWI, ARKitFace) and report the paper's metrics.")
        {
            root, dataset, model, boxes, device, batch, limit, align, output, quiet,
        };
        cmd.SetAction((parse, ct) => Task.FromResult(Run(parse, parse.GetValue(dataset)!, parse.GetValue(root)!, parse.GetValue(model), parse.GetValue(boxes),
            CommonOptions.ParseDevice(parse.GetValue(device)!), parse.GetValue(batch), parse.GetValue(limit), parse.GetValue(align),
            parse.GetValue(output)!, parse.GetValue(quiet), ct)));
        return cmd;
    }

    private static int Run(ParseResult parse, string datasetName, string root, string? model, string? boxesPath, Engine.DeviceKind device,
        int batch, int? limit, string? alignPath, string outDir, bool quiet, CancellationToken ct)
    {
        var stdout = parse.InvocationConfiguration.Output;
        var stderr = parse.InvocationConfiguration.Error;
        if (batch < 1) throw new TrgException(ErrorKind.Usage, "--batch must be at least 1");
        if (limit is < 1) throw new TrgException(ErrorKind.Usage, "--limit must be at least 1");
        var clock = Stopwatch.StartNew();
        // Everything a user can get wrong is checked before the model loads.
        var data = Datasets.Read(datasetName == "biwi" ? DatasetKind.Biwi : DatasetKind.ArkitFace, root);
        var offset = alignPath is null ? null : MetricsFormat.ReadOffset(alignPath);
        var boxes = boxesPath is null ? null : BoxesFile.Load(boxesPath);
        Directory.CreateDirectory(outDir);
        foreach (var s in data.Skipped) stderr.WriteLine($"trg: error: {s.Id}: {s.Error.Message} (skipped)");
        var frames = limit is { } n ? data.Frames.Take(n).ToList() : data.Frames.ToList();

        using var estimator = HeadPoseEstimator.Create(new HeadPoseOptions { Model = model, Device = device, Log = quiet ? null : stderr, MaxBatchSize = batch });
        var predictions = new List<PoseSample>();
        int failed = 0;
        void Fail(DatasetFrame f, string message)
        {
            failed++;
            stderr.WriteLine($"trg: error: {f.Id}: {message} (skipped)");
        }
        void Work(Action<int> advance)
        {
            for (int start = 0; start < frames.Count; start += batch)
            {
                ct.ThrowIfCancellationRequested();
                var chunk = frames.Skip(start).Take(batch).ToList();
                var requests = new List<(DatasetFrame Frame, PhotoRequest Request)>();
                foreach (var f in chunk)
                {
                    try
                    {
                        var image = ImageLoader.LoadFile(f.ImagePath, cancellationToken: ct);
                        FaceBox[]? given = null;
                        if (boxes is not null && (given = boxes.Find(f.ImagePath)) is null)
                            throw new TrgException(ErrorKind.InvalidBox, $"no entry in the boxes file {boxes.Path}", f.ImagePath);
                        var camera = f.Camera.For(image.Width, image.Height);
                        if (FaceRequestChecks.CameraProblem(camera, image.Width, image.Height) is { } problem)
                            throw new TrgException(ErrorKind.InvalidData, problem, f.ImagePath);
                        if (given is not null && FaceRequestChecks.SplitBoxes(given, image.Width, image.Height, f.ImagePath).Refused is [var refused, ..])
                            throw refused.Error;
                        requests.Add((f, new PhotoRequest(image, camera, given)));
                    }
                    catch (TrgException e) { Fail(f, e.Message); }
                }
                if (requests.Count > 0)
                {
                    var results = estimator.EstimateBatch(requests.Select(r => r.Request).ToList(), ct);
                    for (int i = 0; i < results.Length; i++)
                    {
                        var f = requests[i].Frame;
                        // The frame's subject: the largest face (BIWI and ARKitFace show one person).
                        var face = results[i].Faces.MaxBy(x => x.Box.Width * x.Box.Height);
                        if (face is null) Fail(f, results[i].Failures.Length > 0 ? results[i].Failures[0].Error.Message : "no face found");
                        else predictions.Add(new PoseSample(f.Id, face.Rotation.Select(v => (double)v).ToArray(), face.Translation.Select(v => (double)v).ToArray())
                        {
                            VerticesCam = face.VerticesCam.Select(v => (double)v).ToArray(),
                        });
                    }
                }
                advance(chunk.Count);
                if (!quiet && !Terminal(stderr)) stderr.WriteLine($"trg eval: {Math.Min(start + batch, frames.Count)}/{frames.Count} frames");
            }
        }
        if (!quiet && Terminal(stderr)) ProgressDisplay.Run(stderr, frames.Count, Work);
        else Work(_ => { });

        var truth = frames.Select(f => f.Truth).ToList();
        var counts = new FrameCounts(data.Frames.Count + data.Skipped.Count, data.Skipped.Count, failed);
        PoseFile.Write(Path.Combine(outDir, "predictions.jsonl"), predictions);
        PoseFile.Write(Path.Combine(outDir, "ground_truth.jsonl"), truth);
        if (predictions.Count == 0) throw new TrgException(ErrorKind.PartialFailure, $"no frame of {frames.Count} gave a prediction", root);
        var report = Metrics.Compute(predictions, truth, new MetricsOptions { Alignment = offset });
        var title = $"TRG evaluation on {(data.Kind == DatasetKind.Biwi ? "BIWI" : "ARKitFace")} ({estimator.Weights?.Source ?? "landmark fit"})";
        MetricsCommand.Write(Path.Combine(outDir, "metrics.json"), MetricsFormat.ToJson(report, counts), stdout);
        var markdown = MetricsFormat.ToMarkdown(report, title, counts);
        MetricsCommand.Write(Path.Combine(outDir, "metrics.md"), markdown, stdout);
        if (!quiet)
        {
            stdout.Write(markdown);
            stderr.WriteLine($"trg eval: {counts.Listed} frames ({counts.Skipped} skipped, {counts.Failed} failed), {report.Errors.N} scored in {clock.Elapsed.TotalSeconds:0.00} s on {estimator.DeviceName}; report in {outDir}");
        }
        return counts.Skipped + counts.Failed > 0 ? (int)ErrorKind.PartialFailure : 0;
    }

    private static bool Terminal(TextWriter stderr) => ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
}
