using TrgIlgpu.Tracking;

namespace TrgIlgpu.Tests.Tracking;

/// <summary>
/// The SO(3) maps of the smoother against float64 references written independently: the exponential as the power
/// series of the skew matrix, the logarithm checked through it and against Rz / Rx angles.
/// </summary>
public sealed class So3Tests
{
    /// <summary>exp([v]x) = sum_k [v]x^k / k!, summed in float64 until the terms vanish (angles up to pi).</summary>
    private static double[] SeriesExp(double[] v)
    {
        double[] k = [0, -v[2], v[1], v[2], 0, -v[0], -v[1], v[0], 0];
        var sum = new double[] { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
        var term = (double[])sum.Clone();
        for (int n = 1; n < 60; n++)
        {
            var next = new double[9];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    for (int m = 0; m < 3; m++) next[3 * i + j] += term[3 * i + m] * k[3 * m + j] / n;
            term = next;
            for (int i = 0; i < 9; i++) sum[i] += term[i];
        }
        return sum;
    }

    private static IEnumerable<double[]> RandomVectors(int seed)
    {
        var rng = new Random(seed);
        foreach (double angle in new[] { 1e-9, 1e-5, 0.01, 0.3, 1.0, 2.0, 3.0, Math.PI - 1e-4 })
            for (int i = 0; i < 5; i++)
            {
                double x = rng.NextDouble() * 2 - 1, y = rng.NextDouble() * 2 - 1, z = rng.NextDouble() * 2 - 1;
                double n = Math.Sqrt(x * x + y * y + z * z);
                yield return [angle * x / n, angle * y / n, angle * z / n];
            }
    }

    [Fact]
    public void Exp_matches_the_power_series()
    {
        foreach (var v in RandomVectors(1))
        {
            var r = So3.Exp(v);
            var reference = SeriesExp(v);
            for (int i = 0; i < 9; i++) Assert.True(Math.Abs(r[i] - reference[i]) < 1e-12, $"v = {string.Join(",", v)}: entry {i} {r[i]} vs {reference[i]}");
        }
    }

    [Fact]
    public void Log_inverts_exp_up_to_pi()
    {
        foreach (var v in RandomVectors(2))
        {
            var back = So3.Log(SeriesExp(v));
            for (int k = 0; k < 3; k++) Assert.True(Math.Abs(back[k] - v[k]) < 1e-9, $"v = {string.Join(",", v)}: component {k} {back[k]}");
        }
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(17.5)]
    [InlineData(-90.0)]
    [InlineData(179.0)]
    public void Log_of_axis_rotations_is_the_angle_on_the_axis(double degrees)
    {
        double a = degrees * Math.PI / 180, c = Math.Cos(a), s = Math.Sin(a);
        var z = So3.Log([c, -s, 0, s, c, 0, 0, 0, 1]);
        Assert.Equal(0, z[0], 12); Assert.Equal(0, z[1], 12); Assert.Equal(a, z[2], 12);
        var x = So3.Log([1, 0, 0, 0, c, -s, 0, s, c]);
        Assert.Equal(a, x[0], 12); Assert.Equal(0, x[1], 12); Assert.Equal(0, x[2], 12);
    }

    [Fact]
    public void Products_and_angles_match_the_reference()
    {
        var vs = RandomVectors(3).Where(v => Math.Sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) < 1.4).ToList();
        for (int i = 0; i + 1 < vs.Count; i++)
        {
            var a = SeriesExp(vs[i]);
            var b = SeriesExp(vs[i + 1]);
            // A^T B through the library against the plain triple loop.
            var atb = So3.TransposeMultiply(a, b);
            var ab = So3.Multiply(a, b);
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 3; c++)
                {
                    double t = 0, p = 0;
                    for (int k = 0; k < 3; k++) { t += a[3 * k + r] * b[3 * k + c]; p += a[3 * r + k] * b[3 * k + c]; }
                    Assert.Equal(t, atb[3 * r + c], 14);
                    Assert.Equal(p, ab[3 * r + c], 14);
                }
            // The angle between them is the angle of A^T B from its trace.
            double trace = atb[0] + atb[4] + atb[8];
            double expected = Math.Acos(Math.Clamp((trace - 1) / 2, -1, 1));
            Assert.True(Math.Abs(So3.Angle(a, b) - expected) < 1e-7);
        }
    }

    [Fact]
    public void A_float_matrix_is_projected_onto_its_nearest_rotation()
    {
        var r = SeriesExp([0.3, -0.2, 0.5]);
        var noisy = r.Select((x, i) => (float)(x + (i % 2 == 0 ? 1e-4 : -1e-4))).ToArray();
        var p = So3.Rotation(noisy);
        // Orthonormal to float64 precision, and within the perturbation of the original.
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
            {
                double dot = p[a] * p[b] + p[3 + a] * p[3 + b] + p[6 + a] * p[6 + b];
                Assert.Equal(a == b ? 1 : 0, dot, 12);
            }
        Assert.True(So3.Angle(p, r) < 5e-4);
    }
}
