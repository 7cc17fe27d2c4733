namespace TrgIlgpu.Tracking;

/// <summary>
/// Rotations as row-major 3x3 float64 matrices and their tangent space: the exponential and logarithm maps of SO(3)
/// (rotation vectors: axis times angle in radians), through unit quaternions for accuracy near 0 and near pi.
/// </summary>
internal static class So3
{
    /// <summary>R = exp([v]x): Rodrigues' formula, with its Taylor series for tiny angles.</summary>
    public static double[] Exp(ReadOnlySpan<double> v)
    {
        double theta = Math.Sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        double half = 0.5 * theta;
        // q = (cos(theta/2), sin(theta/2) v / theta); sin(h)/theta = 1/2 - theta^2/48 + ... for small theta.
        double s = theta < 1e-6 ? 0.5 - theta * theta / 48.0 : Math.Sin(half) / theta;
        return FromQuaternion(Math.Cos(half), s * v[0], s * v[1], s * v[2]);
    }

    /// <summary>The rotation vector v with R = exp([v]x), |v| in [0, pi]; R is first projected onto SO(3).</summary>
    public static double[] Log(ReadOnlySpan<double> r)
    {
        var (w, x, y, z) = ToQuaternion(r);
        if (w < 0) { w = -w; x = -x; y = -y; z = -z; }
        double s = Math.Sqrt(x * x + y * y + z * z);
        // theta = 2 atan2(s, w); v = theta / s * (x, y, z), and theta / s -> 2 / w as s -> 0.
        double k = s < 1e-12 ? 2.0 / w : 2.0 * Math.Atan2(s, w) / s;
        return [k * x, k * y, k * z];
    }

    /// <summary>
    /// The unit quaternion (w, x, y, z) of a rotation matrix (Shepperd's method, the largest of the four squares
    /// first), normalised, so a slightly non-orthonormal matrix gives its nearby rotation.
    /// </summary>
    public static (double W, double X, double Y, double Z) ToQuaternion(ReadOnlySpan<double> r)
    {
        double trace = r[0] + r[4] + r[8];
        double w, x, y, z;
        if (trace >= r[0] && trace >= r[4] && trace >= r[8])
        {
            double t = Math.Sqrt(1 + trace) * 2;
            w = 0.25 * t; x = (r[7] - r[5]) / t; y = (r[2] - r[6]) / t; z = (r[3] - r[1]) / t;
        }
        else if (r[0] >= r[4] && r[0] >= r[8])
        {
            double t = Math.Sqrt(1 + r[0] - r[4] - r[8]) * 2;
            w = (r[7] - r[5]) / t; x = 0.25 * t; y = (r[1] + r[3]) / t; z = (r[2] + r[6]) / t;
        }
        else if (r[4] >= r[8])
        {
            double t = Math.Sqrt(1 + r[4] - r[0] - r[8]) * 2;
            w = (r[2] - r[6]) / t; x = (r[1] + r[3]) / t; y = 0.25 * t; z = (r[5] + r[7]) / t;
        }
        else
        {
            double t = Math.Sqrt(1 + r[8] - r[0] - r[4]) * 2;
            w = (r[3] - r[1]) / t; x = (r[2] + r[6]) / t; y = (r[5] + r[7]) / t; z = 0.25 * t;
        }
        double n = Math.Sqrt(w * w + x * x + y * y + z * z);
        return (w / n, x / n, y / n, z / n);
    }

    /// <summary>The rotation matrix of a quaternion (normalised first).</summary>
    public static double[] FromQuaternion(double w, double x, double y, double z)
    {
        double n = Math.Sqrt(w * w + x * x + y * y + z * z);
        w /= n; x /= n; y /= n; z /= n;
        return
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ];
    }

    /// <summary>A B for row-major 3x3 matrices.</summary>
    public static double[] Multiply(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        var m = new double[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                m[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
        return m;
    }

    /// <summary>A^T B for row-major 3x3 matrices (the rotation from A to B in A's frame, for rotations).</summary>
    public static double[] TransposeMultiply(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        var m = new double[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                m[3 * i + j] = a[i] * b[j] + a[3 + i] * b[3 + j] + a[6 + i] * b[6 + j];
        return m;
    }

    /// <summary>The nearest rotation to a float matrix (through its quaternion), in float64.</summary>
    public static double[] Rotation(ReadOnlySpan<float> r)
    {
        Span<double> m = stackalloc double[9];
        for (int i = 0; i < 9; i++) m[i] = r[i];
        var (w, x, y, z) = ToQuaternion(m);
        return FromQuaternion(w, x, y, z);
    }

    /// <summary>The angle between two rotations in radians: |log(A^T B)|.</summary>
    public static double Angle(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        var v = Log(TransposeMultiply(a, b));
        return Math.Sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    }
}
