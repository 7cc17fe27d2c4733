using System.Net;
using System.Net.Sockets;
using System.Text;
using TrgIlgpu.Cli.Serve;
using TrgIlgpu.Tests.App;

namespace TrgIlgpu.Tests.Serve;

/// <summary>
/// `trg serve` on a loopback port with a stand-in engine: answers equal `trg estimate`'s JSON, every error status,
/// the body limit, the queue limit, readiness, disconnects, dynamic batching, metrics and a draining stop.
/// </summary>
public class ServeTests
{
    private static readonly string Path = AppTestData.AstronautPath;
    private static string Name => "&name=" + Uri.EscapeDataString(Path);

    [Theory]
    [InlineData("?bbox=153,49,295,191&bbox=300,300,400,400", new[] { "--bbox", "153,49,295,191", "--bbox", "300,300,400,400" }, 200)]
    [InlineData("?bbox=153,49,295,191&focal=800", new[] { "--bbox", "153,49,295,191", "--focal", "800" }, 200)]
    [InlineData("?bbox=100,60,260,230&camera=900,900,250,270", new[] { "--bbox", "100,60,260,230", "--camera", "900,900,250,270" }, 200)]
    [InlineData("?bbox=153,49,295,191&bbox=10,10,5,5", new[] { "--bbox", "153,49,295,191", "--bbox", "10,10,5,5" }, 200)]
    [InlineData("?bbox=50,50,50,90&bbox=10,10,5,5", new[] { "--bbox", "50,50,50,90", "--bbox", "10,10,5,5" }, 400)]
    public async Task Answers_equal_trg_estimate(string query, string[] options, int status)
    {
        await using var server = await TestServer.StartAsync();
        var response = await server.PostAsync(query + Name, TestServer.Astronaut);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var cli = server.Cli(["estimate", Path, "--model", "fake", .. options]);
        TestServer.AssertSameJson(cli, body);
        // A bad box is reported in "errors" (the CLI's exit code 9 with other faces, 7 alone: here 200 or 400).
        Assert.Equal(options.Contains("10,10,5,5"), body.Contains("\"errors\""));
    }

    [Fact]
    public async Task An_undecodable_body_is_400_with_the_cli_document()
    {
        var file = System.IO.Path.Combine(Directory.CreateTempSubdirectory("trg-serve-").FullName, "notes.png");
        var bytes = Encoding.UTF8.GetBytes("this is text, not a PNG " + Guid.NewGuid());
        File.WriteAllBytes(file, bytes);
        await using var server = await TestServer.StartAsync();
        var response = await server.PostAsync("?bbox=1,1,9,9&name=" + Uri.EscapeDataString(file), bytes);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("InvalidImage", TestServer.Error(body).GetProperty("kind").GetString());
        TestServer.AssertSameJson(server.Cli("estimate", file, "--model", "fake", "--bbox", "1,1,9,9"), body);
        Directory.Delete(System.IO.Path.GetDirectoryName(file)!, true);
    }

    [Theory]
    [InlineData("?bbox=1,2", "--bbox '1,2': expected four numbers l,t,r,b (pixels), e.g. --bbox 153,49,295,191")]
    [InlineData("?camera=900,800,1,1", "--camera '900,800,1,1': ")]
    [InlineData("?focal=-3", "--focal '-3': the focal length must be a positive number")]
    [InlineData("?focal=abc", "--focal 'abc': 'abc' is not a number")]
    [InlineData("?focal=900&camera=900,900,1,1", "focal and camera cannot be combined")]
    [InlineData("?box=1,2,3,4", "unknown query parameter 'box'")]
    [InlineData("?focal=900&focal=800", "query parameter 'focal' is given 2 times")]
    public async Task Bad_options_are_400_usage_errors_with_the_cli_messages(string query, string message)
    {
        await using var server = await TestServer.StartAsync();
        var response = await server.PostAsync(query, TestServer.Astronaut);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = TestServer.Error(await response.Content.ReadAsStringAsync());
        Assert.Equal("Usage", error.GetProperty("kind").GetString());
        Assert.Equal(2, error.GetProperty("exit_code").GetInt32());
        Assert.StartsWith(message, error.GetProperty("message").GetString());
        Assert.Empty(server.Engine.BatchSizes);
    }

