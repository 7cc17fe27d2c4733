using System.Text;
using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>The value every output buffer holds before a launch: a NaN with a payload no arithmetic produces.</summary>
public static class Poison
{
    public const int Bits = 0x7FC5A5A5;
    public static readonly float Value = BitConverter.Int32BitsToSingle(Bits);

    public static float[] Array(long length)
    {
        var a = new float[length];
        System.Array.Fill(a, Value);
        return a;
    }

    public static bool Is(float v) => BitConverter.SingleToInt32Bits(v) == Bits;
}

/// <summary>Seeded random inputs (never zeros: every draw is a fresh non-trivial value).</summary>
public sealed class TestRandom(int seed)
{
    private readonly Random _r = new(seed);

    /// <summary>A seed derived from a test case's name (FNV-1a; string.GetHashCode differs between runs).</summary>
    public static int SeedOf(string name)
    {
        uint h = 2166136261;
        foreach (char c in name) h = (h ^ c) * 16777619;
        return (int)(h & 0x7FFFFFFF);
    }

    public double Uniform(double lo, double hi) => lo + (hi - lo) * _r.NextDouble();
    public int Int(int lo, int hiExclusive) => _r.Next(lo, hiExclusive);

    public double Gaussian()
    {
        double u = 1 - _r.NextDouble(), v = _r.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
    }

    public float[] Gaussian(long n, double scale = 1, double mean = 0)
    {
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)(mean + scale * Gaussian());
        return a;
    }

    public float[] Uniform(long n, double lo, double hi)
    {
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)Uniform(lo, hi);
        return a;
    }

    public byte[] Bytes(int n)
    {
        var a = new byte[n];
        _r.NextBytes(a);
        return a;
    }

    /// <summary>BatchNorm parameters with a spread of scales and shifts, variances well away from zero.</summary>
    public BatchNorm BatchNorm(int channels) => new(
        Uniform(channels, 0.5, 1.5), Gaussian(channels, 0.2), Gaussian(channels, 0.3), Uniform(channels, 0.3, 2.0));
}

/// <summary>Comparison of a kernel's float32 output with its float64 reference.</summary>
public static class Expect
{
    /// <summary>
    /// <c>|actual - value| &lt;= rtol * scale + slack</c> for every element, where scale is the reference's sum of
    /// |terms| (float32 rounding grows with it, not with the possibly cancelled result). NaN and the poison fail.
    /// <paramref name="at"/> maps a reference index to its position in <paramref name="actual"/> and names it.
    /// </summary>
    public static void Close(string what, float[] actual, RefTensor expected, double rtol,
        Func<int, int>? at = null, Func<int, string>? name = null)
    {
        int bad = 0;
        double worst = 0;
        var report = new StringBuilder();
        for (int i = 0; i < expected.Length; i++)
        {
            int j = at?.Invoke(i) ?? i;
            float got = actual[j];
            double tol = rtol * expected.Scale[i] + expected.Slack[i];
            double err = Math.Abs(got - expected.Value[i]);
            double ratio = err / Math.Max(tol, 1e-300);
            if (!(ratio <= worst)) worst = double.IsNaN(ratio) ? double.PositiveInfinity : ratio;
            if (err <= tol) continue;
            if (++bad <= 8)
                report.AppendLine($"  {name?.Invoke(i) ?? $"[{i}]"}: got {(Poison.Is(got) ? "POISON (never written)" : got.ToString("R"))}, " +
                    $"expected {expected.Value[i]:R} (tolerance {tol:E2}, sum|terms| {expected.Scale[i]:E2})");
        }
        if (ReportMargins) Console.Error.WriteLine($"tolerance margin: {what}: worst error {worst:G3} of its tolerance over {expected.Length} elements");
        Assert.True(bad == 0, $"{what}: {bad} of {expected.Length} elements off (worst {worst:G3}x its tolerance)\n{report}");
    }

