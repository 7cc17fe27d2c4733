using System.CommandLine;
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

    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
        => Invoke(CreateRoot(), args, stdout ?? Console.Out, stderr ?? Console.Error);

    /// <summary>Parses and runs <paramref name="args"/> against any command tree (tests use a tree with stand-ins).</summary>
    internal static int Invoke(Command root, string[] args, TextWriter stdout, TextWriter stderr)
    {
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
            return parse.Invoke(new InvocationConfiguration
            {
                Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false,
                // `trg serve` handles SIGTERM itself (the ASP.NET Core host: stop accepting, drain, exit 0); the others are
                // cancelled through their token and end within the parser's default 2 s.
                ProcessTerminationTimeout = parse.CommandResult.Command.Name == ServeCommand.Name ? null : TimeSpan.FromSeconds(2),
            });
        }
        catch (TrgException e)
        {
            stderr.WriteLine($"trg: error: {e.Message}");
            return (int)e.Kind;
        }
        catch (OperationCanceledException)
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
