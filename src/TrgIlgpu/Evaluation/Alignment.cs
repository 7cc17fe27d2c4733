using System.Text.Json;
using TrgIlgpu.Formats;
using TrgIlgpu.Geometry;

namespace TrgIlgpu.Evaluation;

/// <summary>How the test-set landmarks are fitted to the train-set landmarks before dT is taken.</summary>
public enum AlignmentFit
{
    /// <summary>Rotation and uniform scale (Umeyama's similarity, by Horn's closed-form quaternion solution).</summary>
    Similarity,
    /// <summary>Rotation only (scale 1).</summary>
    Rigid,
}

/// <summary>Options of <see cref="Alignment.Solve"/>.</summary>
public sealed record AlignmentOptions
{
    /// <summary>Similarity (default) or rigid fit.</summary>
    public AlignmentFit Fit { get; init; } = AlignmentFit.Similarity;
    /// <summary>Convergence tolerance, metres: iterations stop when dT moves less than this (default 1e-10 m = 1e-7 mm).</summary>
    public double Tolerance { get; init; } = 1e-10;
    /// <summary>Most outer (reweighting) iterations; each runs Weiszfeld to <see cref="Tolerance"/> (at most 10,000 steps).</summary>
    public int MaxIterations { get; init; } = 1000;
}

/// <summary>
/// The result of <see cref="Alignment.Solve"/>: <c>L_train ≈ s R L_test + dT</c>. <see cref="Offset"/> is dT in the train
/// mesh's head frame, metres: add <c>R_pred dT</c> to a prediction made in the train topology to compare it with ground
/// truth in the test topology.
/// </summary>
public sealed record AlignmentResult(
    double[] Offset,
    double Scale,
    double[] Rotation,
    AlignmentFit Fit,
    int Iterations,
    bool Converged,
    double Tolerance,
    double[] Residuals)
{
    /// <summary>dT in millimetres.</summary>
    public double[] OffsetMm => Offset.Select(v => v * 1000).ToArray();

    /// <summary>The mean of the differences <c>L_train - s R L_test</c> (metres): what a least-squares dT would be, for comparison.</summary>
    public required double[] MeanOffset { get; init; }

    /// <summary>The offset for <see cref="MetricsOptions.Alignment"/> (head frame).</summary>
    public TranslationOffset ToOffset() => new(Offset[0], Offset[1], Offset[2], OffsetFrame.Head);
}

/// <summary>
/// Reference-system alignment between two mesh topologies (EVAL_SPEC Eq. 13) from corresponding 3-D landmarks.
/// Minimises <c>sum_i || L_train_i - (s R L_test_i + d) ||</c> (unsquared norms) over the fit (s, R) and d by
/// iteratively reweighted closed-form fits: a weighted Horn/Umeyama fit of (s, R) with weights 1/residual, then d as the
/// geometric median of <c>L_train_i - s R L_test_i</c> by Weiszfeld iterations, until d moves less than the tolerance.
/// </summary>
public static class Alignment
{
    /// <summary>Residuals below this (metres) are floored in the weights 1/r (Weiszfeld's singular case).</summary>
    public const double ResidualFloor = 1e-12;

