using TrgIlgpu.Geometry;
using Xunit.Abstractions;
using static TrgIlgpu.Tests.Geometry.PoseTestData;

namespace TrgIlgpu.Tests.Geometry;

/// <summary>Seeded random properties of the landmark pose fit over many poses, cameras and noise levels.</summary>
public class LandmarkPoseFitPropertyTests(ITestOutputHelper output)
{
    private sealed record Scene(double[] R, double[] T, double Fx, double Fy, double Cx, double Cy, double Sigma, double[] Landmarks, double[] Euler);

    /// <summary>A random head pose (yaw/pitch/roll within +-limit), 0.3-3 m away, somewhere in a random camera's view.</summary>
    private static Scene RandomScene(Random rng, double limit, double sigma)
    {
        double yaw = (rng.NextDouble() * 2 - 1) * limit, pitch = (rng.NextDouble() * 2 - 1) * limit, roll = (rng.NextDouble() * 2 - 1) * limit;
        var r = Rotation(yaw, pitch, roll);
        double width = 320 + rng.Next(1700), height = 240 + rng.Next(1000);
        double fx = (width + height) * (0.6 + 0.8 * rng.NextDouble()), fy = fx * (0.9 + 0.2 * rng.NextDouble());
        double cx = width * (0.4 + 0.2 * rng.NextDouble()), cy = height * (0.4 + 0.2 * rng.NextDouble());
        double z = 0.3 + 2.7 * rng.NextDouble();
        double px = width * (0.15 + 0.7 * rng.NextDouble()), py = height * (0.15 + 0.7 * rng.NextDouble());
        double[] t = [(px - cx) / fx * z, (py - cy) / fy * z, z];
        var lm = Project(TemplateLandmarks(), r, t, fx, fy, cx, cy);
        for (int i = 0; i < lm.Length; i++) lm[i] += sigma * Gaussian(rng);
        return new Scene(r, t, fx, fy, cx, cy, sigma, lm, [yaw, pitch, roll]);
    }

    private static LandmarkFitResult Fit(Scene s) => LandmarkPoseFit.Fit(s.Landmarks, s.Fx, s.Fy, s.Cx, s.Cy);

    /// <summary>
    /// Over 400 random scenes (noise 0-3 px): the fit converges, keeps every point in front, never ends above its start,
    /// and reaches an error no higher than the true pose's (the true pose is one candidate of the same least squares).
    /// </summary>
    [Fact]
    public void Converges_beats_its_start_and_the_true_pose()
    {
        var rng = new Random(20261203);
        var model = TemplateLandmarks();
        double worstAngle = 0;
        int iterations = 0;
        var starts = new Dictionary<PoseStart, int>();
        for (int n = 0; n < 400; n++)
        {
            var s = RandomScene(rng, 60, 3 * rng.NextDouble());
            var fit = Fit(s);
            string id = $"scene {n} (euler {string.Join(", ", s.Euler.Select(e => e.ToString("0.0")))}, T {string.Join(", ", s.T.Select(e => e.ToString("0.000")))}, sigma {s.Sigma:0.00})";
            Assert.True(fit.Converged, id);
            Assert.True(fit.RmsPixels <= fit.StartRmsPixels, id);
            double truthRms = Rms(model, s.Landmarks, s.R, s.T, s.Fx, s.Fy, s.Cx, s.Cy);
            Assert.True(fit.RmsPixels <= truthRms + 1e-9, $"{id}: rms {fit.RmsPixels} above the true pose's {truthRms}");
            for (int i = 0; i < 68; i++) Assert.True(Camera(model, i, fit.Rotation, fit.Translation)[2] > 0, id);
            double angle = GeodesicDeg(fit.Rotation, s.R);
            // A sanity bound: up to 3 px of noise on a face 40 px wide (3 m away) moves the best fit a few degrees.
            Assert.True(angle < 10, $"{id}: {angle} deg from the truth");
            worstAngle = Math.Max(worstAngle, angle);
            iterations = Math.Max(iterations, fit.Iterations);
            starts[fit.Start] = starts.GetValueOrDefault(fit.Start) + 1;
        }
        output.WriteLine($"worst rotation error {worstAngle:0.000} deg; most iterations {iterations}; winning starts {string.Join(", ", starts)}");
    }

