using static TrgIlgpu.Geometry.SmallLinearAlgebra;

namespace TrgIlgpu.Geometry;

/// <summary>
/// A rigid head pose from 68 image landmarks without TRG weights: the template's 68 landmarks
/// (<see cref="HeadTemplate.Trg"/>) fitted to the detected ones by perspective-n-point — several linear starts (DLT,
/// weak perspective refined by POSIT, frontal), each refined by Levenberg-Marquardt on the weighted reprojection
/// error over a rotation vector and T, in float64; the lowest error wins (docs/landmark-fit.md).
/// </summary>
/// <remarks>
/// Errors: wrong counts, bad intrinsics, weights or options throw <see cref="TrgException"/> with
/// <see cref="ErrorKind.Usage"/>; landmarks that are not finite, coincide or lie on one line throw
/// <see cref="ErrorKind.InvalidBox"/> (a per-face failure). Every fit keeps all points in front of the camera.
/// </remarks>
public static class LandmarkPoseFit
{
    /// <summary>Fewest points with positive weight a fit accepts (6 unknowns; the DLT needs 6 points).</summary>
    public const int MinPoints = 6;

    private static readonly Lazy<double[]> TemplateLandmarks = new(() => ToDouble(HeadTemplate.Trg.Landmarks68.Span));

    /// <summary>
    /// Fits the TRG template to 68 landmarks in iBUG 68 order, in pixels (u0, v0, u1, v1, ...), seen by a pinhole
    /// camera with focal lengths <paramref name="fx"/>, <paramref name="fy"/> and principal point
    /// (<paramref name="cx"/>, <paramref name="cy"/>) in pixels. <paramref name="weights"/>: empty, or one finite
    /// weight &gt;= 0 per landmark (e.g. detector confidences; 0 ignores a point).
    /// </summary>
    public static LandmarkFitResult Fit(ReadOnlySpan<double> landmarks68, double fx, double fy, double cx, double cy,
        ReadOnlySpan<double> weights = default, LandmarkFitOptions? options = null)
    {
        if (landmarks68.Length != HeadTemplate.LandmarkCount * 2)
            throw Usage($"expected {HeadTemplate.LandmarkCount * 2} values ({HeadTemplate.LandmarkCount} landmarks x (u, v)), got {landmarks68.Length}");
        return FitModel(TemplateLandmarks.Value, landmarks68, fx, fy, cx, cy, weights, options);
    }

    /// <summary>The same for float32 landmarks (as <see cref="FaceResult.Landmarks68"/> holds them).</summary>
    public static LandmarkFitResult Fit(ReadOnlySpan<float> landmarks68, double fx, double fy, double cx, double cy,
        ReadOnlySpan<double> weights = default, LandmarkFitOptions? options = null) =>
        Fit(ToDouble(landmarks68), fx, fy, cx, cy, weights, options);

    /// <summary>
    /// The general fit: N model points (N x 3, head frame, any unit; T comes out in that unit) to N image points
    /// (N x 2 pixels), N &gt;= <see cref="MinPoints"/>, model points not all on one plane for the DLT start.
    /// </summary>
    public static LandmarkFitResult FitModel(ReadOnlySpan<double> modelPoints, ReadOnlySpan<double> imagePoints,
        double fx, double fy, double cx, double cy, ReadOnlySpan<double> weights = default, LandmarkFitOptions? options = null)
    {
        options ??= LandmarkFitOptions.Default;
        if (options.MaxIterations < 1) throw Usage($"MaxIterations must be at least 1, got {options.MaxIterations}");
        var problem = PoseProblem.Create(modelPoints, imagePoints, new Intrinsics(fx, fy, cx, cy), weights);

        LandmarkFitResult? best = null;
        double bestCost = double.PositiveInfinity;
        foreach (var start in Enum.GetValues<PoseStart>())
        {
            var pose = start switch
            {
                PoseStart.Dlt => problem.DltStart(),
                PoseStart.WeakPerspective => problem.WeakPerspectiveStart(),
                _ => problem.FrontalStart(),
            };
            if (pose is null) continue;
            var (r, t) = pose.Value;
            double startCost = problem.Cost(r, t);
            if (!double.IsFinite(startCost)) continue;
            var refined = problem.Refine(r, t, startCost, options.MaxIterations);
            if (!(refined.Cost < bestCost)) continue;
            bestCost = refined.Cost;
            best = new LandmarkFitResult
            {
                Rotation = refined.R,
                Translation = refined.T,
                RmsPixels = problem.Rms(refined.Cost),
                StartRmsPixels = problem.Rms(startCost),
                Start = start,
                Iterations = refined.Iterations,
                Converged = refined.Converged,
                Reprojected = problem.Project(refined.R, refined.T),
            };
        }
        // The frontal start always lies in front of the camera and has a finite error; only overflow gets here.
        return best ?? throw new TrgException(ErrorKind.InvalidBox, "landmark pose fit: no starting pose has a finite reprojection error (landmark coordinates too large?)");
    }

