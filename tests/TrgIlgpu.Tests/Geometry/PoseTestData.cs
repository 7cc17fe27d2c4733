using System.Text.Json;
using TrgIlgpu.Geometry;

namespace TrgIlgpu.Tests.Geometry;

/// <summary>One OpenCV reference case of tools/pnp_reference.py (Fixtures/landmarkfit/pnp_opencv.json).</summary>
internal sealed record PnpCase(
    string Name, string Kind, double Fx, double Fy, double Cx, double Cy, double Sigma, double[] Landmarks,
    double[]? TrueRotation, double[]? TrueTranslation, double[]? TrueEuler,
    double[] CvRotation, double[] CvTranslation, double CvRms)
{
    public override string ToString() => Name;
}

/// <summary>Float64 pose helpers for the landmark-fit tests, written independently of the library's code.</summary>
internal static class PoseTestData
{
    public static readonly Lazy<PnpCase[]> OpenCvCases = new(ReadCases);

    /// <summary>The template's 68 landmarks in float64 (the embedded values).</summary>
    public static double[] TemplateLandmarks() => HeadTemplate.Trg.Landmarks68.ToArray().Select(v => (double)v).ToArray();

    /// <summary>R = Rz(roll) Rx(pitch) Ry(yaw), degrees (SciPy from_euler('yxz')).</summary>
    public static double[] Rotation(double yaw, double pitch, double roll)
    {
        static double[] Mul(double[] a, double[] b)
        {
            var m = new double[9];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    for (int k = 0; k < 3; k++) m[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
            return m;
        }
        double y = yaw * Math.PI / 180, p = pitch * Math.PI / 180, r = roll * Math.PI / 180;
        double[] ry = [Math.Cos(y), 0, Math.Sin(y), 0, 1, 0, -Math.Sin(y), 0, Math.Cos(y)];
        double[] rx = [1, 0, 0, 0, Math.Cos(p), -Math.Sin(p), 0, Math.Sin(p), Math.Cos(p)];
        double[] rz = [Math.Cos(r), -Math.Sin(r), 0, Math.Sin(r), Math.Cos(r), 0, 0, 0, 1];
        return Mul(rz, Mul(rx, ry));
    }

    /// <summary>Pixels of model points (N x 3) under R, T.</summary>
    public static double[] Project(double[] model, double[] r, double[] t, double fx, double fy, double cx, double cy)
    {
        int n = model.Length / 3;
        var uv = new double[2 * n];
        for (int i = 0; i < n; i++)
        {
            var c = Camera(model, i, r, t);
            Assert.True(c[2] > 0, $"test pose puts point {i} behind the camera");
            uv[2 * i] = fx * c[0] / c[2] + cx;
            uv[2 * i + 1] = fy * c[1] / c[2] + cy;
        }
        return uv;
    }

    public static double[] Camera(double[] model, int i, double[] r, double[] t)
    {
        var c = new double[3];
        for (int k = 0; k < 3; k++)
            c[k] = r[3 * k] * model[3 * i] + r[3 * k + 1] * model[3 * i + 1] + r[3 * k + 2] * model[3 * i + 2] + t[k];
        return c;
    }

    /// <summary>Weighted RMS pixel distance of a pose, the library's definition written again.</summary>
    public static double Rms(double[] model, double[] image, double[] r, double[] t, double fx, double fy, double cx, double cy, double[]? w = null)
    {
        var p = Project(model, r, t, fx, fy, cx, cy);
        double s = 0, sw = 0;
        for (int i = 0; i < p.Length / 2; i++)
        {
            double wi = w?[i] ?? 1;
            s += wi * (Math.Pow(p[2 * i] - image[2 * i], 2) + Math.Pow(p[2 * i + 1] - image[2 * i + 1], 2));
            sw += wi;
        }
        return Math.Sqrt(s / sw);
    }

    /// <summary>Geodesic angle between two rotations in degrees (EVAL_SPEC's GE, without its clip).</summary>
    public static double GeodesicDeg(double[] a, double[] b)
    {
        double trace = 0;
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 3; k++) trace += a[i * 3 + k] * b[i * 3 + k];
        return Math.Acos(Math.Clamp((trace - 1) / 2, -1, 1)) * 180 / Math.PI;
    }

    public static double Norm(double[] v) => Math.Sqrt(v.Sum(x => x * x));

    public static double RelativeDistance(double[] a, double[] b) => Norm(a.Zip(b, (x, y) => x - y).ToArray()) / Norm(b);

    /// <summary>Normal random numbers (Box-Muller) from a seeded generator.</summary>
    public static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    private static PnpCase[] ReadCases()
    {
        var path = Path.Combine(TestPaths.Fixtures, "landmarkfit", "pnp_opencv.json");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        static double[] Arr(JsonElement e, string key) => e.GetProperty(key).EnumerateArray().Select(x => x.GetDouble()).ToArray();
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c =>
        {
            var cv = c.GetProperty("opencv");
            bool hasTruth = c.TryGetProperty("truth", out var truth);
            return new PnpCase(
                c.GetProperty("name").GetString()!, c.GetProperty("kind").GetString()!,
                c.GetProperty("fx").GetDouble(), c.GetProperty("fy").GetDouble(), c.GetProperty("cx").GetDouble(), c.GetProperty("cy").GetDouble(),
                c.GetProperty("sigma_px").GetDouble(), Arr(c, "landmarks"),
                hasTruth ? Arr(truth, "rotation") : null, hasTruth ? Arr(truth, "translation") : null, hasTruth ? Arr(truth, "euler_yxz_deg") : null,
                Arr(cv, "rotation"), Arr(cv, "translation"), cv.GetProperty("rms_px").GetDouble());
        }).ToArray();
    }
}
