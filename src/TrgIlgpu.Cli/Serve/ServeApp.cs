using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.OpenApi;
using Prometheus;
using TrgIlgpu.Cli.Estimate;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Cli.Serve;

/// <summary>
/// `trg serve`: Kestrel with minimal APIs around one <see cref="HeadPoseEstimator"/> shared by all requests, fed by a
/// <see cref="BatchScheduler"/>. Endpoints: <c>POST /v1/estimate</c>, <c>GET /healthz</c>, <c>GET /readyz</c>,
/// <c>GET /metrics</c>, <c>GET /openapi/v1.json</c> (docs/serve.md). The model loads after the server starts, so
/// /healthz answers at once and /readyz (and /v1/estimate) say 503 until the weights are loaded and the kernels warm.
/// </summary>
internal sealed class ServeApp : IAsyncDisposable
{
    public const string EstimatePath = "/v1/estimate";
    /// <summary>Seconds a 429 or 503 asks the client to wait.</summary>
    private const int RetryAfterSeconds = 1;

    private readonly ServeSettings _settings;
    private readonly Func<HeadPoseOptions, HeadPoseEstimator> _createEstimator;
    private readonly TextWriter _log;
    private readonly WebApplication _app;
    private readonly ServeMetrics _metrics;
    private readonly byte[]? _apiKeyHash;
    private readonly ImageLoadOptions _imageOptions;
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile HeadPoseEstimator? _estimator;
    private volatile BatchScheduler? _scheduler;
    private volatile bool _stopping;

    /// <summary>Set when the model failed to load: the process exits with its kind's code.</summary>
    public TrgException? LoadError { get; private set; }

    /// <summary>Completes when the model has loaded and the kernels are warm, or loading failed.</summary>
    public Task Loaded => _loaded.Task;

    /// <summary>The addresses Kestrel listens on (after <see cref="StartAsync"/>; a port 0 is resolved).</summary>
    public IReadOnlyCollection<string> Urls => [.. _app.Urls];

