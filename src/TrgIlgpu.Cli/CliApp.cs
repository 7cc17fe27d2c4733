using System.CommandLine;
using System.Runtime.InteropServices;
using TrgIlgpu.Cli.Commands;

namespace TrgIlgpu.Cli;

/// <summary>
/// The `trg` command line as a function (arguments and writers in, exit code out), so tests run it in process.
/// Exit codes are <see cref="ErrorKind"/> values; 0 success, 1 an unexpected internal error, 130 cancelled.
/// </summary>
public static class CliApp
{
    public const int InternalError = 1;
    public const int Cancelled = (int)ErrorKind.Cancelled;

    public static RootCommand CreateRoot() => new("TrgIlgpu: TRG / TRGv2 head-pose inference on ILGPU (CUDA, OpenCL, CPU).")
    {
        EstimateCommand.Create(),
        ExportCommand.Create(),
        InspectCommand.Create(),
        BenchCommand.Create(),
        ProfileCommand.Create(),
        PtxCommand.Create(),
        MetricsCommand.Create(),
        AlignCommand.Create(),
        EvalCommand.Create(),
        ServeCommand.Create(),
        TrackCommand.Create(),
    };

    /// <summary>Commands that stop at their own checkpoints on Ctrl-C, keeping the outputs of the items they finished.</summary>
    private static readonly string[] Cooperative = [EstimateCommand.Name, EvalCommand.Name];

    /// <summary>
    /// The process entry: runs <paramref name="args"/> with Ctrl-C (SIGINT) and SIGTERM handled. For `estimate` and
    /// `eval` the first signal cancels the command's token: it finishes the batch in progress, completes the outputs of
    /// every finished image and ends with exit code 130 and one line on stderr. A second signal, or the first for any
    /// other command (export, inspect, bench, ...: nothing partial to keep), stops at once: temporary files are
    /// removed and no output is replaced (<see cref="AtomicFile.AbortAll"/>), exit code 130.
    /// `trg serve` keeps its own handling (the ASP.NET Core host drains and exits 0).
    /// </summary>
    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var root = CreateRoot();
        var command = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null }).CommandResult.Command.Name;
        if (command == ServeCommand.Name) return Invoke(root, args, stdout, stderr);
        using var cancel = new CancellationTokenSource();
        var err = stderr;
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true; // the process ends itself: with its outputs complete, or at once with none half-written
            lock (cancel)
            {
                if (!cancel.IsCancellationRequested && Cooperative.Contains(command))
                {
                    cancel.Cancel();
                    return;
                }
            }
            AtomicFile.AbortAll();
            err.WriteLine("trg: cancelled (stopped at once: unfinished outputs were not written)");
            err.Flush();
            Environment.Exit(Cancelled);
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        return Invoke(root, args, stdout, stderr, cancel.Token);
    }

    /// <summary>
    /// Parses and runs <paramref name="args"/> against any command tree (tests use a tree with stand-ins);
    /// <paramref name="cancellationToken"/> is the command's (what Ctrl-C cancels).
    /// </summary>
    internal static int Invoke(Command root, string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        // `--bbox=` with nothing after '=' would take the next argument (even `--focal`) as its value: refuse it here.
        foreach (var arg in args)
            if (arg.Length > 2 && arg.StartsWith('-') && arg.EndsWith('=') && arg.IndexOf('=') == arg.Length - 1 && !File.Exists(arg))
            {
                stderr.WriteLine($"trg: error: option '{arg[..^1]}' has an empty value after '='; give a value (e.g. {arg}VALUE) or leave the option out");
                return (int)ErrorKind.Usage;
            }
        // No response files: `trg estimate @list.txt` is an image list (paths relative to the list), handled by estimate.
        var parse = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) stderr.WriteLine($"trg: error: {error.Message}");
            stderr.WriteLine($"Run 'trg {string.Join(' ', CommandPath(parse))} --help' for usage.".Replace("  ", " "));
            return (int)ErrorKind.Usage;
        }
        try
        {
            return parse.InvokeAsync(new InvocationConfiguration
            {
                Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false,
                // Signals are handled by Run (the token); `trg serve`'s host handles its own.
                ProcessTerminationTimeout = null,
            }, cancellationToken).GetAwaiter().GetResult();
        }
        catch (TrgException e)
        {
            stderr.WriteLine($"trg: error: {e.Message}");
            return (int)e.Kind;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            stderr.WriteLine("trg: cancelled");
            return Cancelled;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A bug, not a user error: say so, with the detail a report needs.
            stderr.WriteLine($"trg: internal error: {e}");
            return InternalError;
        }
    }

    private static IEnumerable<string> CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r != null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            if (r.Command is not RootCommand) names.Insert(0, r.Command.Name);
        return names;
    }
}
