using System.CommandLine;
using System.Text.Json;
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
        var cmd = new Command("bench", "Time whole forward passes: median and p90 latency, images/s, launches, device memory.")
        {
            model, device, batch, warmup, iters, json, plan,
        };
        cmd.SetAction(pr =>
        {
            int b = pr.GetValue(batch), w = pr.GetValue(warmup), n = pr.GetValue(iters);
            if (b < 1 || w < 0 || n < 1) throw new TrgException(ErrorKind.Usage, "--batch and --iters must be at least 1, --warmup at least 0");
            var weights = ModelWeights.Load(pr.GetValue(model)!);
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
            var path = pr.GetValue(json);
            if (path is not null) File.WriteAllText(path, JsonSerializer.Serialize(r, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
        return cmd;
    }
}
