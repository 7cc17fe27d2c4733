using System.Diagnostics;
using System.Globalization;
using System.Text;
using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Backends;
using TrgIlgpu.Engine;
using TrgIlgpu.Kernels;
using TrgIlgpu.Model;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Bench;

/// <summary>
/// Every convolution kernel variant over the forward plan's real convolution shapes, in the manner of llm.c's
/// <c>dev/cuda</c>: for each distinct shape of the TRGv2 plan (<c>ForwardPlan.Convolutions</c>) and each variant that
/// can compute it (<see cref="KernelPolicy.Candidates"/>), fresh seeded inputs, the weights packed as the variant reads
/// them, one launch checked against the float64 reference the kernel tests use (tests/.../Kernels/References) with
/// their tolerance — a wrong variant stops the run — and only then timed. Variants of a shape are timed in
/// interleaved rounds (a shared machine drifts), each launch synchronised; median wall time and process CPU time per
/// launch (PoCL's worker threads are in this process, so CPU time is less sensitive to other load than wall time).
/// Writes the "Kernel variants" section of bench/RESULTS.md.
/// Usage: kernels [--batches 1,8] [--iters 5] [--rounds 3] [--device opencl] [--ops name,...] [--out bench/RESULTS.md] [--no-write]
/// (<c>--ops</c>: only the shapes of these plan ops; a partial run is printed, not written.)
/// </summary>
internal static class KernelVariants
{
    public const string Begin = "<!-- kernels: written by `TrgIlgpu.Bench -- kernels` -->", End = "<!-- /kernels -->";

    private sealed record Shape(ConvParams Params, string[] Ops, ConvKernel Chosen);

    private sealed record Timing(ConvKernel Kernel, double MedianMs, double CpuMs, double WorstMargin);

    public static int Run(string[] args)
    {
        int[] batches = Arg(args, "--batches", "1,8").Split(',').Select(int.Parse).ToArray();
        int iters = int.Parse(Arg(args, "--iters", "5"), CultureInfo.InvariantCulture);
        int rounds = int.Parse(Arg(args, "--rounds", "3"), CultureInfo.InvariantCulture);
        var kind = Arg(args, "--device", "opencl") switch { "cuda" => DeviceKind.Cuda, "cpu" => DeviceKind.Cpu, _ => DeviceKind.OpenCL };
        string outPath = Arg(args, "--out", Path.Combine(FindRoot(), "bench", "RESULTS.md"));
        string[]? only = Array.IndexOf(args, "--ops") >= 0 ? Arg(args, "--ops", "").Split(',') : null;
        string loadBefore = LoadAverage();

        using var device = ComputeDevice.Open(kind, Console.Error);
        var policy = KernelPolicy.For(device.Kind);
        var all = policy with { Convolutions = ConvAlgorithm.Winograd };
        var kernels = new DeviceKernels(device.Accelerator, all);
        var results = new List<(int Batch, Shape Shape, List<Timing> Timings)>();
        var weights = ModelWeights.Load("synthetic:trgv2:1");
        foreach (int batch in batches)
        {
            foreach (var shape in Shapes(weights, device, policy, batch).Where(s => only is null || s.Ops.Intersect(only).Any()))
            {
                var timings = Measure(device.Accelerator, kernels, shape, iters, rounds);
                results.Add((batch, shape, timings));
                Console.WriteLine($"b{batch} {string.Join("+", shape.Ops)}: " + string.Join("  ", timings.Select(t =>
                    $"{t.Kernel} {t.MedianMs:F2} ms (cpu {t.CpuMs:F2})")));
            }
        }

        string section = Section(device.Description, policy, results, iters, rounds, $"{loadBefore} before, {LoadAverage()} after", batches);
        Console.WriteLine(section);
        if (args.Contains("--no-write") || only is not null) return 0;
        string text = File.Exists(outPath) ? File.ReadAllText(outPath) : "";
        File.WriteAllText(outPath, Replace(text, section));
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }

