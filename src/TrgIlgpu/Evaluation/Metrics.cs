namespace TrgIlgpu.Evaluation;

/// <summary>The frame a translation offset is expressed in.</summary>
public enum OffsetFrame
{
    /// <summary>Head space (what <see cref="Alignment.Solve"/> gives): turned into the camera frame by each prediction's rotation.</summary>
    Head,
    /// <summary>Camera space: added to every predicted translation as it is.</summary>
    Camera,
}

/// <summary>The reference-system correction dT (EVAL_SPEC Eq. 13), metres, added to the predictions.</summary>
public sealed record TranslationOffset(double X, double Y, double Z, OffsetFrame Frame)
{
    /// <summary>The prediction with <c>T + c</c> and camera-space vertices <c>V + c</c>, where <c>c = R_pred dT</c> (head frame) or <c>dT</c> (camera frame).</summary>
    public PoseSample ApplyTo(PoseSample prediction)
    {
        var r = prediction.Rotation;
        double[] c = Frame == OffsetFrame.Camera ? [X, Y, Z] :
        [
            r[0] * X + r[1] * Y + r[2] * Z,
            r[3] * X + r[4] * Y + r[5] * Z,
            r[6] * X + r[7] * Y + r[8] * Z,
        ];
        var t = prediction.Translation;
        return prediction with
        {
            Translation = [t[0] + c[0], t[1] + c[1], t[2] + c[2]],
            VerticesCam = prediction.VerticesCam?.Select((v, i) => v + c[i % 3]).ToArray(),
        };
    }
}

/// <summary>Options of <see cref="Metrics.Compute"/>.</summary>
public sealed record MetricsOptions
{
    /// <summary>Add this reference-system offset to every prediction (the unaligned numbers are reported too).</summary>
    public TranslationOffset? Alignment { get; init; }

    /// <summary>Fail (<see cref="ErrorKind.InvalidData"/>) when an id is on one side only, rather than counting it.</summary>
    public bool Strict { get; init; }
}

/// <summary>
/// The paper's errors over a set of matched samples (EVAL_SPEC.md): angles in degrees, translations and distances in
/// millimetres, each the mean over <see cref="N"/> samples unless stated.
/// </summary>
public sealed record PoseErrors
{
    /// <summary>Matched samples.</summary>
    public required int N { get; init; }
    /// <summary>Mean |yaw_gt - yaw_pred| (SciPy as_euler('yxz'), no wrap-around).</summary>
    public required double Yaw { get; init; }
    /// <summary>Mean |pitch_gt - pitch_pred|.</summary>
    public required double Pitch { get; init; }
    /// <summary>Mean |roll_gt - roll_pred|.</summary>
    public required double Roll { get; init; }
    /// <summary>Mean of the three angle errors.</summary>
    public required double MaeR { get; init; }
    /// <summary>Mean geodesic error, degrees.</summary>
    public required double Ge { get; init; }
    /// <summary>Mean |tx_pred - tx_gt|, mm.</summary>
    public required double TxMm { get; init; }
    /// <summary>Mean |ty_pred - ty_gt|, mm.</summary>
    public required double TyMm { get; init; }
    /// <summary>Mean |tz_pred - tz_gt|, mm.</summary>
    public required double TzMm { get; init; }
    /// <summary>Mean of the three translation errors, mm.</summary>
    public required double MaeTMm { get; init; }
    /// <summary>Balanced MAE_r (DD-Pose): d/k times the sum of the per-bin MAE_r, an empty bin counting as zero.</summary>
    public required double Bmae { get; init; }
    /// <summary>How many of the <see cref="Metrics.BinCount"/> BMAE bins hold no sample.</summary>
    public required int BmaeEmptyBins { get; init; }
    /// <summary>Samples per BMAE bin [5i, 5i+5) degrees of ground-truth rotation angle.</summary>
    public required int[] BinCounts { get; init; }
    /// <summary>MAE_r per BMAE bin (NaN for an empty bin).</summary>
    public required double[] BinMaeR { get; init; }
    /// <summary>ADD over the ground-truth head-space vertices, mm; null unless every ground-truth sample has them.</summary>
    public double? AddMm { get; init; }
    /// <summary>Median over samples of the mean vertex distance, mm; null unless every sample has camera-space vertices on both sides.</summary>
    public double? DenseMedianMm { get; init; }
    /// <summary>Mean over samples of the mean vertex distance, mm (same condition as <see cref="DenseMedianMm"/>).</summary>
    public double? DenseMeanMm { get; init; }
}

