using System.CommandLine;
using TrgIlgpu.Engine;
using TrgIlgpu.Faces;

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

/// <summary>The face-detector options of the commands that find faces (`estimate`, `track`), defined and parsed once.</summary>
internal sealed class DetectorCliOptions
{
    public Option<string> Detector { get; } = new("--detector")
    {
        Description = "Face detector: ssd (face-api SSD MobileNet v1 at 512, finds small and turned faces) or tiny (tiny face detector, faster)",
        DefaultValueFactory = _ => "ssd",
    };

    public Option<float> Score { get; } = new("--score")
    {
        Description = "Keep detections scoring above this, in (0, 1)",
        DefaultValueFactory = _ => 0.5f,
    };

    public Option<float> MinFace { get; } = new("--min-face")
    {
        Description = "Drop detected faces whose box is smaller than this many pixels (width or height)",
        DefaultValueFactory = _ => 0f,
    };

    public Option<int> TinySize { get; } = new("--tiny-size")
    {
        Description = "Input side of the tiny detector, a multiple of 32 (416; 608 finds smaller faces)",
        DefaultValueFactory = _ => 416,
    };

    public Option<int> MaxFaces { get; } = new("--max-faces")
    {
        Description = "Most faces per image or frame (highest scores)",
        DefaultValueFactory = _ => 100,
    };

    public DetectorCliOptions() => Detector.AcceptOnlyFromAmong("ssd", "tiny");

    /// <summary>Every option, to add to a command.</summary>
    public Option[] All => [Detector, Score, MinFace, TinySize, MaxFaces];

    public DetectorOptions Parse(ParseResult parse) => new()
    {
        Detector = parse.GetValue(Detector) == "tiny" ? DetectorKind.Tiny : DetectorKind.Ssd,
        ScoreThreshold = parse.GetValue(Score),
        MinFaceSize = parse.GetValue(MinFace),
        TinyInputSize = parse.GetValue(TinySize),
        MaxFaces = parse.GetValue(MaxFaces),
    };
}
