using TrgIlgpu.Geometry;
using Xunit.Abstractions;
using static TrgIlgpu.Tests.Geometry.PoseTestData;

namespace TrgIlgpu.Tests.Geometry;

/// <summary>
/// The landmark pose fit against OpenCV's solvePnP (tools/pnp_reference.py) and against the known poses of synthetic
/// cases; API errors.
/// </summary>
public class LandmarkPoseFitTests(ITestOutputHelper output)
{
    public static TheoryData<string> CaseNames() => new(OpenCvCases.Value.Select(c => c.Name));

    private static PnpCase Case(string name) => OpenCvCases.Value.Single(c => c.Name == name);

    private static LandmarkFitResult Fit(PnpCase c) => LandmarkPoseFit.Fit(c.Landmarks, c.Fx, c.Fy, c.Cx, c.Cy);

    [Fact]
    public void Fixture_covers_the_briefs_cases()
    {
        var cases = OpenCvCases.Value;
        Assert.Equal([0.0, 0.5, 2.0], cases.Where(c => c.Kind == "synthetic").Select(c => c.Sigma).Distinct().Order());
        Assert.True(cases.Count(c => c.Kind == "realistic") >= 6);
        Assert.Contains(cases, c => c.Fx != c.Fy);
        Assert.Contains(cases, c => c.TrueEuler is { } e && e.Max(Math.Abs) >= 60);
        Assert.Contains(cases, c => c.TrueTranslation is { } t && t[2] <= 0.3);
        Assert.Contains(cases, c => c.TrueTranslation is { } t && t[2] >= 3);
    }

    /// <summary>Same landmarks as OpenCV: rotation within 1 degree, translation within 2%, and no higher error.</summary>
    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Agrees_with_opencv_solvepnp(string name)
    {
        var c = Case(name);
        var fit = Fit(c);
        double angle = GeodesicDeg(fit.Rotation, c.CvRotation), dt = RelativeDistance(fit.Translation, c.CvTranslation);
        output.WriteLine($"{name}: {angle:g3} deg, T {dt:g3} rel, rms {fit.RmsPixels:g6} vs OpenCV {c.CvRms:g6} px, " +
                         $"start {fit.Start} {fit.StartRmsPixels:g4} px, {fit.Iterations} iterations");
        Assert.True(fit.Converged);
        Assert.True(angle < 1, $"rotation {angle} deg from OpenCV's");
        Assert.True(dt < 0.02, $"translation {dt:P2} from OpenCV's");
        Assert.True(fit.RmsPixels <= c.CvRms + 1e-6, $"rms {fit.RmsPixels} above OpenCV's {c.CvRms}");
        // Both solve the same least-squares problem: the same minimum, far inside the brief's tolerances.
        Assert.True(angle < 1e-3 && dt < 1e-5, $"{angle} deg, {dt} rel: a different minimum than OpenCV's");
        Assert.Equal(Rms(TemplateLandmarks(), c.Landmarks, fit.Rotation, fit.Translation, c.Fx, c.Fy, c.Cx, c.Cy), fit.RmsPixels, 1e-9);
    }

    /// <summary>Noise-free projections of the template: the known R, T to 1e-6 relative, and the known Euler angles.</summary>
    [Fact]
    public void Noise_free_synthetic_cases_recover_the_true_pose()
    {
        var cases = OpenCvCases.Value.Where(c => c.Kind == "synthetic" && c.Sigma == 0).ToArray();
        Assert.True(cases.Length >= 10);
        foreach (var c in cases)
        {
            var fit = Fit(c);
            double dr = fit.Rotation.Zip(c.TrueRotation!, (a, b) => Math.Abs(a - b)).Max();
            double dt = RelativeDistance(fit.Translation, c.TrueTranslation!);
            output.WriteLine($"{c.Name}: |dR| {dr:g3}, |dT|/|T| {dt:g3}, rms {fit.RmsPixels:g3} px");
            Assert.True(fit.Converged, c.Name);
            Assert.True(dr < 1e-6 && dt < 1e-6, $"{c.Name}: |dR| {dr}, |dT|/|T| {dt}");
            Assert.True(fit.RmsPixels < 1e-5, $"{c.Name}: rms {fit.RmsPixels}");
            var e = fit.Euler;
            Assert.Equal(c.TrueEuler![0], e.Yaw, 3);
            Assert.Equal(c.TrueEuler[1], e.Pitch, 3);
            Assert.Equal(c.TrueEuler[2], e.Roll, 3);
        }
    }

