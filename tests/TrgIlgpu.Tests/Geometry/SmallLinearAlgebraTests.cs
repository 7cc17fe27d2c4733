using TrgIlgpu.Geometry;

namespace TrgIlgpu.Tests.Geometry;

/// <summary>The fit's float64 helpers on fresh random inputs of several sizes.</summary>
public class SmallLinearAlgebraTests
{
    [Theory]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    [InlineData(7, 3)]
    [InlineData(12, 4)]
    public void Symmetric_eigen_reconstructs_random_matrices(int n, int seed)
    {
        var rng = new Random(seed);
        for (int trial = 0; trial < 20; trial++)
        {
            var a = new double[n, n];
            for (int i = 0; i < n; i++)
                for (int j = 0; j <= i; j++) a[i, j] = a[j, i] = rng.NextDouble() * 4 - 2;
            if (trial % 5 == 0) a[0, 1] = a[1, 0] = 0; // some zero couplings too
            var copy = (double[,])a.Clone();
            var (values, v) = SmallLinearAlgebra.SymmetricEigen(a);
            Assert.Equal(copy, a); // input untouched
            for (int k = 1; k < n; k++) Assert.True(values[k - 1] <= values[k]);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    double rec = 0, orth = 0;
                    for (int k = 0; k < n; k++) { rec += v[i, k] * values[k] * v[j, k]; orth += v[k, i] * v[k, j]; }
                    Assert.Equal(a[i, j], rec, 10);
                    Assert.Equal(i == j ? 1 : 0, orth, 10);
                }
        }
    }

    [Theory]
    [InlineData(1, 5)]
    [InlineData(6, 6)]
    [InlineData(9, 7)]
    public void Solve_matches_the_product_and_refuses_singular(int n, int seed)
    {
        var rng = new Random(seed);
        var a = new double[n, n];
        var x = new double[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = rng.NextDouble() * 2 - 1;
            for (int j = 0; j < n; j++) a[i, j] = rng.NextDouble() * 2 - 1;
        }
        var b = new double[n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) b[i] += a[i, j] * x[j];
        Assert.True(SmallLinearAlgebra.Solve((double[,])a.Clone(), b));
        for (int i = 0; i < n; i++) Assert.Equal(x[i], b[i], 9);
        for (int j = 0; j < n; j++) a[n - 1, j] = n > 1 ? a[0, j] * 2 : 0; // rank deficient
        Assert.False(SmallLinearAlgebra.Solve(a, new double[n]));
    }

    [Fact]
    public void Rotation_vectors_give_rotations_about_their_axis()
    {
        var rng = new Random(11);
        foreach (double scale in new[] { 1e-9, 1e-5, 1e-4, 0.3, 3.0 })
            for (int trial = 0; trial < 20; trial++)
            {
                double[] w = [PoseTestData.Gaussian(rng) * scale, PoseTestData.Gaussian(rng) * scale, PoseTestData.Gaussian(rng) * scale];
                var r = SmallLinearAlgebra.RotationFromVector(w[0], w[1], w[2]);
                Assert.Equal(1, SmallLinearAlgebra.Determinant3(r), 12);
                for (int i = 0; i < 3; i++)
                {
                    // The axis is fixed and rows are orthonormal.
                    Assert.Equal(w[i], r[i * 3] * w[0] + r[i * 3 + 1] * w[1] + r[i * 3 + 2] * w[2], 12);
                    for (int j = 0; j < 3; j++)
                        Assert.Equal(i == j ? 1 : 0, r[i * 3] * r[j * 3] + r[i * 3 + 1] * r[j * 3 + 1] + r[i * 3 + 2] * r[j * 3 + 2], 12);
                }
                // The angle is |w| (trace = 1 + 2 cos θ), and a vector perpendicular to the axis turns the right way: (w × p) · (R p) > 0.
                double theta = PoseTestData.Norm(w);
                Assert.Equal(1 + 2 * Math.Cos(theta), r[0] + r[4] + r[8], 12);
                double[] p = [w[1], -w[0], 0];
                double[] rp = [r[0] * p[0] + r[1] * p[1], r[3] * p[0] + r[4] * p[1], r[6] * p[0] + r[7] * p[1]];
                double[] wxp = [w[1] * p[2] - w[2] * p[1], w[2] * p[0] - w[0] * p[2], w[0] * p[1] - w[1] * p[0]];
                if (theta < Math.PI) Assert.True(wxp[0] * rp[0] + wxp[1] * rp[1] + wxp[2] * rp[2] > 0);
            }
    }

    [Fact]
    public void Nearest_rotation_undoes_scale_and_noise_and_refuses_reflections()
    {
        var rng = new Random(12);
        for (int trial = 0; trial < 30; trial++)
        {
            var r = SmallLinearAlgebra.RotationFromVector(PoseTestData.Gaussian(rng), PoseTestData.Gaussian(rng), PoseTestData.Gaussian(rng));
            double s = 0.1 + rng.NextDouble() * 10;
            var scaled = r.Select(x => x * s).ToArray();
            var back = SmallLinearAlgebra.NearestRotation(scaled)!;
            for (int k = 0; k < 9; k++) Assert.Equal(r[k], back[k], 12);
            var noisy = scaled.Select(x => x + 1e-3 * s * PoseTestData.Gaussian(rng)).ToArray();
            Assert.True(PoseTestData.GeodesicDeg(SmallLinearAlgebra.NearestRotation(noisy)!, r) < 0.5);
            Assert.Null(SmallLinearAlgebra.NearestRotation(scaled.Select((x, k) => k < 3 ? -x : x).ToArray()));
        }
        Assert.Null(SmallLinearAlgebra.NearestRotation(new double[9]));
    }
}
