using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>One iteration's sampling step (MODEL_SPEC 4a-4b) and where its outputs go.</summary>
public struct SampleParams
{
    public int Batch, Channels, MapSize, Points;
    /// <summary>0 for the first iteration (fixed grid); else the iteration index (projected mesh points).</summary>
    public int Iteration;
    /// <summary>Regressor input row: [point features | face[subsample] | pose9 | binfo], row length and tail offset.</summary>
    public int RegressorInput, RegressorTail;
    public ResultLayout Layout;
    public readonly int ThreadCount => Batch * Channels * Points;
}

/// <summary>Shape of one point-MLP layer: out = act(W [a; f] + bias) per point (1x1 Conv1d with skip concat).</summary>
public struct PointMlpParams
{
    public int Batch, Points;
    /// <summary>Channels of the previous layer's output (0 for the first layer) and of the sampled features.</summary>
    public int ExtraChannels, FeatureChannels;
    public int OutChannels, Activation;
    /// <summary>Output element (b, o, n) goes to <c>b * OutBatchStride + o * Points + n</c> (channel-major).</summary>
    public int OutBatchStride;
    public readonly int OutChannelsPadded => Tiling.PadChannels(OutChannels);
    public readonly int PositionThreads => Tiling.CeilDiv(Points, Tiling.Positions);
    public readonly int ChannelBlocks => OutChannelsPadded / Tiling.Channels;
    /// <summary>One thread per (batch, channel block, point thread), points fastest.</summary>
    public readonly long ThreadCount => (long)Batch * ChannelBlocks * PositionThreads;
    public readonly KernelConfig Config(int maxGroup) => Tiling.Flat(ThreadCount, maxGroup);
}

/// <summary>Point sampling, bilinear grid sampling and the per-point MLP.</summary>
public static class PointFeatures
{
    /// <summary>
    /// One thread per (face, channel, point). Computes the point — the 18x18 grid at iteration 0, else the
    /// projection of subsampled vertex n with the previous iteration's R, T — and samples the feature map as
    /// grid_sample(align_corners=True, zeros). Channel-0 threads also write the sampling point and the
    /// regressor input's tail: face[subsample] (head space), pose9 and the box info.
    /// </summary>
    public static void Sample(
        ArrayView<float> featureMap, ArrayView<float> pointsGrid, ArrayView<int> subsample,
        ArrayView<float> initFace, ArrayView<float> initPose, ArrayView<FaceParams> faces,
        ArrayView<float> results, ArrayView<float> sampled, ArrayView<float> regressorInput, SampleParams p)
    {
        int gid = Grid.GlobalIndex.X;
        if (gid >= p.ThreadCount) return;
        int n = gid % p.Points;
        int c = (gid / p.Points) % p.Channels;
        int b = gid / (p.Points * p.Channels);
        var f = faces[b];
        var layout = p.Layout;
        int row = b * layout.Stride;

        // State before this iteration: the initial buffers at iteration 0, else the results row.
        bool first = p.Iteration == 0;
        int pose = row + layout.PoseHistory + 9 * (p.Iteration - 1);

        float gx, gy;
        if (first)
        {
            gx = pointsGrid[n];
            gy = pointsGrid[p.Points + n];
        }
        else
        {
            var r = PoseMath.Rot6dToMatrix(results[pose], results[pose + 1], results[pose + 2], results[pose + 3], results[pose + 4], results[pose + 5]);
            var t = PoseMath.Translation(f, results[pose + 6], results[pose + 7], results[pose + 8]);
            int vtx = row + layout.FaceHead + 3 * subsample[n];
            var cam = r.Mul(new Vec3(results[vtx], results[vtx + 1], results[vtx + 2]));
            PoseMath.ProjectToCrop(f, new Vec3(cam.X + t.X, cam.Y + t.Y, cam.Z + t.Z), out float u, out float v);
            gx = u / 192f * 2f - 1f;
            gy = v / 192f * 2f - 1f;
            if (c == 0)
            {
                int po = row + layout.Points + (p.Iteration - 1) * p.Points * 2 + 2 * n;
                results[po] = u;
                results[po + 1] = v;
            }
        }

        sampled[gid] = Bilinear(featureMap, (b * p.Channels + c) * p.MapSize * p.MapSize, p.MapSize, gx, gy);

        if (c != 0) return;
        int tail = b * p.RegressorInput + p.RegressorTail;
        if (n < 305)
        {
            int vi = 3 * subsample[n];
            for (int k = 0; k < 3; k++)
                regressorInput[tail + 3 * n + k] = first ? initFace[vi + k] : results[row + layout.FaceHead + vi + k];
        }
        if (n == 0)
        {
            for (int k = 0; k < 9; k++)
                regressorInput[tail + 915 + k] = first ? initPose[k] : results[pose + k];
            float bsize = f.Right - f.Left;
            float cx = (f.Left + f.Right) * 0.5f, cy = (f.Top + f.Bottom) * 0.5f;
            regressorInput[tail + 924] = (cx - f.PrincipalX) / f.Focal * 4f;
            regressorInput[tail + 925] = (cy - f.PrincipalY) / f.Focal * 4f;
            regressorInput[tail + 926] = bsize / f.Focal;
        }
    }

