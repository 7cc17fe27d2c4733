using TrgIlgpu.Tracking;

namespace TrgIlgpu.Tests.Tracking;

/// <summary>
/// The One-Euro filter on SE(3) on synthetic signals (no network): jitter of a still pose with noise cut to a third or
/// less, the lag after a step within <see cref="OneEuroParameters.StepResidualBound"/>, the lag at constant speed within
/// <see cref="OneEuroParameters.SteadyLag"/> (below 1 / (2 pi beta)).
/// </summary>
public sealed class PoseSmootherTests
{
    private const double Dt = 1.0 / 30;
    private static readonly float[] Zero = [0, 0, 0];

    private static float[] RotZ(double radians) => Matrix(So3.Exp([0, 0, radians]));
    private static float[] Matrix(double[] m) => m.Select(x => (float)x).ToArray();

    private static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    public static TheoryData<string> Presets => new() { "light", "strong" };
    private static SmoothingOptions Preset(string name) => name == "light" ? SmoothingOptions.Light : SmoothingOptions.Strong;

    [Theory]
    [MemberData(nameof(Presets))]
    public void A_still_pose_with_noise_jitters_a_third_as_much(string preset)
    {
        var rng = new Random(7);
        var smoother = new PoseSmoother(Preset(preset));
        var baseR = So3.Exp([0.2, -0.4, 0.1]);
        double[]? prevRaw = null, prevSmooth = null;
        float[]? prevRawT = null, prevSmoothT = null;
        double rawJitter = 0, smoothJitter = 0, rawT = 0, smoothT = 0;
        for (int i = 0; i < 300; i++)
        {
            // 1 degree of rotation noise per axis, 5 mm of translation noise per axis.
            double s = Math.PI / 180;
            var raw = So3.Multiply(baseR, So3.Exp([s * Gaussian(rng), s * Gaussian(rng), s * Gaussian(rng)]));
            float[] t = [(float)(0.005 * Gaussian(rng)), (float)(0.005 * Gaussian(rng)), (float)(0.6 + 0.005 * Gaussian(rng))];
            var smoothed = smoother.Update(i * Dt, Matrix(raw), t);
            var sm = smoothed.Rotation.Select(x => (double)x).ToArray();
            if (prevRaw is not null && i > 30)
            {
                rawJitter += So3.Angle(prevRaw, raw);
                smoothJitter += So3.Angle(prevSmooth!, sm);
                rawT += Distance(prevRawT!, t);
                smoothT += Distance(prevSmoothT!, smoothed.Translation);
            }
            prevRaw = raw; prevSmooth = sm; prevRawT = t; prevSmoothT = smoothed.Translation;
        }
        Assert.True(smoothJitter <= rawJitter / 3, $"rotation jitter {smoothJitter / rawJitter:0.000} of the raw one");
        Assert.True(smoothT <= rawT / 3, $"translation jitter {smoothT / rawT:0.000} of the raw one");
    }

    private static double Distance(float[] a, float[] b) =>
        Math.Sqrt(Math.Pow(a[0] - b[0], 2) + Math.Pow(a[1] - b[1], 2) + Math.Pow(a[2] - b[2], 2));

    [Theory]
    [MemberData(nameof(Presets))]
    public void After_a_step_the_lag_stays_within_the_bound(string preset)
    {
        var options = Preset(preset);
        var smoother = new PoseSmoother(options);
        double step = 20 * Math.PI / 180;
        for (int i = 0; i < 30; i++) smoother.Update(i * Dt, RotZ(0), Zero);
        int settled = -1;
        for (int k = 1; k <= 60; k++)
        {
            var s = smoother.Update((29 + k) * Dt, RotZ(step), [0.1f, 0, 0]);
            double residual = So3.Angle(So3.Exp([0, 0, step]), s.Rotation.Select(x => (double)x).ToArray());
            Assert.True(residual <= options.Rotation.StepResidualBound(k * Dt, Dt) * step + 1e-6,
                $"frame {k}: residual {residual / step:0.000} of the step, bound {options.Rotation.StepResidualBound(k * Dt, Dt):0.000}");
            double tResidual = 0.1 - s.Translation[0];
            Assert.True(tResidual <= options.Translation.StepResidualBound(k * Dt, Dt) * 0.1 + 1e-6, $"frame {k}: translation residual {tResidual}");
            if (settled < 0 && residual <= 0.1 * step) settled = k;
        }
        // The speed term makes a real step settle much faster than the plain low-pass at min_cutoff would.
        int lowPassFrames = Enumerable.Range(1, 200).First(k => options.Rotation.StepResidualBound(k * Dt, Dt) <= 0.1);
        Assert.InRange(settled, 1, lowPassFrames - 1);
    }

    [Theory]
    [InlineData("light", 90.0)]
    [InlineData("light", 360.0)]
    [InlineData("strong", 90.0)]
    [InlineData("strong", 360.0)]
    public void At_constant_speed_the_lag_is_within_the_steady_bound(string preset, double degreesPerSecond)
    {
        var options = Preset(preset);
        var smoother = new PoseSmoother(options);
        double w = degreesPerSecond * Math.PI / 180;
        var axis = new[] { 0.48, 0.6, 0.64 };
        double lag = 0;
        for (int i = 0; i <= 90; i++)
        {
            double angle = w * i * Dt;
            var raw = So3.Exp([axis[0] * angle, axis[1] * angle, axis[2] * angle]);
            var s = smoother.Update(i * Dt, Matrix(raw), [(float)(0.3 * i * Dt), 0, 0.5f]);
            lag = So3.Angle(raw, s.Rotation.Select(x => (double)x).ToArray());
        }
        double bound = options.Rotation.SteadyLag(w);
        Assert.True(lag <= bound * 1.001 + 1e-6, $"lag {lag * 180 / Math.PI:0.00} deg, bound {bound * 180 / Math.PI:0.00} deg");
        Assert.True(bound < 1 / (2 * Math.PI * options.Rotation.Beta));
    }

    [Fact]
    public void Reset_passes_the_next_pose_through_and_repeated_times_hold_still()
    {
        var smoother = new PoseSmoother(SmoothingOptions.Strong);
        smoother.Update(0, RotZ(0), Zero);
        var held = smoother.Update(0, RotZ(1), [1, 1, 1]);
        Assert.Equal(RotZ(0), held.Rotation);
        Assert.Equal(Zero, held.Translation);
        smoother.Reset();
        var fresh = smoother.Update(5, RotZ(1), [1, 2, 3]);
        Assert.True(So3.Angle(So3.Exp([0, 0, 1]), fresh.Rotation.Select(x => (double)x).ToArray()) < 1e-6);
        Assert.Equal(new float[] { 1, 2, 3 }, fresh.Translation);
    }

    [Theory]
    [InlineData(0, 1, 1)]
    [InlineData(double.NaN, 1, 1)]
    [InlineData(1, -1, 1)]
    [InlineData(1, 1, 0)]
    [InlineData(1, double.PositiveInfinity, 1)]
    public void Bad_parameters_are_refused(double minCutoff, double beta, double dCutoff)
    {
        var p = new OneEuroParameters(minCutoff, beta, dCutoff);
        Assert.NotNull(p.Problem());
        var e = Assert.Throws<TrgException>(() => new PoseSmoother(new SmoothingOptions(p, SmoothingOptions.Light.Translation)));
        Assert.Equal(ErrorKind.Usage, e.Kind);
    }
}
