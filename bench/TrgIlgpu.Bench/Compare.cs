using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Engine;
using TrgIlgpu.Model;

namespace TrgIlgpu.Bench;

/// <summary>
/// Engine and peers side by side, in one process run on one machine, written to bench/RESULTS.md:
/// TrgIlgpu (each available device), PyTorch eager (tools/bench_peers.py, Debian's python3-torch) and ONNX Runtime
/// on an ONNX export of the same PyTorch reference. Same synthetic weights everywhere. TrgIlgpu (the first device) and
/// ONNX Runtime run in the same process, so their timed forwards are interleaved in <c>--rounds</c> rounds (each round
/// a few forwards of each, in turn): a change of the host's speed during the run lands on both, not on one engine's
/// block. PyTorch (a separate process, far behind both) runs before them. <c>--pause-ms N</c> sleeps N ms before each
/// timed forward of TrgIlgpu and ONNX Runtime (outside the timed region): the latency of an app that runs one forward a
/// video frame and idles between them, instead of back-to-back forwards (docs/devices.md, "Acceptance status after
/// round nine").
/// Usage: compare [--variant trgv2] [--batches 1,8] [--iters 20] [--rounds 5] [--pause-ms 0] [--devices opencl] [--out bench/RESULTS.md]
/// </summary>
internal static class Compare
{
    private sealed record Row(string Engine, string Device, int Batch, double MedianMs, double P90Ms, string Note);

    public static int Run(string[] args)
    {
        string variant = Arg(args, "--variant", "trgv2");
        int[] batches = Arg(args, "--batches", "1,8").Split(',').Select(int.Parse).ToArray();
        int iters = int.Parse(Arg(args, "--iters", "20"));
        int rounds = Math.Clamp(int.Parse(Arg(args, "--rounds", "5")), 1, iters);
        int pauseMs = Math.Max(0, int.Parse(Arg(args, "--pause-ms", "0")));
        string[] devices = Arg(args, "--devices", "opencl").Split(',');
        string root = FindRoot();
        string outPath = Arg(args, "--out", Path.Combine(root, "bench", "RESULTS.md"));
        string seedSource = $"synthetic:{variant}:1";
        var rows = new List<Row>();
        var weights = ModelWeights.Load(seedSource);

        foreach (int b in batches)
        {
            var json = Python(root, $"tools/bench_peers.py torch --synthetic {variant}:1 --batch {b} --iters {iters} --threads {Environment.ProcessorCount}");
            if (json is null) { Console.WriteLine("PyTorch peer unavailable (/usr/bin/python3 with python3-torch)"); break; }
            using var doc = JsonDocument.Parse(json);
            var e = doc.RootElement;
            rows.Add(new Row(e.GetProperty("engine").GetString()!, $"CPU, {e.GetProperty("threads").GetInt32()} threads", b,
                e.GetProperty("median_ms").GetDouble(), e.GetProperty("p90_ms").GetDouble(), "network forward on ready crops"));
            Console.WriteLine(rows[^1]);
        }

        var tmp = Directory.CreateTempSubdirectory("trg-onnx-");
        try
        {
            for (int d = 0; d < devices.Length; d++)
            {
                var kind = devices[d] switch { "cuda" => DeviceKind.Cuda, "cpu" => DeviceKind.Cpu, _ => DeviceKind.OpenCL };
                using var session = new TrgIlgpu.Engine.InferenceSession(weights, kind);
                foreach (int b in batches)
                {
                    var faces = Benchmark.SyntheticBatch(b);
                    var engine = new Timer(iters, pauseMs);
                    Action engineForward = () => session.Run(faces);
                    for (int i = 0; i < 3; i++) engineForward();
                    // The peer beside the first device only: ONNX Runtime's forwards interleaved with the engine's.
                    using var onnx = d == 0 ? OnnxPeer.Open(root, tmp.FullName, variant, b) : null;
                    var peer = new Timer(iters, pauseMs);
                    for (int round = 0; round < rounds; round++)
                    {
                        int n = (round + 1) * iters / rounds - round * iters / rounds;
                        engine.Time(engineForward, n);
                        if (onnx is not null) peer.Time(onnx.Forward, n);
                    }
                    rows.Add(new Row("TrgIlgpu", session.DeviceName, b, engine.Median, engine.P90, $"{session.Plan(b).Ops.Count} launches, {session.AllocatedBytes / 1048576.0:F0} MiB device memory; crop on device + download included"));
                    Console.WriteLine(rows[^1]);
                    if (onnx is null) continue;
                    rows.Add(new Row($"ONNX Runtime {OrtEnv.Instance().GetVersionString()}", $"CPU execution provider, {Environment.ProcessorCount} threads", b, peer.Median, peer.P90, "ONNX export of the PyTorch reference; network on ready crops"));
                    Console.WriteLine(rows[^1]);
                }
            }
        }
        finally { tmp.Delete(true); }
        rows = rows.OrderBy(r => r.Batch).ThenBy(r => r.Engine == "TrgIlgpu" ? 0 : r.Engine.StartsWith("PyTorch", StringComparison.Ordinal) ? 1 : 2).ToList();

        // Every section after this report's is kept: each starts with an HTML comment marker (`-- faces`,
        // `-- kernels`, and the ones written by hand).
        string old = File.Exists(outPath) ? File.ReadAllText(outPath) : "";
        int sections = old.IndexOf("\n<!-- ", StringComparison.Ordinal);
        File.WriteAllText(outPath, Report(variant, iters, rounds, pauseMs, rows) + (sections >= 0 ? old[sections..] : ""));
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }

