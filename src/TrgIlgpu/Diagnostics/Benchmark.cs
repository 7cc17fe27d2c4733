using System.Diagnostics;
using TrgIlgpu.Engine;

namespace TrgIlgpu.Diagnostics;

/// <summary>Latency statistics of repeated forwards, as `trg bench` reports them.</summary>
public sealed record BenchReport(
    string Variant, string Device, int Batch, int Warmup, int Iterations, int Launches,
    double MedianMs, double P90Ms, double MinMs, double MeanMs, double ImagesPerSecond,
    long WeightBytes, long ActivationBytes, long TotalDeviceBytes, double Gflop);

/// <summary>One row of the per-kernel profile.</summary>
public sealed record KernelProfileRow(string Kernel, int Launches, double TotalMs, double MeanMs, double Share, double GflopPerSecond, double GBytesPerSecond);

public sealed record OpTiming(string Name, string Kernel, string Shape, double StartMs, double DurationMs, long Flops, long Bytes);

/// <summary>Timing harness over an <see cref="InferenceSession"/> (steady-state forwards on a fixed batch).</summary>
public static class Benchmark
{
    /// <summary>A deterministic 512x512 test card with the face box in the middle; the content does not change the work done.</summary>
    public static IReadOnlyList<FaceRequest> SyntheticBatch(int batch)
    {
        const int size = 512;
        var px = new byte[size * size * 3];
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                int i = (y * size + x) * 3;
                px[i] = (byte)((x * 7 + y * 13) & 255); px[i + 1] = (byte)((x * x + 3 * y) & 255); px[i + 2] = (byte)((x ^ y) & 255);
            }
        var image = new RgbImage(size, size, px);
        return Enumerable.Range(0, batch).Select(i => new FaceRequest(image, new FaceBox(150 + i % 16, 50 + i % 8, 300 + i % 16, 200 + i % 8), size + size)).ToList();
    }

    public static BenchReport Run(InferenceSession session, int batch, int warmup, int iterations, IReadOnlyList<FaceRequest>? faces = null)
    {
        faces ??= SyntheticBatch(batch);
        for (int i = 0; i < warmup; i++) session.Run(faces);
        var ms = new double[iterations];
        for (int i = 0; i < iterations; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            session.Run(faces);
            ms[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Array.Sort(ms);
        var plan = session.Plan(batch);
        double median = Percentile(ms, 0.5);
        return new BenchReport(session.Variant.Name, session.DeviceName, batch, warmup, iterations, plan.Ops.Count,
            median, Percentile(ms, 0.9), ms[0], ms.Average(), batch * 1000.0 / median,
            session.WeightBytes, plan.AllocatedBytes, session.AllocatedBytes, plan.Ops.Sum(o => o.Flops) / 1e9);
    }

    /// <summary>Per-launch timings (one synchronisation after each launch), averaged over <paramref name="iterations"/> forwards.</summary>
    public static List<OpTiming> Profile(InferenceSession session, int batch, int warmup, int iterations, IReadOnlyList<FaceRequest>? faces = null)
    {
        faces ??= SyntheticBatch(batch);
        for (int i = 0; i < warmup; i++) session.RunProfiled(faces);
        var plan = session.Plan(batch);
        var sum = new double[plan.Ops.Count];
        for (int i = 0; i < iterations; i++)
        {
            var (_, t) = session.RunProfiled(faces);
            for (int k = 0; k < t.Length; k++) sum[k] += t[k];
        }
        var rows = new List<OpTiming>();
        double start = 0;
        for (int k = 0; k < sum.Length; k++)
        {
            var op = plan.Ops[k];
            double d = sum[k] / iterations;
            rows.Add(new OpTiming(op.Name, op.Kernel, op.Shape, start, d, op.Flops, op.Bytes));
            start += d;
        }
        return rows;
    }

    public static List<KernelProfileRow> ByKernel(IReadOnlyList<OpTiming> ops)
    {
        double total = ops.Sum(o => o.DurationMs);
        return ops.GroupBy(o => o.Kernel)
            .Select(g => new KernelProfileRow(g.Key, g.Count(), g.Sum(o => o.DurationMs), g.Average(o => o.DurationMs),
                g.Sum(o => o.DurationMs) / total, g.Sum(o => o.Flops) / (g.Sum(o => o.DurationMs) * 1e6), g.Sum(o => o.Bytes) / (g.Sum(o => o.DurationMs) * 1e6)))
            .OrderByDescending(r => r.TotalMs).ToList();
    }

    /// <summary>Chrome trace-event JSON (opens in Perfetto / chrome://tracing): one complete event per launch.</summary>
    public static string ChromeTrace(IReadOnlyList<OpTiming> ops, string device)
    {
        var events = ops.Select(o => new Dictionary<string, object>
        {
            ["name"] = o.Name, ["cat"] = o.Kernel, ["ph"] = "X", ["pid"] = 1, ["tid"] = 1,
            ["ts"] = Math.Round(o.StartMs * 1000, 3), ["dur"] = Math.Round(o.DurationMs * 1000, 3),
            ["args"] = new Dictionary<string, object> { ["shape"] = o.Shape, ["flops"] = o.Flops, ["bytes"] = o.Bytes },
        }).ToList();
        var doc = new Dictionary<string, object>
        {
            ["traceEvents"] = events,
            ["displayTimeUnit"] = "ms",
            ["otherData"] = new Dictionary<string, object> { ["device"] = device },
        };
        return System.Text.Json.JsonSerializer.Serialize(doc);
    }

    private static double Percentile(double[] sorted, double q)
    {
        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = (int)Math.Ceiling(pos);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }
}
