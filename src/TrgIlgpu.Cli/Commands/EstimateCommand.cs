using System.CommandLine;

namespace TrgIlgpu.Cli.Commands;

// Placeholder: replaced by the issue that builds `trg estimate`.
internal static class EstimateCommand
{
    public static Command Create()
    {
        var cmd = new Command("estimate", "(not built yet)");
        cmd.SetAction(_ => { Console.Error.WriteLine("trg estimate: not built yet"); return 1; });
        return cmd;
    }
}
