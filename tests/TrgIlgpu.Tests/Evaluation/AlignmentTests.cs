using System.Text.Json;
using TrgIlgpu.Cli;
using TrgIlgpu.Evaluation;

namespace TrgIlgpu.Tests.Evaluation;

/// <summary>
/// Alignment.Solve on synthetic landmark sets with a known offset, rotation, scale and noise: the offset within 0.1 mm
/// without outliers, within 1 mm with 20% outliers (where the mean of the differences is off by more).
/// </summary>
public class AlignmentTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trg-align-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>Test-mesh landmarks (a face-sized cloud, metres) and train = s R test + d + noise, with some replaced by outliers.</summary>
    private static (double[] Train, double[] Test) Make(int seed, int n, double scale, double[] d, double noiseMm, double outlierFraction)
    {
        var rng = new Random(seed);
        var r = SyntheticDatasets.RandomRotation(rng, 25);
        var test = Enumerable.Range(0, n * 3).Select(i => (rng.NextDouble() * 2 - 1) * (i % 3 == 2 ? 0.04 : 0.08)).ToArray();
        var train = new double[n * 3];
        for (int k = 0; k < n; k++)
            for (int a = 0; a < 3; a++)
                train[k * 3 + a] = scale * (r[a * 3] * test[k * 3] + r[a * 3 + 1] * test[k * 3 + 1] + r[a * 3 + 2] * test[k * 3 + 2])
                    + d[a] + Gaussian(rng) * noiseMm / 1000;
        // Outliers: landmarks placed on the wrong feature, all pushed the same way (a biased mislabelling, 15-30 mm).
        int outliers = (int)Math.Round(outlierFraction * n);
        foreach (var k in Enumerable.Range(0, n).OrderBy(_ => rng.Next()).Take(outliers))
        {
            train[k * 3] += 0.015 + 0.015 * rng.NextDouble();
            train[k * 3 + 1] -= 0.01 + 0.02 * rng.NextDouble();
            train[k * 3 + 2] += 0.005 * Gaussian(rng);
        }
        return (train, test);
    }

    private static double ErrorMm(double[] a, double[] b) =>
        Math.Sqrt(Enumerable.Range(0, 3).Sum(i => (a[i] - b[i]) * (a[i] - b[i]))) * 1000;

    [Theory]
    [InlineData(1, 30, 1.07, AlignmentFit.Similarity)]
    [InlineData(2, 51, 1.0, AlignmentFit.Rigid)]
    [InlineData(3, 17, 0.93, AlignmentFit.Similarity)]
    public void Recovers_the_offset_within_a_tenth_of_a_millimetre(int seed, int n, double scale, AlignmentFit fit)
    {
        double[] d = [0.0123, -0.0305, 0.0241];
        var (train, test) = Make(seed, n, scale, d, noiseMm: 0.1, outlierFraction: 0);
        var result = Alignment.Solve(train, test, new AlignmentOptions { Fit = fit });
        Assert.True(result.Converged);
        Assert.True(ErrorMm(result.Offset, d) < 0.1, $"dT off by {ErrorMm(result.Offset, d):0.000} mm");
        Assert.Equal(scale, result.Scale, 3);
        Assert.Equal(fit, result.Fit);
        Assert.Equal(n, result.Residuals.Length);
    }

    [Theory]
    [InlineData(4, 40)]
    [InlineData(5, 25)]
    [InlineData(6, 68)]
    public void Stays_within_a_millimetre_with_a_fifth_of_the_landmarks_outliers(int seed, int n)
    {
        double[] d = [-0.008, 0.021, -0.015];
        var (train, test) = Make(seed, n, 1.04, d, noiseMm: 0.1, outlierFraction: 0.2);
        var result = Alignment.Solve(train, test);
        Assert.True(result.Converged);
        Assert.True(ErrorMm(result.Offset, d) < 1, $"dT off by {ErrorMm(result.Offset, d):0.000} mm");
        // The least-squares answer (mean of the differences) is pulled off by the outliers.
        Assert.True(ErrorMm(result.MeanOffset, d) > 1, $"the mean is only {ErrorMm(result.MeanOffset, d):0.000} mm off");
    }

    [Fact]
    public void Geometric_median_minimises_the_sum_of_distances()
    {
        var rng = new Random(8);
        var points = Enumerable.Range(0, 7 * 3).Select(_ => rng.NextDouble()).ToArray();
        var m = Alignment.GeometricMedian(points, 1e-12);
        double Cost(double[] c) => Enumerable.Range(0, 7).Sum(i => Math.Sqrt(Enumerable.Range(0, 3).Sum(a => Math.Pow(points[i * 3 + a] - c[a], 2))));
        double best = Cost(m);
        for (int trial = 0; trial < 200; trial++)
        {
            var c = m.Select(v => v + (rng.NextDouble() - 0.5) * 1e-3).ToArray();
            Assert.True(Cost(c) >= best - 1e-12);
        }
    }

    [Fact]
    public void Bad_inputs_are_usage_errors()
    {
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => Alignment.Solve(new double[9], new double[12])).Kind);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => Alignment.Solve(new double[6], new double[6])).Kind);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => Alignment.Solve([1, 2, 3, 4, 5, 6, 7, 8, double.NaN], new double[9])).Kind);
    }

    [Fact]
    public void Cli_prints_dt_in_millimetres_and_writes_it_for_metrics()
    {
        double[] d = [0.0123, -0.0305, 0.0241];
        var (train, test) = Make(9, 30, 1.02, d, 0.05, 0);
        string Write(string name, double[] v)
        {
            var path = Path.Combine(_dir, name);
            File.WriteAllText(path, JsonSerializer.Serialize(v.Chunk(3).ToArray()));
            return path;
        }
        var json = Path.Combine(_dir, "dt.json");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(["align", "--train-landmarks", Write("train.json", train), "--test-landmarks", Write("test.json", test), "--json", json], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        Assert.Matches(@"dT \(mm, train head frame\): 12\.\d+ -30\.\d+ 24\.\d+", stdout.ToString());
        Assert.Contains("fit: similarity", stdout.ToString());
        Assert.Contains("converged", stdout.ToString());
        var offset = MetricsFormat.ReadOffset(json);
        Assert.Equal(OffsetFrame.Head, offset.Frame);
        Assert.True(ErrorMm([offset.X, offset.Y, offset.Z], d) < 0.1);

        var bad = Path.Combine(_dir, "bad.json");
        File.WriteAllText(bad, "[[1, 2], [3, 4, 5]]");
        code = CliApp.Run(["align", "--train-landmarks", bad, "--test-landmarks", bad], new StringWriter(), stderr = new StringWriter());
        Assert.Equal((int)ErrorKind.InvalidData, code);
        Assert.Contains("landmark 0 is not [x, y, z]", stderr.ToString());
    }
}
