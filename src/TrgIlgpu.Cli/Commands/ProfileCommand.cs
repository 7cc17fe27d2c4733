using System.CommandLine;

namespace TrgIlgpu.Cli.Commands;

// Placeholder: replaced by the issue that builds `trg profile`.
internal static class ProfileCommand
{
    public static Command Create()
    {
        var cmd = new Command("profile", "(not built yet)");
        cmd.SetAction(_ => { Console.Error.WriteLine("trg profile: not built yet"); return 1; });
        return cmd;
    }
}
