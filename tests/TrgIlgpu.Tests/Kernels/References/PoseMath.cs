using TrgIlgpu.Kernels;

namespace TrgIlgpu.Tests.Kernels.References;

/// <summary>MODEL_SPEC 2.3-2.4 and 4e-4f in float64: rot6d -> R, T from (s, ox, oy), the crop camera, the box info.</summary>
public static class RefPose
{
    /// <summary>
    /// R (row-major 3x3) from pose9[0..6] viewed as a row-major 3x2 matrix: a1 = column 0, a2 = column 1,
    /// b1 = a1 / |a1|, b2 = normalize(a2 - (b1.a2) b1), b3 = b1 x b2, R = [b1 b2 b3] as columns; norms clamped at 1e-12.
    /// </summary>
    public static double[] Rot6dToMatrix(ReadOnlySpan<float> p)
    {
        double[] a1 = [p[0], p[2], p[4]], a2 = [p[1], p[3], p[5]];
        var b1 = Normalize(a1);
        double d = Dot(b1, a2);
        var b2 = Normalize([a2[0] - d * b1[0], a2[1] - d * b1[1], a2[2] - d * b1[2]]);
        double[] b3 = [b1[1] * b2[2] - b1[2] * b2[1], b1[2] * b2[0] - b1[0] * b2[2], b1[0] * b2[1] - b1[1] * b2[0]];
        return [b1[0], b2[0], b3[0], b1[1], b2[1], b3[1], b1[2], b2[2], b3[2]];
    }

    /// <summary>
    /// How much float32 rounding in rot6d is amplified in R: |a2| / |a2 - (b1.a2) b1| (1 when a2 is orthogonal to a1,
    /// large when nearly parallel), plus the cancellation in the Gram-Schmidt step.
    /// </summary>
    public static double Rot6dConditioning(ReadOnlySpan<float> p)
    {
        double[] a1 = [p[0], p[2], p[4]], a2 = [p[1], p[3], p[5]];
        var b1 = Normalize(a1);
        double d = Dot(b1, a2);
        double[] u = [a2[0] - d * b1[0], a2[1] - d * b1[1], a2[2] - d * b1[2]];
        return 1 + Math.Sqrt(Dot(a2, a2)) / Math.Max(Math.Sqrt(Dot(u, u)), 1e-300);
    }

    /// <summary>
    /// T = (0.1 s ox + 0.2 s (bx - px) / bsize, 0.1 s oy + 0.2 s (by - py) / bsize, 0.2 s f / bsize), (bx, by) the box
    /// centre, (px, py) the principal point (W/2, H/2 in the official code), with each component's sum of |terms|.
    /// </summary>
    public static (double[] T, double[] Scale) Translation(FaceParams f, double s, double ox, double oy)
    {
        double bsize = f.Right - f.Left;
        double cx = (f.Left + (double)f.Right) / 2, cy = (f.Top + (double)f.Bottom) / 2;
        double[] t =
        [
            0.1 * s * ox + 0.2 * s * (cx - f.PrincipalX) / bsize,
            0.1 * s * oy + 0.2 * s * (cy - f.PrincipalY) / bsize,
            0.2 * s * f.Focal / bsize,
        ];
        double[] scale =
        [
            Math.Abs(0.1 * s * ox) + Math.Abs(0.2 * s / bsize) * (Math.Abs(cx) + Math.Abs(f.PrincipalX)) * (1 + Math.Abs(f.Left) / bsize),
            Math.Abs(0.1 * s * oy) + Math.Abs(0.2 * s / bsize) * (Math.Abs(cy) + Math.Abs(f.PrincipalY)) * (1 + Math.Abs(f.Left) / bsize),
            Math.Abs(t[2]) * (1 + Math.Abs(f.Left) / bsize),
        ];
        return (t, scale);
    }

    /// <summary>
    /// Crop-pixel projection (u, v) = (K c)[0..2] / (K c)[2], K = [[f s, 0, (px - l) s], [0, f s, (py - t) s], [0, 0, 1]],
    /// s = 192 / (r - l). <paramref name="cScale"/> is each camera coordinate's sum of |terms|; returns (u, v)'s.
    /// </summary>
    public static (double U, double V, double ScaleU, double ScaleV) ProjectToCrop(FaceParams f, double[] c, double[] cScale)
    {
        double s = 192.0 / ((double)f.Right - f.Left);
        double fs = f.Focal * s, k02 = ((double)f.PrincipalX - f.Left) * s, k12 = ((double)f.PrincipalY - f.Top) * s;
        double u = (fs * c[0] + k02 * c[2]) / c[2], v = (fs * c[1] + k12 * c[2]) / c[2];
        // Relative rounding of s (its box width may cancel), of K's entries and of the camera point.
        double sRel = 1 + Math.Abs(f.Left) / Math.Abs((double)f.Right - f.Left);
        double zRel = cScale[2] / Math.Abs(c[2]);
        double su = (Math.Abs(fs) * (cScale[0] + Math.Abs(c[0]) * zRel) + Math.Abs(s) * (Math.Abs(f.PrincipalX) + Math.Abs(f.Left)) * Math.Abs(c[2])) / Math.Abs(c[2]) * sRel;
        double sv = (Math.Abs(fs) * (cScale[1] + Math.Abs(c[1]) * zRel) + Math.Abs(s) * (Math.Abs(f.PrincipalY) + Math.Abs(f.Top)) * Math.Abs(c[2])) / Math.Abs(c[2]) * sRel;
        return (u, v, su, sv);
    }

    /// <summary>binfo = ((bx - px) / f * 4, (by - py) / f * 4, bsize / f), (px, py) the principal point, with each one's sum of |terms|.</summary>
    public static (double[] Info, double[] Scale) BoxInfo(FaceParams f)
    {
        double cx = (f.Left + (double)f.Right) / 2, cy = (f.Top + (double)f.Bottom) / 2, bsize = (double)f.Right - f.Left;
        return ([(cx - f.PrincipalX) / f.Focal * 4, (cy - f.PrincipalY) / f.Focal * 4, bsize / f.Focal],
                [(Math.Abs(cx) + Math.Abs(f.PrincipalX)) / f.Focal * 4, (Math.Abs(cy) + Math.Abs(f.PrincipalY)) / f.Focal * 4, (Math.Abs(f.Left) + Math.Abs(f.Right)) / f.Focal]);
    }

    /// <summary>c = R v + T, with each coordinate's sum of |terms| (R's entries scaled by its conditioning).</summary>
    public static (double[] C, double[] Scale) Transform(double[] r, double conditioning, double[] t, double[] tScale, double vx, double vy, double vz)
    {
        var c = new double[3];
        var scale = new double[3];
        for (int i = 0; i < 3; i++)
        {
            c[i] = r[3 * i] * vx + r[3 * i + 1] * vy + r[3 * i + 2] * vz + t[i];
            scale[i] = conditioning * (Math.Abs(r[3 * i] * vx) + Math.Abs(r[3 * i + 1] * vy) + Math.Abs(r[3 * i + 2] * vz)
                + Math.Abs(vx) + Math.Abs(vy) + Math.Abs(vz)) + tScale[i];
        }
        return (c, scale);
    }

    private static double Dot(double[] a, double[] b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

    private static double[] Normalize(double[] v)
    {
        double n = Math.Max(Math.Sqrt(Dot(v, v)), 1e-12);
        return [v[0] / n, v[1] / n, v[2] / n];
    }
}
