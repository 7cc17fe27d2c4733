using System.CommandLine;
using System.Globalization;
using TrgIlgpu.Formats;

namespace TrgIlgpu.Cli.Commands;

/// <summary>`trg export`: official checkpoint (+ arkit_subsample.pkl, triangles.npy) to a TrgIlgpu model file (docs/formats.md).</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Required = true, Description = "PyTorch checkpoint (state_dict.bin/.pt/.pth zip) or safetensors state dict" };
        var subsample = new Option<string>("--subsample") { Required = true, Description = "the official data/arkit_subsample.pkl" };
        var triangles = new Option<string?>("--triangles") { Description = "optional int32 [2304,3] triangles .npy, stored for drawing" };
        var variant = new Option<string?>("--variant") { Description = "trg or trgv2 (default: detected from the keys)" };
        variant.AcceptOnlyFromAmong("trg", "trgv2");
        var output = new Option<string>("--out") { Required = true, Description = "model file to write (.safetensors)" };

        var cmd = new Command("export", "Convert an official checkpoint into a TrgIlgpu model file, safely (no Python; nothing in the checkpoint is executed).")
        {
            checkpoint, subsample, triangles, variant, output,
        };
        cmd.SetAction(parse =>
        {
            string outPath = parse.GetValue(output)!, checkpointPath = parse.GetValue(checkpoint)!, subsamplePath = parse.GetValue(subsample)!;
            var trianglesPath = parse.GetValue(triangles);
            // Before reading anything: the output must take a new file and must not be one of the inputs.
            OutputPaths.CheckFile("--out", outPath);
            var inputs = new List<(string, string)> { ($"--checkpoint {checkpointPath}", checkpointPath), ($"--subsample {subsamplePath}", subsamplePath) };
            if (trianglesPath is not null) inputs.Add(($"--triangles {trianglesPath}", trianglesPath));
            OutputPaths.CheckDistinct([($"--out {outPath}", outPath)], inputs);
            var summary = ModelExport.Run(checkpointPath, subsamplePath, trianglesPath, parse.GetValue(variant), outPath);
            var o = parse.InvocationConfiguration.Output;
            foreach (var note in summary.Notes) o.WriteLine($"note: {note}");
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {summary.OutPath}: {summary.Variant.Name}, {summary.TensorCount} tensors, {summary.StateDictElements:N0} state-dict elements, " +
                $"{summary.FileBytes / 1e6:F1} MB in {summary.Elapsed.TotalSeconds:F2} s"));
            return 0;
        });
        return cmd;
    }
}
