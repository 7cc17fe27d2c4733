namespace TrgIlgpu.Geometry;

/// <summary>How a pose fit was started; the fit runs Levenberg-Marquardt from each and keeps the lowest error.</summary>
public enum PoseStart
{
    /// <summary>Direct linear transform: the 3x4 projection from all points in normalised coordinates, then its nearest rotation.</summary>
    Dlt,
    /// <summary>Weak perspective (an affine camera) refined by POSIT iterations towards full perspective.</summary>
    WeakPerspective,
    /// <summary>R = I (the face looking into the camera), T from the points' centroid and spread.</summary>
    Frontal,
}

/// <summary>Settings of <see cref="LandmarkPoseFit"/>.</summary>
public sealed record LandmarkFitOptions
{
    /// <summary>The defaults.</summary>
    public static LandmarkFitOptions Default { get; } = new();

    /// <summary>Most Levenberg-Marquardt iterations from each start (default 100; a fit usually needs under 20).</summary>
    public int MaxIterations { get; init; } = 100;
}

/// <summary>
/// A rigid head pose fitted to image points: R (head to camera) and T (metres, camera frame) such that
/// <c>u = fx X/Z + cx, v = fy Y/Z + cy</c> for <c>(X, Y, Z) = R p + T</c> (OpenCV's convention, as <see cref="FaceResult"/>).
/// </summary>
public sealed class LandmarkFitResult
{
    /// <summary>Rotation, row-major 3x3, head to camera (the convention of <see cref="FaceResult.Rotation"/>).</summary>
    public required double[] Rotation { get; init; }
    /// <summary>Translation in metres, camera frame: where the head frame's origin is.</summary>
    public required double[] Translation { get; init; }
    /// <summary>Root mean square of the points' reprojection distances in pixels (weighted when weights were given).</summary>
    public required double RmsPixels { get; init; }
    /// <summary>The same error at the start the result came from, before Levenberg-Marquardt.</summary>
    public required double StartRmsPixels { get; init; }
    /// <summary>The start the result came from.</summary>
    public required PoseStart Start { get; init; }
    /// <summary>Levenberg-Marquardt iterations taken from that start.</summary>
    public required int Iterations { get; init; }
    /// <summary>
    /// True when Levenberg-Marquardt stopped at a minimum (step, cost change or gradient below tolerance; or no step
    /// lowers the error any more), false when it ran out of iterations. A converged fit can still be poor (a high
    /// <see cref="RmsPixels"/>): landmarks that no rigid template explains.
    /// </summary>
    public required bool Converged { get; init; }
    /// <summary>The model points projected with the fitted pose, N x 2 pixels (u0, v0, u1, ...).</summary>
    public required double[] Reprojected { get; init; }

    /// <summary>Yaw, pitch, roll of <see cref="Rotation"/> in the project's convention (SciPy as_euler('yxz')).</summary>
    public EulerAngles Euler => EulerAngles.FromMatrix(RotationSingle());

    /// <summary><see cref="Rotation"/> in float32, as <see cref="FaceResult.Rotation"/> holds it.</summary>
    public float[] RotationSingle() => Array.ConvertAll(Rotation, v => (float)v);

    /// <summary><see cref="Translation"/> in float32, as <see cref="FaceResult.Translation"/> holds it.</summary>
    public float[] TranslationSingle() => Array.ConvertAll(Translation, v => (float)v);

    /// <summary>
    /// Head-space vertices (N x 3, vertex-major, e.g. <see cref="HeadTemplate.Vertices"/>) moved into the camera frame,
    /// <c>R v + T</c>: the <see cref="FaceResult.VerticesCam"/> of this pose.
    /// </summary>
    public float[] CameraVertices(ReadOnlySpan<float> headVertices)
    {
        if (headVertices.Length % 3 != 0)
            throw new TrgException(ErrorKind.Usage, $"head vertices: {headVertices.Length} values is not a whole number of (x, y, z) vertices");
        var r = Rotation;
        var cam = new float[headVertices.Length];
        for (int i = 0; i < headVertices.Length; i += 3)
        {
            double x = headVertices[i], y = headVertices[i + 1], z = headVertices[i + 2];
            for (int row = 0; row < 3; row++)
                cam[i + row] = (float)(r[row * 3] * x + r[row * 3 + 1] * y + r[row * 3 + 2] * z + Translation[row]);
        }
        return cam;
    }
}
