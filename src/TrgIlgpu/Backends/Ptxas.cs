using System.Diagnostics;
using System.Text.RegularExpressions;

namespace TrgIlgpu.Backends;

/// <summary>What ptxas -v reports for a kernel's entry function.</summary>
/// <param name="Registers">32-bit registers a thread.</param>
/// <param name="SpillStores">Bytes spilled to local memory (stores).</param>
/// <param name="SpillLoads">Bytes reloaded from spills.</param>
/// <param name="StackBytes">Stack frame (local memory) a thread.</param>
/// <param name="SharedBytes">Static shared memory a block.</param>
public sealed record PtxasReport(int Registers, int SpillStores, int SpillLoads, int StackBytes, int SharedBytes);

/// <summary>
/// NVIDIA's PTX assembler, found as: the file <see cref="PathVariable"/> names, else <c>ptxas</c> on the PATH, else
/// <see cref="SetupPath"/> (where <c>.ci/setup</c> unpacks Debian's copy). No GPU or driver is needed to run it.
/// </summary>
public sealed partial class Ptxas(string path)
{
    /// <summary>Environment variable naming the ptxas executable.</summary>
    public const string PathVariable = "TRG_PTXAS";
    /// <summary>Where <c>.ci/setup</c> puts ptxas.</summary>
    public const string SetupPath = "/opt/trg-ptxas/ptxas";

    public string Path { get; } = path;

    /// <summary>The ptxas to use, or null when there is none. A <see cref="PathVariable"/> naming a missing file is a NotFound error.</summary>
    public static Ptxas? Find()
    {
        var named = Environment.GetEnvironmentVariable(PathVariable);
        if (!string.IsNullOrWhiteSpace(named))
            return File.Exists(named) ? new Ptxas(named)
                : throw new TrgException(ErrorKind.NotFound, $"{PathVariable} names no file", named);
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = System.IO.Path.Combine(dir, "ptxas");
            if (File.Exists(candidate)) return new Ptxas(candidate);
        }
        return File.Exists(SetupPath) ? new Ptxas(SetupPath) : null;
    }

    /// <summary>The first line of <c>ptxas --version</c> that names the release, e.g. "Cuda compilation tools, release 11.8, V11.8.89".</summary>
    public string Version()
    {
        var (code, output) = Execute("--version");
        return code == 0 ? output.Split('\n').LastOrDefault(l => l.Contains("release", StringComparison.Ordinal))?.Trim() ?? output.Trim() : $"unknown ({output.Trim()})";
    }

    /// <summary>
    /// Assembles <paramref name="ptxFile"/> (<c>ptxas -arch=sm_XX -v</c>) and returns its report. A
    /// <see cref="TrgException"/> (<see cref="ErrorKind.KernelCompile"/>) carries ptxas's messages when it fails.
    /// </summary>
    public PtxasReport Assemble(string ptxFile, CudaTarget target)
    {
        var cubin = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"trg-{Guid.NewGuid():N}.cubin");
        try
        {
            var (code, output) = Execute($"-arch={target.Name}", "-v", "-o", cubin, ptxFile);
            if (code != 0)
                throw new TrgException(ErrorKind.KernelCompile, $"ptxas -arch={target.Name} failed (exit {code}): {output.Trim()}", ptxFile);
            return Parse(output) ?? throw new TrgException(ErrorKind.KernelCompile, $"ptxas -v printed no register count: {output.Trim()}", ptxFile);
        }
        finally
        {
            File.Delete(cubin);
        }
    }

    /// <summary>The report of the first entry function in ptxas -v output, or null when it has none.</summary>
    public static PtxasReport? Parse(string output)
    {
        int entry = output.IndexOf("Compiling entry function", StringComparison.Ordinal);
        if (entry < 0) return null;
        var text = output[entry..];
        var used = UsedRegex().Match(text);
        if (!used.Success) return null;
        var frame = FrameRegex().Match(text);
        var shared = SharedRegex().Match(used.Value);
        return new PtxasReport(
            int.Parse(used.Groups[1].Value),
            frame.Success ? int.Parse(frame.Groups[2].Value) : 0,
            frame.Success ? int.Parse(frame.Groups[3].Value) : 0,
            frame.Success ? int.Parse(frame.Groups[1].Value) : 0,
            shared.Success ? int.Parse(shared.Groups[1].Value) : 0);
    }

    private (int Code, string Output) Execute(params string[] args)
    {
        var info = new ProcessStartInfo(Path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info) ?? throw new TrgException(ErrorKind.NotFound, "ptxas could not be started", Path);
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }

    [GeneratedRegex(@"Used (\d+) registers[^\n]*")]
    private static partial Regex UsedRegex();
    [GeneratedRegex(@"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")]
    private static partial Regex FrameRegex();
    [GeneratedRegex(@"(\d+) bytes smem")]
    private static partial Regex SharedRegex();
}
