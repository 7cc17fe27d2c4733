using TrgIlgpu.Engine;
using TrgIlgpu.Faces;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Cli.Serve;

/// <summary>What `trg serve` was asked to do, checked and typed.</summary>
internal sealed record ServeSettings
{
    /// <summary>Loopback only: without an API key the service is reachable from this machine alone unless --urls says otherwise.</summary>
    public const string DefaultUrls = "http://127.0.0.1:8080";

    /// <summary>The TRG model; null: the landmark fit.</summary>
    public string? Model { get; init; }
    public DeviceKind Device { get; init; } = DeviceKind.Auto;
    public DetectorOptions Detector { get; init; } = new();
    /// <summary>Addresses to listen on, separated by ';' (ASP.NET Core's URL syntax; port 0 picks a free port).</summary>
    public string Urls { get; init; } = DefaultUrls;
    /// <summary>Most faces in one forward pass; requests are gathered until this many faces or <see cref="MaxDelay"/>.</summary>
    public int MaxBatch { get; init; } = 16;
    /// <summary>Longest a request waits, after it is queued, for others to fill its batch.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromMilliseconds(10);
    /// <summary>Most requests waiting for a batch; one more gets 429.</summary>
    public int MaxQueue { get; init; } = 64;
    /// <summary>Largest request body in bytes; a larger one gets 413 without being read.</summary>
    public long MaxBodyBytes { get; init; } = 32L << 20;
    public long MaxPixels { get; init; } = ImageLoadOptions.DefaultMaxPixels;
    /// <summary>A file holding the bearer API key; null: no key (and a warning unless the service is on loopback only).</summary>
    public string? ApiKeyFile { get; init; }
    /// <summary>How long a SIGTERM waits for accepted requests before the process ends anyway.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws <see cref="TrgException"/> (<see cref="ErrorKind.Usage"/>) for a value out of range.</summary>
    public void Check()
    {
        Detector.Validate();
        if (MaxBatch < 1) throw new TrgException(ErrorKind.Usage, $"--max-batch {MaxBatch}: must be at least 1");
        if (MaxDelay < TimeSpan.Zero) throw new TrgException(ErrorKind.Usage, $"--max-delay-ms {MaxDelay.TotalMilliseconds}: must not be negative");
        if (MaxQueue < 1) throw new TrgException(ErrorKind.Usage, $"--max-queue {MaxQueue}: must be at least 1");
        if (MaxBodyBytes < 1) throw new TrgException(ErrorKind.Usage, $"--max-body-mb: must be positive");
        if (MaxPixels < 1) throw new TrgException(ErrorKind.Usage, $"--max-pixels {MaxPixels}: must be at least 1");
        if (string.IsNullOrWhiteSpace(Urls)) throw new TrgException(ErrorKind.Usage, "--urls: give at least one address, e.g. http://127.0.0.1:8080");
    }

    /// <summary>The URLs, split.</summary>
    public string[] UrlList => Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>True when every URL names a loopback host (127.x, ::1, localhost).</summary>
    public bool LoopbackOnly => UrlList.All(IsLoopback);

    private static bool IsLoopback(string url)
    {
        // ASP.NET Core accepts "http://*:80" and "http://+:80", which Uri does not parse: they are not loopback.
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri)) return false;
        if (uri.IsLoopback) return true;
        return System.Net.IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip);
    }
}
