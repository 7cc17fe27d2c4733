using System.Runtime.ExceptionServices;
using TrgIlgpu.Fuzz;
using TrgIlgpu.Imaging;

// trg-fuzz: the fuzzing harness (docs/fuzzing.md).
//   fuzz TARGET            one AFL++ run over SharpFuzz-instrumented assemblies (tools/fuzz/run.sh starts it)
//   replay TARGET PATH...  runs files or folders through the target in process; exit 1 if any crashes
//   seeds OUT FIXTURES     writes the seed corpus (tools/fuzz/make-seeds.sh)
//   image-peak IMAGE       peak resident memory of ImageLoader.LoadFile on IMAGE (docs/limits.md)
//   targets                lists the targets
if (args.Length == 0) return Usage();
switch (args[0])
{
    case "targets":
        foreach (var t in FuzzTargets.All) Console.WriteLine($"{t.Name}\t{string.Join(",", t.Kinds)}");
        return 0;
    case "fuzz" when args.Length == 2:
    {
        var target = FuzzTargets.Find(args[1]);
        SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
        {
            var m = new MemoryStream();
            stream.CopyTo(m);
            if (FuzzTargets.Check(target, m.ToArray()) is { } crash) ExceptionDispatchInfo.Throw(crash);
        });
        return 0;
    }
    case "replay" when args.Length >= 3:
    {
        var target = FuzzTargets.Find(args[1]);
        var missing = args[2..].Where(p => !Directory.Exists(p) && !File.Exists(p)).ToList();
        if (missing.Count > 0)
        {
            Console.Error.WriteLine($"trg-fuzz: not found: {string.Join(", ", missing)}");
            return 2;
        }
        var files = args[2..].SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories) : [p])
            .Where(f => !Path.GetFileName(f).StartsWith('.') && !f.EndsWith("README.txt", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        int crashes = 0;
        foreach (var file in files)
        {
            if (FuzzTargets.Check(target, File.ReadAllBytes(file)) is not { } crash) continue;
            crashes++;
            Console.WriteLine($"CRASH {target.Name} {file}: {crash.GetType().Name}: {crash.Message}");
            Console.WriteLine(crash.StackTrace);
        }
        Console.WriteLine($"{target.Name}: {files.Count} inputs replayed, {crashes} crashes");
        return crashes == 0 ? 0 : 1;
    }
    case "seeds" when args.Length == 3:
        SeedCorpus.Write(args[1], args[2]);
        return 0;
    case "image-peak" when args.Length == 2:
    {
        // Warm up (JIT, ImageSharp's static state) on a tiny image, reset the peak, then load the real one.
        using (var tiny = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(8, 8))
        {
            var warm = new MemoryStream();
            SixLabors.ImageSharp.ImageExtensions.SaveAsPng(tiny, warm);
            ImageLoader.Load(warm.ToArray(), "warm-up.png");
        }
        GC.Collect();
        long before = Status("VmRSS");
        File.WriteAllText("/proc/self/clear_refs", "5");
        string outcome;
        try
        {
            var image = ImageLoader.LoadFile(args[1]);
            outcome = $"{image.Width}x{image.Height} decoded";
        }
        catch (TrgIlgpu.TrgException e) { outcome = $"refused ({e.Kind}): {e.Message}"; }
        long peak = Status("VmHWM");
        Console.WriteLine($"{Path.GetFileName(args[1])}: {outcome}; resident {before / 1024} MiB before, peak {peak / 1024} MiB " +
                          $"(+{(peak - before) / 1024} MiB); managed allocations {GC.GetTotalAllocatedBytes() >> 20} MiB in all");
        return 0;
    }
    default:
        return Usage();
}

static long Status(string key) => long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(key + ":", StringComparison.Ordinal))
    .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);

static int Usage()
{
    Console.Error.WriteLine("usage: trg-fuzz targets | fuzz TARGET | replay TARGET PATH... | seeds OUT FIXTURES | image-peak IMAGE");
    return 2;
}