    private static double[] ToDouble<T>(ReadOnlySpan<T> values) where T : IConvertible
    {
        var d = new double[values.Length];
        for (int i = 0; i < d.Length; i++) d[i] = values[i].ToDouble(null);
        return d;
    }

    internal static TrgException Usage(string problem) => new(ErrorKind.Usage, $"landmark pose fit: {problem}");

    internal static TrgException InvalidLandmarks(string problem) => new(ErrorKind.InvalidBox, $"landmark pose fit: {problem}");
}

/// <summary>Pinhole intrinsics in pixels: u = fx X/Z + cx, v = fy Y/Z + cy.</summary>
internal readonly record struct Intrinsics(double Fx, double Fy, double Cx, double Cy);

/// <summary>One validated fit: model points, pixels, weights and intrinsics, with the starts and the refinement.</summary>
internal sealed class PoseProblem
{
    private readonly int _n;
    private readonly double[] _model, _u, _v, _w;
    private readonly double _weightSum;
    private readonly Intrinsics _k;

    /// <summary>Levenberg-Marquardt tolerances: step (radians; relative to |T|) and Newton decrement relative to the cost.</summary>
    private const double StepTolerance = 1e-12, DecrementTolerance = 1e-14, MaxDamping = 1e12;

    private PoseProblem(double[] model, double[] u, double[] v, double[] w, Intrinsics k)
    {
        _n = u.Length; _model = model; _u = u; _v = v; _w = w; _k = k;
        _weightSum = w.Sum();
    }

    public static PoseProblem Create(ReadOnlySpan<double> model, ReadOnlySpan<double> image, Intrinsics k, ReadOnlySpan<double> weights)
    {
        if (model.Length % 3 != 0) throw LandmarkPoseFit.Usage($"{model.Length} model values is not a whole number of (x, y, z) points");
        int n = model.Length / 3;
        if (image.Length != 2 * n) throw LandmarkPoseFit.Usage($"{n} model points need {2 * n} image values (u, v each), got {image.Length}");
        if (n < LandmarkPoseFit.MinPoints) throw LandmarkPoseFit.Usage($"{n} points; a pose fit needs at least {LandmarkPoseFit.MinPoints}");
        foreach (var x in model)
            if (!double.IsFinite(x)) throw LandmarkPoseFit.Usage("the model points must be finite");
        if (!(double.IsFinite(k.Fx) && k.Fx > 0 && double.IsFinite(k.Fy) && k.Fy > 0))
            throw LandmarkPoseFit.Usage($"focal lengths must be finite and positive, got fx = {k.Fx}, fy = {k.Fy}");
        if (!double.IsFinite(k.Cx) || !double.IsFinite(k.Cy))
            throw LandmarkPoseFit.Usage($"the principal point must be finite, got ({k.Cx}, {k.Cy})");
        if (!weights.IsEmpty && weights.Length != n) throw LandmarkPoseFit.Usage($"{weights.Length} weights for {n} points (give none or one per point)");

        var w = new double[n];
        for (int i = 0; i < n; i++)
        {
            w[i] = weights.IsEmpty ? 1 : weights[i];
            if (!double.IsFinite(w[i]) || w[i] < 0) throw LandmarkPoseFit.Usage($"weight {i} is {w[i]}; weights must be finite and >= 0");
        }
        int used = w.Count(x => x > 0);
        if (used < LandmarkPoseFit.MinPoints) throw LandmarkPoseFit.Usage($"{used} points have a positive weight; a pose fit needs at least {LandmarkPoseFit.MinPoints}");

        var u = new double[n];
        var v = new double[n];
        for (int i = 0; i < n; i++)
        {
            u[i] = image[2 * i]; v[i] = image[2 * i + 1];
            if (!double.IsFinite(u[i]) || !double.IsFinite(v[i])) throw LandmarkPoseFit.InvalidLandmarks($"landmark {i} is not finite ({u[i]}, {v[i]})");
        }
        CheckSpread(u, v, w);
        return new PoseProblem(model.ToArray(), u, v, w, k);
    }

