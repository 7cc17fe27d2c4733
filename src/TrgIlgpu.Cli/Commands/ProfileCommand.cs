using System.CommandLine;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Engine;
using TrgIlgpu.Model;

namespace TrgIlgpu.Cli.Commands;

/// <summary>`trg profile`: per-kernel times from forwards synchronised after every launch.</summary>
internal static class ProfileCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 1, Description = "faces per forward" };
        var warmup = new Option<int>("--warmup") { DefaultValueFactory = _ => 2, Description = "untimed forwards first" };
        var iters = new Option<int>("--iters") { DefaultValueFactory = _ => 5, Description = "profiled forwards (times are averaged)" };
        var trace = new Option<string?>("--trace") { Description = "write a Chrome trace (open in Perfetto) to this file" };
        var ops = new Option<bool>("--ops") { Description = "also list every launch, not only the per-kernel summary" };
        var cmd = new Command("profile", "Per-kernel table: launches, total and mean time, share, FLOP/s and bytes/s from counted work.")
        {
            model, device, batch, warmup, iters, trace, ops,
        };
        cmd.SetAction(pr =>
        {
            int b = pr.GetValue(batch);
            if (b < 1 || pr.GetValue(iters) < 1) throw new TrgException(ErrorKind.Usage, "--batch and --iters must be at least 1");
            var weights = ModelWeights.Load(pr.GetValue(model)!);
            // Fails with OutOfMemory (exit 12) before compiling anything when the batch cannot fit the device.
            using var session = InferenceSession.ForBatch(weights, b, CommonOptions.ParseDevice(pr.GetValue(device)!), Console.Error);
            var timings = Benchmark.Profile(session, b, pr.GetValue(warmup), pr.GetValue(iters));
            Console.WriteLine($"{session.Variant.Name} on {session.DeviceName}, batch {b}; each launch synchronised (sum {timings.Sum(t => t.DurationMs):F2} ms)");
            var byKernel = Benchmark.ByKernel(timings);
            // Columns as wide as the longest kernel and op names (e.g. WinogradOutputF4Planes), so the table stays aligned.
            int kw = Math.Max("kernel".Length, byKernel.Max(r => r.Kernel.Length));
            Console.WriteLine($"{"kernel".PadRight(kw)} {"launches",8} {"total ms",10} {"mean ms",9} {"share",7} {"GFLOP/s",9} {"GB/s",8}");
            foreach (var r in byKernel)
                Console.WriteLine($"{r.Kernel.PadRight(kw)} {r.Launches,8} {r.TotalMs,10:F3} {r.MeanMs,9:F3} {r.Share,7:P1} {r.GflopPerSecond,9:F1} {r.GBytesPerSecond,8:F2}");
            if (pr.GetValue(ops))
            {
                Console.WriteLine();
                int nw = timings.Max(t => t.Name.Length);
                foreach (var t in timings)
                    Console.WriteLine($"{t.Name.PadRight(nw)} {t.Kernel.PadRight(kw)} {t.DurationMs,9:F3} ms {t.Flops / (t.DurationMs * 1e6),8:F1} GFLOP/s  {t.Shape}");
            }
            var path = pr.GetValue(trace);
            if (path is not null)
            {
                File.WriteAllText(path, Benchmark.ChromeTrace(timings, session.DeviceName));
                Console.WriteLine($"trace written to {path}");
            }
            return 0;
        });
        return cmd;
    }
}
