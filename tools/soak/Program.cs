// Soak run of TrgIlgpu's public API (tools/soak/README.md): thousands of TRG forwards at batch 1, then photo calls
// (face finding + TRG), with the managed heap, the process's resident memory and the engine's device bytes sampled
// over time. Prints the samples and the drift after warm-up as Markdown (bench/RESULTS.md keeps a run).
using System.Diagnostics;
using System.Globalization;
using TrgIlgpu;
using TrgIlgpu.Engine;
using TrgIlgpu.Imaging;

var settings = SoakSettings.Parse(args);
var output = Console.Out;
output.WriteLine($"# soak: {settings}");

// 1. TRG forwards at batch 1 on three image sizes (the image buffer grows to the largest, then stays).
using (var estimator = TrgEstimator.Create(settings.Model, new EstimatorOptions { Device = settings.Device, Log = Console.Error }))
{
    var images = new[] { Noise(640, 480, 1), Noise(512, 512, 2), Noise(320, 240, 3) };
    var boxes = new[] { new FaceBox(200, 100, 360, 260), new FaceBox(150, 49, 295, 191), new FaceBox(40, 30, 200, 190) };
    var phase = new SoakPhase($"TRG forwards, batch 1 ({estimator.Weights.Variant.Name} on {estimator.DeviceName})", () => estimator.DeviceBytes);
    phase.Run(settings.Forwards, settings.Warmup, settings.SampleEvery, i =>
    {
        int k = i % images.Length;
        var faces = estimator.Estimate(images[k], [boxes[k]]);
        if (faces.Length != 1 || !float.IsFinite(faces[0].Translation[2])) throw new InvalidOperationException($"forward {i}: no finite result");
    });
    phase.Report(output, "forwards");
}

// 2. Photo calls: detector, landmark net and TRG on one device.
if (settings.PhotoCalls > 0)
{
    var photo = ImageLoader.LoadFile(settings.Photo);
    using var estimator = HeadPoseEstimator.Create(new HeadPoseOptions { Model = settings.Model, Device = settings.Device, Log = Console.Error });
    var phase = new SoakPhase($"photo calls ({Path.GetFileName(settings.Photo)}: find faces, landmarks, TRG)", () => estimator.Finder.AllocatedBytes);
    int warmup = Math.Min(settings.PhotoCalls / 5, 10);
    phase.Run(settings.PhotoCalls, warmup, Math.Max(1, settings.PhotoCalls / 10), _ =>
    {
        var result = estimator.Estimate(photo);
        if (result.Faces.Length == 0) throw new InvalidOperationException("no face found in the photo");
    });
    phase.Report(output, "calls");
}
return 0;

static RgbImage Noise(int w, int h, int seed)
{
    var rng = new Random(seed);
    var p = new byte[w * h * 3];
    rng.NextBytes(p);
    return new RgbImage(w, h, p);
}

/// <summary>Command line: --model, --device, --forwards, --warmup, --sample-every, --photo, --photo-calls.</summary>
internal sealed record SoakSettings(string Model, DeviceKind Device, int Forwards, int Warmup, int SampleEvery, string Photo, int PhotoCalls)
{
    public static SoakSettings Parse(string[] args)
    {
        var s = new SoakSettings("synthetic:trgv2", DeviceKind.OpenCL, 3000, 100, 100, "../shared/samples/astronaut.png", 100);
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            string v = args[i + 1];
            s = args[i] switch
            {
                "--model" => s with { Model = v },
                "--device" => s with { Device = Enum.Parse<DeviceKind>(v, ignoreCase: true) },
                "--forwards" => s with { Forwards = int.Parse(v, CultureInfo.InvariantCulture) },
                "--warmup" => s with { Warmup = int.Parse(v, CultureInfo.InvariantCulture) },
                "--sample-every" => s with { SampleEvery = int.Parse(v, CultureInfo.InvariantCulture) },
                "--photo" => s with { Photo = v },
                "--photo-calls" => s with { PhotoCalls = int.Parse(v, CultureInfo.InvariantCulture) },
                _ => throw new ArgumentException($"unknown option {args[i]} (see tools/soak/README.md)"),
            };
        }
        if (args.Length % 2 != 0) throw new ArgumentException($"option {args[^1]} has no value");
        if (s.Forwards < 1 || s.Warmup < 0 || s.Warmup >= s.Forwards || s.SampleEvery < 1 || s.PhotoCalls < 0)
            throw new ArgumentException("--forwards must exceed --warmup (>= 0), --sample-every >= 1, --photo-calls >= 0");
        return s;
    }

    public override string ToString() =>
        $"model {Model}, device {Device}, {Forwards} forwards (warm-up {Warmup}, sample every {SampleEvery}), {PhotoCalls} photo calls";
}