    /// <summary>Refuses image points that coincide or lie on one line (no pose explains them).</summary>
    private static void CheckSpread(double[] u, double[] v, double[] w)
    {
        double sw = w.Sum(), mu = 0, mv = 0;
        for (int i = 0; i < u.Length; i++) { mu += w[i] * u[i]; mv += w[i] * v[i]; }
        mu /= sw; mv /= sw;
        double suu = 0, svv = 0, suv = 0;
        for (int i = 0; i < u.Length; i++)
        {
            double du = u[i] - mu, dv = v[i] - mv;
            suu += w[i] * du * du; svv += w[i] * dv * dv; suv += w[i] * du * dv;
        }
        suu /= sw; svv /= sw; suv /= sw;
        double mean = (suu + svv) / 2, half = Math.Sqrt((suu - svv) * (suu - svv) / 4 + suv * suv);
        double large = mean + half, small = Math.Max(mean - half, 0);
        if (Math.Sqrt(large) < 1e-3)
            throw LandmarkPoseFit.InvalidLandmarks($"the landmarks coincide (spread {Math.Sqrt(large):g3} px around ({mu:g6}, {mv:g6}))");
        if (small <= 1e-10 * large)
            throw LandmarkPoseFit.InvalidLandmarks("the landmarks lie on one line");
    }

    /// <summary>Weighted squared pixel error of a pose; +infinity when a point is not in front of the camera.</summary>
    public double Cost(double[] r, double[] t)
    {
        double cost = 0;
        for (int i = 0; i < _n; i++)
        {
            var (x, y, z) = Transform(r, t, i);
            if (!(z > 0)) return double.PositiveInfinity;
            double du = _k.Fx * x / z + _k.Cx - _u[i], dv = _k.Fy * y / z + _k.Cy - _v[i];
            cost += _w[i] * (du * du + dv * dv);
        }
        return double.IsNaN(cost) ? double.PositiveInfinity : cost;
    }

    /// <summary>Weighted RMS reprojection distance in pixels of a cost.</summary>
    public double Rms(double cost) => Math.Sqrt(cost / _weightSum);

    /// <summary>The model points in pixels under a pose, N x 2.</summary>
    public double[] Project(double[] r, double[] t)
    {
        var p = new double[2 * _n];
        for (int i = 0; i < _n; i++)
        {
            var (x, y, z) = Transform(r, t, i);
            p[2 * i] = _k.Fx * x / z + _k.Cx;
            p[2 * i + 1] = _k.Fy * y / z + _k.Cy;
        }
        return p;
    }

    private (double X, double Y, double Z) Transform(double[] r, double[] t, int i)
    {
        double px = _model[3 * i], py = _model[3 * i + 1], pz = _model[3 * i + 2];
        return (r[0] * px + r[1] * py + r[2] * pz + t[0],
                r[3] * px + r[4] * py + r[5] * pz + t[1],
                r[6] * px + r[7] * py + r[8] * pz + t[2]);
    }

    private bool AllInFront(double[] r, double[] t)
    {
        for (int i = 0; i < _n; i++)
            if (!(Transform(r, t, i).Z > 0)) return false;
        return true;
    }

    // ---------------------------------------------------------------- starts

    private (double X, double Y) Normalised(int i) => ((_u[i] - _k.Cx) / _k.Fx, (_v[i] - _k.Cy) / _k.Fy);

    /// <summary>Weighted centroid of the model points.</summary>
    private double[] ModelCentroid()
    {
        var c = new double[3];
        for (int i = 0; i < _n; i++)
            for (int d = 0; d < 3; d++) c[d] += _w[i] * _model[3 * i + d];
        for (int d = 0; d < 3; d++) c[d] /= _weightSum;
        return c;
    }

