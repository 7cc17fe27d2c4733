using System.IO.Hashing;
using System.Reflection;
using System.Text;
using TrgIlgpu.Backends;
using TrgIlgpu.Kernels;
using TrgIlgpu.Model;

namespace TrgIlgpu.Engine;

/// <summary>
/// The kernels a TRG plan launched, recorded next to the kernel cache entries (<c>kernels/KEYHASH.launches</c>) so
/// that the next process with the same variant, kernel policy, device and engine build loads them on a worker thread as
/// soon as the device is open (<see cref="DeviceKernels.Prefetch"/>), overlapping the weights' upload, instead of one by
/// one during the first forward (docs/startup.md). A hint, never trusted: a list with a name that is not a kernel of
/// <see cref="KernelCatalog"/> is ignored, a kernel it lacks is still loaded on its first launch, and a kernel it names
/// that the plan no longer launches only costs its load (the list is rewritten after the next forward).
/// </summary>
internal static class LaunchList
{
    private const string Header = "trg-launches 1";

    /// <summary>The list's file for this variant, policy and device in <paramref name="directory"/> (the kernel cache folder).</summary>
    public static string PathFor(string directory, VariantInfo variant, KernelPolicy policy, ComputeDevice device)
    {
        string key = $"{Header}\n{variant.Name}\n{policy}\n{device.Description}\n{typeof(Tiling).Module.ModuleVersionId:N} {typeof(LaunchList).Module.ModuleVersionId:N}\n";
        return Path.Combine(directory, Convert.ToHexStringLower(XxHash128.Hash(Encoding.UTF8.GetBytes(key))) + ".launches");
    }

    /// <summary>The kernels recorded at <paramref name="path"/>, in launch order; empty when there is no usable list.</summary>
    public static IReadOnlyList<MethodInfo> Read(string path, TextWriter? log)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; } // none yet (or unreadable): kernels load on first launch
        if (lines.Length < 2 || lines[0] != Header || lines.Length > 1 + KernelCatalog.All.Count)
        {
            log?.WriteLine($"trg: ignoring kernel launch list {path}: not a launch list; it is rewritten after the next forward");
            return [];
        }
        var kernels = new List<MethodInfo>();
        foreach (var name in lines.Skip(1))
        {
            if (KernelCatalog.All.FirstOrDefault(k => k.Name == name) is not { } entry)
            {
                log?.WriteLine($"trg: ignoring kernel launch list {path}: '{name}' is not a kernel; it is rewritten after the next forward");
                return [];
            }
            kernels.Add(entry.Method);
        }
        return kernels;
    }

    /// <summary>Records <paramref name="kernels"/> (each once, in first-launch order) at <paramref name="path"/> unless it holds them already; failures are logged, never thrown.</summary>
    public static void Update(string path, IEnumerable<string> kernels, TextWriter? log)
    {
        string text = string.Join('\n', [Header, .. kernels.Distinct(StringComparer.Ordinal)]) + "\n";
        try
        {
            if (File.Exists(path) && File.ReadAllText(path) == text) return;
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using var pending = new AtomicFile.Pending(path);
            pending.Stream.Write(Encoding.UTF8.GetBytes(text));
            pending.Commit(durable: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or TrgException)
        {
            log?.WriteLine($"trg: cannot write the kernel launch list {path}: {e.Message}");
        }
    }
}
