using TrgIlgpu.Cli;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.Formats;

/// <summary>Where the format tests find their inputs, plus small helpers (temp folders, CLI runs, random weights).</summary>
internal static class FormatsTestFiles
{
    public static string Fixtures => Path.Combine(TestPaths.Fixtures, "checkpoints");
    public static string Fixture(string name) => Path.Combine(Fixtures, name);

    /// <summary>../shared/trg-data: the official data files.</summary>
    public static string SharedData(string name) => TestPaths.SharedFile("trg-data", name);

    /// <summary>The repository root when it holds tools/ (always, in a checkout), else null.</summary>
    public static string? RepoRoot()
        => File.Exists(Path.Combine(TestPaths.RepoRoot, "tools", "make_checkpoint_fixtures.py")) ? TestPaths.RepoRoot : null;

    public static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>Every state-dict tensor of the variant filled with seeded random values (never zeros; running variances
    /// positive, as a trained model's are).</summary>
    public static List<HostTensor> RandomStateDict(VariantInfo variant, int seed, string prefix = "")
    {
        var rng = new Random(seed);
        var list = new List<HostTensor>();
        foreach (var spec in variant.Tensors)
        {
            if (spec.DType == TensorDType.I64)
            {
                list.Add(new HostTensor(prefix + spec.Key, spec.Shape, [rng.NextInt64(1, 100_000)]));
                continue;
            }
            var data = new float[spec.Elements];
            bool variance = spec.Key.EndsWith(".running_var", StringComparison.Ordinal);
            for (int i = 0; i < data.Length; i++) data[i] = variance ? 0.5f + rng.NextSingle() : rng.NextSingle() * 0.2f - 0.1f;
            list.Add(new HostTensor(prefix + spec.Key, spec.Shape, data));
        }
        return list;
    }
}

/// <summary>A temporary folder deleted at the end of the test.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("trg-formats-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Writes <paramref name="data"/> to <paramref name="name"/> in this folder; the file's path.</summary>
    public string Write(string name, byte[] data)
    {
        var path = File(name);
        System.IO.File.WriteAllBytes(path, data);
        return path;
    }
    public string[] Files() => Directory.GetFiles(Path).Select(System.IO.Path.GetFileName).ToArray()!;
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}