    [Fact]
    public async Task The_api_key_is_required_when_configured()
    {
        var keyFile = System.IO.Path.GetTempFileName();
        var key = Convert.ToHexString(Guid.NewGuid().ToByteArray());
        File.WriteAllText(keyFile, key + "\n");
        try
        {
            await using var server = await TestServer.StartAsync(new ServeSettings { ApiKeyFile = keyFile });
            var none = await server.PostAsync("?bbox=153,49,295,191", TestServer.Astronaut);
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);
            var wrong = await server.PostAsync("?bbox=153,49,295,191", TestServer.Astronaut, apiKey: key[..^1] + (key[^1] == 'A' ? 'B' : 'A'));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            var right = await server.PostAsync("?bbox=153,49,295,191", TestServer.Astronaut, apiKey: key);
            Assert.Equal(HttpStatusCode.OK, right.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/readyz")).StatusCode); // probes stay open
            Assert.Contains("needs the API key", server.Log.ToString());
        }
        finally
        {
            File.Delete(keyFile);
        }
    }

    [Fact]
    public void A_missing_api_key_file_is_a_not_found_error()
    {
        var e = Assert.Throws<TrgException>(() => ServeApp.Create(new ServeSettings { ApiKeyFile = "/nonexistent/trg.key" }, _ => throw new InvalidOperationException(), TextWriter.Null));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Contains("/nonexistent/trg.key", e.Message);
    }

