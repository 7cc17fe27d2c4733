using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace TrgIlgpu.Diagnostics;

/// <summary>Where start-up time goes (<see cref="StartupTimings"/>; docs/startup.md describes each phase).</summary>
public enum StartupPhase
{
    /// <summary>From process start to the first timed phase: the .NET runtime, JIT of the entry path, argument parsing.</summary>
    Runtime,
    /// <summary>Creating the ILGPU context and the accelerator (driver and platform discovery).</summary>
    DeviceOpen,
    /// <summary>Reading a model file's header and small tensors and hashing its content (the cache key).</summary>
    ModelOpen,
    /// <summary>Reading every weight tensor of a model file (only when the packed weights are not cached).</summary>
    ModelRead,
    /// <summary>Load-time packing: BatchNorm folding, Winograd transforms, the regressor product (cache miss only).</summary>
    Packing,
    /// <summary>Reading a packed-weights cache entry and streaming it to the device (a cache hit).</summary>
    CacheRead,
    /// <summary>Writing a packed-weights cache entry (cache miss only).</summary>
    CacheWrite,
    /// <summary>Copying packed weights to the device (cache miss, or weights given in memory).</summary>
    Upload,
    /// <summary>ILGPU compiling kernels (MSIL to IR to OpenCL C or PTX) and the driver building them (PoCL: its own cache).</summary>
    KernelCompile,
    /// <summary>Building forward plans: the graph, slot assignment, activation buffers.</summary>
    PlanBuild,
    /// <summary>The first forward passes (upload, launches, download), kernel compilation excluded.</summary>
    Forward,
    /// <summary>Decoding image files.</summary>
    ImageDecode,
    /// <summary>Writing results (JSON, overlays).</summary>
    Output,
}

/// <summary>
/// A start-up profile: wall time per <see cref="StartupPhase"/>, counted from process start. Phases nest: a phase
/// measured inside another (a kernel compiled during the first forward) is subtracted from the outer one, so the
/// phases of the thread that made the profile add up to the elapsed time. Thread-safe; a phase measured on another
/// thread (the model file opened while the device opens, images decoded ahead) overlaps those and is listed apart,
/// "in parallel", outside the total. `trg estimate --timings` prints it.
/// </summary>
public sealed class StartupTimings
{
    private readonly object _gate = new();
    private static readonly int Phases = Enum.GetValues<StartupPhase>().Length;
    // Index phase for the profile's own thread, Phases + phase for the others.
    private readonly double[] _ms = new double[2 * Phases];
    private readonly int[] _counts = new int[2 * Phases];
    private readonly int _thread = Environment.CurrentManagedThreadId;
    private readonly long _created = Stopwatch.GetTimestamp();
    private readonly double _runtimeMs;

    [ThreadStatic] private static Scope? _current;

    /// <summary>Starts the profile; the time from process start to now is recorded as <see cref="StartupPhase.Runtime"/>.</summary>
    public StartupTimings()
    {
        using var self = Process.GetCurrentProcess();
        _runtimeMs = Math.Max(0, (DateTime.Now - self.StartTime).TotalMilliseconds);
        Add(StartupPhase.Runtime, TimeSpan.FromMilliseconds(_runtimeMs));
    }

    /// <summary>
    /// Adds <paramref name="elapsed"/> to a phase (and one to its count): in parallel when called from another thread
    /// than the one that made the profile, or when <paramref name="inParallel"/> says the time was spent on another
    /// thread (measured there, added here).
    /// </summary>
    public void Add(StartupPhase phase, TimeSpan elapsed, bool inParallel = false)
    {
        int i = (int)phase + (inParallel || Environment.CurrentManagedThreadId != _thread ? Phases : 0);
        lock (_gate)
        {
            _ms[i] += elapsed.TotalMilliseconds;
            _counts[i]++;
        }
    }

    /// <summary>Times a phase until the returned scope is disposed, less any phase measured inside it on this thread.</summary>
    public Scope Measure(StartupPhase phase) => new(this, phase);

    /// <summary>Milliseconds recorded for a phase so far (on any thread).</summary>
    public double Milliseconds(StartupPhase phase)
    {
        lock (_gate) return _ms[(int)phase] + _ms[Phases + (int)phase];
    }