/// <summary>What <see cref="Metrics.Compute"/> found: the errors (aligned when an offset was given), the unaligned ones, and the ids on one side only.</summary>
public sealed record MetricsReport(
    PoseErrors Errors,
    PoseErrors? Unaligned,
    TranslationOffset? Alignment,
    IReadOnlyList<string> MissingPredictions,
    IReadOnlyList<string> MissingTruth);

/// <summary>The paper's evaluation metrics (EVAL_SPEC.md), in float64.</summary>
public static class Metrics
{
    /// <summary>BMAE bin width d, degrees.</summary>
    public const double BinWidth = 5;
    /// <summary>BMAE range k, degrees: samples at k or more fall in no bin.</summary>
    public const double BinRange = 75;
    /// <summary>Number of BMAE bins, k/d.</summary>
    public const int BinCount = 15;
    /// <summary>The geodesic error's clip margin: the cosine is clipped to [-1 + 1e-7, 1 - 1e-7] as the official code does.</summary>
    public const double GeodesicClip = 1e-7;

    /// <summary>
    /// Joins <paramref name="predictions"/> and <paramref name="truth"/> by id (in the order of the truth) and computes the
    /// errors. Ids on one side only are listed in the report (or fail, with <see cref="MetricsOptions.Strict"/>); no id
    /// in common is an <see cref="ErrorKind.InvalidData"/> error.
    /// </summary>
    public static MetricsReport Compute(IReadOnlyList<PoseSample> predictions, IReadOnlyList<PoseSample> truth, MetricsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(truth);
        options ??= new MetricsOptions();
        var byId = new Dictionary<string, PoseSample>(StringComparer.Ordinal);
        foreach (var p in predictions)
            if (!byId.TryAdd(p.Id, p)) throw new TrgException(ErrorKind.InvalidData, $"prediction id '{p.Id}' appears twice");
        var truthIds = new HashSet<string>(StringComparer.Ordinal);
        var pairs = new List<(PoseSample Pred, PoseSample Gt)>();
        var missingPredictions = new List<string>();
        foreach (var g in truth)
        {
            if (!truthIds.Add(g.Id)) throw new TrgException(ErrorKind.InvalidData, $"ground-truth id '{g.Id}' appears twice");
            if (byId.TryGetValue(g.Id, out var p)) pairs.Add((p, g));
            else missingPredictions.Add(g.Id);
        }
        var missingTruth = predictions.Where(p => !truthIds.Contains(p.Id)).Select(p => p.Id).ToList();
        if (options.Strict && (missingPredictions.Count > 0 || missingTruth.Count > 0))
            throw new TrgException(ErrorKind.InvalidData,
                $"{missingPredictions.Count} ground-truth id(s) have no prediction{Examples(missingPredictions)} and " +
                $"{missingTruth.Count} prediction id(s) have no ground truth{Examples(missingTruth)}");
        if (pairs.Count == 0)
            throw new TrgException(ErrorKind.InvalidData, $"no id in common between {predictions.Count} prediction(s) and {truth.Count} ground-truth sample(s)");

        var unaligned = Score(pairs);
        if (options.Alignment is not { } offset) return new MetricsReport(unaligned, null, null, missingPredictions, missingTruth);
        var aligned = Score(pairs.Select(x => (offset.ApplyTo(x.Pred), x.Gt)).ToList());
        return new MetricsReport(aligned, unaligned, offset, missingPredictions, missingTruth);
    }

    private static string Examples(List<string> ids) => ids.Count == 0 ? "" : $" (e.g. '{string.Join("', '", ids.Take(3))}')";

