namespace TrgIlgpu;

/// <summary>A face box in full-image pixels: left, top, right, bottom (square in practice); <see cref="FaceRequestChecks.BoxProblem"/> says whether an image can use it.</summary>
public readonly record struct FaceBox(float Left, float Top, float Right, float Bottom)
{
    public float Width => Right - Left;
    public float Height => Bottom - Top;

    public override string ToString() => FormattableString.Invariant($"{Left},{Top},{Right},{Bottom}");
}

/// <summary>An RGB image in host memory: rows top to bottom, 3 bytes per pixel (R,G,B).</summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }
    public byte[] Pixels { get; }

    public RgbImage(int width, int height, byte[] pixels)
    {
        if (width < 1 || height < 1) throw new ArgumentException($"image size {width}x{height} is empty");
        if (pixels.Length != (long)width * height * 3)
            throw new ArgumentException($"{pixels.Length} bytes for a {width}x{height} RGB image (need {(long)width * height * 3})");
        Width = width; Height = height; Pixels = pixels;
    }
}

/// <summary>One face to estimate: the image it is in, its box, the camera intrinsics of the image (pixels).</summary>
public sealed record FaceRequest(RgbImage Image, FaceBox Box, CameraIntrinsics Camera)
{
    /// <summary>A face seen by a camera of focal length <paramref name="focal"/> pixels, principal point at the image centre.</summary>
    public FaceRequest(RgbImage image, FaceBox box, float focal)
        : this(image, box, CameraIntrinsics.FromFocal(focal, (image ?? throw new ArgumentNullException(nameof(image))).Width, image.Height)) { }

    /// <summary>The one focal length the network uses (<see cref="CameraIntrinsics.Focal"/>).</summary>
    public float Focal => Camera.Focal;

    /// <summary>The paper's in-the-wild focal length when no calibration is known: W + H.</summary>
    public static float DefaultFocal(RgbImage image) => CameraIntrinsics.Default(image.Width, image.Height).Focal;
}

/// <summary>Rotation (row-major 3x3) and translation (metres, camera frame) after one iteration.</summary>
public sealed record IterationResult(float[] Rotation, float[] Translation);

/// <summary>
/// Yaw, pitch, roll in degrees, in the official evaluation convention (EVAL_SPEC.md): SciPy
/// <c>Rotation.from_matrix(R).as_euler('yxz')</c>, extrinsic axes y, then x, then z,
/// i.e. R = Rz(roll) · Rx(pitch) · Ry(yaw).
/// </summary>
public readonly record struct EulerAngles(double Yaw, double Pitch, double Roll)
{
    public const string Convention = "scipy as_euler('yxz', degrees=True): extrinsic y (yaw), x (pitch), z (roll); R = Rz(roll) Rx(pitch) Ry(yaw)";

    /// <summary>Angles of a row-major rotation matrix (SciPy's extrinsic yxz, with its gimbal-lock convention of roll = 0).</summary>
    public static EulerAngles FromMatrix(ReadOnlySpan<float> r)
    {
        Span<double> m = stackalloc double[9];
        for (int i = 0; i < 9; i++) m[i] = r[i];
        return FromMatrix(m);
    }

    /// <summary>Angles of a row-major float64 rotation matrix (the same convention as the float overload).</summary>
    public static EulerAngles FromMatrix(ReadOnlySpan<double> r)
    {
        // R = Rz(c) Rx(b) Ry(a): R[2,1] = sin b; R[2,0] = -cos b sin a; R[2,2] = cos b cos a;
        // R[0,1] = -sin c cos b; R[1,1] = cos c cos b.
        double r21 = Math.Clamp(r[7], -1.0, 1.0);
        double pitch = Math.Asin(r21);
        double yaw, roll;
        if (Math.Abs(r21) < 1 - 1e-9)
        {
            yaw = Math.Atan2(-r[6], r[8]);
            roll = Math.Atan2(-r[1], r[4]);
        }
        else
        {
            // Gimbal lock: SciPy sets the third angle to zero and folds the rotation into the first.
            roll = 0;
            yaw = Math.Atan2(r[2], r[0]);
        }
        const double deg = 180.0 / Math.PI;
        return new EulerAngles(yaw * deg, pitch * deg, roll * deg);
    }
}

/// <summary>How a face's pose was computed.</summary>
public enum PoseMethod
{
    /// <summary>The TRG / TRGv2 network (a model file was given).</summary>
    Trg,
    /// <summary>
    /// No TRG model: the 68 detected landmarks fitted to the TRG template's 68 landmarks by perspective-n-point
    /// (a rigid mean-face fit, docs/landmark-fit.md). Head-space vertices are the template.
    /// </summary>
    Landmarks,
}

/// <summary>What the model says about one face (MODEL_SPEC.md section 6).</summary>
public sealed class FaceResult
{
    /// <summary>Which method produced the pose: the TRG network or the landmark fit.</summary>
    public PoseMethod Method { get; init; } = PoseMethod.Trg;
    /// <summary>
    /// The face as found: detector box and score, the landmark net's 68 points, the TRG box from them. Null when
    /// the face box was given and TRG ran on it directly; the score is NaN for a box given to the landmark net.
    /// </summary>
    public Faces.FoundFace? Detection { get; init; }
    /// <summary>For <see cref="PoseMethod.Landmarks"/>: root-mean-square reprojection error of the fit, pixels.</summary>
    public double? FitRmsPixels { get; init; }

    public required FaceBox Box { get; init; }
    /// <summary>The camera intrinsics the face was estimated with (pixels of the input image).</summary>
    public required CameraIntrinsics Camera { get; init; }
    /// <summary>The focal length used, pixels (<see cref="CameraIntrinsics.Focal"/> of <see cref="Camera"/>).</summary>
    public float Focal => Camera.Focal;
    /// <summary>Final rotation, row-major 3x3, head to camera.</summary>
    public required float[] Rotation { get; init; }
    /// <summary>Final translation in metres, camera frame.</summary>
    public required float[] Translation { get; init; }
    /// <summary>1220 x 3 camera-space vertices (metres), vertex-major.</summary>
    public required float[] VerticesCam { get; init; }
    /// <summary>1220 x 3 head-space vertices (metres), vertex-major.</summary>
    public required float[] VerticesHead { get; init; }
    /// <summary>68 x 2 landmarks as the model outputs them, normalised crop coordinates in [-1, 1].</summary>
    public required float[] Landmarks68Norm { get; init; }
    /// <summary>68 x 2 landmarks in full-image pixels.</summary>
    public required float[] Landmarks68 { get; init; }
    /// <summary>R and T after every iteration; the last equals <see cref="Rotation"/>/<see cref="Translation"/>.</summary>
    public required IterationResult[] Iterations { get; init; }
    /// <summary>Crop-pixel sampling points (305 x 2) of every iteration after the first.</summary>
    public required float[][] SamplingPoints { get; init; }

    public EulerAngles Euler => EulerAngles.FromMatrix(Rotation);
}
