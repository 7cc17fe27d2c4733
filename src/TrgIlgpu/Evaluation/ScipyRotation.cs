namespace TrgIlgpu.Evaluation;

/// <summary>
/// SciPy's <c>Rotation.from_matrix</c> steps the official evaluation goes through (SciPy 1.10): a 3x3 matrix becomes a
/// unit quaternion by Markley's method (which also projects a slightly non-orthonormal matrix onto a rotation); angles
/// and magnitudes come from that quaternion. Matching these steps makes the metrics agree with SciPy to rounding, also
/// on matrices read from files with few digits.
/// </summary>
internal static class ScipyRotation
{
    /// <summary>The unit quaternion (x, y, z, w) of a row-major 3x3 matrix, as <c>Rotation.from_matrix</c> computes it.</summary>
    public static double[] Quaternion(ReadOnlySpan<double> m)
    {
        double trace = m[0] + m[4] + m[8];
        // np.argmax over [m00, m11, m22, trace]: the first largest.
        int choice = 0;
        double best = m[0];
        if (m[4] > best) { choice = 1; best = m[4]; }
        if (m[8] > best) { choice = 2; best = m[8]; }
        if (trace > best) choice = 3;
        var q = new double[4];
        if (choice != 3)
        {
            int i = choice, j = (i + 1) % 3, k = (j + 1) % 3;
            q[i] = 1 - trace + 2 * m[i * 3 + i];
            q[j] = m[j * 3 + i] + m[i * 3 + j];
            q[k] = m[k * 3 + i] + m[i * 3 + k];
            q[3] = m[k * 3 + j] - m[j * 3 + k];
        }
        else
        {
            q[0] = m[7] - m[5];
            q[1] = m[2] - m[6];
            q[2] = m[3] - m[1];
            q[3] = 1 + trace;
        }
        double norm = Math.Sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
        for (int n = 0; n < 4; n++) q[n] /= norm;
        return q;
    }

    /// <summary>The rotation matrix (row-major) of a unit quaternion (x, y, z, w), as <c>Rotation.as_matrix</c>.</summary>
    public static double[] Matrix(double[] q)
    {
        double x = q[0], y = q[1], z = q[2], w = q[3];
        double x2 = x * x, y2 = y * y, z2 = z * z, w2 = w * w;
        double xy = x * y, zw = z * w, xz = x * z, yw = y * w, yz = y * z, xw = x * w;
        return
        [
            x2 - y2 - z2 + w2, 2 * (xy - zw), 2 * (xz + yw),
            2 * (xy + zw), -x2 + y2 - z2 + w2, 2 * (yz - xw),
            2 * (xz - yw), 2 * (yz + xw), -x2 - y2 + z2 + w2,
        ];
    }

    /// <summary>The rotation angle in degrees, as <c>Rotation.magnitude()</c>: 2 atan2(|xyz|, |w|).</summary>
    public static double MagnitudeDegrees(double[] q) =>
        2 * Math.Atan2(Math.Sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2]), Math.Abs(q[3])) * (180 / Math.PI);

    /// <summary>Yaw, pitch, roll (EVAL_SPEC.md) of a row-major matrix: <c>from_matrix(m).as_euler('yxz', degrees=True)</c>.</summary>
    public static EulerAngles Euler(ReadOnlySpan<double> m) => EulerAngles.FromMatrix(Matrix(Quaternion(m)));
}
