using System.CommandLine;
using TrgIlgpu;
using TrgIlgpu.Cli.Commands;

// `trg`: thin commands over the library. Each command lives in Commands/<Name>Command.cs.
var root = new RootCommand("TrgIlgpu: TRG / TRGv2 head-pose inference on ILGPU (CUDA, OpenCL, CPU).")
{
    EstimateCommand.Create(),
    ExportCommand.Create(),
    InspectCommand.Create(),
    BenchCommand.Create(),
    ProfileCommand.Create(),
};
try
{
    return root.Parse(args).Invoke();
}
catch (TrgException e)
{
    Console.Error.WriteLine($"trg: error: {e.Message}");
    return (int)e.Kind;
}
