using System.CommandLine;
using TrgIlgpu.Engine;

namespace TrgIlgpu.Cli.Commands;

/// <summary>Options several commands share, parsed one way.</summary>
internal static class CommonOptions
{
    public static Option<string> Model(bool required = true) => new("--model")
    {
        Description = "model file (.safetensors from `trg export`) or synthetic:trgv2[:SEED] / synthetic:trg[:SEED]",
        Required = required,
    };

    public static Option<string> Device() => new("--device")
    {
        Description = "auto | cuda | opencl | cpu (auto: CUDA, then OpenCL, then the CPU accelerator)",
        DefaultValueFactory = _ => "auto",
    };

    public static DeviceKind ParseDevice(string text) => text.ToLowerInvariant() switch
    {
        "auto" => DeviceKind.Auto,
        "cuda" => DeviceKind.Cuda,
        "opencl" => DeviceKind.OpenCL,
        "cpu" => DeviceKind.Cpu,
        _ => throw new TrgException(ErrorKind.Usage, $"--device '{text}': use auto, cuda, opencl or cpu"),
    };
}
