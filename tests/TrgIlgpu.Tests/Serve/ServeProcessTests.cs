using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using TrgIlgpu.Cli;
using TrgIlgpu.Tests.App;
using TrgIlgpu.Tests.Kernels;

namespace TrgIlgpu.Tests.Serve;

/// <summary>
/// The acceptance run: `trg serve` started as a process (synthetic TRGv2 weights on PoCL), its answers equal
/// `trg estimate`'s, 200 requests from 16 concurrent clients all answered with the right result and counted in
/// /metrics, and SIGTERM ends it cleanly (exit 0) within 10 seconds.
/// </summary>
public class ServeProcessTests
{
    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
    private const int SigTerm = 15;

    private static readonly string[] Boxes = ["153,49,295,191", "100,60,260,230", "140,40,300,210", "170,70,290,190"];

    [OpenCLFact]
    public async Task Serve_as_a_process_answers_200_requests_from_16_clients_and_stops_on_sigterm()
    {
        int port = FreePort();
        var trg = Path.Combine(AppContext.BaseDirectory, "trg.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { trg, "serve", "--model", "synthetic:trgv2", "--device", "opencl", "--urls", $"http://127.0.0.1:{port}", "--max-batch", "16" },
            RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(120) };
            await WaitReady(client, process);

            // The reference: `trg estimate` on the same photo and boxes, in process.
            var output = new StringWriter();
            var error = new StringWriter();
            int code = CliApp.Run(["estimate", AppTestData.AstronautPath, "--model", "synthetic:trgv2", "--device", "opencl",
                .. Boxes.SelectMany(b => new[] { "--bbox", b })], output, error);
            Assert.True(code == 0, error.ToString());
            var reference = TestServer.WithoutTiming(output.ToString());
            var name = "&name=" + Uri.EscapeDataString(AppTestData.AstronautPath);
            var all = await client.PostAsync("/v1/estimate?" + string.Join("&", Boxes.Select(b => "bbox=" + b)) + name,
                new ByteArrayContent(TestServer.Astronaut));
            Assert.Equal(HttpStatusCode.OK, all.StatusCode);
            Assert.True(JsonNode.DeepEquals(reference, TestServer.WithoutTiming(await all.Content.ReadAsStringAsync())),
                "the service's answer differs from trg estimate's");

            // 200 single-face requests, 16 at a time: each answer is its own box's face, whatever batch it ran in.
            var faces = reference["faces"]!.AsArray();
            int next = -1;
            var clients = Enumerable.Range(0, 16).Select(async _ =>
            {
                for (int i; (i = Interlocked.Increment(ref next)) < 200;)
                {
                    var response = await client.PostAsync($"/v1/estimate?bbox={Boxes[i % 4]}{name}", new ByteArrayContent(TestServer.Astronaut));
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    var answer = TestServer.WithoutTiming(await response.Content.ReadAsStringAsync());
                    Assert.True(JsonNode.DeepEquals(faces[i % 4], answer["faces"]![0]), $"request {i}: face differs from trg estimate's");
                }
            });
            await Task.WhenAll(clients);
            var metrics = await client.GetStringAsync("/metrics");
            Assert.Contains("trg_requests_total{status=\"200\"} 201", metrics);

            Assert.Equal(0, kill(process.Id, SigTerm));
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(10)), "trg serve did not stop within 10 s of SIGTERM");
            Assert.Equal(0, process.ExitCode);
            Assert.Contains("trg serve: stopped", await stderr);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    private static async Task WaitReady(HttpClient client, Process process)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(300))
        {
            Assert.False(process.HasExited, "trg serve exited before it was ready");
            try
            {
                if ((await client.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            await Task.Delay(200);
        }
        Assert.Fail("trg serve was not ready within 300 s");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