    /// <summary>How many times a phase was recorded (on any thread).</summary>
    public int Count(StartupPhase phase)
    {
        lock (_gate) return _counts[(int)phase] + _counts[Phases + (int)phase];
    }

    /// <summary>Milliseconds recorded for a phase on other threads than the profile's, overlapping its own phases.</summary>
    public double ParallelMilliseconds(StartupPhase phase)
    {
        lock (_gate) return _ms[Phases + (int)phase];
    }

    /// <summary>Milliseconds from process start until now.</summary>
    public double SinceProcessStartMs => _runtimeMs + Stopwatch.GetElapsedTime(_created).TotalMilliseconds;

    /// <summary>
    /// The profile as a table: each phase recorded on the profile's thread, its count, milliseconds and share of the
    /// time since process start, adding up to the total; then the phases recorded on other threads, which overlap them.
    /// </summary>
    public string Format()
    {
        double total = SinceProcessStartMs;
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"phase",-14} {"count",5} {"ms",9} {"share",6}");
        double listed = 0;
        var parallel = new StringBuilder();
        lock (_gate)
        {
            foreach (var phase in Enum.GetValues<StartupPhase>())
            {
                int i = (int)phase, p = Phases + i;
                if (_counts[i] > 0)
                {
                    listed += _ms[i];
                    sb.AppendLine(CultureInfo.InvariantCulture, $"{Name(phase),-14} {_counts[i],5} {_ms[i],9:F1} {_ms[i] / total,6:P0}");
                }
                if (_counts[p] > 0)
                    parallel.AppendLine(CultureInfo.InvariantCulture, $"{Name(phase),-14} {_counts[p],5} {_ms[p],9:F1} {_ms[p] / total,6:P0}");
            }
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"other",-14} {"",5} {Math.Max(0, total - listed),9:F1} {Math.Max(0, total - listed) / total,6:P0}");
        sb.Append(CultureInfo.InvariantCulture, $"{"total",-14} {"",5} {total,9:F1}  since process start");
        if (parallel.Length > 0) sb.Append("\nin parallel, on other threads (overlapping the phases above, not in the total):\n").Append(parallel.ToString().TrimEnd('\n'));
        if (PeakResidentBytes() is { } peak) sb.Append(CultureInfo.InvariantCulture, $"\npeak resident set {peak / 1048576.0:F0} MiB (VmHWM)");
        return sb.ToString();
    }

    /// <summary>The process's peak resident set (Linux: VmHWM of /proc/self/status), or null where unknown.</summary>
    public static long? PeakResidentBytes()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal)
                    && long.TryParse(line["VmHWM:".Length..].Trim().Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kb))
                    return kb * 1024;
        }
        catch (IOException) { }
        return null;
    }

    /// <summary>The phase's name as printed: kebab case (<c>kernel-compile</c>).</summary>
    public static string Name(StartupPhase phase)
    {
        var s = phase.ToString();
        var sb = new StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsUpper(s[i]) && i > 0) sb.Append('-');
            sb.Append(char.ToLowerInvariant(s[i]));
        }
        return sb.ToString();
    }

    /// <summary>One running measurement (<see cref="Measure"/>); dispose to record it.</summary>
    public sealed class Scope : IDisposable
    {
        private readonly StartupTimings _owner;
        private readonly StartupPhase _phase;
        private readonly long _start = Stopwatch.GetTimestamp();
        private readonly Scope? _parent;
        private double _innerMs;
        private bool _done;

        internal Scope(StartupTimings owner, StartupPhase phase)
        {
            _owner = owner;
            _phase = phase;
            _parent = _current;
            _current = this;
        }

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            double ms = Stopwatch.GetElapsedTime(_start).TotalMilliseconds;
            if (ReferenceEquals(_current, this)) _current = _parent;
            if (_parent is not null && ReferenceEquals(_parent._owner, _owner)) _parent._innerMs += ms;
            _owner.Add(_phase, TimeSpan.FromMilliseconds(Math.Max(0, ms - _innerMs)));
        }
    }
}

/// <summary>Null-safe timing helpers: the engine measures phases only when a caller asked for a profile.</summary>
internal static class StartupTimingsExtensions
{
    /// <summary><see cref="StartupTimings.Measure"/>, or null (nothing to dispose) without a profile.</summary>
    public static IDisposable? Time(this StartupTimings? timings, StartupPhase phase) => timings?.Measure(phase);
}