    [Fact]
    public async Task A_100_MB_body_is_refused_with_413_before_it_is_sent()
    {
        await using var server = await TestServer.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, server.Client.BaseAddress!.Port);
        using var stream = tcp.GetStream();
        // Declare 100 MB, send 64 KB of it, and read the answer: it comes without the rest of the body.
        var head = $"POST /v1/estimate?bbox=1,1,9,9 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: {100L << 20}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        await stream.WriteAsync(new byte[64 << 10].Select((_, i) => (byte)(i * 31)).ToArray());
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var status = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("HTTP/1.1 413 Payload Too Large", status);
        var rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30)); // the server closes the connection
        Assert.Contains("over the limit", rest);
        Assert.Equal(1, await server.MetricAsync("trg_requests_total{status=\"413\"}", 1));
    }

    [Fact]
    public async Task A_chunked_body_over_the_limit_is_413()
    {
        await using var server = await TestServer.StartAsync(new ServeSettings { MaxBodyBytes = 10_000 });
        var content = new StreamContent(new MemoryStream(TestServer.Astronaut)); // no length: sent chunked
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/estimate?bbox=153,49,295,191") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        var response = await server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Empty(server.Engine.BatchSizes);
    }

    [Fact]
    public async Task A_full_queue_is_429_with_retry_after()
    {
        await using var server = await TestServer.StartAsync(new ServeSettings { MaxBatch = 1, MaxQueue = 1, MaxDelay = TimeSpan.Zero });
        server.Gate.Reset();
        var first = server.PostAsync("?bbox=153,49,295,191", TestServer.Astronaut);
        Assert.True(await server.Entered.WaitAsync(TimeSpan.FromSeconds(30)), "the first request never reached the engine");
        var second = server.PostAsync("?bbox=100,60,260,230", TestServer.Astronaut);
        await server.MetricAsync("trg_queue_depth", 1);
        Assert.Equal(1, await server.MetricAsync("trg_queue_depth", 1));

        var third = await server.PostAsync("?bbox=120,60,260,230", TestServer.Astronaut);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(1), third.Headers.RetryAfter?.Delta);

        server.Gate.Set();
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second).StatusCode);
        Assert.Equal(2, await server.MetricAsync("trg_requests_total{status=\"200\"}", 2));
        Assert.Equal(1, await server.MetricAsync("trg_requests_total{status=\"429\"}", 1));
    }

    [Fact]
    public async Task An_unready_service_is_503_but_alive()
    {
        using var loading = new ManualResetEventSlim(false);
        TestServer? holder = null;
        await using var server = await TestServer.StartAsync(create: o =>
        {
            loading.Wait();
            return holder!.Create(o);
        }, waitReady: false);
        holder = server;
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await server.Client.GetAsync("/readyz")).StatusCode);
        var early = await server.PostAsync("?bbox=153,49,295,191", TestServer.Astronaut);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, early.StatusCode);
        Assert.NotNull(early.Headers.RetryAfter);
        Assert.Equal(0, await server.MetricAsync("trg_ready", 0));

        loading.Set();
        await server.App.Loaded.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/readyz")).StatusCode);
        Assert.Equal(1, await server.MetricAsync("trg_ready", 1));
        Assert.Equal(HttpStatusCode.OK, (await server.PostAsync("?bbox=153,49,295,191", TestServer.Astronaut)).StatusCode);
    }

    [Fact]
    public async Task A_model_that_fails_to_load_stops_the_service_with_its_error()
    {
        var server = await TestServer.StartAsync(create: _ => throw new TrgException(ErrorKind.NotFound, "model file not found", "missing.safetensors"),
            waitReady: false);
        await server.App.Loaded.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(ErrorKind.NotFound, server.App.LoadError?.Kind);
        Assert.Contains("trg serve: error: missing.safetensors: model file not found", server.Log.ToString());
        await server.DisposeAsync();
    }

    [Fact]
    public async Task A_client_that_disconnects_is_dropped_before_its_batch_runs()
    {
        await using var server = await TestServer.StartAsync(new ServeSettings { MaxBatch = 1, MaxDelay = TimeSpan.Zero });
        server.Gate.Reset();
        var first = server.PostAsync("?bbox=153,49,295,191", TestServer.Astronaut);
        Assert.True(await server.Entered.WaitAsync(TimeSpan.FromSeconds(30)));
        using var leave = new CancellationTokenSource();
        var gone = server.PostAsync("?bbox=101,61,261,231", TestServer.Astronaut, leave.Token);
        await server.MetricAsync("trg_queue_depth", 1);
        leave.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gone);
        // The server sees the reset connection while the batch ahead is still running.
        Assert.Equal(1, await server.MetricAsync("trg_requests_total{status=\"499\"}", 1));

        server.Gate.Set();
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.PostAsync("?bbox=150,50,290,190", TestServer.Astronaut)).StatusCode);
        lock (server.Engine.BatchSizes)
            Assert.DoesNotContain(server.Engine.Seen, f => f.Box.Left == 101);
        Assert.Equal(1, await server.MetricAsync("trg_requests_total{status=\"499\"}", 1));
    }

    [Fact]
    public async Task Concurrent_requests_are_run_as_one_batch()
    {
        // A delay far longer than the test: the batch runs because it is full, not because the delay passed.
        await using var server = await TestServer.StartAsync(new ServeSettings { MaxBatch = 8, MaxDelay = TimeSpan.FromSeconds(60) });
        var boxes = Enumerable.Range(0, 8).Select(i => $"?bbox={100 + 7 * i},60,{260 + 3 * i},230").ToArray();
        var responses = await Task.WhenAll(boxes.Select(q => server.PostAsync(q, TestServer.Astronaut)));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal([8], server.Engine.BatchSizes);
        Assert.Equal(1, await server.MetricAsync("trg_batch_faces_count", 1));
        Assert.Equal(8, await server.MetricAsync("trg_batch_faces_sum", 8));
        Assert.Equal(8, await server.MetricAsync("trg_requests_total{status=\"200\"}", 8));
        // Each answer is its own request's: the face's box is the one asked for.
        for (int i = 0; i < 8; i++)
        {
            using var doc = System.Text.Json.JsonDocument.Parse(await responses[i].Content.ReadAsStringAsync());
            Assert.Equal(100 + 7 * i, doc.RootElement.GetProperty("faces")[0].GetProperty("bbox")[0].GetInt32());
        }
    }

    [Fact]
    public async Task A_lone_request_runs_when_the_delay_has_passed_without_a_full_batch()
    {
        await using var server = await TestServer.StartAsync(new ServeSettings { MaxBatch = 16, MaxDelay = TimeSpan.FromMilliseconds(50) });
        var response = await server.PostAsync("?bbox=153,49,295,191&bbox=100,60,260,230", TestServer.Astronaut);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([2], server.Engine.BatchSizes);
        using var doc = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var timing = doc.RootElement.GetProperty("timing_ms");
        Assert.Equal(["decode", "queue", "inference", "total"], timing.EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task A_photo_that_would_overflow_the_batch_opens_the_next_one()
    {
        await using var server = await TestServer.StartAsync(new ServeSettings { MaxBatch = 3, MaxDelay = TimeSpan.FromMilliseconds(200) });
        server.Gate.Reset();
        var blocker = server.PostAsync("?bbox=153,49,295,191&bbox=100,60,260,230&bbox=120,60,260,230", TestServer.Astronaut);
        Assert.True(await server.Entered.WaitAsync(TimeSpan.FromSeconds(30)));
        // While the engine is busy: a 2-face photo and a 2-face photo queue up; they cannot share a 3-face batch.
        var a = server.PostAsync("?bbox=10,10,100,100&bbox=20,20,110,110", TestServer.Astronaut);
        var b = server.PostAsync("?bbox=30,30,120,120&bbox=40,40,130,130", TestServer.Astronaut);
        await server.MetricAsync("trg_queue_depth", 2);
        server.Gate.Set();
        Assert.All(await Task.WhenAll(blocker, a, b), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal([3, 2, 2], server.Engine.BatchSizes);
    }

    [Fact]
    public async Task Stop_answers_every_accepted_request_then_refuses()
    {
        var server = await TestServer.StartAsync(new ServeSettings { MaxBatch = 1, MaxDelay = TimeSpan.Zero });
        server.Gate.Reset();
        var first = server.PostAsync("?bbox=153,49,295,191", TestServer.Astronaut);
        Assert.True(await server.Entered.WaitAsync(TimeSpan.FromSeconds(30)));
        var second = server.PostAsync("?bbox=100,60,260,230", TestServer.Astronaut);
        await server.MetricAsync("trg_queue_depth", 1);

        var stop = server.App.StopAsync();
        await Task.Delay(100);
        Assert.False(stop.IsCompleted);
        server.Gate.Set();
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second).StatusCode);
        await stop.WaitAsync(TimeSpan.FromSeconds(30));
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => server.PostAsync("?bbox=153,49,295,191", TestServer.Astronaut));
        Assert.Contains("trg serve: stopped", server.Log.ToString());
        await server.App.DisposeAsync();
    }

    [Fact]
    public async Task Probes_metrics_and_openapi_answer()
    {
        await using var server = await TestServer.StartAsync();
        Assert.Equal("ok\n", await server.Client.GetStringAsync("/healthz"));
        Assert.Equal("ready\n", await server.Client.GetStringAsync("/readyz"));
        for (int i = 0; i < 3; i++) await server.PostAsync("?bbox=153,49,295,191", TestServer.Astronaut);
        await server.PostAsync("?bbox=1,2", TestServer.Astronaut);
        var metrics = await server.Client.GetStringAsync("/metrics");
        Assert.Contains("# TYPE trg_request_duration_seconds histogram", metrics);
        Assert.Contains("# TYPE trg_batch_faces histogram", metrics);
        Assert.Equal(3, await server.MetricAsync("trg_requests_total{status=\"200\"}", 3));
        Assert.Equal(1, await server.MetricAsync("trg_requests_total{status=\"400\"}", 1));
        Assert.Equal(4, await server.MetricAsync("trg_request_duration_seconds_count", 4));
        Assert.True(await server.MetricAsync("trg_process_resident_bytes") > 0);
        using var openApi = System.Text.Json.JsonDocument.Parse(await server.Client.GetStringAsync("/openapi/v1.json"));
        var paths = openApi.RootElement.GetProperty("paths");
        Assert.True(paths.TryGetProperty("/v1/estimate", out var estimate));
        Assert.True(estimate.GetProperty("post").TryGetProperty("requestBody", out _));
        Assert.True(paths.TryGetProperty("/readyz", out _));
    }

    [Theory]
    [InlineData("--max-batch", "0", "--max-batch 0: must be at least 1")]
    [InlineData("--max-queue", "0", "--max-queue 0: must be at least 1")]
    [InlineData("--max-delay-ms", "-1", "--max-delay-ms -1: must not be negative")]
    [InlineData("--max-body-mb", "0", "--max-body-mb 0: must be in")]
    [InlineData("--api-key-file", "/nonexistent/trg.key", "/nonexistent/trg.key: API key file not found")]
    public void Bad_command_line_options_fail_before_anything_listens(string option, string value, string message)
    {
        var stderr = new StringWriter();
        int code = TrgIlgpu.Cli.CliApp.Run(["serve", "--model", "synthetic:trgv2", "--urls", "http://127.0.0.1:0", option, value], TextWriter.Null, stderr);
        Assert.Equal(message.Contains("not found") ? (int)ErrorKind.NotFound : (int)ErrorKind.Usage, code);
        Assert.Contains("trg: error: " + message, stderr.ToString());
    }

    [Fact]
    public void Settings_say_whether_the_service_is_loopback_only()
    {
        Assert.True(new ServeSettings().LoopbackOnly);
        Assert.True(new ServeSettings { Urls = "http://localhost:5000;http://[::1]:5001" }.LoopbackOnly);
        Assert.False(new ServeSettings { Urls = "http://0.0.0.0:8080" }.LoopbackOnly);
        Assert.False(new ServeSettings { Urls = "http://*:8080" }.LoopbackOnly);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => new ServeSettings { MaxQueue = 0 }.Check()).Kind);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => new ServeSettings { MaxBatch = 0 }.Check()).Kind);
    }
}