    /// <summary>The errors of matched (prediction, truth) pairs.</summary>
    public static PoseErrors Score(IReadOnlyList<(PoseSample Prediction, PoseSample Truth)> pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        if (pairs.Count == 0) throw new ArgumentException("no samples to score", nameof(pairs));
        int n = pairs.Count;
        double yaw = 0, pitch = 0, roll = 0, ge = 0, tx = 0, ty = 0, tz = 0;
        var binSum = new double[BinCount];
        var binCounts = new int[BinCount];
        bool hasAdd = pairs.All(x => x.Truth.VerticesHead is not null);
        bool hasDense = pairs.All(x => x.Truth.VerticesCam is not null && x.Prediction.VerticesCam is not null);
        double add = 0;
        var dense = new double[hasDense ? n : 0];
        for (int s = 0; s < n; s++)
        {
            var (p, g) = pairs[s];
            var ep = ScipyRotation.Euler(p.Rotation);
            var qg = ScipyRotation.Quaternion(g.Rotation);
            var eg = EulerAngles.FromMatrix(ScipyRotation.Matrix(qg));
            double dy = Math.Abs(eg.Yaw - ep.Yaw), dp = Math.Abs(eg.Pitch - ep.Pitch), dr = Math.Abs(eg.Roll - ep.Roll);
            yaw += dy; pitch += dp; roll += dr;
            ge += GeodesicDegrees(p.Rotation, g.Rotation);
            tx += Math.Abs(p.Translation[0] - g.Translation[0]);
            ty += Math.Abs(p.Translation[1] - g.Translation[1]);
            tz += Math.Abs(p.Translation[2] - g.Translation[2]);
            double angle = ScipyRotation.MagnitudeDegrees(qg);
            if (angle < BinRange)
            {
                int bin = (int)Math.Floor(angle / BinWidth);
                binSum[bin] += (dy + dp + dr) / 3;
                binCounts[bin]++;
            }
            if (hasAdd) add += Add(p, g);
            if (hasDense) dense[s] = MeanDistance(p.VerticesCam!, g.VerticesCam!, g.Id);
        }
        var binMae = binSum.Select((sum, b) => binCounts[b] == 0 ? double.NaN : sum / binCounts[b]).ToArray();
        const double mm = 1000;
        return new PoseErrors
        {
            N = n,
            Yaw = yaw / n, Pitch = pitch / n, Roll = roll / n,
            MaeR = (yaw + pitch + roll) / (3.0 * n),
            Ge = ge / n,
            TxMm = tx / n * mm, TyMm = ty / n * mm, TzMm = tz / n * mm,
            MaeTMm = (tx + ty + tz) / (3.0 * n) * mm,
            Bmae = BinWidth / BinRange * binMae.Where(double.IsFinite).Sum(),
            BmaeEmptyBins = binCounts.Count(c => c == 0),
            BinCounts = binCounts,
            BinMaeR = binMae,
            AddMm = hasAdd ? add / n * mm : null,
            DenseMedianMm = hasDense ? Median(dense) * mm : null,
            DenseMeanMm = hasDense ? dense.Average() * mm : null,
        };
    }

    /// <summary>arccos(clip((trace(R_pred R_gtᵀ) - 1) / 2, -1 + 1e-7, 1 - 1e-7)) in degrees, on the matrices as given.</summary>
    public static double GeodesicDegrees(ReadOnlySpan<double> prediction, ReadOnlySpan<double> truth)
    {
        double trace = 0;
        for (int i = 0; i < 9; i++) trace += prediction[i] * truth[i];
        double c = Math.Clamp((trace - 1) / 2, -1 + GeodesicClip, 1 - GeodesicClip);
        return Math.Acos(c) * (180 / Math.PI);
    }

    /// <summary>Mean over the truth's head-space vertices of ||(R_p v + T_p) - (R_g v + T_g)||, metres.</summary>
    private static double Add(PoseSample p, PoseSample g)
    {
        var v = g.VerticesHead!;
        double[] rp = p.Rotation, rg = g.Rotation, tp = p.Translation, tg = g.Translation;
        double sum = 0;
        for (int k = 0; k < v.Length; k += 3)
        {
            double d2 = 0;
            for (int i = 0; i < 3; i++)
            {
                double a = rp[i * 3] * v[k] + rp[i * 3 + 1] * v[k + 1] + rp[i * 3 + 2] * v[k + 2] + tp[i];
                double b = rg[i * 3] * v[k] + rg[i * 3 + 1] * v[k + 1] + rg[i * 3 + 2] * v[k + 2] + tg[i];
                d2 += (a - b) * (a - b);
            }
            sum += Math.Sqrt(d2);
        }
        return sum / (v.Length / 3);
    }

    private static double MeanDistance(double[] a, double[] b, string id)
    {
        if (a.Length != b.Length)
            throw new TrgException(ErrorKind.InvalidData, $"sample '{id}': {a.Length / 3} predicted camera-space vertices but {b.Length / 3} in the ground truth");
        double sum = 0;
        for (int k = 0; k < a.Length; k += 3)
        {
            double dx = a[k] - b[k], dy = a[k + 1] - b[k + 1], dz = a[k + 2] - b[k + 2];
            sum += Math.Sqrt(dx * dx + dy * dy + dz * dz);
        }
        return sum / (a.Length / 3);
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        int m = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
    }
}