    /// <summary>Finds dT from corresponding landmarks, each an N x 3 array (metres, flattened, N ≥ 3, same order).</summary>
    public static AlignmentResult Solve(double[] trainLandmarks, double[] testLandmarks, AlignmentOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(trainLandmarks);
        ArgumentNullException.ThrowIfNull(testLandmarks);
        options ??= new AlignmentOptions();
        if (trainLandmarks.Length != testLandmarks.Length)
            throw new TrgException(ErrorKind.Usage, $"{trainLandmarks.Length / 3} train landmarks but {testLandmarks.Length / 3} test landmarks: they must correspond one to one");
        if (trainLandmarks.Length % 3 != 0 || trainLandmarks.Length < 9)
            throw new TrgException(ErrorKind.Usage, "need at least 3 landmarks of 3 coordinates each");
        if (trainLandmarks.Concat(testLandmarks).Any(v => !double.IsFinite(v)))
            throw new TrgException(ErrorKind.Usage, "landmark coordinates must be finite");
        if (!(options.Tolerance > 0) || options.MaxIterations < 1)
            throw new TrgException(ErrorKind.Usage, "the tolerance must be positive and at least one iteration allowed");

        int n = trainLandmarks.Length / 3;
        var weights = Enumerable.Repeat(1.0, n).ToArray();
        double[] d = [0, 0, 0], rotation = [1, 0, 0, 0, 1, 0, 0, 0, 1];
        double scale = 1;
        bool converged = false;
        int iterations = 0;
        while (iterations < options.MaxIterations && !converged)
        {
            iterations++;
            (rotation, scale) = WeightedFit(trainLandmarks, testLandmarks, weights, options.Fit);
            var differences = Differences(trainLandmarks, testLandmarks, rotation, scale);
            var next = GeometricMedian(differences, options.Tolerance);
            converged = iterations > 1 && Distance(next, d) < options.Tolerance;
            d = next;
            for (int i = 0; i < n; i++) weights[i] = 1 / Math.Max(Distance(differences, i, d), ResidualFloor);
        }
        var final = Differences(trainLandmarks, testLandmarks, rotation, scale);
        var residuals = Enumerable.Range(0, n).Select(i => Distance(final, i, d)).ToArray();
        double[] mean = [0, 0, 0];
        for (int i = 0; i < n; i++) for (int c = 0; c < 3; c++) mean[c] += final[i * 3 + c] / n;
        return new AlignmentResult(d, scale, rotation, options.Fit, iterations, converged, options.Tolerance, residuals) { MeanOffset = mean };
    }

    /// <summary>
    /// The geometric median of points (N x 3 flattened) by Weiszfeld's iterations from their mean, stopping when a step
    /// is shorter than <paramref name="tolerance"/> (or after 10,000 steps); distances are floored at <see cref="ResidualFloor"/>.
    /// </summary>
    public static double[] GeometricMedian(double[] points, double tolerance)
    {
        int n = points.Length / 3;
        double[] m = [0, 0, 0];
        for (int i = 0; i < n; i++) for (int c = 0; c < 3; c++) m[c] += points[i * 3 + c] / n;
        for (int step = 0; step < 10_000; step++)
        {
            double[] num = [0, 0, 0];
            double den = 0;
            for (int i = 0; i < n; i++)
            {
                double w = 1 / Math.Max(Distance(points, i, m), ResidualFloor);
                for (int c = 0; c < 3; c++) num[c] += w * points[i * 3 + c];
                den += w;
            }
            double[] next = [num[0] / den, num[1] / den, num[2] / den];
            double moved = Distance(next, m);
            m = next;
            if (moved < tolerance) break;
        }
        return m;
    }