    /// <summary>Without noise every random pose (up to +-75 degrees) comes back to 1e-6.</summary>
    [Fact]
    public void Noise_free_random_poses_come_back_exactly()
    {
        var rng = new Random(7);
        for (int n = 0; n < 200; n++)
        {
            var s = RandomScene(rng, 75, 0);
            var fit = Fit(s);
            double dr = fit.Rotation.Zip(s.R, (a, b) => Math.Abs(a - b)).Max(), dt = RelativeDistance(fit.Translation, s.T);
            Assert.True(fit.Converged && dr < 1e-6 && dt < 1e-6, $"scene {n}: |dR| {dr}, |dT|/|T| {dt}, start {fit.Start}");
        }
    }

    /// <summary>Every start alone, refined, reaches the same minimum on ordinary poses (no start is load-bearing by luck).</summary>
    [Fact]
    public void Each_start_reaches_the_minimum_on_moderate_poses()
    {
        var rng = new Random(99);
        var model = TemplateLandmarks();
        for (int n = 0; n < 60; n++)
        {
            var s = RandomScene(rng, 40, 1);
            var best = Fit(s);
            var problem = PoseProblem.Create(model, s.Landmarks, new Intrinsics(s.Fx, s.Fy, s.Cx, s.Cy), default);
            foreach (var (start, pose) in new[] { (PoseStart.Dlt, problem.DltStart()), (PoseStart.WeakPerspective, problem.WeakPerspectiveStart()), (PoseStart.Frontal, problem.FrontalStart()) })
            {
                Assert.True(pose.HasValue, $"scene {n}: no {start} start");
                var (r, t) = pose.Value;
                var refined = problem.Refine(r, t, problem.Cost(r, t), 100);
                Assert.True(refined.Converged, $"scene {n}: {start}");
                Assert.True(GeodesicDeg(refined.R, best.Rotation) < 1e-4, $"scene {n}: {start} ends {GeodesicDeg(refined.R, best.Rotation)} deg away");
            }
        }
    }

    /// <summary>The analytic gradient Jᵀr equals half the central-difference gradient of the cost, over δω and δT.</summary>
    [Fact]
    public void Jacobian_matches_finite_differences()
    {
        var rng = new Random(3);
        var model = TemplateLandmarks();
        for (int n = 0; n < 20; n++)
        {
            var s = RandomScene(rng, 60, 2);
            var w = Enumerable.Range(0, 68).Select(_ => rng.NextDouble() * 2).ToArray();
            var problem = PoseProblem.Create(model, s.Landmarks, new Intrinsics(s.Fx, s.Fy, s.Cx, s.Cy), w);
            // Evaluate away from the minimum, at a perturbed pose.
            var r = Rotation(s.Euler[0] + 3, s.Euler[1] - 2, s.Euler[2] + 1);
            double[] t = [s.T[0] + 0.01, s.T[1] - 0.01, s.T[2] * 1.05];
            var h = new double[6, 6];
            var g = new double[6];
            problem.NormalEquations(r, t, h, g);
            for (int j = 0; j < 6; j++)
            {
                double step = j < 3 ? 1e-6 : 1e-6 * s.T[2];
                double Cost(double e)
                {
                    var d = new double[6];
                    d[j] = e;
                    var rr = SmallLinearAlgebra.Multiply3(SmallLinearAlgebra.RotationFromVector(d[0], d[1], d[2]), r);
                    return problem.Cost(rr, [t[0] + d[3], t[1] + d[4], t[2] + d[5]]);
                }
                double numeric = (Cost(step) - Cost(-step)) / (2 * step) / 2;
                Assert.True(Math.Abs(numeric - g[j]) <= 1e-5 * Math.Max(1, Math.Abs(g[j])), $"scene {n}, parameter {j}: analytic {g[j]}, numeric {numeric}");
                // JᵀJ is symmetric positive semi-definite.
                Assert.True(h[j, j] >= 0);
                for (int k = 0; k < 6; k++) Assert.Equal(h[j, k], h[k, j]);
            }
        }
    }
}
