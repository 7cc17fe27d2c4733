using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Engine;
using TrgIlgpu.Model;

namespace TrgIlgpu.Bench;

/// <summary>
/// `-- launches [--batch N] [--iters N] [--device opencl|cpu|cuda] [--model M] [--ops REGEX]`: every launch of the
/// TRGv2 plan synchronised on its own, with its minimum wall time and median process CPU time over the forwards.
/// CPU time (all of PoCL's worker threads) is far less disturbed than wall time on a shared machine. Prints a table;
/// writes nothing (docs/devices.md, "Transposed convolutions and the iteration", quotes its numbers).
/// Then the same forward three ways, which tells kernel time from launch overhead: unsynchronised (as
/// <see cref="InferenceSession.Run"/>), the plan's launches back to back with one synchronisation, and each launch
/// synchronised; and as many launches of a one-float kernel, back to back and each synchronised (medians).
/// </summary>
internal static class LaunchCpu
{
    public static int Run(string[] args)
    {
        int batch = int.Parse(Compare.Arg(args, "--batch", "1"), CultureInfo.InvariantCulture);
        int iters = int.Parse(Compare.Arg(args, "--iters", "10"), CultureInfo.InvariantCulture);
        var kind = Compare.Arg(args, "--device", "opencl") switch { "cuda" => DeviceKind.Cuda, "cpu" => DeviceKind.Cpu, _ => DeviceKind.OpenCL };
        var filter = new Regex(Compare.Arg(args, "--ops", "."));
        using var session = InferenceSession.ForBatch(ModelWeights.Load(Compare.Arg(args, "--model", "synthetic:trgv2:1")), batch, kind, Console.Error);
        var faces = Benchmark.SyntheticBatch(batch);
        session.RunProfiled(faces); // compiles and warms every kernel
        var plan = session.Plan(batch);
        var stream = session.Accelerator.DefaultStream;
        using var process = Process.GetCurrentProcess();
        int n = plan.Ops.Count;
        var wall = new double[n][];
        var cpu = new double[n][];
        for (int k = 0; k < n; k++) { wall[k] = new double[iters]; cpu[k] = new double[iters]; }
        for (int i = 0; i < iters; i++)
        {
            session.RunProfiled(faces); // uploads this forward's inputs
            for (int k = 0; k < n; k++)
            {
                process.Refresh();
                var c0 = process.TotalProcessorTime;
                long t0 = Stopwatch.GetTimestamp();
                plan.Ops[k].Launch(stream);
                stream.Synchronize();
                wall[k][i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                process.Refresh();
                cpu[k][i] = (process.TotalProcessorTime - c0).TotalMilliseconds;
            }
        }
        Console.WriteLine($"{session.Variant.Name} on {session.DeviceName}, batch {batch}, {iters} forwards; load average {LoadAverage()}");
        Console.WriteLine($"{"op",-28} {"kernel",-18} {"wall min ms",11} {"cpu median ms",13}  shape");
        double selectedCpu = 0, allCpu = 0;
        for (int k = 0; k < n; k++)
        {
            var op = plan.Ops[k];
            double c = Median(cpu[k]);
            allCpu += c;
            if (!filter.IsMatch(op.Name) && !filter.IsMatch(op.Kernel)) continue;
            selectedCpu += c;
            Console.WriteLine($"{op.Name,-28} {op.Kernel,-18} {wall[k].Min(),11:F3} {c,13:F2}  {op.Shape}");
        }
        Console.WriteLine($"cpu medians: listed {selectedCpu:F1} ms, all launches {allCpu:F1} ms");
        Overhead(session, faces, plan, iters);
        return 0;
    }

    private static void Touch(Index1D i, ArrayView<float> a) => a[i] += 1f;

    private static void Overhead(InferenceSession session, IReadOnlyList<FaceRequest> faces, ForwardPlan plan, int iters)
    {
        var stream = session.Accelerator.DefaultStream;
        var touch = session.Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>>(Touch);
        using var one = session.Accelerator.Allocate1D<float>(1);
        var forward = new double[iters];
        var chained = new double[iters];
        var synchronised = new double[iters];
        var tinyChained = new double[iters];
        var tinySynchronised = new double[iters];
        for (int i = 0; i < iters; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            session.Run(faces);
            forward[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            t0 = Stopwatch.GetTimestamp();
            foreach (var op in plan.Ops) op.Launch(stream);
            stream.Synchronize();
            chained[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            t0 = Stopwatch.GetTimestamp();
            foreach (var op in plan.Ops) { op.Launch(stream); stream.Synchronize(); }
            synchronised[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            t0 = Stopwatch.GetTimestamp();
            for (int k = 0; k < plan.Ops.Count; k++) touch(stream, 1, one.View);
            stream.Synchronize();
            tinyChained[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            t0 = Stopwatch.GetTimestamp();
            for (int k = 0; k < plan.Ops.Count; k++) { touch(stream, 1, one.View); stream.Synchronize(); }
            tinySynchronised[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Console.WriteLine($"forward medians: unsynchronised {Median(forward):F1} ms, launches back to back {Median(chained):F1} ms, " +
            $"each synchronised {Median(synchronised):F1} ms; {plan.Ops.Count} one-float launches: back to back " +
            $"{Median(tinyChained):F2} ms, each synchronised {Median(tinySynchronised):F2} ms");
    }

    private static double Median(double[] v)
    {
        var s = v.Order().ToArray();
        return s[s.Length / 2];
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
}
