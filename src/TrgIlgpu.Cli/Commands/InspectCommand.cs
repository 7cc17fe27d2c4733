using System.CommandLine;

namespace TrgIlgpu.Cli.Commands;

// Placeholder: replaced by the issue that builds `trg inspect`.
internal static class InspectCommand
{
    public static Command Create()
    {
        var cmd = new Command("inspect", "(not built yet)");
        cmd.SetAction(_ => { Console.Error.WriteLine("trg inspect: not built yet"); return 1; });
        return cmd;
    }
}
