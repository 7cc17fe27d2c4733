using System.CommandLine;
using TrgIlgpu.Cli.Serve;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Cli.Commands;

/// <summary>`trg serve`: the estimator as an HTTP service with dynamic batching (docs/serve.md).</summary>
internal static class ServeCommand
{
    public const string Name = "serve";
    /// <summary>Largest --max-body-mb: a body is held in one array.</summary>
    private const int MaxBodyMiB = 1024;

    public static Command Create()
    {
        var model = CommonOptions.Model(required: false);
        model.Description = "TRG model file (.safetensors from `trg export`) or synthetic:trgv2[:SEED]; without it, poses come from the landmark fit";
        model.Aliases.Add("-m");
        var device = CommonOptions.Device();
        device.Aliases.Add("-d");
        var urls = new Option<string>("--urls")
        {
            Description = "Addresses to listen on, ';'-separated (default loopback only; http://0.0.0.0:8080 for every interface)",
            DefaultValueFactory = _ => ServeSettings.DefaultUrls,
        };
        var maxBatch = new Option<int>("--max-batch") { Description = "Most faces in one forward pass", DefaultValueFactory = _ => 16 };
        var maxDelay = new Option<double>("--max-delay-ms")
        {
            Description = "Longest a request waits for others to fill its batch, in milliseconds",
            DefaultValueFactory = _ => 10,
        };
        var maxQueue = new Option<int>("--max-queue") { Description = "Most requests waiting for a batch; more get 429", DefaultValueFactory = _ => 64 };
        var maxBody = new Option<double>("--max-body-mb") { Description = "Largest request body in MiB; larger gets 413", DefaultValueFactory = _ => 32 };
        var maxPixels = new Option<long>("--max-pixels")
        {
            Description = "Refuse images larger than this many pixels (checked from the header, before decoding)",
            DefaultValueFactory = _ => ImageLoadOptions.DefaultMaxPixels,
        };
        var apiKeyFile = new Option<string?>("--api-key-file")
        {
            Description = "File holding an API key that POST /v1/estimate requires as 'Authorization: Bearer KEY'",
        };
        var cmd = new Command(Name, "Serve head-pose estimation over HTTP (POST /v1/estimate) with dynamic batching, probes and metrics")
        {
            model, device, urls, maxBatch, maxDelay, maxQueue, maxBody, maxPixels, apiKeyFile,
        };
        cmd.SetAction(async (parse, cancellationToken) =>
        {
            double delay = parse.GetValue(maxDelay), body = parse.GetValue(maxBody);
            if (!double.IsFinite(delay)) throw new TrgException(ErrorKind.Usage, $"--max-delay-ms {delay}: must be a finite number");
            if (!(body > 0 && body <= MaxBodyMiB)) throw new TrgException(ErrorKind.Usage, $"--max-body-mb {body}: must be in (0, {MaxBodyMiB}]");
            var settings = new ServeSettings
            {
                Model = parse.GetValue(model),
                Device = CommonOptions.ParseDevice(parse.GetValue(device)!),
                Urls = parse.GetValue(urls)!,
                MaxBatch = parse.GetValue(maxBatch),
                MaxDelay = TimeSpan.FromMilliseconds(delay),
                MaxQueue = parse.GetValue(maxQueue),
                MaxBodyBytes = (long)(body * (1 << 20)),
                MaxPixels = parse.GetValue(maxPixels),
                ApiKeyFile = parse.GetValue(apiKeyFile),
            };
            var log = parse.InvocationConfiguration.Error;
            await using var app = ServeApp.Create(settings, HeadPoseEstimator.Create, log, hostLogging: ReferenceEquals(log, Console.Error));
            return await app.RunAsync(cancellationToken);
        });
        return cmd;
    }
}
