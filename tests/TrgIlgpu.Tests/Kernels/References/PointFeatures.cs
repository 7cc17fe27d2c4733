using TrgIlgpu.Kernels;

namespace TrgIlgpu.Tests.Kernels.References;

/// <summary>MODEL_SPEC 4a-4c in float64: sampling points, grid_sample, the regressor input's tail, the point MLP.</summary>
public static class RefPointFeatures
{
    public const int Subsampled = 305;
    public const int TailLength = Subsampled * 3 + 9 + 3;

    /// <summary>
    /// grid_sample(align_corners=True, padding_mode='zeros') of one [size, size] plane at normalised (gx, gy):
    /// X = (gx + 1) / 2 (size - 1), bilinear over the four surrounding cells, cells outside the map are 0.
    /// Returns the value, its sum of |terms|, and a bound on |d value / dX| + |d value / dY| near the point
    /// (for the slack of a coordinate float32 holds only approximately).
    /// </summary>
    public static (double Value, double Scale, double Slope) GridSample(ReadOnlySpan<float> plane, int size, double gx, double gy)
    {
        double x = (gx + 1) / 2 * (size - 1), y = (gy + 1) / 2 * (size - 1);
        // Beyond two cells outside every tap and every neighbour is padding.
        if (!(x > -3 && x < size + 2 && y > -3 && y < size + 2)) return (0, 0, 0);
        int x0 = (int)Math.Floor(x), y0 = (int)Math.Floor(y);
        double fx = x - x0, fy = y - y0;
        double sum = 0, mag = 0;
        for (int k = 0; k < 4; k++)
        {
            int tx = x0 + (k & 1), ty = y0 + (k >> 1);
            double t = ((k & 1) == 1 ? fx : 1 - fx) * ((k >> 1) == 1 ? fy : 1 - fy) * Cell(plane, size, tx, ty);
            sum += t;
            mag += Math.Abs(t);
        }
        double slope = 0;
        for (int yy = y0 - 1; yy <= y0 + 2; yy++)
            for (int xx = x0 - 1; xx <= x0 + 2; xx++)
                slope = Math.Max(slope, Math.Max(Math.Abs(Cell(plane, size, xx + 1, yy) - Cell(plane, size, xx, yy)),
                                                 Math.Abs(Cell(plane, size, xx, yy + 1) - Cell(plane, size, xx, yy))));
        return (sum, mag, 2 * slope);
    }

    private static double Cell(ReadOnlySpan<float> plane, int size, int x, int y) =>
        x < 0 || y < 0 || x >= size || y >= size ? 0 : plane[y * size + x];

    /// <summary>One iteration's sampling step: the points (crop pixels, iterations > 0), the sampled features and the tail.</summary>
    public sealed record SampleResult(RefTensor Sampled, RefTensor? Points, RefTensor Tail);