    /// <summary>With pixel noise the true pose is out of reach; the fit gets as close to it as OpenCV does.</summary>
    [Fact]
    public void Noisy_synthetic_cases_are_as_close_to_the_truth_as_opencv()
    {
        foreach (var c in OpenCvCases.Value.Where(c => c.Kind == "synthetic" && c.Sigma > 0))
        {
            var fit = Fit(c);
            double ours = GeodesicDeg(fit.Rotation, c.TrueRotation!), theirs = GeodesicDeg(c.CvRotation, c.TrueRotation!);
            double oursT = RelativeDistance(fit.Translation, c.TrueTranslation!), theirsT = RelativeDistance(c.CvTranslation, c.TrueTranslation!);
            output.WriteLine($"{c.Name}: vs truth {ours:0.000} deg (OpenCV {theirs:0.000}), T {oursT:P3} (OpenCV {theirsT:P3})");
            Assert.True(ours <= theirs + 1e-3, $"{c.Name}: {ours} deg from the truth, OpenCV {theirs}");
            Assert.True(oursT <= theirsT + 1e-5, $"{c.Name}: T {oursT} from the truth, OpenCV {theirsT}");
            Assert.True(ours < 2 && oursT < 0.02, $"{c.Name}: {ours} deg, T {oursT:P2} from the truth");
        }
    }

    [Fact]
    public void Result_parts_are_consistent()
    {
        var c = Case("realistic_mouth_open");
        var fit = Fit(c);
        var model = TemplateLandmarks();
        Assert.Equal(Project(model, fit.Rotation, fit.Translation, c.Fx, c.Fy, c.Cx, c.Cy), fit.Reprojected);
        // R is a rotation.
        var r = fit.Rotation;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                Assert.Equal(i == j ? 1 : 0, r[i * 3] * r[j * 3] + r[i * 3 + 1] * r[j * 3 + 1] + r[i * 3 + 2] * r[j * 3 + 2], 12);
        // Camera vertices of the template: the landmark vertices project onto Reprojected.
        var cam = fit.CameraVertices(HeadTemplate.Trg.Vertices.Span);
        Assert.Equal(HeadTemplate.VertexCount * 3, cam.Length);
        var index = HeadTemplate.Trg.LandmarkVertexIndex.Span;
        for (int i = 0; i < HeadTemplate.LandmarkCount; i++)
        {
            int v = index[i];
            Assert.True(cam[3 * v + 2] > 0);
            Assert.Equal(fit.Reprojected[2 * i], c.Fx * cam[3 * v] / cam[3 * v + 2] + c.Cx, 2e-3);
            Assert.Equal(fit.Reprojected[2 * i + 1], c.Fy * cam[3 * v + 1] / cam[3 * v + 2] + c.Cy, 2e-3);
        }
        Assert.Equal(fit.Rotation.Select(x => (float)x), fit.RotationSingle());
        Assert.Equal(fit.Translation.Select(x => (float)x), fit.TranslationSingle());
        Assert.Equal(EulerAngles.FromMatrix(fit.RotationSingle()), fit.Euler);
    }

    [Fact]
    public void Float_landmarks_fit_like_their_double_values()
    {
        var c = Case("pose2_sigma0.5");
        var single = c.Landmarks.Select(v => (float)v).ToArray();
        var a = LandmarkPoseFit.Fit(single, c.Fx, c.Fy, c.Cx, c.Cy);
        var b = LandmarkPoseFit.Fit(single.Select(v => (double)v).ToArray(), c.Fx, c.Fy, c.Cx, c.Cy);
        Assert.Equal(b.Rotation, a.Rotation);
        Assert.Equal(b.Translation, a.Translation);
    }

