using System.Globalization;

namespace TrgIlgpu;

/// <summary>
/// Pinhole camera intrinsics in pixels of the image as the engine sees it: focal lengths <see cref="Fx"/>,
/// <see cref="Fy"/> and principal point (<see cref="Cx"/>, <see cref="Cy"/>), with x right and y down from the
/// top-left corner (the image centre of a W x H image is (W/2, H/2), as in the TRG code).
/// </summary>
/// <remarks>
/// Every instance is valid: the constructor is the one place that checks intrinsics (finite, positive focal lengths,
/// finite principal point, square pixels), for the API and the CLI alike. TRG has a single focal length (the box info
/// divides by f, Tz = 0.2 s f / bsize) and was trained on square pixels, so <c>fx != fy</c> is refused
/// (docs/camera.md); relative differences up to <see cref="SquarePixelTolerance"/> (calibration round-off) are
/// accepted and <see cref="Focal"/> is then <see cref="Fx"/>. The principal point may lie outside the image (a
/// cropped frame).
/// </remarks>
public sealed class CameraIntrinsics : IEquatable<CameraIntrinsics>
{
    /// <summary>Largest accepted |fx - fy| / max(fx, fy): differences this small are calibration round-off.</summary>
    public const double SquarePixelTolerance = 1e-6;

    /// <summary>Focal length along x, pixels.</summary>
    public float Fx { get; }
    /// <summary>Focal length along y, pixels (equal to <see cref="Fx"/> up to <see cref="SquarePixelTolerance"/>).</summary>
    public float Fy { get; }
    /// <summary>Principal point x, pixels from the left edge.</summary>
    public float Cx { get; }
    /// <summary>Principal point y, pixels from the top edge.</summary>
    public float Cy { get; }

    /// <summary>The one focal length the network uses: <see cref="Fx"/>.</summary>
    public float Focal => Fx;

    /// <summary>
    /// Checked intrinsics. Throws <see cref="TrgException"/> (<see cref="ErrorKind.Usage"/>) when a value is not
    /// finite, a focal length is not positive, or fx and fy differ by more than <see cref="SquarePixelTolerance"/>.
    /// </summary>
    public CameraIntrinsics(float fx, float fy, float cx, float cy)
    {
        if (Problem(fx, fy, cx, cy) is { } problem) throw new TrgException(ErrorKind.Usage, problem);
        Fx = fx; Fy = fy; Cx = cx; Cy = cy;
    }

    /// <summary>Focal length <paramref name="focal"/> with the principal point at the image centre (W/2, H/2): TRG's own camera.</summary>
    public static CameraIntrinsics FromFocal(float focal, int width, int height) =>
        new(focal, focal, width / 2f, height / 2f);

    /// <summary>The paper's in-the-wild camera when nothing is known: f = W + H pixels, principal point at the image centre.</summary>
    public static CameraIntrinsics Default(int width, int height) => FromFocal(width + height, width, height);

    /// <summary>What a focal-only call means: <see cref="FromFocal"/> when <paramref name="focal"/> is given, else <see cref="Default"/>.</summary>
    public static CameraIntrinsics FromFocalOrDefault(float? focal, int width, int height) =>
        focal is { } f ? FromFocal(f, width, height) : Default(width, height);

    /// <summary>Why these values are not usable intrinsics, or null. <see cref="CameraIntrinsics(float, float, float, float)"/> throws with it.</summary>
    public static string? Problem(double fx, double fy, double cx, double cy)
    {
        if (!(double.IsFinite(fx) && double.IsFinite(fy) && fx > 0 && fy > 0))
            return $"camera fx={Text(fx)}, fy={Text(fy)}: focal lengths must be positive finite numbers of pixels";
        if (!(double.IsFinite(cx) && double.IsFinite(cy)))
            return $"camera cx={Text(cx)}, cy={Text(cy)}: the principal point must be finite numbers of pixels";
        if (Math.Abs(fx - fy) > SquarePixelTolerance * Math.Max(fx, fy))
            return $"camera fx={Text(fx)} and fy={Text(fy)} differ: TRG has one focal length (box info divides by f, "
                + "Tz = 0.2 s f / bsize) and was trained on square pixels. Resample the image to square pixels "
                + "(scale its width by fy/fx, and cx with it) and pass fx = fy (docs/camera.md)";
        return null;
    }

    /// <summary>Scaled by <paramref name="scale"/> on both axes (for an image resized by that factor): f, cx, cy all multiply.</summary>
    public CameraIntrinsics Scaled(double scale) =>
        new((float)(Fx * scale), (float)(Fy * scale), (float)(Cx * scale), (float)(Cy * scale));

    public bool Equals(CameraIntrinsics? other) =>
        other is not null && Fx.Equals(other.Fx) && Fy.Equals(other.Fy) && Cx.Equals(other.Cx) && Cy.Equals(other.Cy);

    public override bool Equals(object? obj) => Equals(obj as CameraIntrinsics);

    public override int GetHashCode() => HashCode.Combine(Fx, Fy, Cx, Cy);

    /// <summary>"fx,fy,cx,cy" (invariant culture, round-trip), the form <c>trg estimate --camera</c> takes.</summary>
    public override string ToString() => $"{Text(Fx)},{Text(Fy)},{Text(Cx)},{Text(Cy)}";

    private static string Text(double v) => v.ToString("G9", CultureInfo.InvariantCulture);
    private static string Text(float v) => v.ToString("R", CultureInfo.InvariantCulture);
}