    /// <summary>grid_sample(align_corners=True, padding zeros) of one channel plane at normalised (gx, gy).</summary>
    public static float Bilinear(ArrayView<float> map, int plane, int size, float gx, float gy)
    {
        float x = (gx + 1f) / 2f * (size - 1);
        float y = (gy + 1f) / 2f * (size - 1);
        float fx0 = MathF.Floor(x), fy0 = MathF.Floor(y);
        // Points far outside (or not finite) contribute nothing; also keeps the int conversion in range.
        if (!(fx0 >= -2f && fx0 <= size && fy0 >= -2f && fy0 <= size)) return 0f;
        int x0 = (int)fx0, y0 = (int)fy0;
        // Weights as PyTorch forms them: distances to the far corner, not 1 - fraction.
        float wx0 = fx0 + 1f - x, wx1 = x - fx0, wy0 = fy0 + 1f - y, wy1 = y - fy0;
        return Tap(map, plane, size, x0, y0) * (wx0 * wy0)
             + Tap(map, plane, size, x0 + 1, y0) * (wx1 * wy0)
             + Tap(map, plane, size, x0, y0 + 1) * (wx0 * wy1)
             + Tap(map, plane, size, x0 + 1, y0 + 1) * (wx1 * wy1);
    }

    private static float Tap(ArrayView<float> map, int plane, int size, int x, int y) =>
        x >= 0 && y >= 0 && x < size && y < size ? map[plane + y * size + x] : 0f;

    /// <summary>
    /// One point-MLP layer: out[b, o, n] = act(sum_k W[k, o] [extra; features][b, k, n] + bias[o]).
    /// Weights packed <c>[k * OutPadded + o]</c> with the extra (previous layer) rows first, as in the concat.
    /// </summary>
    public static void PointMlp(
        ArrayView<float> extra, ArrayView<float> features, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> output, PointMlpParams p)
    {
        // Uniform loops, no early exit (see Convolution.Conv2D).
        int q = p.PositionThreads;
        int total = (int)p.ThreadCount;
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        int t = g % q;
        int outPad = p.OutChannelsPadded;
        int o = (g / q % p.ChannelBlocks) * Tiling.Channels;
        int b = g / q / p.ChannelBlocks;
        int n0 = t, n1 = t + q, n2 = t + 2 * q, n3 = t + 3 * q;
        int last = p.Points - 1;
        int m0 = n0 < last ? n0 : last, m1 = n1 < last ? n1 : last, m2 = n2 < last ? n2 : last, m3 = n3 < last ? n3 : last;

        var a0 = new Acc4(); var a1 = new Acc4(); var a2 = new Acc4(); var a3 = new Acc4();
        int w = o;
        int x = b * p.ExtraChannels * p.Points;
        for (int k = 0; k < p.ExtraChannels; k++)
        {
            a0.Fma(weight, w, extra[x + m0]);
            a1.Fma(weight, w, extra[x + m1]);
            a2.Fma(weight, w, extra[x + m2]);
            a3.Fma(weight, w, extra[x + m3]);
            w += outPad;
            x += p.Points;
        }
        x = b * p.FeatureChannels * p.Points;
        for (int k = 0; k < p.FeatureChannels; k++)
        {
            a0.Fma(weight, w, features[x + m0]);
            a1.Fma(weight, w, features[x + m1]);
            a2.Fma(weight, w, features[x + m2]);
            a3.Fma(weight, w, features[x + m3]);
            w += outPad;
            x += p.Points;
        }
        if (!active) return;
        for (int c = 0; c < Tiling.Channels; c++)
        {
            if (o + c >= p.OutChannels) break;
            int ob = b * p.OutBatchStride + (o + c) * p.Points;
            float bc = bias[o + c];
            if (n0 < p.Points) output[ob + n0] = Act.Apply(a0.Get(c) + bc, p.Activation);
            if (n1 < p.Points) output[ob + n1] = Act.Apply(a1.Get(c) + bc, p.Activation);
            if (n2 < p.Points) output[ob + n2] = Act.Apply(a2.Get(c) + bc, p.Activation);
            if (n3 < p.Points) output[ob + n3] = Act.Apply(a3.Get(c) + bc, p.Activation);
        }
    }
}