    private ServeApp(ServeSettings settings, Func<HeadPoseOptions, HeadPoseEstimator> createEstimator, TextWriter log, bool hostLogging)
    {
        _settings = settings;
        _createEstimator = createEstimator;
        _log = log;
        _imageOptions = new ImageLoadOptions { MaxPixels = settings.MaxPixels };
        _apiKeyHash = settings.ApiKeyFile is null ? null : SHA256.HashData(Encoding.UTF8.GetBytes(ReadApiKey(settings.ApiKeyFile)));
        _metrics = new ServeMetrics(settings.MaxBatch, () => _scheduler?.Depth ?? 0);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        if (hostLogging) builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseKestrel(o =>
        {
            o.Limits.MaxRequestBodySize = settings.MaxBodyBytes;
            o.AddServerHeader = false;
        });
        builder.WebHost.UseUrls(settings.UrlList);
        builder.Host.UseConsoleLifetime(o => o.SuppressStatusMessages = true);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.ShutdownTimeout);
        builder.Services.AddOpenApi();
        _app = builder.Build();
        Map(_app);
        _app.Lifetime.ApplicationStopping.Register(OnStopping);
    }

    /// <summary>
    /// Builds the server (nothing listens yet). Throws <see cref="TrgException"/> for bad settings or an unreadable API
    /// key file. <paramref name="hostLogging"/>: ASP.NET Core's own warnings to the console (the CLI; tests keep it quiet).
    /// </summary>
    public static ServeApp Create(ServeSettings settings, Func<HeadPoseOptions, HeadPoseEstimator> createEstimator, TextWriter log,
        bool hostLogging = false)
    {
        settings.Check();
        return new ServeApp(settings, createEstimator, log, hostLogging);
    }

    /// <summary>Starts listening, then loads the model in the background.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken);
        var urls = string.Join(", ", _app.Urls);
        _log.WriteLine(_apiKeyHash is not null
            ? $"trg serve: listening on {urls}; {EstimatePath} needs the API key (Authorization: Bearer)"
            : _settings.LoopbackOnly
                ? $"trg serve: listening on {urls} (loopback only: without --api-key-file the service is reachable from this machine alone)"
                : $"trg serve: warning: listening on {urls} without an API key (no --api-key-file): anyone who can reach it can use the service");
        _ = Task.Run(Load);
    }

    /// <summary>Starts, serves until SIGTERM / Ctrl+C (or <paramref name="cancellationToken"/>), drains, and returns the exit code.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken = default)
    {
        await StartAsync(cancellationToken);
        await _app.WaitForShutdownAsync(cancellationToken);
        await DrainAsync();
        if (LoadError is { } e) return (int)e.Kind;
        return 0;
    }

    /// <summary>Stops accepting, answers what was accepted, stops the server.</summary>
    public async Task StopAsync()
    {
        await _app.StopAsync();
        await DrainAsync();
    }

    private void Load()
    {
        var clock = Stopwatch.StartNew();
        try
        {
            var estimator = _createEstimator(new HeadPoseOptions
            {
                Model = _settings.Model, Device = _settings.Device, Log = _log, Detector = _settings.Detector, MaxBatchSize = _settings.MaxBatch,
            });
            Warm(estimator);
            _estimator = estimator;
            if (_stopping) return; // DrainAsync disposes it
            _scheduler = new BatchScheduler(estimator.EstimateBatch, _settings.MaxBatch, _settings.MaxDelay, _settings.MaxQueue, _metrics.Batch);
            _metrics.Ready();
            _log.WriteLine(string.Format(CultureInfo.InvariantCulture,
                "trg serve: ready in {0:0.0} s on {1} (max batch {2} faces, max delay {3} ms, queue {4})",
                clock.Elapsed.TotalSeconds, estimator.DeviceName, _settings.MaxBatch, _settings.MaxDelay.TotalMilliseconds, _settings.MaxQueue));
        }
        catch (Exception e)
        {
            LoadError = e as TrgException ?? new TrgException(ErrorKind.Device, $"the model could not be loaded: {e.Message}", null, e);
            _log.WriteLine($"trg serve: error: {LoadError.Message}");
            _app.Lifetime.StopApplication();
        }
        finally
        {
            _loaded.TrySetResult();
        }
    }

    /// <summary>One forward at the request path's shapes, so the first request does not pay for kernel compilation.</summary>
    private static void Warm(HeadPoseEstimator estimator)
    {
        const int size = 224;
        var pixels = new byte[size * size * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 7 % 251);
        estimator.Estimate(new RgbImage(size, size, pixels), boxes: [new FaceBox(40, 40, 184, 184)]);
    }

    private void OnStopping()
    {
        _stopping = true;
        var queued = _scheduler?.Depth ?? 0;
        _scheduler?.Close();
        _log.WriteLine($"trg serve: stopping: no new requests; finishing {queued} queued");
    }

    private async Task DrainAsync()
    {
        await _loaded.Task;
        if (_scheduler is { } s)
        {
            s.Close();
            await s.Completion;
        }
        _estimator?.Dispose();
        _log.WriteLine("trg serve: stopped");
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    private void Map(WebApplication app)
    {
        // Count and time every estimate request by the status it got (a client that left is 499, nginx's convention).
        app.Use(async (ctx, next) =>
        {
            if (!ctx.Request.Path.Equals(EstimatePath, StringComparison.Ordinal))
            {
                await next(ctx);
                return;
            }
            long start = Stopwatch.GetTimestamp();
            try
            {
                await next(ctx);
            }
            finally
            {
                int status = ctx.RequestAborted.IsCancellationRequested && !ctx.Response.HasStarted ? 499 : ctx.Response.StatusCode;
                _metrics.Request(status, Stopwatch.GetElapsedTime(start));
            }
        });
        app.MapGet("/healthz", () => Results.Text("ok\n"))
            .WithSummary("Liveness: the process answers");
        app.MapGet("/readyz", () => _scheduler is not null && !_stopping
                ? Results.Text("ready\n")
                : Results.Text(_stopping ? "stopping\n" : "loading\n", statusCode: StatusCodes.Status503ServiceUnavailable))
            .WithSummary("Readiness: weights loaded and kernels warm (503 while loading or stopping)");
        app.MapPost(EstimatePath, (Func<HttpContext, Task>)EstimateAsync)
            // Any content type is taken (curl --data-binary sends form encoding): the body is described, not enforced.
            .AddOpenApiOperationTransformer((operation, _, _) =>
            {
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Description = "The encoded image (JPEG, PNG, BMP, GIF, TGA, TIFF, WebP, PBM), any content type",
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        ["application/octet-stream"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } },
                    },
                };
                return Task.CompletedTask;
            })
            .Produces(StatusCodes.Status200OK, contentType: "application/json")
            .Produces(StatusCodes.Status400BadRequest, contentType: "application/json")
            .Produces(StatusCodes.Status401Unauthorized, contentType: "application/json")
            .Produces(StatusCodes.Status413PayloadTooLarge, contentType: "application/json")
            .Produces(StatusCodes.Status429TooManyRequests, contentType: "application/json")
            .Produces(StatusCodes.Status503ServiceUnavailable, contentType: "application/json")
            .WithSummary("Head poses of the faces in one image (the body); query: bbox=l,t,r,b (repeatable), focal=F or camera=fx,fy,cx,cy, name")
            .WithDescription("The answer is the JSON of `trg estimate` for one image (docs/cli.md).");
        app.MapMetrics("/metrics", _metrics.Registry);
        app.MapOpenApi();
    }

    private async Task EstimateAsync(HttpContext ctx)
    {
        long arrived = Stopwatch.GetTimestamp();
        var ct = ctx.RequestAborted;
        if (!Authorized(ctx.Request))
        {
            ctx.Response.Headers.WWWAuthenticate = "Bearer";
            await Status(ctx, StatusCodes.Status401Unauthorized, "a valid API key is needed: Authorization: Bearer <key>");
            return;
        }
        var scheduler = _scheduler;
        var estimator = _estimator;
        if (scheduler is null || estimator is null || scheduler.Closed)
        {
            ctx.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            await Status(ctx, StatusCodes.Status503ServiceUnavailable, _stopping ? "the service is shutting down" : "the service is not ready yet: the model is loading");
            return;
        }
        EstimateQuery query;
        try
        {
            query = EstimateQuery.Parse(ctx.Request.Query);
        }
        catch (TrgException e)
        {
            await Error(ctx, e);
            return;
        }
        var body = await ReadBodyAsync(ctx);
        if (body is null) return;

        var decode = Stopwatch.GetTimestamp();
        var (outcome, photo) = Prepare(query, body, ct);
        double decodeMs = Stopwatch.GetElapsedTime(decode).TotalMilliseconds;
        double queueMs = 0, inferenceMs = 0;
        if (photo is not null)
        {
            var job = new BatchJob(photo, ct);
            if (!scheduler.TryEnqueue(job))
            {
                ctx.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                if (scheduler.Closed) await Status(ctx, StatusCodes.Status503ServiceUnavailable, "the service is shutting down");
                else await Status(ctx, StatusCodes.Status429TooManyRequests, $"the queue is full ({_settings.MaxQueue} requests waiting); retry later");
                return;
            }
            PhotoResult result;
            try
            {
                // A client that leaves is answered by nobody at once; the scheduler drops its job when it comes to it.
                (result, queueMs, inferenceMs) = await job.Done.WaitAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return; // the client has gone: nobody to answer
            }
            catch (Exception e)
            {
                _log.WriteLine($"trg serve: error: the estimator failed: {e}");
                var error = e as TrgException ?? new TrgException(ErrorKind.Device, $"the estimator failed: {e.Message}");
                await Error(ctx, error, StatusCodes.Status500InternalServerError);
                return;
            }
            outcome.Faces.AddRange(result.Faces);
            foreach (var failure in result.Failures)
                outcome.FaceErrors.Add((failure.Box, new TrgException(failure.Error.Kind, failure.Error.Message, query.Name, failure.Error)));
            outcome.InferenceMs = inferenceMs;
        }
        // Like the CLI's exit code: a request whose image failed, or whose every face failed, is the client's error.
        int status = outcome.Error is not null || (outcome.Faces.Count == 0 && outcome.FaceErrors.Count > 0)
            ? StatusCodes.Status400BadRequest : StatusCodes.Status200OK;
        double totalMs = Stopwatch.GetElapsedTime(arrived).TotalMilliseconds;
        await WriteJson(ctx, status, w => ResultJson.WriteImageDocument(w, outcome, estimator.DeviceName, estimator.Weights, estimator.Method,
            estimator.Options.Detector, outcome.Error is null
                ? [("decode", decodeMs), ("queue", queueMs), ("inference", inferenceMs), ("total", totalMs)]
                : [("decode", decodeMs), ("total", totalMs)]));
    }

    /// <summary>
    /// The image's outcome so far and what to estimate (null when nothing is left to run), as `trg estimate` prepares a
    /// file: decode, camera, given boxes checked one by one (a bad box is reported, the others still run).
    /// </summary>
    private (ImageOutcome, PhotoRequest?) Prepare(EstimateQuery query, byte[] body, CancellationToken ct)
    {
        RgbImage image;
        try
        {
            image = ImageLoader.Load(body, query.Name, _imageOptions, ct);
        }
        catch (TrgException e)
        {
            return (new ImageOutcome { Path = query.Name, Error = e }, null);
        }
        var camera = query.CameraFor(image.Width, image.Height);
        if (FaceRequestChecks.CameraProblem(camera, image.Width, image.Height) is { } cameraProblem)
            return (new ImageOutcome { Path = query.Name, Error = new TrgException(ErrorKind.Usage, cameraProblem, query.Name) }, null);
        var outcome = new ImageOutcome { Path = query.Name, Width = image.Width, Height = image.Height, Camera = camera };
        if (query.Boxes is not { } boxes) return (outcome, new PhotoRequest(image, camera));
        var (usable, refused) = FaceRequestChecks.SplitBoxes(boxes, image.Width, image.Height, query.Name);
        foreach (var r in refused) outcome.FaceErrors.Add((r.Box, r.Error));
        return (outcome, usable.Length == 0 ? null : new PhotoRequest(image, camera, usable));
    }

    /// <summary>The body, or null after answering 413 (a declared length over the limit is refused before any byte is read).</summary>
    private async Task<byte[]?> ReadBodyAsync(HttpContext ctx)
    {
        long limit = _settings.MaxBodyBytes;
        var declared = ctx.Request.ContentLength;
        if (declared > limit)
        {
            await TooLarge(ctx, limit);
            return null;
        }
        using var buffer = new MemoryStream(declared is long n ? (int)n : 1 << 16);
        try
        {
            // Kestrel enforces the limit on a body without a declared length (chunked) as it is read.
            await ctx.Request.Body.CopyToAsync(buffer, ctx.RequestAborted);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await TooLarge(ctx, limit);
            return null;
        }
        return buffer.ToArray();
    }

    private static Task TooLarge(HttpContext ctx, long limit)
    {
        // Close the connection rather than let the server drain the rest of the body.
        ctx.Response.Headers.Connection = "close";
        return Status(ctx, StatusCodes.Status413PayloadTooLarge,
            $"the body is over the limit of {limit:N0} bytes (raise it with --max-body-mb)");
    }

    private bool Authorized(HttpRequest request)
    {
        if (_apiKeyHash is null) return true;
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        // Hash both sides so the comparison takes the same time whatever the length or content of the guess.
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(given, _apiKeyHash);
    }

    private static string ReadApiKey(string path)
    {
        string key;
        try
        {
            key = File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new TrgException(ErrorKind.NotFound, "API key file not found", path, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrgException(ErrorKind.NotFound, $"cannot read the API key file: {e.Message}", path, e);
        }
        if (key.Length == 0) throw new TrgException(ErrorKind.Usage, "the API key file is empty", path);
        if (key.Any(char.IsWhiteSpace)) throw new TrgException(ErrorKind.Usage, "the API key must be one word (no spaces or line breaks)", path);
        return key;
    }

    /// <summary>A request-level error that is a <see cref="TrgException"/>: <c>{"error": {kind, exit_code, message}}</c>, as the CLI's JSON.</summary>
    private static Task Error(HttpContext ctx, TrgException e, int status = StatusCodes.Status400BadRequest) =>
        WriteJson(ctx, status, w =>
        {
            w.WriteStartObject();
            w.WritePropertyName("error");
            ResultJson.WriteError(w, e, null);
            w.WriteEndObject();
        });

    /// <summary>An HTTP-level refusal (401, 413, 429, 503): <c>{"error": {status, message}}</c>.</summary>
    private static Task Status(HttpContext ctx, int status, string message) =>
        WriteJson(ctx, status, w =>
        {
            w.WriteStartObject();
            w.WriteStartObject("error");
            w.WriteNumber("status", status);
            w.WriteString("message", message);
            w.WriteEndObject();
            w.WriteEndObject();
        });

    private static async Task WriteJson(HttpContext ctx, int status, Action<Utf8JsonWriter> write)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, ResultJson.Indented)) write(w);
        buffer.WriteByte((byte)'\n');
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json; charset=utf-8";
        ctx.Response.ContentLength = buffer.Length;
        try
        {
            await ctx.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), ctx.RequestAborted);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client has gone.
        }
    }
}
