namespace TrgIlgpu.Geometry;

/// <summary>Dense float64 helpers for the pose fit: 3x3 rotations (row-major double[9]), small solves, symmetric eigenproblems.</summary>
internal static class SmallLinearAlgebra
{
    /// <summary>The rotation exp([w]x) of a rotation vector (Rodrigues), row-major.</summary>
    public static double[] RotationFromVector(double wx, double wy, double wz)
    {
        double theta2 = wx * wx + wy * wy + wz * wz, theta = Math.Sqrt(theta2);
        // sin(t)/t and (1 - cos t)/t^2, by their series below 1e-4 rad (error < 1e-17).
        double a = theta < 1e-4 ? 1 - theta2 / 6 : Math.Sin(theta) / theta;
        double b = theta < 1e-4 ? 0.5 - theta2 / 24 : (1 - Math.Cos(theta)) / theta2;
        return
        [
            1 - b * (wy * wy + wz * wz), -a * wz + b * wx * wy, a * wy + b * wx * wz,
            a * wz + b * wx * wy, 1 - b * (wx * wx + wz * wz), -a * wx + b * wy * wz,
            -a * wy + b * wx * wz, a * wx + b * wy * wz, 1 - b * (wx * wx + wy * wy),
        ];
    }

    /// <summary>a · b for row-major 3x3 matrices.</summary>
    public static double[] Multiply3(double[] a, double[] b)
    {
        var c = new double[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                c[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
        return c;
    }

    /// <summary>Determinant of a row-major 3x3 matrix.</summary>
    public static double Determinant3(double[] m) =>
        m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);

    /// <summary>The rotation nearest to m (polar factor m (mᵀm)^-1/2), or null when m is singular or a reflection.</summary>
    public static double[]? NearestRotation(double[] m)
    {
        if (Determinant3(m) <= 0) return null;
        var mtm = new double[3, 3];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                mtm[i, j] = m[i] * m[j] + m[3 + i] * m[3 + j] + m[6 + i] * m[6 + j];
        var (values, vectors) = SymmetricEigen(mtm);
        if (values[0] <= 1e-12 * values[2]) return null;
        var inverseRoot = new double[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
            {
                double s = 0;
                for (int k = 0; k < 3; k++) s += vectors[i, k] * vectors[j, k] / Math.Sqrt(values[k]);
                inverseRoot[i * 3 + j] = s;
            }
        return Multiply3(m, inverseRoot);
    }

    /// <summary>
    /// Eigenvalues (ascending) and eigenvectors (columns, in the same order) of a symmetric matrix, by cyclic Jacobi
    /// rotations. The input is not modified.
    /// </summary>
    public static (double[] Values, double[,] Vectors) SymmetricEigen(double[,] matrix)
    {
        int n = matrix.GetLength(0);
        var a = (double[,])matrix.Clone();
        var v = new double[n, n];
        for (int i = 0; i < n; i++) v[i, i] = 1;
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0, diag = 0;
            for (int p = 0; p < n; p++)
            {
                diag += a[p, p] * a[p, p];
                for (int q = p + 1; q < n; q++) off += a[p, q] * a[p, q];
            }
            if (off <= 1e-32 * diag || off == 0) break;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    if (a[p, q] == 0) continue;
                    // Rotation that zeroes a[p,q] (Golub & Van Loan, symmetric Schur decomposition).
                    double tau = (a[q, q] - a[p, p]) / (2 * a[p, q]);
                    double t = Math.Sign(tau) == 0 ? 1 : Math.Sign(tau) / (Math.Abs(tau) + Math.Sqrt(1 + tau * tau));
                    double c = 1 / Math.Sqrt(1 + t * t), s = t * c;
                    for (int k = 0; k < n; k++)
                    {
                        double akp = a[k, p], akq = a[k, q];
                        a[k, p] = c * akp - s * akq;
                        a[k, q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double apk = a[p, k], aqk = a[q, k];
                        a[p, k] = c * apk - s * aqk;
                        a[q, k] = s * apk + c * aqk;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double vkp = v[k, p], vkq = v[k, q];
                        v[k, p] = c * vkp - s * vkq;
                        v[k, q] = s * vkp + c * vkq;
                    }
                }
        }
        var order = Enumerable.Range(0, n).OrderBy(i => a[i, i]).ToArray();
        var values = order.Select(i => a[i, i]).ToArray();
        var vectors = new double[n, n];
        for (int j = 0; j < n; j++)
            for (int k = 0; k < n; k++) vectors[k, j] = v[k, order[j]];
        return (values, vectors);
    }

    /// <summary>Solves a x = b in place (b becomes x) by Gaussian elimination with partial pivoting; false when a is singular.</summary>
    public static bool Solve(double[,] a, double[] b)
    {
        int n = b.Length;
        double scale = 0;
        foreach (var x in a) scale = Math.Max(scale, Math.Abs(x));
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < n; r++)
                if (Math.Abs(a[r, col]) > Math.Abs(a[pivot, col])) pivot = r;
            if (!(Math.Abs(a[pivot, col]) > 1e-14 * scale)) return false;
            if (pivot != col)
            {
                for (int k = 0; k < n; k++) (a[col, k], a[pivot, k]) = (a[pivot, k], a[col, k]);
                (b[col], b[pivot]) = (b[pivot], b[col]);
            }
            for (int r = col + 1; r < n; r++)
            {
                double f = a[r, col] / a[col, col];
                if (f == 0) continue;
                for (int k = col; k < n; k++) a[r, k] -= f * a[col, k];
                b[r] -= f * b[col];
            }
        }
        for (int r = n - 1; r >= 0; r--)
        {
            double s = b[r];
            for (int k = r + 1; k < n; k++) s -= a[r, k] * b[k];
            b[r] = s / a[r, r];
        }
        return true;
    }
}
