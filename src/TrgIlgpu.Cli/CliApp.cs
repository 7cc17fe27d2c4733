using System.CommandLine;
using TrgIlgpu.Cli.Commands;

namespace TrgIlgpu.Cli;

/// <summary>
/// The `trg` command line as a callable: parses, runs the command, and turns a TrgException into its exit code
/// (ErrorKind). Program.cs calls it; tests call it with their own writers.
/// </summary>
public static class CliApp
{
    public static RootCommand CreateRoot() => new("TrgIlgpu: TRG / TRGv2 head-pose inference on ILGPU (CUDA, OpenCL, CPU).")
    {
        EstimateCommand.Create(),
        ExportCommand.Create(),
        InspectCommand.Create(),
        BenchCommand.Create(),
        ProfileCommand.Create(),
    };

    /// <summary>Runs `trg ARGS`, writing to <paramref name="output"/>/<paramref name="error"/> (default: the console).</summary>
    public static int Run(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        output ??= Console.Out;
        error ??= Console.Error;
        var parse = CreateRoot().Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) error.WriteLine($"trg: {e.Message}");
            error.WriteLine("Run 'trg --help' for usage.");
            return (int)ErrorKind.Usage;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (TrgException e)
        {
            error.WriteLine($"trg: error: {e.Message}");
            return (int)e.Kind;
        }
    }
}