    /// <summary>Zero weights ignore points: five landmarks moved 40 px change nothing when weighted 0.</summary>
    [Fact]
    public void Zero_weights_ignore_outliers()
    {
        var c = Case("pose1_sigma0.0");
        var corrupted = (double[])c.Landmarks.Clone();
        var weights = Enumerable.Repeat(1.0, 68).ToArray();
        foreach (int i in new[] { 3, 19, 33, 50, 61 })
        {
            corrupted[2 * i] += 40; corrupted[2 * i + 1] -= 25;
            weights[i] = 0;
        }
        var spoiled = LandmarkPoseFit.Fit(corrupted, c.Fx, c.Fy, c.Cx, c.Cy);
        Assert.True(GeodesicDeg(spoiled.Rotation, c.TrueRotation!) > 0.05, "the outliers should move an unweighted fit");
        var fit = LandmarkPoseFit.Fit(corrupted, c.Fx, c.Fy, c.Cx, c.Cy, weights);
        Assert.True(fit.Rotation.Zip(c.TrueRotation!, (a, b) => Math.Abs(a - b)).Max() < 1e-6);
        Assert.True(RelativeDistance(fit.Translation, c.TrueTranslation!) < 1e-6);
        Assert.True(fit.RmsPixels < 1e-5, "the RMS is weighted: the ignored points do not count");
    }

    /// <summary>Weights are relative: scaling them all changes nothing; the general FitModel on the same points agrees.</summary>
    [Fact]
    public void Weights_scale_free_and_FitModel_agrees()
    {
        var c = Case("realistic_smile");
        var rng = new Random(17);
        var w = Enumerable.Range(0, 68).Select(_ => 0.2 + rng.NextDouble()).ToArray();
        var a = LandmarkPoseFit.Fit(c.Landmarks, c.Fx, c.Fy, c.Cx, c.Cy, w);
        var b = LandmarkPoseFit.FitModel(TemplateLandmarks(), c.Landmarks, c.Fx, c.Fy, c.Cx, c.Cy, w.Select(x => x * 7.5).ToArray());
        Assert.True(GeodesicDeg(a.Rotation, b.Rotation) < 1e-7 && RelativeDistance(a.Translation, b.Translation) < 1e-9);
        Assert.Equal(a.RmsPixels, b.RmsPixels, 9);
        Assert.Equal(Rms(TemplateLandmarks(), c.Landmarks, a.Rotation, a.Translation, c.Fx, c.Fy, c.Cx, c.Cy, w), a.RmsPixels, 9);
    }

    /// <summary>A mirror image has no rigid pose: the fit still returns finite numbers, in front of the camera, with a large error.</summary>
    [Fact]
    public void Mirrored_landmarks_give_a_finite_pose_in_front_with_a_large_error()
    {
        var c = Case("pose2_sigma0.0");
        var mirrored = (double[])c.Landmarks.Clone();
        for (int i = 0; i < 68; i++) mirrored[2 * i] = 2 * c.Cx - mirrored[2 * i];
        var fit = LandmarkPoseFit.Fit(mirrored, c.Fx, c.Fy, c.Cx, c.Cy);
        Assert.True(fit.Rotation.Concat(fit.Translation).All(double.IsFinite));
        Assert.True(double.IsFinite(fit.RmsPixels) && fit.RmsPixels > 1, $"rms {fit.RmsPixels}");
        var model = TemplateLandmarks();
        for (int i = 0; i < 68; i++) Assert.True(Camera(model, i, fit.Rotation, fit.Translation)[2] > 0);
    }

    [Fact]
    public void Too_few_iterations_report_not_converged_with_finite_values()
    {
        var c = Case("pose3_sigma2.0");
        var fit = LandmarkPoseFit.Fit(c.Landmarks, c.Fx, c.Fy, c.Cx, c.Cy, options: new LandmarkFitOptions { MaxIterations = 1 });
        Assert.False(fit.Converged);
        Assert.Equal(1, fit.Iterations);
        Assert.True(fit.Rotation.Concat(fit.Translation).Append(fit.RmsPixels).All(double.IsFinite));
        Assert.True(fit.RmsPixels <= fit.StartRmsPixels);
    }

