using System.CommandLine;

namespace TrgIlgpu.Cli.Commands;

// Placeholder: replaced by the issue that builds `trg export`.
internal static class ExportCommand
{
    public static Command Create()
    {
        var cmd = new Command("export", "(not built yet)");
        cmd.SetAction(_ => { Console.Error.WriteLine("trg export: not built yet"); return 1; });
        return cmd;
    }
}