    /// <summary>
    /// Direct linear transform on Hartley-normalised points (image: centroid 0, mean distance sqrt 2; model: centroid
    /// 0, mean distance sqrt 3): the 3x4 projection as the smallest eigenvector of AᵀA, its sign set so the points
    /// lie in front, its left 3x3 block replaced by the nearest rotation.
    /// </summary>
    public (double[] R, double[] T)? DltStart()
    {
        double mx = 0, my = 0;
        for (int i = 0; i < _n; i++) { var (x, y) = Normalised(i); mx += _w[i] * x; my += _w[i] * y; }
        mx /= _weightSum; my /= _weightSum;
        var mc = ModelCentroid();
        double di = 0, dm = 0;
        for (int i = 0; i < _n; i++)
        {
            var (x, y) = Normalised(i);
            di += _w[i] * Math.Sqrt((x - mx) * (x - mx) + (y - my) * (y - my));
            dm += _w[i] * Math.Sqrt(Sq(_model[3 * i] - mc[0]) + Sq(_model[3 * i + 1] - mc[1]) + Sq(_model[3 * i + 2] - mc[2]));
        }
        double si = Math.Sqrt(2) * _weightSum / di, so = Math.Sqrt(3) * _weightSum / dm;

        var ata = new double[12, 12];
        var row = new double[12];
        for (int i = 0; i < _n; i++)
        {
            if (_w[i] == 0) continue;
            var (x, y) = Normalised(i);
            double xn = si * (x - mx), yn = si * (y - my);
            Span<double> p = [so * (_model[3 * i] - mc[0]), so * (_model[3 * i + 1] - mc[1]), so * (_model[3 * i + 2] - mc[2]), 1];
            for (int pass = 0; pass < 2; pass++)
            {
                double c = pass == 0 ? xn : yn;
                Array.Clear(row);
                for (int k = 0; k < 4; k++) { row[pass * 4 + k] = p[k]; row[8 + k] = -c * p[k]; }
                for (int a = 0; a < 12; a++)
                    for (int b = 0; b < 12; b++) ata[a, b] += _w[i] * row[a] * row[b];
            }
        }
        var (_, vectors) = SymmetricEigen(ata);
        // Undo the normalisations: P = Ti^-1 Pn To.
        var proj = new double[12];
        for (int r = 0; r < 3; r++)
        {
            double shift = 0;
            for (int c = 0; c < 3; c++) { proj[r * 4 + c] = so * vectors[r * 4 + c, 0]; shift += proj[r * 4 + c] * mc[c]; }
            proj[r * 4 + 3] = vectors[r * 4 + 3, 0] - shift;
        }
        for (int c = 0; c < 4; c++)
        {
            proj[c] = proj[c] / si + mx * proj[8 + c];
            proj[4 + c] = proj[4 + c] / si + my * proj[8 + c];
        }
        double front = 0;
        for (int i = 0; i < _n; i++)
            front += _w[i] * Math.Sign(proj[8] * _model[3 * i] + proj[9] * _model[3 * i + 1] + proj[10] * _model[3 * i + 2] + proj[11]);
        if (front < 0)
            for (int k = 0; k < 12; k++) proj[k] = -proj[k];

        double[] m = [proj[0], proj[1], proj[2], proj[4], proj[5], proj[6], proj[8], proj[9], proj[10]];
        var rot = NearestRotation(m);
        if (rot is null) return null;
        double scale = 0; // trace(Rᵀ M) / 3: the mean singular value of M
        for (int k = 0; k < 9; k++) scale += rot[k] * m[k];
        scale /= 3;
        double[] t = [proj[3] / scale, proj[7] / scale, proj[11] / scale];
        return Valid(rot, t);
    }

