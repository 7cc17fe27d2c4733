using System.Runtime.CompilerServices;
using TrgIlgpu.Backends;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Engine;
using TrgIlgpu.Faces;
using TrgIlgpu.Formats;
using TrgIlgpu.Imaging;
using TrgIlgpu.Model;
using TrgIlgpu.Tests.App;

namespace TrgIlgpu.Tests.Engine;

/// <summary>
/// The start-up caches (docs/startup.md) on PoCL with a synthetic TRGv2 model file: a hit gives bit-identical results
/// to a miss; corrupt, truncated or other-version entries are ignored and rebuilt; concurrent writers leave one whole
/// entry; no host copy of the weights outlives the upload; the face finder and TRG share one lazily compiled kernel set.
/// </summary>
public sealed class StartupCacheTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trg-cache-").FullName;
    private string CacheDir => Path.Combine(_dir, "cache");
    private PackCache Cache => new(CacheDir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteModel(ulong seed = 5)
    {
        var path = Path.Combine(_dir, $"synthetic-trgv2-{seed}.safetensors");
        SafeTensors.Write(path, SyntheticWeights.Create(VariantInfo.TrgV2, seed), new Dictionary<string, string> { ["format"] = "trg-ilgpu", ["variant"] = "trgv2" });
        return path;
    }

    private static FaceRequest[] Faces()
    {
        var image = ImageLoader.LoadFile(AppTestData.AstronautPath);
        return [new FaceRequest(image, AppTestData.AstronautBox, 1024f), new FaceRequest(image, new FaceBox(-40, 280, 120, 440), 700f)];
    }

    /// <summary>A fresh device and session (a new process as far as the engine is concerned), its results and whether the cache served the weights.</summary>
    private (FaceResult[] Results, bool Hit, string Log) Run(string model, PackCache? cache)
    {
        var log = new StringWriter();
        using var session = new InferenceSession(ModelWeights.Open(model), DeviceKind.OpenCL, log, ConvAlgorithm.Auto, new WeightLoadOptions { Cache = cache });
        return (session.Run(Faces()), session.CacheHit, log.ToString());
    }

    private static void AssertBitIdentical(FaceResult[] expected, FaceResult[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            // Assert.Equal on float[] compares element by element with float.Equals: NaN equals NaN, -0 equals +0; check the bits.
            foreach (var (e, a) in new[]
                     {
                         (expected[i].Rotation, actual[i].Rotation), (expected[i].Translation, actual[i].Translation),
                         (expected[i].VerticesCam, actual[i].VerticesCam), (expected[i].VerticesHead, actual[i].VerticesHead),
                         (expected[i].Landmarks68Norm, actual[i].Landmarks68Norm),
                     })
                Assert.Equal(e.Select(BitConverter.SingleToInt32Bits), a.Select(BitConverter.SingleToInt32Bits));
            Assert.Equal(expected[i].Iterations.SelectMany(it => it.Rotation.Concat(it.Translation)).Select(BitConverter.SingleToInt32Bits),
                         actual[i].Iterations.SelectMany(it => it.Rotation.Concat(it.Translation)).Select(BitConverter.SingleToInt32Bits));
        }
    }

    private string Entry() => Assert.Single(Directory.GetFiles(CacheDir, "*.trgpack"));

    [Fact]
    public void A_hit_gives_bit_identical_results_to_a_miss_and_to_no_cache()
    {
        var model = WriteModel();
        var (reference, _, _) = Run(model, cache: null);
        Assert.False(Directory.Exists(CacheDir));

        var (miss, missHit, _) = Run(model, Cache);
        Assert.False(missHit);
        Entry();
        Assert.NotEmpty(Directory.GetFiles(Cache.KernelDirectory, "*.clkernel"));
        var (hit, hitHit, log) = Run(model, Cache);
        Assert.True(hitHit, log);
        Assert.DoesNotContain("ignoring", log);

        Assert.All(reference, r => Assert.All(r.VerticesCam, v => Assert.True(float.IsFinite(v))));
        AssertBitIdentical(reference, miss);
        AssertBitIdentical(reference, hit);
    }

    [Theory]
    [InlineData("corrupt", "checksum")]
    [InlineData("truncated", "truncated")]
    [InlineData("version", "format version")]
    [InlineData("empty", "truncated")]
    public void A_bad_entry_is_ignored_and_rebuilt(string damage, string reason)
    {
        var model = WriteModel();
        var (reference, _, _) = Run(model, Cache);
        var entry = Entry();
        var bytes = File.ReadAllBytes(entry);
        switch (damage)
        {
            case "corrupt": bytes[bytes.Length / 2] ^= 0x40; break;           // one weight bit
            case "truncated": bytes = bytes[..(bytes.Length / 3)]; break;
            case "version": bytes[8] = 99; break;                              // the format version after the magic
            case "empty": bytes = []; break;
        }
        File.WriteAllBytes(entry, bytes);

        var (rebuilt, hit, log) = Run(model, Cache);
        Assert.False(hit);
        Assert.Contains("ignoring packed-weights cache entry", log);
        Assert.Contains(reason, log);
        AssertBitIdentical(reference, rebuilt);

        // Rebuilt in place: the next start is a hit again.
        var (again, hitAgain, logAgain) = Run(model, Cache);
        Assert.True(hitAgain, logAgain);
        AssertBitIdentical(reference, again);
    }

    [Fact]
    public void A_corrupt_kernel_entry_is_ignored_and_compiled_again()
    {
        var model = WriteModel();
        var (reference, _, _) = Run(model, Cache);
        var kernels = Directory.GetFiles(Cache.KernelDirectory, "*.clkernel");
        Assert.NotEmpty(kernels);
        foreach (var k in kernels)
        {
            var bytes = File.ReadAllBytes(k);
            bytes[bytes.Length / 3] ^= 0x01;  // a character of the OpenCL source
            bytes[bytes.Length - 40] ^= 0x01; // a byte of the program binary (PoCL would not notice it)
            File.WriteAllBytes(k, bytes);
        }
        var (results, hit, log) = Run(model, Cache);
        Assert.True(hit);
        Assert.Contains("ignoring kernel cache entry", log);
        AssertBitIdentical(reference, results);
        var (_, _, cleanLog) = Run(model, Cache);
        Assert.DoesNotContain("ignoring", cleanLog); // rewritten whole
    }

    /// <summary>A fresh session's results and how its kernels were loaded (docs/startup.md, "The caches").</summary>
    private (FaceResult[] Results, int Kernels, int FromBinary, int FromSource, string Log) RunCounted(string model)
    {
        var log = new StringWriter();
        using var session = new InferenceSession(ModelWeights.Open(model), DeviceKind.OpenCL, log, ConvAlgorithm.Auto, new WeightLoadOptions { Cache = Cache });
        var results = session.Run(Faces());
        var k = session.Kernels;
        return (results, k.CompiledCount, k.LoadedFrom(KernelOrigin.CachedBinary), k.LoadedFrom(KernelOrigin.CachedSource), log.ToString());
    }

    [Fact]
    public void Kernels_are_built_from_the_cached_program_binaries_with_bit_identical_results()
    {
        Assert.True(OpenCLBinaries.Supported, "PoCL program binaries cannot be used with this ILGPU");
        var model = WriteModel();
        var (reference, _, _) = Run(model, cache: null);
        var first = RunCounted(model);
        Assert.Equal(0, first.FromBinary + first.FromSource); // a cold cache compiles every kernel and writes its entry
        var second = RunCounted(model);
        Assert.True(second.Kernels > 0);
        Assert.Equal(second.Kernels, second.FromBinary);
        Assert.DoesNotContain("refused", second.Log);
        AssertBitIdentical(reference, first.Results);
        AssertBitIdentical(reference, second.Results);
    }

    [Fact]
    public void A_binary_the_driver_refuses_is_rebuilt_from_the_source_and_rewritten()
    {
        // Bytes that are no PoCL binary (PoCL checks a binary's magic and device, not its inner lengths: a truncated one
        // would crash it, which the entry's checksum prevents; A_corrupt_kernel_entry_is_ignored_and_compiled_again).
        var model = WriteModel();
        var (reference, _, _) = Run(model, Cache);
        var kernels = Directory.GetFiles(Cache.KernelDirectory, "*.clkernel");
        Assert.NotEmpty(kernels);
        foreach (var k in kernels)
            ReplaceBinary(k, _ => Enumerable.Range(0, 64).Select(i => (byte)(i * 37 + 11)).ToArray());

        var refused = RunCounted(model);
        Assert.Contains("refused its program binary", refused.Log);
        Assert.Equal(refused.Kernels, refused.FromSource);
        AssertBitIdentical(reference, refused.Results);

        var again = RunCounted(model);
        Assert.Equal(again.Kernels, again.FromBinary);
        Assert.DoesNotContain("refused", again.Log);
        AssertBitIdentical(reference, again.Results);
    }

    /// <summary>
    /// Rewrites a kernel entry's program binary, with a valid checksum (the layout of <see cref="KernelSourceCache"/>:
    /// magic, version, key, five integers, source, binary, each text or blob as a length and its bytes; XxHash128 last).
    /// </summary>
    private static void ReplaceBinary(string path, Func<byte[], byte[]> replace)
    {
        var bytes = File.ReadAllBytes(path);
        int at = 8 + 4;
        int Skip() { int n = BitConverter.ToInt32(bytes, at); at += 4 + n; return n; }
        Skip();          // key
        at += 5 * 4;     // OpenCL C version, shared memory, fields per view
        Skip();          // source
        int start = at, length = BitConverter.ToInt32(bytes, at);
        Assert.True(length > 0, "the entry holds no program binary");
        var binary = replace(bytes.AsSpan(start + 4, length).ToArray());
        var body = bytes[..start].Concat(BitConverter.GetBytes(binary.Length)).Concat(binary).ToArray();
        File.WriteAllBytes(path, [.. body, .. System.IO.Hashing.XxHash128.Hash(body)]);
    }

    [Fact]
    public void Kernels_the_last_run_launched_load_on_a_worker_before_the_first_forward()
    {
        var model = WriteModel();
        var (reference, _, _) = Run(model, cache: null);
        Run(model, Cache); // records the kernels its plan launched
        var list = Assert.Single(Directory.GetFiles(Cache.KernelDirectory, "*.launches"));

        var options = new WeightLoadOptions { Cache = Cache };
        using (new InferenceSession(ModelWeights.Open(model), DeviceKind.OpenCL, null, ConvAlgorithm.Auto, options)) { } // disposed while loading ahead
        using (var session = new InferenceSession(ModelWeights.Open(model), DeviceKind.OpenCL, null, ConvAlgorithm.Auto, options))
        {
            session.Kernels.WaitForPrefetch();
            int loadedAhead = session.Kernels.CompiledCount;
            var results = session.Run(Faces());
            Assert.Equal(session.Plan(2).Ops.Select(o => o.Kernel).Distinct().Count(), loadedAhead);
            Assert.Equal(loadedAhead, session.Kernels.CompiledCount); // the forward loaded nothing more
            AssertBitIdentical(reference, results);
        }

        // A list that names no kernel is ignored (each kernel loads on its first launch) and rewritten.
        File.WriteAllText(list, "trg-launches 1\nNoSuchKernel\n");
        var (again, _, log) = Run(model, Cache);
        Assert.Contains("ignoring kernel launch list", log);
        AssertBitIdentical(reference, again);
        Assert.DoesNotContain("NoSuchKernel", File.ReadAllText(list));
    }

    [Fact]
    public void Another_model_or_packing_never_reads_the_entry()
    {
        var a = WriteModel(5);
        var b = WriteModel(6);
        Run(a, Cache);
        var (results, hit, _) = Run(b, Cache);
        Assert.False(hit);
        Assert.Equal(2, Directory.GetFiles(CacheDir, "*.trgpack").Length);
        var (reference, _, _) = Run(b, cache: null);
        AssertBitIdentical(reference, results);

        // Direct convolutions are packed differently: their own entry.
        var log = new StringWriter();
        using var direct = new InferenceSession(ModelWeights.Open(a), DeviceKind.OpenCL, log, ConvAlgorithm.Direct, new WeightLoadOptions { Cache = Cache });
        Assert.False(direct.CacheHit);
        Assert.Equal(3, Directory.GetFiles(CacheDir, "*.trgpack").Length);
    }

    [Fact]
    public async Task Concurrent_writers_and_readers_never_see_a_partial_entry()
    {
        var model = WriteModel();
        var weights = ModelWeights.Open(model);
        var packed = new PackedModel(weights.ReadTensors(), winograd: true);
        var key = PackCache.Key(weights, ConvAlgorithm.Winograd)!;
        using var device = ComputeDevice.Open(DeviceKind.OpenCL);
        var cache = Cache;
        var log = new StringWriter();
        var writers = Enumerable.Range(0, 4).Select(_ => Task.Run(() => cache.Store(weights, ConvAlgorithm.Winograd, key, packed, TextWriter.Synchronized(log)))).ToArray();
        var reader = Task.Run(() =>
        {
            // While the writers run, a reader finds no entry or a whole one, never a broken one.
            while (!writers.All(w => w.IsCompleted))
            {
                using var loaded = cache.TryLoad(device.Accelerator, weights, ConvAlgorithm.Winograd, key, TextWriter.Synchronized(log));
            }
        });
        await Task.WhenAll([.. writers, reader]);
        Assert.Empty(log.ToString());
        Assert.Single(Directory.GetFiles(CacheDir)); // one entry, no temporary files left
        using var final = cache.TryLoad(device.Accelerator, weights, ConvAlgorithm.Winograd, key, log);
        Assert.NotNull(final);
        Assert.Equal(packed.Layers.Keys, final!.LayerNames);
    }

    [Fact]
    public void No_host_copy_of_the_weights_outlives_the_upload()
    {
        // Weights made in memory: once the caller lets go, the estimator holds no reference to their tensors.
        var (estimator, tensors) = EstimatorFromMemory(keep: false);
        using (estimator)
        {
            Collect();
            Assert.False(tensors.TryGetTarget(out _), "the state dict is still reachable from the estimator");
            Assert.False(estimator.Weights.HasTensors);
            Assert.Equal("trgv2", estimator.Weights.Variant.Name);
            Assert.Equal(305, estimator.Weights.Subsample.Length);
        }
        // Asked for: kept.
        var (keeping, kept) = EstimatorFromMemory(keep: true);
        using (keeping)
        {
            Collect();
            Assert.True(kept.TryGetTarget(out _));
            Assert.True(keeping.Weights.HasTensors);
        }

        // A model file: the tensors are read only to pack them (never on a hit) and not kept.
        var model = WriteModel();
        var options = new EstimatorOptions { Device = DeviceKind.OpenCL, Loading = new WeightLoadOptions { Cache = Cache } };
        using (var miss = TrgEstimator.Create(model, options)) Assert.False(miss.Weights.HasTensors);
        using (var hit = TrgEstimator.Create(model, options)) Assert.False(hit.Weights.HasTensors);
        using (var keep = TrgEstimator.Create(model, options with { Loading = new WeightLoadOptions { Cache = Cache, KeepHostWeights = true } }))
            Assert.True(keep.Weights.HasTensors);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (TrgEstimator Estimator, WeakReference<IReadOnlyDictionary<string, HostTensor>> Tensors) EstimatorFromMemory(bool keep)
    {
        var weights = ModelWeights.Load("synthetic:trgv2:3");
        var estimator = new TrgEstimator(weights, new EstimatorOptions
        {
            Device = DeviceKind.OpenCL, Loading = new WeightLoadOptions { Cache = null, KeepHostWeights = keep },
        });
        estimator.Estimate(Faces()[..1]);
        return (estimator, new WeakReference<IReadOnlyDictionary<string, HostTensor>>(weights.Tensors));
    }

    private static void Collect()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    [Fact]
    public void Face_finder_and_TRG_share_one_kernel_set_and_compile_only_what_they_launch()
    {
        using var device = ComputeDevice.Open(DeviceKind.OpenCL);
        // This test's own (empty) cache folder: no launch list from an earlier run loads kernels ahead.
        using var session = new InferenceSession(ModelWeights.Load("synthetic:trgv2:3"), device, loading: new WeightLoadOptions { Cache = Cache });
        using var finder = FaceFinder.Create(device);
        Assert.Same(session.Kernels, finder.Session.Kernels);
        Assert.Equal(0, session.Kernels.CompiledCount);

        var image = ImageLoader.LoadFile(AppTestData.AstronautPath);
        session.Run([new FaceRequest(image, AppTestData.AstronautBox, 1024f)]);
        var trgKernels = session.Plan(1).Ops.Select(o => o.Kernel).ToHashSet();
        Assert.Equal(trgKernels.Count, session.Kernels.CompiledCount);

        var faces = finder.Find(image);
        Assert.NotEmpty(faces);
        var faceKernels = finder.Session.Plan(FaceNetworkKind.SsdMobilenetV1, 1, SsdDecoder.InputSize).Graph.Ops
            .Concat(finder.Session.Plan(FaceNetworkKind.FaceLandmark68, faces.Length, FaceApiGeometry.LandmarkInputSize).Graph.Ops)
            .Select(o => o.Kernel);
        Assert.Equal(trgKernels.Union(faceKernels).Count(), session.Kernels.CompiledCount);
    }

    [Fact]
    public void Timings_nest_and_add_up_per_phase()
    {
        var timings = new StartupTimings();
        using (timings.Measure(StartupPhase.Forward))
        {
            using (timings.Measure(StartupPhase.KernelCompile)) { }
            using (timings.Measure(StartupPhase.KernelCompile)) { }
        }
        Assert.Equal(1, timings.Count(StartupPhase.Runtime));
        Assert.Equal(1, timings.Count(StartupPhase.Forward));
        Assert.Equal(2, timings.Count(StartupPhase.KernelCompile));
        Assert.Equal(0, timings.Count(StartupPhase.Packing));
        var table = timings.Format();
        Assert.Contains("kernel-compile", table);
        Assert.Contains("forward", table);
        Assert.DoesNotContain("packing", table);
        Assert.Contains("total", table);
        Assert.Equal("cache-read", StartupTimings.Name(StartupPhase.CacheRead));
        Assert.DoesNotContain("in parallel", table);

        // Phases of other threads overlap the profile's own: listed apart, outside the total.
        var other = new Thread(() => { using (timings.Measure(StartupPhase.ModelOpen)) { } });
        other.Start();
        other.Join();
        timings.Add(StartupPhase.ImageDecode, TimeSpan.FromMilliseconds(5), inParallel: true);
        Assert.Equal(5, timings.ParallelMilliseconds(StartupPhase.ImageDecode));
        Assert.Equal(0, timings.ParallelMilliseconds(StartupPhase.Forward));
        Assert.Equal(1, timings.Count(StartupPhase.ModelOpen));
        var lines = timings.Format().Split('\n');
        int parallel = Array.FindIndex(lines, l => l.StartsWith("in parallel", StringComparison.Ordinal));
        int total = Array.FindIndex(lines, l => l.StartsWith("total", StringComparison.Ordinal));
        Assert.True(parallel > total, string.Join('\n', lines));
        Assert.Contains(lines[(parallel + 1)..], l => l.StartsWith("model-open", StringComparison.Ordinal));
        Assert.Contains(lines[(parallel + 1)..], l => l.StartsWith("image-decode", StringComparison.Ordinal));
        Assert.DoesNotContain(lines[..parallel], l => l.StartsWith("model-open", StringComparison.Ordinal));
    }

    [Fact]
    public void Estimate_timings_flag_prints_every_start_up_phase()
    {
        var model = WriteModel();
        var json = Path.Combine(_dir, "out.json");
        var (code, _, err) = AppTestData.Trg("estimate", AppTestData.AstronautPath, "--model", model, "--device", "opencl",
            "--bbox", AppTestData.AstronautBox.ToString(), "--json", json, "--timings", "--quiet");
        Assert.True(code == 0, err);
        Assert.Contains("trg estimate --timings", err);
        foreach (var phase in new[] { "runtime", "device-open", "model-open", "cache-read", "plan-build", "forward", "image-decode", "output", "total" })
            Assert.Contains(phase, err);
        if (OperatingSystem.IsLinux()) Assert.Contains("peak resident", err);
    }
}
