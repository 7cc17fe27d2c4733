using System.CommandLine;
using System.Diagnostics;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using TrgIlgpu.Cli;
using TrgIlgpu.Cli.Commands;
using TrgIlgpu.Tests.App;

namespace TrgIlgpu.Tests.Hostile;

/// <summary>
/// `trg` in process for the hostile request, output and cancellation tests: the real command tree, with the TRG engine
/// behind <c>--model fake</c> replaced by the stand-in (<see cref="AppTestData.FakeEngine"/>), which can be told to
/// give non-finite outputs for chosen boxes or to run code before each batch (e.g. cancel). Counts how many estimators
/// were created, so a test can check that a refusal came before any work.
/// </summary>
internal sealed class HardeningCli : IDisposable
{
    /// <summary>A box left edge the stand-in answers with a NaN translation (a poisoned face).</summary>
    public const float PoisonLeft = 13.25f;

    public string Dir { get; } = Directory.CreateTempSubdirectory("trg-hardening-").FullName;
    public AppTestData.FakeEngine Engine { get; } = new();
    public int EstimatorsCreated;
    /// <summary>Runs before each batch the stand-in engine gets (argument: how many batches came before).</summary>
    public Action<int>? BeforeBatch;
    private int _batches;

    public void Dispose() => Directory.Delete(Dir, recursive: true);

    public string P(params string[] parts) => Path.Combine([Dir, .. parts]);

    public string WritePng(string name, int w = 80, int h = 80, int seed = 1)
    {
        var path = P(name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var img = ImageLoaderTests.RandomImage(w, h, seed);
        img.Save(path, new PngEncoder());
        return path;
    }

    public Command Root() => new RootCommand
    {
        EstimateCommand.Create((model, options) =>
        {
            Interlocked.Increment(ref EstimatorsCreated);
            return model == "fake"
                ? new TrgEstimator(AppTestData.FakeWeights(), "Fake: test engine", Run, options)
                : TrgEstimator.Create(model, options);
        }),
        ExportCommand.Create(),
    };

    private FaceResult[] Run(IReadOnlyList<FaceRequest> faces, CancellationToken ct)
    {
        BeforeBatch?.Invoke(_batches++);
        var results = Engine.Run(faces, ct);
        return results.Select(r => r.Box.Left == PoisonLeft ? Poisoned(r) : r).ToArray();
    }

    private static FaceResult Poisoned(FaceResult r) => new()
    {
        Box = r.Box, Camera = r.Camera, Rotation = r.Rotation, Translation = [float.NaN, 0, float.PositiveInfinity],
        VerticesCam = r.VerticesCam, VerticesHead = r.VerticesHead, Landmarks68Norm = r.Landmarks68Norm, Landmarks68 = r.Landmarks68,
        Iterations = r.Iterations, SamplingPoints = r.SamplingPoints,
    };

    /// <summary>Runs `trg` in process: exit code, stdout, stderr.</summary>
    public (int Code, string Out, string Err) Trg(params string[] args) => Trg(default, args);

    public (int Code, string Out, string Err) Trg(CancellationToken cancellationToken, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var clock = Stopwatch.StartNew();
        int code = CliApp.Invoke(Root(), args, stdout, stderr, cancellationToken);
        // A hang guard, not a performance check: a refusal must never wait on anything.
        Assert.True(clock.Elapsed < TimeSpan.FromMinutes(5), $"trg {string.Join(' ', args)} took {clock.Elapsed}");
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The documented code, one "trg: error:" line naming the problem, and no stack trace.</summary>
    public static void AssertRefused((int Code, string Out, string Err) r, ErrorKind kind, params string[] mentions)
    {
        Assert.True(r.Code == (int)kind, $"exit {r.Code}, expected {(int)kind} ({kind}); stderr: {r.Err}");
        AssertNoStackTrace(r.Err);
        Assert.Contains("trg: error: ", r.Err);
        foreach (var m in mentions) Assert.Contains(m, r.Err);
    }

    public static void AssertNoStackTrace(string stderr)
    {
        Assert.DoesNotContain("   at ", stderr);
        Assert.DoesNotContain("internal error", stderr);
    }

    /// <summary>Files named *.tmp (hidden or not) anywhere under <paramref name="dir"/>.</summary>
    public static string[] TempFiles(string dir) =>
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Where(f => f.EndsWith(".tmp", StringComparison.Ordinal)).ToArray();
}