/// <summary>One memory sample after <see cref="Done"/> iterations (managed heap after a full collection).</summary>
internal sealed record SoakSample(int Done, double Seconds, long ManagedBytes, long ResidentBytes, long DeviceBytes, int Gen2, double MedianMs);

/// <summary>A loop of one kind of call with memory sampled every so many iterations, and its drift after warm-up.</summary>
internal sealed class SoakPhase(string name, Func<long> deviceBytes)
{
    private readonly List<SoakSample> _samples = new();
    private SoakSample? _afterWarmup;

    public void Run(int iterations, int warmup, int every, Action<int> call)
    {
        var clock = Stopwatch.StartNew();
        var window = new List<double>();
        for (int i = 0; i < iterations; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            call(i);
            window.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            int done = i + 1;
            // The reference sample at the end of the warm-up, then every `every` calls after it.
            if (done == warmup || (done > warmup && (done % every == 0 || done == iterations)))
            {
                var sample = Sample(done, clock.Elapsed.TotalSeconds, window);
                window.Clear();
                if (done == warmup) _afterWarmup = sample;
                else _samples.Add(sample);
                Console.Error.WriteLine($"soak: {name}: {done}/{iterations}, managed {Mb(sample.ManagedBytes)}, RSS {Mb(sample.ResidentBytes)}, device {Mb(sample.DeviceBytes)}, median {sample.MedianMs:0.0} ms");
            }
        }
        _afterWarmup ??= _samples[0];
    }

    private SoakSample Sample(int done, double seconds, List<double> window)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var self = Process.GetCurrentProcess();
        window.Sort();
        return new SoakSample(done, seconds, GC.GetTotalMemory(forceFullCollection: false), self.WorkingSet64, deviceBytes(),
            GC.CollectionCount(2), window.Count == 0 ? 0 : window[window.Count / 2]);
    }

    public void Report(TextWriter o, string unit)
    {
        var first = _afterWarmup!;
        var last = _samples[^1];
        o.WriteLine();
        o.WriteLine($"## {name}");
        o.WriteLine();
        o.WriteLine($"| {unit} | time s | managed MiB | RSS MiB | device MiB | gen2 GCs | median ms (window) |");
        o.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var s in _samples.Prepend(first))
            o.WriteLine($"| {s.Done} | {s.Seconds:0.0} | {Mb(s.ManagedBytes)} | {Mb(s.ResidentBytes)} | {Mb(s.DeviceBytes)} | {s.Gen2} | {s.MedianMs:0.0} |");
        int n = last.Done - first.Done;
        o.WriteLine();
        o.WriteLine($"Drift over the {n} {unit} after warm-up ({first.Done}): managed {Delta(last.ManagedBytes - first.ManagedBytes)}, " +
                    $"RSS {Delta(last.ResidentBytes - first.ResidentBytes)}, device {Delta(last.DeviceBytes - first.DeviceBytes)}; " +
                    $"RSS range after warm-up {Mb(_samples.Min(s => s.ResidentBytes))}-{Mb(_samples.Max(s => s.ResidentBytes))} MiB, " +
                    $"managed slope {Slope(s => s.ManagedBytes):0.0} KiB per 1000 {unit}.");
    }

    /// <summary>Least-squares slope of a quantity over the samples, KiB per 1000 iterations.</summary>
    private double Slope(Func<SoakSample, long> y)
    {
        if (_samples.Count < 2) return 0;
        double mx = _samples.Average(s => (double)s.Done), my = _samples.Average(s => (double)y(s));
        double sxy = _samples.Sum(s => (s.Done - mx) * (y(s) - my)), sxx = _samples.Sum(s => (s.Done - mx) * (s.Done - mx));
        return sxx == 0 ? 0 : sxy / sxx * 1000 / 1024;
    }

    private static string Mb(long bytes) => (bytes / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture);
    private static string Delta(long bytes) => (bytes >= 0 ? "+" : "") + (bytes / 1048576.0).ToString("0.00", CultureInfo.InvariantCulture) + " MiB";
}
