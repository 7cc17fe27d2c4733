using System.CommandLine;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using TrgIlgpu.Cli;
using TrgIlgpu.Cli.Commands;
using TrgIlgpu.Cli.Serve;
using TrgIlgpu.Tests.App;

namespace TrgIlgpu.Tests.Serve;

/// <summary>
/// A real `trg serve` (Kestrel on 127.0.0.1, a free port) around a stand-in TRG engine whose forward can be held at a
/// gate, so tests can fill the queue, disconnect mid-request or shut down with work in flight. Disposing stops it.
/// </summary>
internal sealed class TestServer : IAsyncDisposable
{
    public AppTestData.FakeEngine Engine { get; } = new();
    /// <summary>While reset, every forward waits here (set by default).</summary>
    public ManualResetEventSlim Gate { get; } = new(true);
    /// <summary>Released once each time a forward starts.</summary>
    public SemaphoreSlim Entered { get; } = new(0);
    public ServeApp App { get; }
    public HttpClient Client { get; }
    public StringWriter Log { get; } = new();

    private TestServer(ServeSettings settings, Func<HeadPoseOptions, HeadPoseEstimator>? create)
    {
        App = ServeApp.Create(settings with { Urls = "http://127.0.0.1:0" }, create ?? Create, TextWriter.Synchronized(Log));
        Client = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
    }

    public static async Task<TestServer> StartAsync(ServeSettings? settings = null, Func<HeadPoseOptions, HeadPoseEstimator>? create = null,
        bool waitReady = true)
    {
        var server = new TestServer(settings ?? new ServeSettings(), create);
        await server.App.StartAsync();
        server.Client.BaseAddress = new Uri(server.App.Urls.Single());
        if (waitReady)
        {
            await server.App.Loaded.WaitAsync(TimeSpan.FromSeconds(120));
            Assert.Null(server.App.LoadError);
            // Forget the warm-up forward.
            lock (server.Engine.BatchSizes) { server.Engine.BatchSizes.Clear(); server.Engine.Seen.Clear(); }
            while (server.Entered.Wait(0)) { }
        }
        return server;
    }

    /// <summary>The estimator the CLI test stand-in uses: the fake TRG engine behind <see cref="Gate"/>.</summary>
    public HeadPoseEstimator Create(HeadPoseOptions o) =>
        HeadPoseEstimator.ForTrg(new TrgEstimator(AppTestData.FakeWeights(), "Fake: test engine", (faces, ct) =>
        {
            Entered.Release();
            Gate.Wait(ct);
            return Engine.Run(faces, ct);
        }, new EstimatorOptions { MaxBatchSize = o.MaxBatchSize }), o);

    public Task<HttpResponseMessage> PostAsync(string query, byte[] body, CancellationToken ct = default, string? apiKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/estimate" + query) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        if (apiKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return Client.SendAsync(request, ct);
    }

    /// <summary>
    /// The value of one sample line of /metrics once it equals <paramref name="expected"/>, or after 10 s whatever it is:
    /// a request is counted just after its answer is sent, so a client can see the answer first.
    /// </summary>
    public async Task<double> MetricAsync(string sample, double expected)
    {
        double value = await MetricAsync(sample);
        for (int i = 0; i < 500 && value != expected; i++)
        {
            await Task.Delay(20);
            value = await MetricAsync(sample);
        }
        return value;
    }

    /// <summary>The value of one sample line of /metrics (0 when absent).</summary>
    public async Task<double> MetricAsync(string sample)
    {
        var text = await Client.GetStringAsync("/metrics");
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(sample + " ", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line[(sample.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        Gate.Set();
        await App.StopAsync();
        await App.DisposeAsync();
        Client.Dispose();
    }

    public static readonly byte[] Astronaut = File.ReadAllBytes(AppTestData.AstronautPath);

    /// <summary>`trg estimate` in process on the same stand-in engine: its stdout document.</summary>
    public string Cli(params string[] args)
    {
        var root = new RootCommand { EstimateCommand.Create(o => Create(o)) };
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Invoke(root, args, stdout, stderr);
        Assert.True(code is 0 or (int)ErrorKind.InvalidBox or (int)ErrorKind.InvalidImage or (int)ErrorKind.PartialFailure, stderr.ToString());
        return stdout.ToString();
    }

    /// <summary>The document without its timings (the one part that differs between two runs).</summary>
    public static JsonNode WithoutTiming(string json)
    {
        var node = JsonNode.Parse(json)!;
        Assert.NotNull(node["timing_ms"]);
        node.AsObject().Remove("timing_ms");
        return node;
    }

    public static void AssertSameJson(string expected, string actual) =>
        Assert.True(JsonNode.DeepEquals(WithoutTiming(expected), WithoutTiming(actual)),
            $"serve's answer differs from trg estimate's:\n{actual}\n---\n{expected}");

    public static JsonElement Error(string json) => JsonDocument.Parse(json).RootElement.GetProperty("error");
}
