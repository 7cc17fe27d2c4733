using System.CommandLine;

namespace TrgIlgpu.Cli.Commands;

// Placeholder: replaced by the issue that builds `trg bench`.
internal static class BenchCommand
{
    public static Command Create()
    {
        var cmd = new Command("bench", "(not built yet)");
        cmd.SetAction(_ => { Console.Error.WriteLine("trg bench: not built yet"); return 1; });
        return cmd;
    }
}
