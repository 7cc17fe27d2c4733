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

    /// <summary>
    /// Parses "l,t,r,b" (invariant culture numbers, each finite); the box itself is checked later against each image
    /// (<see cref="FaceRequestChecks.BoxProblem"/>).
    /// </summary>
    public static FaceBox ParseBox(string text)
    {
        var v = ParseNumbers("--bbox", text, 4, "four numbers l,t,r,b (pixels), e.g. --bbox 153,49,295,191");
        return new FaceBox(v[0], v[1], v[2], v[3]);
    }

    /// <summary>Parses "fx,fy,cx,cy" (pixels, invariant culture, each finite) into checked intrinsics.</summary>
    public static CameraIntrinsics ParseCamera(string text)
    {
        var v = ParseNumbers("--camera", text, 4, "four numbers fx,fy,cx,cy (pixels), e.g. --camera 1000,1000,320,240");
        try
        {
            return new CameraIntrinsics(v[0], v[1], v[2], v[3]);
        }
        catch (TrgException e)
        {
            throw new TrgException(ErrorKind.Usage, $"--camera '{text}': {e.Message}");
        }
    }

    /// <summary>Parses a focal length in pixels: one finite positive number.</summary>
    public static float ParseFocal(string text)
    {
        float f = ParseNumbers("--focal", text, 1, "one positive number (pixels), e.g. --focal 1000")[0];
        if (CameraIntrinsics.Problem(f, f, 0, 0) is not null)
            throw new TrgException(ErrorKind.Usage, $"--focal '{text}': the focal length must be a positive number of pixels");
        return f;
    }

    /// <summary>
    /// <paramref name="count"/> comma-separated numbers, each finite in float32. Any malformed, missing or non-finite
    /// value (<c>inf</c>, <c>-Infinity</c>, <c>nan</c>, <c>1e999</c> alike) is a usage error in one message style.
    /// </summary>
    internal static float[] ParseNumbers(string option, string text, int count, string expected)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != count)
            throw new TrgException(ErrorKind.Usage, $"{option} '{text}': expected {expected}");
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            bool parsed = float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]);
            if (!parsed && !IsNonFiniteWord(parts[i]))
                throw new TrgException(ErrorKind.Usage, $"{option} '{text}': '{parts[i]}' is not a number; expected {expected}");
            if (!parsed || !float.IsFinite(values[i]))
                throw new TrgException(ErrorKind.Usage, $"{option} '{text}': '{parts[i]}' is not a finite number; expected {expected}");
        }
        return values;
    }

    // Spellings of infinity and NaN that float.TryParse does not take ("inf", "+inf", "-nan", "∞"): the same error as "Infinity".
    private static bool IsNonFiniteWord(string s) =>
        s.TrimStart('+', '-').ToLowerInvariant() is "inf" or "infinity" or "nan" or "∞";
}