    /// <summary>Timed forwards of one engine: median and p90 of everything timed; an untimed pause before each.</summary>
    private sealed class Timer(int capacity, int pauseMs)
    {
        private readonly List<double> ms = new(capacity);

        public void Time(Action forward, int count)
        {
            for (int i = 0; i < count; i++)
            {
                if (pauseMs > 0) Thread.Sleep(pauseMs);
                long t0 = Stopwatch.GetTimestamp();
                forward();
                ms.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        }

        private double At(double q) { var s = ms.Order().ToArray(); return s[(int)Math.Ceiling(q * (s.Length - 1))]; }
        public double Median => At(0.5);
        public double P90 => At(0.9);
    }

    /// <summary>
    /// ONNX Runtime on the exporter's model of batch <paramref name="batch"/>: its outputs on the exporter's inputs are
    /// checked against PyTorch's before any timing, then three warm-up runs. Null when the export is unavailable.
    /// </summary>
    private sealed class OnnxPeer : IDisposable
    {
        private readonly SessionOptions options;
        private readonly Microsoft.ML.OnnxRuntime.InferenceSession session;
        private readonly List<NamedOnnxValue> inputs;

        private OnnxPeer(string path, int batch)
        {
            options = new SessionOptions { IntraOpNumThreads = Environment.ProcessorCount, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
            session = new Microsoft.ML.OnnxRuntime.InferenceSession(path, options);
            DenseTensor<float> Read(string name, int[] shape) => new(Floats($"{path}.{name}.f32"), shape);
            inputs =
            [
                NamedOnnxValue.CreateFromTensor("crops", Read("crops", [batch, 3, 192, 192])),
                NamedOnnxValue.CreateFromTensor("intrinsics", Read("intrinsics", [batch, 3, 3])),
                NamedOnnxValue.CreateFromTensor("bbox7", Read("bbox7", [batch, 7])),
            ];
            using (var outputs = session.Run(inputs))
            {
                double worst = 0;
                foreach (var o in outputs)
                {
                    var want = Floats($"{path}.{o.Name}.f32");
                    var got = o.AsTensor<float>().ToArray();
                    if (got.Length != want.Length) throw new InvalidOperationException($"ONNX output {o.Name}: {got.Length} values, PyTorch {want.Length}");
                    double w = 0;
                    for (int i = 0; i < got.Length; i++) w = Math.Max(w, Math.Abs(got[i] - want[i]));
                    Console.WriteLine($"  ONNX Runtime vs PyTorch, {o.Name}: max |diff| {w:E2}");
                    worst = Math.Max(worst, w);
                }
                if (!(worst < 1e-4)) throw new InvalidOperationException($"ONNX Runtime disagrees with PyTorch on the exported model: max |diff| {worst:E2}");
                Console.WriteLine($"ONNX Runtime output matches PyTorch (max |diff| {worst:E2})");
            }
            for (int i = 0; i < 3; i++) Forward();
        }

        public static OnnxPeer? Open(string root, string folder, string variant, int batch)
        {
            string onnx = Path.Combine(folder, $"{variant}-b{batch}.onnx");
            if (Python(root, $"tools/bench_peers.py onnx --synthetic {variant}:1 --batch {batch} --out {onnx}") is null || !File.Exists(onnx))
            {
                Console.WriteLine("ONNX export unavailable; ONNX Runtime row skipped");
                return null;
            }
            return new OnnxPeer(onnx, batch);
        }

        public void Forward() => session.Run(inputs).Dispose();

        public void Dispose()
        {
            session.Dispose();
            options.Dispose();
        }
    }

