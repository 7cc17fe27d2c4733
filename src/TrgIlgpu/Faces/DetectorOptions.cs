namespace TrgIlgpu.Faces;

/// <summary>Which face-api detector finds the faces.</summary>
public enum DetectorKind
{
    /// <summary>SSD MobileNet v1 at 512x512 (5118 anchors; face-api's default detector).</summary>
    Ssd,
    /// <summary>Tiny face detector (tiny YOLOv2 with separable convs) at <see cref="DetectorOptions.TinyInputSize"/>.</summary>
    Tiny,
}

/// <summary>
/// Face finding settings. Defaults are face-api's: SSD with score threshold 0.5 (minConfidence), tiny input 416,
/// at most 100 faces, no minimum size. <see cref="Validate"/> is the one place they are checked.
/// </summary>
public sealed record DetectorOptions
{
    /// <summary>The detector.</summary>
    public DetectorKind Detector { get; init; } = DetectorKind.Ssd;

    /// <summary>Keep detections scoring strictly above this, in (0, 1) (face-api: minConfidence / scoreThreshold).</summary>
    public float ScoreThreshold { get; init; } = 0.5f;

    /// <summary>Drop faces whose box (image pixels) is narrower or shorter than this; 0 keeps all. Applied after NMS.</summary>
    public float MinFaceSize { get; init; }

    /// <summary>Tiny detector input side: a multiple of 32, 32..1024 (416 is face-api's default; 608 finds smaller faces).</summary>
    public int TinyInputSize { get; init; } = 416;

    /// <summary>At most this many faces, the highest scores (face-api SSD: maxResults), 1..1000.</summary>
    public int MaxFaces { get; init; } = 100;

    /// <summary>The input side the chosen detector runs at (SSD: 512; tiny: <see cref="TinyInputSize"/>).</summary>
    public int InputSize => Detector == DetectorKind.Ssd ? SsdDecoder.InputSize : TinyInputSize;

    /// <summary>Throws <see cref="TrgException"/> (<see cref="ErrorKind.Usage"/>) naming the first bad setting.</summary>
    public DetectorOptions Validate()
    {
        if (!Enum.IsDefined(Detector)) throw Bad($"unknown detector {(int)Detector} (ssd or tiny)");
        if (!(ScoreThreshold > 0 && ScoreThreshold < 1)) throw Bad($"score threshold {ScoreThreshold} must lie strictly between 0 and 1");
        if (!(MinFaceSize >= 0) || !float.IsFinite(MinFaceSize)) throw Bad($"minimum face size {MinFaceSize} must be a finite number of pixels >= 0");
        if (TinyInputSize < 32 || TinyInputSize > 1024 || TinyInputSize % 32 != 0)
            throw Bad($"tiny detector input size {TinyInputSize} must be a multiple of 32 from 32 to 1024");
        if (MaxFaces < 1 || MaxFaces > 1000) throw Bad($"maximum faces {MaxFaces} must be 1..1000");
        return this;
    }

    private static TrgException Bad(string message) => new(ErrorKind.Usage, message);
}
