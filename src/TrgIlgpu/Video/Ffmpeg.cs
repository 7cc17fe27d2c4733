using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace TrgIlgpu.Video;

/// <summary>
/// A running ffmpeg or ffprobe child: stderr is drained on its own task (the last 4 KB kept for error messages) so the
/// child can never block on it, and disposing kills it (with its process tree) if it is still running.
/// </summary>
internal sealed class FfmpegProcess : IDisposable
{
    private const int StderrKeep = 4096;
    private readonly Process _process;
    private readonly Task _drain;
    private readonly StringBuilder _stderr = new();

    public string Tool { get; }
    public Stream Output => _process.StandardOutput.BaseStream;
    public Stream Input => _process.StandardInput.BaseStream;

    private FfmpegProcess(string tool, Process process)
    {
        Tool = tool;
        _process = process;
        _drain = Task.Run(async () =>
        {
            var buffer = new char[1024];
            int n;
            while ((n = await process.StandardError.ReadAsync(buffer).ConfigureAwait(false)) > 0)
                lock (_stderr)
                {
                    _stderr.Append(buffer, 0, n);
                    if (_stderr.Length > 2 * StderrKeep) _stderr.Remove(0, _stderr.Length - StderrKeep);
                }
        });
    }

    /// <summary>The executable for a tool: TRG_FFMPEG / TRG_FFPROBE when set, else the name on PATH.</summary>
    public static string Executable(string tool) =>
        Environment.GetEnvironmentVariable("TRG_" + tool.ToUpperInvariant()) is { Length: > 0 } path ? path : tool;

    /// <summary>Starts a tool with arguments (no shell); stdin is redirected only when <paramref name="writeInput"/>.</summary>
    /// <exception cref="TrgException">Video: the tool is not installed.</exception>
    public static FfmpegProcess Start(string tool, IEnumerable<string> arguments, bool writeInput = false, string? subject = null)
    {
        var psi = new ProcessStartInfo(Executable(tool))
        {
            RedirectStandardOutput = !writeInput, RedirectStandardError = true, RedirectStandardInput = writeInput,
            UseShellExecute = false, CreateNoWindow = true,
        };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        try
        {
            var p = Process.Start(psi) ?? throw new TrgException(ErrorKind.Video, $"{tool} did not start", subject);
            return new FfmpegProcess(tool, p);
        }
        catch (Win32Exception e)
        {
            throw new TrgException(ErrorKind.Video,
                $"{tool} is not installed or not on PATH ({e.Message}); install ffmpeg (Debian: apt-get install ffmpeg) or set TRG_{tool.ToUpperInvariant()}", subject, e);
        }
    }

    /// <summary>The last of what the tool wrote to stderr, trimmed.</summary>
    public string ErrorText
    {
        get
        {
            lock (_stderr)
            {
                var text = _stderr.ToString().Trim();
                return text.Length > StderrKeep ? "..." + text[^StderrKeep..] : text;
            }
        }
    }

    /// <summary>Waits for the tool to end (its stderr fully read) and returns its exit code.</summary>
    public int WaitForExit(CancellationToken cancellationToken = default)
    {
        try
        {
            _process.WaitForExitAsync(cancellationToken).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw;
        }
        _drain.GetAwaiter().GetResult();
        return _process.ExitCode;
    }

    public bool HasExited => _process.HasExited;

    private void Kill()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException) { }
        catch (Win32Exception) { }
    }

    public void Dispose()
    {
        Kill();
        try { _process.WaitForExit(5000); } catch (InvalidOperationException) { }
        try { _drain.Wait(5000); } catch (AggregateException) { }
        _process.Dispose();
    }
}