    /// <summary>
    /// Reads landmarks (metres): a JSON array of [x, y, z] rows, or an object with such an array under "landmarks", or
    /// a .npy array of shape (N, 3).
    /// </summary>
    public static double[] ReadLandmarks(string path)
    {
        if (!File.Exists(path)) throw new TrgException(ErrorKind.NotFound, "file not found", path);
        if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            Model.HostTensor t;
            try { t = Npy.Read(path); }
            catch (TrgException e) { throw new TrgException(ErrorKind.InvalidData, e.Message, null, e); }
            if (t.F32 is null || t.Shape.Length != 2 || t.Shape[1] != 3)
                throw Bad(path, $"a landmark .npy must be a float array of shape (N, 3), not {t.DType} {t.ShapeText}");
            return t.F32.Select(v => (double)v).ToArray();
        }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 16, CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw Bad(path, $"not JSON ({e.Message})"); }
        using (doc)
        {
            var rows = doc.RootElement;
            if (rows.ValueKind == JsonValueKind.Object && !rows.TryGetProperty("landmarks", out rows))
                throw Bad(path, "a JSON object needs a \"landmarks\" array");
            if (rows.ValueKind != JsonValueKind.Array) throw Bad(path, "landmarks must be an array of [x, y, z] rows");
            var values = new List<double>();
            int r = 0;
            foreach (var row in rows.EnumerateArray())
            {
                if (row.ValueKind != JsonValueKind.Array || row.GetArrayLength() != 3)
                    throw Bad(path, $"landmark {r} is not [x, y, z]");
                foreach (var v in row.EnumerateArray())
                {
                    if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var x) || !double.IsFinite(x))
                        throw Bad(path, $"landmark {r} has a coordinate that is not a finite number");
                    values.Add(x);
                }
                r++;
            }
            return values.ToArray();
        }
    }

    private static TrgException Bad(string path, string message) => new(ErrorKind.InvalidData, message, path);

    /// <summary>Weighted rotation (and scale) taking the test points onto the train points about their weighted centroids (Horn 1987).</summary>
    private static (double[] Rotation, double Scale) WeightedFit(double[] train, double[] test, double[] w, AlignmentFit fit)
    {
        int n = w.Length;
        double wsum = w.Sum();
        double[] mx = [0, 0, 0], my = [0, 0, 0];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) { mx[c] += w[i] * test[i * 3 + c] / wsum; my[c] += w[i] * train[i * 3 + c] / wsum; }
        var s = new double[3, 3];
        double spread = 0;
        for (int i = 0; i < n; i++)
            for (int a = 0; a < 3; a++)
            {
                double xa = test[i * 3 + a] - mx[a];
                spread += w[i] * xa * xa;
                for (int b = 0; b < 3; b++) s[a, b] += w[i] * xa * (train[i * 3 + b] - my[b]);
            }
        if (spread <= 0) throw new TrgException(ErrorKind.Usage, "the test landmarks all coincide: no rotation can be fitted");
        double sxx = s[0, 0], sxy = s[0, 1], sxz = s[0, 2], syx = s[1, 0], syy = s[1, 1], syz = s[1, 2], szx = s[2, 0], szy = s[2, 1], szz = s[2, 2];
        var nm = new double[4, 4]
        {
            { sxx + syy + szz, syz - szy, szx - sxz, sxy - syx },
            { syz - szy, sxx - syy - szz, sxy + syx, szx + sxz },
            { szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy },
            { sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz },
        };
        var (_, vectors) = SmallLinearAlgebra.SymmetricEigen(nm);
        // The eigenvector of the largest eigenvalue (last, ascending) is the quaternion (w, x, y, z).
        var rotation = ScipyRotation.Matrix([vectors[1, 3], vectors[2, 3], vectors[3, 3], vectors[0, 3]]);
        if (fit == AlignmentFit.Rigid) return (rotation, 1);
        double dot = 0;
        for (int i = 0; i < n; i++)
            for (int a = 0; a < 3; a++)
            {
                double rx = 0;
                for (int b = 0; b < 3; b++) rx += rotation[a * 3 + b] * (test[i * 3 + b] - mx[b]);
                dot += w[i] * (train[i * 3 + a] - my[a]) * rx;
            }
        return (rotation, dot / spread);
    }

    /// <summary>L_train_i - s R L_test_i for every landmark (N x 3 flattened).</summary>
    private static double[] Differences(double[] train, double[] test, double[] r, double scale)
    {
        var d = new double[train.Length];
        for (int i = 0; i < train.Length; i += 3)
            for (int a = 0; a < 3; a++)
                d[i + a] = train[i + a] - scale * (r[a * 3] * test[i] + r[a * 3 + 1] * test[i + 1] + r[a * 3 + 2] * test[i + 2]);
        return d;
    }

    private static double Distance(double[] points, int i, double[] m)
    {
        double dx = points[i * 3] - m[0], dy = points[i * 3 + 1] - m[1], dz = points[i * 3 + 2] - m[2];
        return Math.Sqrt(dx * dx + dy * dy + dz * dz);
    }

    private static double Distance(double[] a, double[] b) => Distance(a, 0, b);
}
