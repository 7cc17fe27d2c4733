using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Engine;
using TrgIlgpu.Model;

namespace TrgIlgpu.Cli.Commands;

/// <summary>`trg bench`: steady-state latency of whole forwards on one device.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var batch = new Option<int>("--batch") { Description = "faces per forward", DefaultValueFactory = _ => 1 };
        var warmup = new Option<int>("--warmup") { Description = "untimed forwards first", DefaultValueFactory = _ => 3 };
        var iters = new Option<int>("--iters") { Description = "timed forwards", DefaultValueFactory = _ => 20 };
        var json = new Option<string?>("--json") { Description = "write the full report as JSON to this file" };
        var plan = new Option<bool>("--plan") { Description = "also print the forward plan (one line per launch)" };
        var memory = new Option<string>("--memory-batches")
        {
            Description = "after timing, plan these batch sizes (comma separated, none: '') and report the device memory each needs",
            DefaultValueFactory = _ => "1,8,64",
        };
        var cmd = new Command("bench", "Time whole forward passes: median and p90 latency, images/s, launches, device memory.")
        {
            model, device, batch, warmup, iters, json, plan, memory,
        };
        cmd.SetAction(pr =>
        {
            int b = pr.GetValue(batch), w = pr.GetValue(warmup), n = pr.GetValue(iters);
            if (b < 1 || w < 0 || n < 1) throw new TrgException(ErrorKind.Usage, "--batch and --iters must be at least 1, --warmup at least 0");
            var memoryBatches = ParseBatches(pr.GetValue(memory)!);
            var weights = ModelWeights.Open(pr.GetValue(model)!);
            // Fails with OutOfMemory (exit 12) before compiling anything when the batch cannot fit the device.
            using var session = InferenceSession.ForBatch(weights, b, CommonOptions.ParseDevice(pr.GetValue(device)!), Console.Error);
            if (pr.GetValue(plan)) Console.WriteLine(session.Plan(b).Describe());
            var r = Benchmark.Run(session, b, w, n);
            Console.WriteLine($"model     {r.Variant} ({weights.Source})");
            Console.WriteLine($"device    {r.Device}");
            Console.WriteLine($"batch     {r.Batch}   warmup {r.Warmup}   iterations {r.Iterations}");
            Console.WriteLine($"latency   median {r.MedianMs:F2} ms   p90 {r.P90Ms:F2} ms   min {r.MinMs:F2} ms");
            Console.WriteLine($"rate      {r.ImagesPerSecond:F1} images/s   ({r.Gflop / (r.MedianMs / 1000):F1} GFLOP/s on {r.Gflop:F2} GFLOP per forward)");
            Console.WriteLine($"launches  {r.Launches} per forward");
            Console.WriteLine($"memory    {r.TotalDeviceBytes / 1048576.0:F1} MiB on the device ({r.WeightBytes / 1048576.0:F1} weights + {r.ActivationBytes / 1048576.0:F1} activations/results + image buffer)");
            // Device memory per batch size: the weights once, then each batch's plan (activations, results) and image buffer.
            var perBatch = new JsonArray();
            if (memoryBatches.Count > 0) Console.WriteLine("memory by batch (MiB on the device: weights + that batch's activations/results; image buffer excluded)");
            foreach (int mb in memoryBatches)
            {
                long planBytes = session.PlanBytes(mb).Bytes; // counted, not allocated: any batch can be reported
                Console.WriteLine($"  batch {mb,4}   {(session.WeightBytes + planBytes) / 1048576.0,8:F1} MiB   ({planBytes / 1048576.0:F1} activations/results)");
                perBatch.Add(new JsonObject { ["Batch"] = mb, ["PlanBytes"] = planBytes, ["DeviceBytes"] = session.WeightBytes + planBytes });
            }
            var path = pr.GetValue(json);
            if (path is not null)
            {
                var node = JsonSerializer.SerializeToNode(r)!.AsObject();
                node["MemoryByBatch"] = perBatch;
                File.WriteAllText(path, node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            return 0;
        });
        return cmd;
    }

    private static List<int> ParseBatches(string text)
    {
        var batches = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            batches.Add(int.TryParse(part, out int b) && b >= 1 ? b
                : throw new TrgException(ErrorKind.Usage, $"--memory-batches: '{part}' is not a batch size (comma-separated whole numbers >= 1)"));
        return batches;
    }
}