    /// <summary>TRG_KERNEL_TEST_MARGINS=1 prints each comparison's worst error as a fraction of its tolerance (for calibrating).</summary>
    private static readonly bool ReportMargins = Environment.GetEnvironmentVariable("TRG_KERNEL_TEST_MARGINS") == "1";

    /// <summary>Every element of <paramref name="actual"/> outside the written set still holds the poison.</summary>
    public static void Untouched(string what, float[] actual, Func<int, bool> written)
    {
        int bad = 0;
        var report = new StringBuilder();
        for (int i = 0; i < actual.Length; i++)
        {
            if (written(i) || Poison.Is(actual[i])) continue;
            if (++bad <= 8) report.AppendLine($"  [{i}] = {actual[i]:R}");
        }
        Assert.True(bad == 0, $"{what}: {bad} elements written that the kernel must leave alone\n{report}");
    }

    /// <summary>Every element of <paramref name="actual"/> in the given set equals the given value bit for bit.</summary>
    public static void Unchanged(string what, float[] actual, float[] before, Func<int, bool> mustKeep)
    {
        int bad = 0;
        var report = new StringBuilder();
        for (int i = 0; i < actual.Length; i++)
        {
            if (!mustKeep(i) || BitConverter.SingleToInt32Bits(actual[i]) == BitConverter.SingleToInt32Bits(before[i])) continue;
            if (++bad <= 8) report.AppendLine($"  [{i}] = {actual[i]:R}, was {before[i]:R}");
        }
        Assert.True(bad == 0, $"{what}: {bad} elements changed that the kernel must leave alone\n{report}");
    }
}

/// <summary>Faces, poses and head-space meshes of plausible size for the sampling and geometry kernels.</summary>
public static class TestScenes
{
    /// <summary>
    /// A face; the principal point is off the image centre unless given (13% of W right of it, 9% of H above it, plus
    /// fractions), so every kernel test exercises the camera's principal point (docs/camera.md).
    /// </summary>
    public static FaceParams Face(int width, int height, float left, float top, float size, float? focal = null,
        float? principalX = null, float? principalY = null) => new()
    {
        Width = width, Height = height, Left = left, Top = top, Right = left + size, Bottom = top + size,
        Focal = focal ?? width + height,
        PrincipalX = principalX ?? width * 0.63f + 0.375f,
        PrincipalY = principalY ?? height * 0.41f - 0.8125f,
    };

    /// <summary>pose9 = (rot6d, s, ox, oy): a1, a2 random with an angle of at least ~25 degrees between them (well conditioned).</summary>
    public static float[] Pose(TestRandom rng, double s, double ox, double oy)
    {
        while (true)
        {
            double[] a1 = [rng.Gaussian(), rng.Gaussian(), rng.Gaussian()], a2 = [rng.Gaussian(), rng.Gaussian(), rng.Gaussian()];
            double n1 = Math.Sqrt(a1.Sum(v => v * v)), n2 = Math.Sqrt(a2.Sum(v => v * v));
            double cos = (a1[0] * a2[0] + a1[1] * a2[1] + a1[2] * a2[2]) / (n1 * n2);
            if (n1 < 0.3 || n2 < 0.3 || Math.Abs(cos) > 0.9) continue;
            return [(float)a1[0], (float)a2[0], (float)a1[1], (float)a2[1], (float)a1[2], (float)a2[2], (float)s, (float)ox, (float)oy];
        }
    }

    /// <summary>A head-space mesh: 1220 vertices within about 10 cm of the origin.</summary>
    public static float[] Mesh(TestRandom rng) => rng.Gaussian(1220 * 3, 0.06);

    /// <summary>305 distinct vertex indices in random order.</summary>
    public static int[] Subsample(TestRandom rng)
    {
        var all = Enumerable.Range(0, 1220).ToArray();
        for (int i = all.Length - 1; i > 0; i--)
        {
            int j = rng.Int(0, i + 1);
            (all[i], all[j]) = (all[j], all[i]);
        }
        return all[..305];
    }
}
