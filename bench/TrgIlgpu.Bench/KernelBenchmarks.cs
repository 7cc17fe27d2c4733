using BenchmarkDotNet.Attributes;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Engine;
using TrgIlgpu.Model;

namespace TrgIlgpu.Bench;

/// <summary>
/// One benchmark per launch of the TRGv2 forward plan, at the model's real shapes: the plan's op is launched and
/// the stream synchronised. Names match `trg profile --ops` and the plan printed by `trg bench --plan`.
/// </summary>
[MemoryDiagnoser]
public class KernelBenchmarks
{
    private InferenceSession _session = null!;
    private PlanOp _op = null!;

    public static IEnumerable<string> Ops() => PlanOpNames.Value;

    private static readonly Lazy<string[]> PlanOpNames = new(() =>
    {
        using var s = new InferenceSession(ModelWeights.Load("synthetic:trgv2:1"), BenchSettings.Device);
        return s.Plan(1).Ops.Select(o => o.Name).ToArray();
    });

    [ParamsSource(nameof(Ops))]
    public string Op { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        _session = new InferenceSession(ModelWeights.Load("synthetic:trgv2:1"), BenchSettings.Device);
        _session.Run(Benchmark.SyntheticBatch(1)); // fills every buffer with real activations
        _op = _session.Plan(1).Ops.Single(o => o.Name == Op);
    }

    [Benchmark]
    public void Launch()
    {
        var stream = _session.Accelerator.DefaultStream;
        _op.Launch(stream);
        stream.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup() => _session.Dispose();
}

/// <summary>Whole forwards (upload, every launch, one download) at batch 1 and 8.</summary>
[MemoryDiagnoser]
public class EndToEndBenchmarks
{
    private InferenceSession _session = null!;
    private IReadOnlyList<FaceRequest> _faces = null!;

    [Params("trgv2", "trg")]
    public string Variant { get; set; } = "trgv2";

    [Params(1, 8)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _session = new InferenceSession(ModelWeights.Load($"synthetic:{Variant}:1"), BenchSettings.Device);
        _faces = Benchmark.SyntheticBatch(Batch);
        _session.Run(_faces);
    }

    [Benchmark]
    public FaceResult[] Forward() => _session.Run(_faces);

    [GlobalCleanup]
    public void Cleanup() => _session.Dispose();
}

internal static class BenchSettings
{
    /// <summary>TRG_BENCH_DEVICE=opencl|cuda|cpu|auto (default opencl).</summary>
    public static DeviceKind Device => (Environment.GetEnvironmentVariable("TRG_BENCH_DEVICE") ?? "opencl").ToLowerInvariant() switch
    {
        "cuda" => DeviceKind.Cuda,
        "cpu" => DeviceKind.Cpu,
        "auto" => DeviceKind.Auto,
        _ => DeviceKind.OpenCL,
    };
}
