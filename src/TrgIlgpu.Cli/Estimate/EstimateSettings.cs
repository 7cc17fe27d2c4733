using System.Globalization;
using TrgIlgpu.Engine;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Cli.Estimate;

/// <summary>What `trg estimate` was asked to do, checked and typed.</summary>
internal sealed record EstimateSettings
{
    public required IReadOnlyList<string> Inputs { get; init; }
    /// <summary>The TRG model; null: the landmark fit.</summary>
    public string? Model { get; init; }
    /// <summary>Face finding settings, for images without given boxes (and the landmark net).</summary>
    public Faces.DetectorOptions Detector { get; init; } = new();
    /// <summary>Boxes from --bbox, used for every image (empty when --boxes is used; both empty: find the faces).</summary>
    public IReadOnlyList<FaceBox> Boxes { get; init; } = [];
    public string? BoxesFile { get; init; }
    /// <summary>--focal: focal length with the principal point at each image's centre.</summary>
    public float? Focal { get; init; }
    /// <summary>--camera: the same intrinsics for every image.</summary>
    public CameraIntrinsics? Camera { get; init; }
    /// <summary>--calibration: a calibration file, read before the model loads.</summary>
    public string? CalibrationPath { get; init; }
    public DeviceKind Device { get; init; } = DeviceKind.Auto;
    /// <summary>JSON document path ("-" = stdout); null with <see cref="JsonLinesPath"/> null means stdout.</summary>
    public string? JsonPath { get; init; }
    public string? JsonLinesPath { get; init; }
    public string? OverlayPath { get; init; }
    public bool SidePanel { get; init; }
    public bool IgnoreExif { get; init; }
    public long MaxPixels { get; init; } = ImageLoadOptions.DefaultMaxPixels;
    public int BatchSize { get; init; } = 16;
    public bool Quiet { get; init; }
    /// <summary>--timings: print the start-up profile (<see cref="Diagnostics.StartupTimings"/>) to stderr at the end.</summary>
    public bool Timings { get; init; }

    /// <summary>Parses "l,t,r,b" (invariant culture numbers); the box itself is checked later, per image.</summary>
    public static FaceBox ParseBox(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new float[4];
        if (parts.Length != 4 || !parts.Select((p, i) => float.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out values[i])).All(ok => ok))
            throw new TrgException(ErrorKind.Usage, $"--bbox '{text}': expected four numbers l,t,r,b (pixels), e.g. --bbox 153,49,295,191");
        return new FaceBox(values[0], values[1], values[2], values[3]);
    }

    /// <summary>Parses "fx,fy,cx,cy" (pixels, invariant culture) into checked intrinsics.</summary>
    public static CameraIntrinsics ParseCamera(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new float[4];
        if (parts.Length != 4 || !parts.Select((p, i) => float.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out values[i])).All(ok => ok))
            throw new TrgException(ErrorKind.Usage, $"--camera '{text}': expected four numbers fx,fy,cx,cy (pixels), e.g. --camera 1000,1000,320,240");
        try
        {
            return new CameraIntrinsics(values[0], values[1], values[2], values[3]);
        }
        catch (TrgException e)
        {
            throw new TrgException(ErrorKind.Usage, $"--camera '{text}': {e.Message}");
        }
    }
}