    private static float[] Floats(string file)
    {
        var bytes = File.ReadAllBytes(file);
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, values.Length * 4);
        return values;
    }

    private static string Report(string variant, int iters, int rounds, int pauseMs, List<Row> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Benchmark results");
        sb.AppendLine();
        sb.AppendLine($"Written by `dotnet run -c Release --project bench/TrgIlgpu.Bench -- compare` on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        sb.AppendLine($"Machine: {CpuName()}, {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1L << 30)} GiB; {Environment.OSVersion}.");
        sb.AppendLine($"Model: {variant}, synthetic weights seed 1 (the same tensors in every engine), 192x192 crops. {iters} timed forwards after 3 warm-up ones; median and p90 in milliseconds; TrgIlgpu's and ONNX Runtime's forwards interleaved in {rounds} rounds (PyTorch ran before them). The engine's launches a forward (they differ by batch size: the kernel policy) are in its rows." + (pauseMs > 0 ? $" Each timed forward of TrgIlgpu and ONNX Runtime came after a {pauseMs} ms pause (`--pause-ms`: one forward a video frame); PyTorch's did not." : ""));
        sb.AppendLine();
        foreach (var b in rows.Select(r => r.Batch).Distinct())
        {
            var group = rows.Where(r => r.Batch == b).ToList();
            var baseline = group.FirstOrDefault(r => r.Engine == "TrgIlgpu");
            sb.AppendLine($"## Batch {b}");
            sb.AppendLine();
            sb.AppendLine("| engine | device | median ms | p90 ms | images/s | median vs TrgIlgpu | note |");
            sb.AppendLine("|---|---|---:|---:|---:|---:|---|");
            foreach (var r in group)
            {
                string ratio = baseline is null ? "" : (r.MedianMs / baseline.MedianMs).ToString("F2", CultureInfo.InvariantCulture) + "x";
                sb.AppendLine(FormattableString.Invariant($"| {r.Engine} | {r.Device} | {r.MedianMs:F1} | {r.P90Ms:F1} | {b * 1000 / r.MedianMs:F1} | {ratio} | {r.Note} |"));
            }
            sb.AppendLine();
        }
        sb.AppendLine("A ratio above 1 means the peer took longer than TrgIlgpu. Timed regions: TrgIlgpu from the upload of the image and boxes");
        sb.AppendLine("through the crop kernel, the network and the download of every result; PyTorch and ONNX Runtime the network alone on");
        sb.AppendLine("ready normalised crops (the same network: before timing, ONNX Runtime's outputs are checked against PyTorch's on the");
        sb.AppendLine("exporter's inputs). PyTorch runs with as many threads as cores; ONNX Runtime with its CPU execution provider, all");
        sb.AppendLine("graph optimisations, as many intra-op threads as cores. GPU rows come from `tools/device/` when a task draws a GPU;");
        sb.AppendLine("none has so far.");
        return sb.ToString();
    }

    private static string? Python(string root, string arguments)
    {
        if (!File.Exists("/usr/bin/python3")) return null;
        var psi = new ProcessStartInfo("/usr/bin/python3", arguments) { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) { Console.Error.WriteLine(stderr); return null; }
        return stdout;
    }

    private static string CpuName()
    {
        try { return File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("model name")).Split(':', 2)[1].Trim(); }
        catch (Exception) { return "unknown CPU"; }
    }

    internal static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "TrgIlgpu.sln"))) return d.FullName;
        return Directory.GetCurrentDirectory();
    }

    internal static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
