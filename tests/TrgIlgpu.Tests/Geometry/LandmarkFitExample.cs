using TrgIlgpu.Geometry;

namespace TrgIlgpu.Tests.Geometry;

/// <summary>
/// The example of docs/landmark-fit.md, compiled here so it cannot rot: the text between the BEGIN/END markers must
/// equal the docs' snippet, and a test runs it (LandmarkFitExampleTests).
/// </summary>
public static class LandmarkFitExample
{
    // BEGIN docs/landmark-fit.md example
    public static float[] Run(double[] landmarks68, double fx, double fy, double cx, double cy, TextWriter output)
    {
        // 68 landmarks in iBUG 68 order, pixels (u0, v0, u1, v1, ...); weights are optional (0 ignores a point).
        LandmarkFitResult fit = LandmarkPoseFit.Fit(landmarks68, fx, fy, cx, cy);
        double[] t = fit.Translation;        // metres, camera frame; fit.Rotation: row-major 3x3, head to camera
        var (yaw, pitch, roll) = fit.Euler;  // degrees, SciPy as_euler('yxz') as everywhere in the project
        output.WriteLine($"yaw {yaw:0.0} pitch {pitch:0.0} roll {roll:0.0}  T = ({t[0]:0.000}, {t[1]:0.000}, {t[2]:0.000}) m, " +
                         $"rms {fit.RmsPixels:0.00} px, converged {fit.Converged}");

        // The template mesh (1220 x 3) in the camera frame: the vertices_cam of this pose.
        return fit.CameraVertices(HeadTemplate.Trg.Vertices.Span);
    }
    // END docs/landmark-fit.md example
}