    public static TheoryData<string, ErrorKind, string> BadInputs() => new()
    {
        { "count", ErrorKind.Usage, "expected 136 values" },
        { "fx", ErrorKind.Usage, "focal lengths must be finite and positive" },
        { "fyNaN", ErrorKind.Usage, "focal lengths must be finite and positive" },
        { "cx", ErrorKind.Usage, "principal point must be finite" },
        { "weightsLength", ErrorKind.Usage, "67 weights for 68 points" },
        { "weightNegative", ErrorKind.Usage, "weight 5 is -1" },
        { "weightNaN", ErrorKind.Usage, "weight 7 is NaN" },
        { "fewWeights", ErrorKind.Usage, "5 points have a positive weight" },
        { "iterations", ErrorKind.Usage, "MaxIterations must be at least 1" },
        { "nan", ErrorKind.InvalidBox, "landmark 12 is not finite" },
        { "infinity", ErrorKind.InvalidBox, "landmark 0 is not finite" },
        { "coincide", ErrorKind.InvalidBox, "the landmarks coincide" },
        { "line", ErrorKind.InvalidBox, "the landmarks lie on one line" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Bad_input_is_a_typed_error(string what, ErrorKind kind, string message)
    {
        var c = Case("pose0_sigma0.5");
        var lm = (double[])c.Landmarks.Clone();
        double fx = c.Fx, fy = c.Fy, cx = c.Cx;
        double[] w = [];
        var options = LandmarkFitOptions.Default;
        switch (what)
        {
            case "count": lm = lm[..^2]; break;
            case "fx": fx = 0; break;
            case "fyNaN": fy = double.NaN; break;
            case "cx": cx = double.PositiveInfinity; break;
            case "weightsLength": w = new double[67]; break;
            case "weightNegative": w = Enumerable.Repeat(1.0, 68).ToArray(); w[5] = -1; break;
            case "weightNaN": w = Enumerable.Repeat(1.0, 68).ToArray(); w[7] = double.NaN; break;
            case "fewWeights": w = new double[68]; for (int i = 0; i < 5; i++) w[i * 9] = 1; break;
            case "iterations": options = new LandmarkFitOptions { MaxIterations = 0 }; break;
            case "nan": lm[25] = double.NaN; break;
            case "infinity": lm[0] = double.NegativeInfinity; break;
            case "coincide": Array.Fill(lm, 321.5); break;
            case "line": for (int i = 0; i < 68; i++) lm[2 * i + 1] = 0.5 * lm[2 * i] + 7; break;
            default: throw new ArgumentException(what);
        }
        var e = Assert.Throws<TrgException>(() => LandmarkPoseFit.Fit(lm, fx, fy, cx, c.Cy, w, options));
        Assert.Equal(kind, e.Kind);
        Assert.Contains(message, e.Message);
        Assert.StartsWith("landmark pose fit: ", e.Message);
    }

    [Fact]
    public void General_fit_checks_its_shapes()
    {
        var model = TemplateLandmarks();
        var image = Case("pose0_sigma0.0").Landmarks;
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => LandmarkPoseFit.FitModel(model[..^1], image, 1000, 1000, 0, 0)).Kind);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => LandmarkPoseFit.FitModel(model[..15], image[..10], 1000, 1000, 0, 0)).Kind);
        var badModel = (double[])model.Clone();
        badModel[4] = double.NaN;
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => LandmarkPoseFit.FitModel(badModel, image, 1000, 1000, 0, 0)).Kind);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => new LandmarkFitResult
        {
            Rotation = [1, 0, 0, 0, 1, 0, 0, 0, 1], Translation = [0, 0, 1], RmsPixels = 0, StartRmsPixels = 0,
            Start = PoseStart.Frontal, Iterations = 1, Converged = true, Reprojected = [],
        }.CameraVertices(new float[4])).Kind);
    }
}
