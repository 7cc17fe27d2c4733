// serve-load: a bounded load test for `trg serve` on this machine (loopback only; it stops by itself).
// Per concurrency level: throughput, p50/p99 latency, and the batch sizes the server formed (from its /metrics);
// then an overload run: every request must get exactly one answer, 200 or 429, and no 5xx; the server's resident memory
// before and after is reported. Prints a Markdown table. Usage (docs/serve.md):
//   dotnet run -c Release --project tools/ServeLoad -- --url http://127.0.0.1:8080 --image photo.png --bbox 153,49,295,191
//       [--clients 1,8,32] [--requests-per-client 4] [--overload-clients 128] [--max-seconds 600]
using System.Diagnostics;
using System.Globalization;
using System.Net;

var options = Options.Parse(args);
var url = new Uri(options.Url);
if (!IPAddress.TryParse(url.Host, out var ip) ? url.Host != "localhost" : !IPAddress.IsLoopback(ip))
{
    Console.Error.WriteLine($"serve-load: {options.Url} is not a loopback address; this tool only loads a service on this machine");
    return 2;
}
var image = File.ReadAllBytes(options.Image);
using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(options.MaxSeconds));
using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024 }) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(options.MaxSeconds) };
var query = "/v1/estimate?bbox=" + options.Box;

var inv = CultureInfo.InvariantCulture;
Console.WriteLine("| clients | requests | 200 | other | throughput (req/s) | p50 (ms) | p99 (ms) | batches | mean faces/batch | batch sizes seen |");
Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
// One request first, so the first level does not pay for any lazy start-up.
(await http.PostAsync(query, new ByteArrayContent(image), deadline.Token)).EnsureSuccessStatusCode();
foreach (int clients in options.Clients)
{
    var before = await Metrics.ReadAsync(http, deadline.Token);
    var run = await Run(clients, clients * options.RequestsPerClient);
    var after = await Metrics.ReadAsync(http, deadline.Token);
    var lat = run.Latencies.Order().ToArray();
    double batches = after.Get("trg_batch_faces_count") - before.Get("trg_batch_faces_count");
    double faces = after.Get("trg_batch_faces_sum") - before.Get("trg_batch_faces_sum");
    Console.WriteLine(string.Format(inv, "| {0} | {1} | {2} | {3} | {4:0.00} | {5:0} | {6:0} | {7} | {8:0.0} | {9} |",
        clients, run.Statuses.Count, run.Statuses.Count(s => s == 200), run.Statuses.Count(s => s != 200),
        run.Statuses.Count / run.Seconds, Percentile(lat, 0.50), Percentile(lat, 0.99), batches, batches > 0 ? faces / batches : 0,
        BatchSizes(before, after)));
}

// Overload: far more clients than the queue holds, each sending one request at once; three rounds, so the server's
// resident memory after each shows whether it settles (a leak would grow it round after round).
var rss = new List<double> { (await Metrics.ReadAsync(http, deadline.Token)).Get("trg_process_resident_bytes") };
bool pass = true;
Console.WriteLine();
for (int round = 1; round <= 3; round++)
{
    var overload = await Run(options.OverloadClients, options.OverloadClients);
    await Task.Delay(TimeSpan.FromSeconds(5), deadline.Token); // let the server settle before reading its memory
    rss.Add((await Metrics.ReadAsync(http, deadline.Token)).Get("trg_process_resident_bytes"));
    int ok = overload.Statuses.Count(s => s == 200), busy = overload.Statuses.Count(s => s == 429);
    bool roundPass = overload.Statuses.Count == options.OverloadClients && ok + busy == overload.Statuses.Count;
    pass &= roundPass;
    Console.WriteLine(string.Format(inv,
        "Overload round {0}: {1} clients at once, {2} answers: {3} x 200, {4} x 429, {5} other (5xx or no answer): {6}",
        round, options.OverloadClients, overload.Statuses.Count, ok, busy, overload.Statuses.Count - ok - busy, roundPass ? "PASS" : "FAIL"));
}
Console.WriteLine("Server resident memory (MiB): before " + string.Join(", after round ", rss.Select((r, i) => $"{(i == 0 ? "" : $"{i}: ")}{r / (1 << 20):0}")));
return pass ? 0 : 1;

async Task<(List<int> Statuses, List<double> Latencies, double Seconds)> Run(int clients, int requests)
{
    var statuses = new List<int>();
    var latencies = new List<double>();
    int next = -1;
    var clock = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
    {
        while (Interlocked.Increment(ref next) < requests)
        {
            long t = Stopwatch.GetTimestamp();
            int status;
            try
            {
                using var response = await http.PostAsync(query, new ByteArrayContent(image), deadline.Token);
                await response.Content.ReadAsByteArrayAsync(deadline.Token);
                status = (int)response.StatusCode;
            }
            catch (HttpRequestException)
            {
                status = -1; // no answer
            }
            lock (statuses)
            {
                statuses.Add(status);
                if (status == 200) latencies.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }
        }
    }));
    return (statuses, latencies, clock.Elapsed.TotalSeconds);
}

static double Percentile(double[] sorted, double p) =>
    sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

// The histogram's cumulative buckets, differenced: how many batches of each size ran during the level.
static string BatchSizes(Metrics before, Metrics after)
{
    var parts = new List<string>();
    double below = 0;
    foreach (var (le, count) in after.Buckets("trg_batch_faces_bucket"))
    {
        double cumulative = count - before.Get($"trg_batch_faces_bucket{{le=\"{le}\"}}");
        if (cumulative - below > 0) parts.Add($"{le}: {cumulative - below}");
        below = cumulative;
    }
    return string.Join(", ", parts);
}

internal sealed record Options(string Url, string Image, string Box, int[] Clients, int RequestsPerClient, int OverloadClients, int MaxSeconds)
{
    public static Options Parse(string[] args)
    {
        var map = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2) map[args[i]] = args[i + 1];
        string Get(string key, string fallback) => map.TryGetValue(key, out var v) ? v : fallback;
        return new Options(Get("--url", "http://127.0.0.1:8080"), Get("--image", "../shared/samples/astronaut.png"), Get("--bbox", "153,49,295,191"),
            Get("--clients", "1,8,32").Split(',').Select(int.Parse).ToArray(), int.Parse(Get("--requests-per-client", "4")),
            int.Parse(Get("--overload-clients", "128")), int.Parse(Get("--max-seconds", "600")));
    }
}

internal sealed class Metrics(Dictionary<string, double> samples)
{
    public static async Task<Metrics> ReadAsync(HttpClient http, CancellationToken ct)
    {
        var samples = new Dictionary<string, double>();
        foreach (var line in (await http.GetStringAsync("/metrics", ct)).Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            int space = line.LastIndexOf(' ');
            if (double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) samples[line[..space]] = v;
        }
        return new Metrics(samples);
    }

    public double Get(string sample) => samples.GetValueOrDefault(sample);

    public IEnumerable<(string Le, double Count)> Buckets(string name) =>
        samples.Where(s => s.Key.StartsWith(name + "{le=\"", StringComparison.Ordinal))
            .Select(s => (Le: s.Key[(name.Length + 5)..^2], Count: s.Value))
            .OrderBy(b => b.Le == "+Inf" ? double.PositiveInfinity : double.Parse(b.Le, CultureInfo.InvariantCulture));
}