    /// <summary>The distinct convolution launches of the TRGv2 plan at <paramref name="batch"/> (op names that share each).</summary>
    private static List<Shape> Shapes(ModelWeights weights, ComputeDevice device, KernelPolicy policy, int batch)
    {
        using var session = new InferenceSession(weights, device, policy.Convolutions);
        return session.Plan(batch).Convolutions
            .GroupBy(c => c.Params)
            .Select(g => new Shape(g.Key, g.Select(c => c.Name).ToArray(), g.First().Kernel))
            .ToList();
    }

    private static List<Timing> Measure(Accelerator a, DeviceKernels k, Shape shape, int iters, int rounds)
    {
        var p = shape.Params;
        var rng = new Random(p.GetHashCode());
        var c = Case.Make(p, rng);
        var stream = a.DefaultStream;
        var buffers = new List<MemoryBuffer1D<float, Stride1D.Dense>>();
        ArrayView<float> Upload(float[] data) { var b = a.Allocate1D(data); buffers.Add(b); return b.View; }
        ArrayView<float> Poisoned(long n) => Upload(Enumerable.Repeat(float.NaN, (int)n).ToArray());
        try
        {
            var input = Upload(c.Input);
            var unused = Poisoned(4);
            var shortcut = c.Shortcut is null ? unused : Upload(c.Shortcut);
            var direct = Pack.Conv(c.Weight, p.OutChannels, p.InChannels, p.Kernel, c.Bn, null, c.ProjWeight, p.ShortcutChannels, c.ProjBn);
            var winograd = WinogradConvolution.Supports(p)
                ? Pack.Winograd(c.Weight, p.OutChannels, p.InChannels, c.Bn, null, c.ProjWeight, p.ShortcutChannels, c.ProjBn) : null;
            var dw = Upload(direct.Weight);
            var db = Upload(direct.Bias);
            var dsw = direct.ShortcutWeight is null ? unused : Upload(direct.ShortcutWeight);
            var ww = winograd is null ? unused : Upload(winograd.Weight);
            var v = WinogradConvolution.Supports(p) ? Poisoned(WinogradConvolution.TransformLength(p)) : unused;
            var m = WinogradConvolution.Supports(p) ? Poisoned(WinogradConvolution.ProductLength(p)) : unused;
            var planes = PhaseConvolution.Supports(p) ? Poisoned(PhaseConvolution.PlanesLength(p)) : unused;
            bool f4 = WinogradConvolution.SupportsF4(p);
            var w4 = f4 ? Upload(Pack.WinogradF4(c.Weight, p.OutChannels, p.InChannels, c.Bn).Weight) : unused;
            var v4 = f4 ? Poisoned(WinogradConvolution.TransformLengthF4(p)) : unused;
            var m4 = f4 ? Poisoned(WinogradConvolution.ProductLengthF4(p)) : unused;

            var launches = new List<(ConvKernel Kernel, Action<ArrayView<float>> Launch)>();
            foreach (var kernel in KernelPolicy.Candidates(p))
            {
                Action<ArrayView<float>> launch = kernel switch
                {
                    ConvKernel.Conv2D => o => k.Conv2D(stream, p.Config(k.GroupSize), input, dw, db, shortcut, dsw, o, p),
                    ConvKernel.Conv2DWide => o => k.Conv2DWide(stream, k.Config(Convolution.WideThreadCount(p)), input, dw, db, shortcut, o, p),
                    ConvKernel.Conv2DStrip => o => k.Conv2DStrip(stream, k.Config(Convolution.StripThreadCount(p)), input, dw, db, shortcut, o, p),
                    ConvKernel.Conv2DPhase => o =>
                    {
                        k.PhaseSplit(stream, PhaseConvolution.SplitConfig(p, k.GroupSize), input, planes, p);
                        k.Conv2DPhase(stream, k.Config(PhaseConvolution.ThreadCount(p)), planes, dw, db, shortcut, o, p);
                    },
                    ConvKernel.Stem7x7S2 => o => k.StemConv7x7S2(stream, k.Config(StemConvolution.ThreadCount(p)), input, dw, db, o, p),
                    ConvKernel.WinogradF2x3 => o => k.WinogradConv3x3(stream, k.Config(WinogradConvolution.ThreadCount(p)), input, ww, db, shortcut, dsw, o, p),
                    ConvKernel.WinogradGemmF2 => o =>
                    {
                        k.WinogradInputF2(stream, k.Config(WinogradConvolution.InputThreadCount(p)), input, v, p);
                        k.WinogradGemmF2(stream, k.Config(WinogradConvolution.GemmThreadCount(p)), v, ww, m, p);
                        k.WinogradOutputF2(stream, k.Config(WinogradConvolution.OutputThreadCount(p)), m, db, shortcut, unused, o, p);
                    },
                    ConvKernel.WinogradGemmF2x16 => o =>
                    {
                        k.WinogradInputF2(stream, k.Config(WinogradConvolution.InputThreadCount(p)), input, v, p);
                        k.WinogradGemmF2x16(stream, k.Config(WinogradConvolution.Gemm16ThreadCount(p)), v, ww, m, p);
                        k.WinogradOutputF2(stream, k.Config(WinogradConvolution.OutputThreadCount(p)), m, db, shortcut, unused, o, p);
                    },
                    ConvKernel.WinogradGemmF4x16 => o =>
                    {
                        k.WinogradInputF4(stream, k.Config(WinogradConvolution.InputThreadCountF4(p)), input, v4, p);
                        k.WinogradGemmF4x16(stream, k.Config(WinogradConvolution.Gemm16ThreadCountF4(p)), v4, w4, m4, p);
                        k.WinogradOutputF4(stream, k.Config(WinogradConvolution.OutputThreadCountF4(p)), m4, db, shortcut, unused, o, p);
                    },
                    _ => throw new InvalidOperationException($"no launch for {kernel}"),
                };
                launches.Add((kernel, launch));
            }

            // Correctness first: every variant on a poisoned output against the float64 reference.
            var margins = new Dictionary<ConvKernel, double>();
            var outputs = new Dictionary<ConvKernel, ArrayView<float>>();
            foreach (var (kernel, launch) in launches)
            {
                var output = a.Allocate1D(Enumerable.Repeat(float.NaN, c.Expected.Length).ToArray());
                buffers.Add(output);
                launch(output.View);
                stream.Synchronize();
                margins[kernel] = Check($"{kernel} {Describe(p)}", output.GetAsArray1D(), c.Expected);
                outputs[kernel] = output.View;
            }

            var wall = launches.ToDictionary(l => l.Kernel, _ => new List<double>());
            var cpu = launches.ToDictionary(l => l.Kernel, _ => 0.0);
            foreach (var (kernel, launch) in launches) { launch(outputs[kernel]); stream.Synchronize(); } // warm-up
            var process = Process.GetCurrentProcess();
            for (int r = 0; r < rounds; r++)
                foreach (var (kernel, launch) in launches)
                {
                    process.Refresh();
                    var cpu0 = process.TotalProcessorTime;
                    for (int i = 0; i < iters; i++)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        launch(outputs[kernel]);
                        stream.Synchronize();
                        wall[kernel].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    }
                    process.Refresh();
                    cpu[kernel] += (process.TotalProcessorTime - cpu0).TotalMilliseconds;
                }
            return launches.Select(l => new Timing(l.Kernel, Median(wall[l.Kernel]), cpu[l.Kernel] / (iters * rounds), margins[l.Kernel])).ToList();
        }
        finally
        {
            foreach (var b in buffers) b.Dispose();
        }
    }

    /// <summary>
    /// The kernel tests' criterion (<c>Expect.Close</c>): |got - value| &lt;= 1e-5 x sum|terms| for every element, NaN
    /// (the poison: never written) failing. Returns the worst error as a fraction of its tolerance; throws when above 1.
    /// </summary>
    private static double Check(string what, float[] got, RefTensor expected)
    {
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(got[i] - expected.Value[i]), tol = 1e-5 * expected.Scale[i] + expected.Slack[i];
            double ratio = err / Math.Max(tol, 1e-300);
            if (double.IsNaN(ratio) || ratio > 1)
                throw new InvalidOperationException($"{what}: element {i} is {got[i]:R}, the float64 reference {expected.Value[i]:R} (tolerance {tol:E2}); not timing a wrong kernel");
            worst = Math.Max(worst, ratio);
        }
        return worst;
    }

    /// <summary>Seeded inputs, weights (BatchNorm on the conv, a projection's weight and BatchNorm) and the float64 result.</summary>
    private sealed record Case(float[] Input, float[] Weight, BatchNorm Bn, float[]? Shortcut, float[]? ProjWeight, BatchNorm? ProjBn, RefTensor Expected)
    {
        public static Case Make(ConvParams p, Random rng)
        {
            var xs = new Shape4(p.Batch, p.InChannels, p.InHeight, p.InWidth);
            var x = Gaussian(rng, xs.Length, 1);
            var w = Gaussian(rng, (long)p.OutChannels * p.InChannels * p.Kernel * p.Kernel, Math.Sqrt(2.0 / (p.InChannels * p.Kernel * p.Kernel)));
            var bn = Norm(rng, p.OutChannels);
            var y = RefConv.BatchNorm2d(RefConv.Conv2d(x, xs, w, p.OutChannels, p.Kernel, p.Stride, p.Pad, null, out var ys), ys, bn);
            float[]? shortcut = null, projWeight = null;
            BatchNorm? projBn = null;
            if (p.ShortcutMode == Convolution.ShortcutIdentity)
            {
                shortcut = Gaussian(rng, ys.Length, 1);
                var identity = new RefTensor(ys.Length);
                for (int i = 0; i < ys.Length; i++) identity.Set(i, shortcut[i], Math.Abs(shortcut[i]));
                y += identity;
            }
            else if (p.ShortcutMode == Convolution.ShortcutProjection)
            {
                var ss = new Shape4(p.Batch, p.ShortcutChannels, p.ShortcutHeight, p.ShortcutWidth);
                shortcut = Gaussian(rng, ss.Length, 1);
                projWeight = Gaussian(rng, (long)p.OutChannels * p.ShortcutChannels, Math.Sqrt(1.0 / p.ShortcutChannels));
                projBn = Norm(rng, p.OutChannels);
                y += RefConv.BatchNorm2d(RefConv.Conv2d(shortcut, ss, projWeight, p.OutChannels, 1, p.ShortcutStride, 0, null, out var ps), ps, projBn);
            }
            return new Case(x, w, bn, shortcut, projWeight, projBn, RefActivation.Apply(y, (Activation)p.Activation));
        }

        private static float[] Gaussian(Random rng, long n, double scale)
        {
            var a = new float[n];
            for (long i = 0; i < n; i++)
                a[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
            return a;
        }

        private static float[] Uniform(Random rng, int n, double lo, double hi) =>
            Enumerable.Range(0, n).Select(_ => (float)(lo + (hi - lo) * rng.NextDouble())).ToArray();

        private static BatchNorm Norm(Random rng, int c) =>
            new(Uniform(rng, c, 0.5, 1.5), Gaussian(rng, c, 0.2), Gaussian(rng, c, 0.3), Uniform(rng, c, 0.3, 2.0));
    }

    private static string Describe(ConvParams p)
    {
        string sc = p.ShortcutMode switch
        {
            Convolution.ShortcutIdentity => " +res",
            Convolution.ShortcutProjection => $" +proj{p.ShortcutChannels}",
            _ => "",
        };
        return $"[{p.Batch},{p.InChannels},{p.InHeight},{p.InWidth}]->[{p.OutChannels},{p.OutHeight},{p.OutWidth}] k{p.Kernel}s{p.Stride}{sc}";
    }

    private static string Section(string device, KernelPolicy policy, List<(int Batch, Shape Shape, List<Timing> Timings)> results,
        int iters, int rounds, string load, int[] batches)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(Begin);
        sb.AppendLine("## Kernel variants (convolutions)");
        sb.AppendLine();
        sb.AppendLine(inv, $"Written by `dotnet run -c Release --project bench/TrgIlgpu.Bench -- kernels --batches {string.Join(',', batches)} --iters {iters} --rounds {rounds}` on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        sb.AppendLine(inv, $"Device: {device}. Machine: {Environment.ProcessorCount} cores; load average {load} (shared: compare variants within a row, not across runs).");
        sb.AppendLine(inv, $"Every distinct convolution launch of the TRGv2 plan; each variant first checked against the float64 reference (margin: worst error as a fraction of the kernel tests' tolerance), then timed in {rounds} interleaved rounds of {iters} synchronised launches.");
        sb.AppendLine("ms: median wall time a launch (WinogradGemmF2, WinogradGemmF2x16: their three launches; Conv2DPhase: PhaseSplit and the product); cpu: process CPU time a launch; GFLOP/s: the direct convolution's FLOPs over the median; **bold**: fastest by median; policy: what `KernelPolicy` picks on this device.");
        sb.AppendLine();
        sb.AppendLine("| batch | ops | shape | variant | ms | cpu ms | GFLOP/s | margin | |");
        sb.AppendLine("|---:|---|---|---|---:|---:|---:|---:|---|");
        foreach (var (batch, shape, timings) in results)
        {
            var p = shape.Params;
            double flops = 2.0 * p.Batch * p.OutChannels * p.OutHeight * p.OutWidth *
                (p.InChannels * p.Kernel * p.Kernel + (p.ShortcutMode == Convolution.ShortcutProjection ? p.ShortcutChannels : 0));
            double best = timings.Min(t => t.MedianMs);
            bool first = true;
            foreach (var t in timings)
            {
                string ms = t.MedianMs == best ? $"**{t.MedianMs:F2}**" : t.MedianMs.ToString("F2", inv);
                string ops = first ? string.Join(", ", shape.Ops) : "";
                string sh = first ? Describe(p) : "";
                string tag = t.Kernel == shape.Chosen ? "policy" : "";
                sb.AppendLine(inv, $"| {(first ? batch.ToString(inv) : "")} | {ops} | {sh} | {t.Kernel} | {ms} | {t.CpuMs:F2} | {flops / (t.MedianMs * 1e6):F1} | {t.WorstMargin:F3} | {tag} |");
                first = false;
            }
        }
        sb.AppendLine();
        sb.AppendLine(inv, $"Policy on this device: 3x3 stride-1 convolutions {(policy.PacksWinograd ? policy.Winograd.ToString() : "direct")}" +
            $"{(policy.PacksWinograd && policy.WinogradF4MinMap > 0 ? $", {nameof(ConvKernel.WinogradGemmF4x16)} for maps of {policy.WinogradF4MinMap} or more a side without a projection" : "")}, groups of {policy.GroupSize}.");
        sb.AppendLine(End);
        return sb.ToString();
    }

    /// <summary><paramref name="text"/> with its kernel-variant section replaced by <paramref name="section"/> (appended when it has none).</summary>
    public static string Replace(string text, string section)
    {
        int b = text.IndexOf(Begin, StringComparison.Ordinal), e = text.IndexOf(End, StringComparison.Ordinal);
        if (b >= 0 && e > b) return text[..b] + section.TrimEnd('\n') + text[(e + End.Length)..];
        return text.TrimEnd('\n') + "\n\n" + section;
    }

    private static double Median(List<double> xs)
    {
        var s = xs.OrderBy(x => x).ToArray();
        return s[s.Length / 2];
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

    private static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TrgIlgpu.sln"))) dir = dir.Parent;
        return dir?.FullName ?? Directory.GetCurrentDirectory();
    }
}