    /// <summary>
    /// POSIT: an affine camera (weak perspective about the model centroid) fitted by least squares, then refitted with
    /// the image points scaled by each point's depth relative to the centroid, until those depths settle.
    /// </summary>
    public (double[] R, double[] T)? WeakPerspectiveStart()
    {
        var mc = ModelCentroid();
        var centred = new double[3 * _n];
        var cov = new double[3, 3];
        for (int i = 0; i < _n; i++)
        {
            for (int d = 0; d < 3; d++) centred[3 * i + d] = _model[3 * i + d] - mc[d];
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) cov[a, b] += _w[i] * centred[3 * i + a] * centred[3 * i + b];
        }
        var eps = new double[_n];
        double[] r1 = [], r2 = [], r3 = [];
        double zc = 0, x0 = 0, y0 = 0;
        for (int iter = 0; iter < 50; iter++)
        {
            x0 = 0; y0 = 0;
            for (int i = 0; i < _n; i++)
            {
                var (x, y) = Normalised(i);
                x0 += _w[i] * x * (1 + eps[i]); y0 += _w[i] * y * (1 + eps[i]);
            }
            x0 /= _weightSum; y0 /= _weightSum;
            var a = new double[3];
            var b = new double[3];
            for (int i = 0; i < _n; i++)
            {
                var (x, y) = Normalised(i);
                double ex = x * (1 + eps[i]) - x0, ey = y * (1 + eps[i]) - y0;
                for (int d = 0; d < 3; d++) { a[d] += _w[i] * centred[3 * i + d] * ex; b[d] += _w[i] * centred[3 * i + d] * ey; }
            }
            if (!Solve((double[,])cov.Clone(), a) || !Solve((double[,])cov.Clone(), b)) return null;
            double na = Norm(a), nb = Norm(b);
            var rows = OrthonormalPair(a, b);
            if (rows is null || !(na + nb > 0)) return null;
            (r1, r2) = rows.Value;
            r3 = Cross(r1, r2);
            zc = 2 / (na + nb);
            double change = 0;
            for (int i = 0; i < _n; i++)
            {
                double e = Dot(r3, centred.AsSpan(3 * i, 3)) / zc;
                change = Math.Max(change, Math.Abs(e - eps[i]));
                eps[i] = e;
            }
            if (change < 1e-12) break;
        }
        double[] rot = [.. r1, .. r2, .. r3];
        double[] t = [x0 * zc - Dot(r1, mc), y0 * zc - Dot(r2, mc), zc - Dot(r3, mc)];
        return Valid(rot, t);
    }

    /// <summary>R = I; the depth from the ratio of the image spread to the model's x-y spread, kept beyond the model's depth extent.</summary>
    public (double[] R, double[] T)? FrontalStart()
    {
        var mc = ModelCentroid();
        double mx = 0, my = 0;
        for (int i = 0; i < _n; i++) { var (x, y) = Normalised(i); mx += _w[i] * x; my += _w[i] * y; }
        mx /= _weightSum; my /= _weightSum;
        double image = 0, model = 0, reach = 0;
        for (int i = 0; i < _n; i++)
        {
            var (x, y) = Normalised(i);
            image += _w[i] * (Sq(x - mx) + Sq(y - my));
            model += _w[i] * (Sq(_model[3 * i] - mc[0]) + Sq(_model[3 * i + 1] - mc[1]));
            reach = Math.Max(reach, Math.Sqrt(Sq(_model[3 * i] - mc[0]) + Sq(_model[3 * i + 1] - mc[1]) + Sq(_model[3 * i + 2] - mc[2])));
        }
        double zc = Math.Max(Math.Sqrt(model / image), 2 * reach);
        double[] rot = [1, 0, 0, 0, 1, 0, 0, 0, 1];
        double[] t = [mx * zc - mc[0], my * zc - mc[1], zc - mc[2]];
        return Valid(rot, t);
    }

    private (double[] R, double[] T)? Valid(double[] r, double[] t) =>
        r.All(double.IsFinite) && t.All(double.IsFinite) && AllInFront(r, t) ? (r, t) : null;

    /// <summary>Two orthonormal rows near the directions of a and b (split symmetrically), or null when a ∥ b.</summary>
    private static (double[], double[])? OrthonormalPair(double[] a, double[] b)
    {
        double na = Norm(a), nb = Norm(b);
        if (!(na > 0 && nb > 0)) return null;
        var sum = new double[3];
        var diff = new double[3];
        for (int d = 0; d < 3; d++) { sum[d] = a[d] / na + b[d] / nb; diff[d] = a[d] / na - b[d] / nb; }
        double ns = Norm(sum), nd = Norm(diff);
        if (!(ns > 1e-9 && nd > 1e-9)) return null;
        var r1 = new double[3];
        var r2 = new double[3];
        for (int d = 0; d < 3; d++)
        {
            r1[d] = (sum[d] / ns + diff[d] / nd) / Math.Sqrt(2);
            r2[d] = (sum[d] / ns - diff[d] / nd) / Math.Sqrt(2);
        }
        return (r1, r2);
    }

    // ---------------------------------------------------------------- refinement

    /// <summary>The outcome of Levenberg-Marquardt from one start.</summary>
    public readonly record struct Refined(double[] R, double[] T, double Cost, int Iterations, bool Converged);

    /// <summary>
    /// Levenberg-Marquardt over (δω, δT) with R ← exp([δω]x) R, T ← T + δT; Marquardt's diagonal damping; steps that
    /// raise the error or put a point behind the camera are refused. Stops when the step is below
    /// <see cref="StepTolerance"/>, when the Gauss-Newton step would lower the cost by less than
    /// <see cref="DecrementTolerance"/> of it, or when no damping finds a lower cost (all: converged), or after
    /// <paramref name="maxIterations"/> Jacobians (not converged).
    /// </summary>
    public Refined Refine(double[] r, double[] t, double cost, int maxIterations)
    {
        double lambda = 1e-3;
        var h = new double[6, 6];
        var g = new double[6];
        for (int iteration = 1; iteration <= maxIterations; iteration++)
        {
            NormalEquations(r, t, h, g);
            if (cost == 0) return new Refined(r, t, cost, iteration, true);
            var newton = (double[])g.Clone();
            if (Solve((double[,])h.Clone(), newton) && Dot(g, newton) is var decrement && decrement >= 0 && decrement <= DecrementTolerance * cost)
                return new Refined(r, t, cost, iteration, true);

            double maxDiag = 0;
            for (int j = 0; j < 6; j++) maxDiag = Math.Max(maxDiag, h[j, j]);
            while (true)
            {
                var a = (double[,])h.Clone();
                for (int j = 0; j < 6; j++) a[j, j] += lambda * Math.Max(h[j, j], 1e-9 * maxDiag);
                var step = new double[6];
                for (int j = 0; j < 6; j++) step[j] = -g[j];
                bool solved = Solve(a, step);
                if (solved)
                {
                    var r2 = Multiply3(RotationFromVector(step[0], step[1], step[2]), r);
                    double[] t2 = [t[0] + step[3], t[1] + step[4], t[2] + step[5]];
                    double cost2 = Cost(r2, t2);
                    bool tiny = Math.Sqrt(Sq(step[0]) + Sq(step[1]) + Sq(step[2])) <= StepTolerance
                             && Math.Sqrt(Sq(step[3]) + Sq(step[4]) + Sq(step[5])) <= StepTolerance * Norm(t);
                    if (cost2 < cost)
                    {
                        (r, t, cost) = (r2, t2, cost2);
                        lambda = Math.Max(lambda / 10, 1e-12);
                        if (tiny) return new Refined(r, t, cost, iteration, true);
                        break;
                    }
                    if (tiny) return new Refined(r, t, cost, iteration, true);
                }
                lambda *= 10;
                if (lambda > MaxDamping) return new Refined(r, t, cost, iteration, true);
            }
        }
        return new Refined(r, t, cost, maxIterations, false);
    }

    /// <summary>
    /// JᵀJ and Jᵀr of the weighted pixel residuals r = sqrt(w) (projection - observation) with respect to (δω, δT):
    /// for the camera point c = R p + T, ∂c/∂δω = -[R p]x and ∂c/∂δT = I.
    /// </summary>
    internal void NormalEquations(double[] r, double[] t, double[,] h, double[] g)
    {
        Array.Clear(h);
        Array.Clear(g);
        Span<double> row = stackalloc double[6];
        for (int i = 0; i < _n; i++)
        {
            if (_w[i] == 0) continue;
            var (x, y, z) = Transform(r, t, i);
            double qx = x - t[0], qy = y - t[1], qz = z - t[2], sw = Math.Sqrt(_w[i]);
            for (int pass = 0; pass < 2; pass++)
            {
                // a = ∂(pixel)/∂c for u (pass 0) or v (pass 1).
                double f = pass == 0 ? _k.Fx : _k.Fy, num = pass == 0 ? x : y;
                double ax = pass == 0 ? f / z : 0, ay = pass == 0 ? 0 : f / z, az = -f * num / (z * z);
                double residual = sw * (f * num / z + (pass == 0 ? _k.Cx - _u[i] : _k.Cy - _v[i]));
                // a · (-[q]x δω) = (q × a) · δω
                row[0] = sw * (qy * az - qz * ay);
                row[1] = sw * (qz * ax - qx * az);
                row[2] = sw * (qx * ay - qy * ax);
                row[3] = sw * ax; row[4] = sw * ay; row[5] = sw * az;
                for (int j = 0; j < 6; j++)
                {
                    g[j] += row[j] * residual;
                    for (int k = 0; k < 6; k++) h[j, k] += row[j] * row[k];
                }
            }
        }
    }

    private static double Sq(double x) => x * x;
    private static double Norm(ReadOnlySpan<double> a) => Math.Sqrt(Dot(a, a));
    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
    private static double[] Cross(double[] a, double[] b) =>
        [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}
