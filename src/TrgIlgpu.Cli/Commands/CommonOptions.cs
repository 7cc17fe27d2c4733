using System.CommandLine;
using TrgIlgpu.Engine;

namespace TrgIlgpu.Cli.Commands;

/// <summary>Options several commands share, parsed one way.</summary>
internal static class CommonOptions
{
    public static Option<string> Model(bool required = true) => new("--model")
    {
        Description = "Model file (.safetensors from `trg export`) or synthetic:trgv2[:SEED] / synthetic:trg[:SEED] (random weights, for tests and benchmarks)",
        Required = required,
    };

    public static Option<string> Device()
    {
        var device = new Option<string>("--device")
        {
            Description = "Compute device: auto (CUDA, then OpenCL, then the CPU accelerator), cuda, opencl or cpu",
            DefaultValueFactory = _ => "auto",
        };
        device.AcceptOnlyFromAmong("auto", "cuda", "opencl", "cpu");
        return device;
    }

    public static DeviceKind ParseDevice(string text) => text.ToLowerInvariant() switch
    {
        "auto" => DeviceKind.Auto,
        "cuda" => DeviceKind.Cuda,
        "opencl" => DeviceKind.OpenCL,
        "cpu" => DeviceKind.Cpu,
        _ => throw new TrgException(ErrorKind.Usage, $"--device '{text}': use auto, cuda, opencl or cpu"),
    };
}