    /// <summary>
    /// Iteration 0 samples the given grid (<paramref name="grid"/>: x of every point, then y); later iterations project
    /// face[subsample] with the previous iteration's pose (both read from the results rows <paramref name="state"/>).
    /// Sampled features [B, C, N] are evaluated at <paramref name="samplingPoints"/> when given (the crop pixels the
    /// kernel reports, checked separately against <see cref="SampleResult.Points"/>), so that their tolerance carries
    /// only the rounding of the pixel -> map-coordinate conversion.
    /// </summary>
    public static SampleResult Sample(float[] map, int batch, int channels, int size, int points, int iteration,
        float[] grid, int[] subsample, float[] initFace, float[] initPose, FaceParams[] faces, float[] state, ResultLayout layout,
        Func<int, int, (double U, double V)?>? samplingPoints = null)
    {
        var sampled = new RefTensor(batch * channels * points);
        var pts = iteration == 0 ? null : new RefTensor(batch * points * 2);
        var tail = new RefTensor(batch * TailLength);
        const double eps = 6e-8;
        for (int b = 0; b < batch; b++)
        {
            var f = faces[b];
            int row = b * layout.Stride;
            var face = iteration == 0 ? initFace.AsSpan() : state.AsSpan(row + layout.FaceHead, 3660);
            var pose = iteration == 0 ? initPose.AsSpan() : state.AsSpan(row + layout.PoseHistory + 9 * (iteration - 1), 9);

            double[]? r = null, t = null, tScale = null;
            double cond = 0;
            if (iteration > 0)
            {
                r = RefPose.Rot6dToMatrix(pose);
                cond = RefPose.Rot6dConditioning(pose);
                (t, tScale) = RefPose.Translation(f, pose[6], pose[7], pose[8]);
            }
            for (int n = 0; n < points; n++)
            {
                double gx, gy, dX, dY;
                if (iteration == 0)
                {
                    gx = grid[n];
                    gy = grid[points + n];
                    dX = 4 * eps * (Math.Abs(gx) + 1) * size;
                    dY = 4 * eps * (Math.Abs(gy) + 1) * size;
                }
                else
                {
                    int v = 3 * subsample[n];
                    var (c, cScale) = RefPose.Transform(r!, cond, t!, tScale!, face[v], face[v + 1], face[v + 2]);
                    var (u, w, su, sw) = RefPose.ProjectToCrop(f, c, cScale);
                    pts!.Set((b * points + n) * 2, u, su);
                    pts.Set((b * points + n) * 2 + 1, w, sw);
                    if (samplingPoints?.Invoke(b, n) is { } kp && double.IsFinite(kp.U) && double.IsFinite(kp.V)) (u, w) = kp;
                    gx = u / 192 * 2 - 1;
                    gy = w / 192 * 2 - 1;
                    dX = 4 * eps * (Math.Abs(gx) + 1) * size;
                    dY = 4 * eps * (Math.Abs(gy) + 1) * size;
                }
                for (int ch = 0; ch < channels; ch++)
                {
                    var plane = map.AsSpan((b * channels + ch) * size * size, size * size);
                    var (value, scale, slope) = GridSample(plane, size, gx, gy);
                    sampled.Set((b * channels + ch) * points + n, value, scale, slope * (dX + dY));
                }
            }

            int o = b * TailLength;
            for (int n = 0; n < Subsampled; n++)
                for (int k = 0; k < 3; k++) tail.Set(o + 3 * n + k, face[3 * subsample[n] + k], 0);
            for (int k = 0; k < 9; k++) tail.Set(o + 915 + k, pose[k], 0);
            var (info, infoScale) = RefPose.BoxInfo(f);
            for (int k = 0; k < 3; k++) tail.Set(o + 924 + k, info[k], infoScale[k]);
        }
        return new SampleResult(sampled, pts, tail);
    }

    /// <summary>
    /// One laf_extractor layer, a 1x1 Conv1d on the concatenation [extra; features] (extra first, as torch.cat([y, f]));
    /// weight [Out, extraChannels + featureChannels]. Inputs [B, C, N]; output [B, Out, N].
    /// </summary>
    public static RefTensor PointMlp(float[]? extra, int extraChannels, float[] features, int featureChannels,
        int batch, int points, float[] w, float[] bias, int outs, Activation act)
    {
        int ins = extraChannels + featureChannels;
        var y = new RefTensor(batch * outs * points);
        for (int b = 0; b < batch; b++)
            for (int o = 0; o < outs; o++)
                for (int n = 0; n < points; n++)
                {
                    double sum = bias[o], mag = Math.Abs(sum);
                    for (int k = 0; k < ins; k++)
                    {
                        double x = k < extraChannels
                            ? extra![(b * extraChannels + k) * points + n]
                            : features[(b * featureChannels + k - extraChannels) * points + n];
                        double t = w[o * ins + k] * x;
                        sum += t;
                        mag += Math.Abs(t);
                    }
                    y.Set((b * outs + o) * points + n, sum, mag);
                }
        return RefActivation.Apply(y, act);
    }
}
