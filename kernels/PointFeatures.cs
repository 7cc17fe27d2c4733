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
    /// <summary>Channel groups of <see cref="PointFeatures.SampleChannels"/> (the last may be partial).</summary>
    public readonly int ChannelGroups => Tiling.CeilDiv(Channels, PointFeatures.SampleChannels);
    /// <summary>One thread per (face, channel group, point), points fastest.</summary>
    public readonly int ThreadCount => Batch * ChannelGroups * Points;
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
    public readonly int OutChannelsPadded => Tiling.PadChannels(OutChannels, PointFeatures.ChannelTile);
    public readonly int PositionThreads => Tiling.CeilDiv(Points, Tiling.Positions);
    public readonly int ChannelBlocks => OutChannelsPadded / PointFeatures.ChannelTile;
    /// <summary>One thread per (batch, channel block, point thread), points fastest.</summary>
    public readonly long ThreadCount => (long)Batch * ChannelBlocks * PositionThreads;
    public readonly KernelConfig Config(int maxGroup) => Tiling.Flat(ThreadCount, maxGroup);
}

/// <summary>Point sampling, bilinear grid sampling and the per-point MLP.</summary>
public static class PointFeatures
{
    /// <summary>Channels a <see cref="Sample"/> thread samples at its point.</summary>
    public const int SampleChannels = 32;

    /// <summary>
    /// One thread per (face, group of <see cref="SampleChannels"/> channels, point). Computes the point once — the
    /// 18x18 grid at iteration 0, else the projection of subsampled vertex n with the previous iteration's R, T — with
    /// its bilinear taps and weights (grid_sample(align_corners=True, zeros)), then samples each channel of its group
    /// with four loads. Threads of channel group 0 also write the sampling point and the regressor input's tail:
    /// face[subsample] (head space), pose9 and the box info. (One thread per channel recomputed the point, R and T for
    /// every channel: docs/devices.md, "Transposed convolutions and the iteration".)
    /// </summary>
    public static void Sample(
        ArrayView<float> featureMap, ArrayView<float> pointsGrid, ArrayView<int> subsample,
        ArrayView<float> initFace, ArrayView<float> initPose, ArrayView<FaceParams> faces,
        ArrayView<float> results, ArrayView<float> sampled, ArrayView<float> regressorInput, SampleParams p)
    {
        int gid = Grid.GlobalIndex.X;
        if (gid >= p.ThreadCount) return;
        int n = gid % p.Points;
        int group = (gid / p.Points) % p.ChannelGroups;
        int b = gid / (p.Points * p.ChannelGroups);
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
            if (group == 0)
            {
                int po = row + layout.Points + (p.Iteration - 1) * p.Points * 2 + 2 * n;
                results[po] = u;
                results[po + 1] = v;
            }
        }

        var taps = new BilinearTaps(p.MapSize, gx, gy);
        int c0 = group * SampleChannels;
        int c1 = c0 + SampleChannels < p.Channels ? c0 + SampleChannels : p.Channels;
        int planeSize = p.MapSize * p.MapSize;
        for (int c = c0; c < c1; c++)
            sampled[(b * p.Channels + c) * p.Points + n] = taps.Sample(featureMap, (b * p.Channels + c) * planeSize);

        if (group != 0) return;
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


    /// <summary>Output channels per <see cref="PointMlp"/> thread (and the packing's channel padding).</summary>
    public const int ChannelTile = 16;

    /// <summary>
    /// One point-MLP layer: out[b, o, n] = act(sum_k W[k, o] [extra; features][b, k, n] + bias[o]). Weights packed
    /// <c>[k * OutPadded + o]</c> (padded to 16 channels) with the extra (previous layer) rows first, as in the concat.
    /// A thread owns 16 channels x 4 consecutive points (<see cref="Tile4x16"/>, fused multiply-adds): each input
    /// row's four values are one contiguous load. The last thread of a row moves its run back to end at the last point
    /// (it recomputes and stores a few of its neighbour's outputs, with the same values), so every load is in bounds;
    /// maps of fewer than 4 points clamp each index instead.
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
        int o = (g / q % p.ChannelBlocks) * ChannelTile;
        int b = g / q / p.ChannelBlocks;
        bool whole = p.Points >= Tiling.Positions;
        int n0 = whole ? Min(Tiling.Positions * t, p.Points - Tiling.Positions) : 0;
        int last = p.Points - 1;
        var tile = whole
            ? MlpTile(extra, features, weight, p, o, b, n0, n0 + 1, n0 + 2, n0 + 3)
            : MlpTile(extra, features, weight, p, o, b, 0, Min(1, last), Min(2, last), Min(3, last));
        if (!active) return;
        for (int c = 0; c < ChannelTile; c++)
        {
            if (o + c >= p.OutChannels) break;
            int ob = b * p.OutBatchStride + (o + c) * p.Points;
            float bc = bias[o + c];
            for (int k = 0; k < Tiling.Positions; k++)
                if (n0 + k < p.Points) output[ob + n0 + k] = Act.Apply(tile.Get(k, c) + bc, p.Activation);
        }
    }

    /// <summary>The accumulators of points m0..m3 (rows of the tile) over [extra; features], 16 channels from <paramref name="o"/>.</summary>
    private static Tile4x16 MlpTile(ArrayView<float> extra, ArrayView<float> features, ArrayView<float> weight, PointMlpParams p,
        int o, int b, int m0, int m1, int m2, int m3)
    {
        var tile = new Tile4x16();
        int outPad = p.OutChannelsPadded;
        int w = o;
        int x = b * p.ExtraChannels * p.Points;
        for (int k = 0; k < p.ExtraChannels; k++)
        {
            tile.Add(weight, w, extra[x + m0], extra[x + m1], extra[x + m2], extra[x + m3]);
            w += outPad;
            x += p.Points;
        }
        x = b * p.FeatureChannels * p.Points;
        for (int k = 0; k < p.FeatureChannels; k++)
        {
            tile.Add(weight, w, features[x + m0], features[x + m1], features[x + m2], features[x + m3]);
            w += outPad;
            x += p.Points;
        }
        return tile;
    }

    private static int Min(int a, int b) => a < b ? a : b;
}

/// <summary>
/// The four taps of grid_sample(align_corners=True, padding zeros) at one normalised point of a square map: offsets
/// within a plane (clamped into it, so every load is in bounds), whether each lies inside the map, and PyTorch's
/// weights (distances to the far corner, not 1 - fraction). Computed once a point, used for every channel.
/// </summary>
internal readonly struct BilinearTaps
{
    private readonly int _o00, _o10, _o01, _o11;
    private readonly bool _in00, _in10, _in01, _in11;
    private readonly float _w00, _w10, _w01, _w11;

    public BilinearTaps(int size, float gx, float gy)
    {
        float x = (gx + 1f) / 2f * (size - 1);
        float y = (gy + 1f) / 2f * (size - 1);
        float fx0 = MathF.Floor(x), fy0 = MathF.Floor(y);
        // Points far outside (or not finite) contribute nothing; also keeps the int conversion in range.
        bool near = fx0 >= -2f && fx0 <= size && fy0 >= -2f && fy0 <= size;
        int x0 = near ? (int)fx0 : -2, y0 = near ? (int)fy0 : -2;
        float wx0 = fx0 + 1f - x, wx1 = x - fx0, wy0 = fy0 + 1f - y, wy1 = y - fy0;
        _w00 = near ? wx0 * wy0 : 0f; _w10 = near ? wx1 * wy0 : 0f; _w01 = near ? wx0 * wy1 : 0f; _w11 = near ? wx1 * wy1 : 0f;
        bool x0In = x0 >= 0 && x0 < size, x1In = x0 + 1 >= 0 && x0 + 1 < size;
        bool y0In = y0 >= 0 && y0 < size, y1In = y0 + 1 >= 0 && y0 + 1 < size;
        _in00 = x0In && y0In; _in10 = x1In && y0In; _in01 = x0In && y1In; _in11 = x1In && y1In;
        _o00 = _in00 ? y0 * size + x0 : 0; _o10 = _in10 ? y0 * size + x0 + 1 : 0;
        _o01 = _in01 ? (y0 + 1) * size + x0 : 0; _o11 = _in11 ? (y0 + 1) * size + x0 + 1 : 0;
    }

    /// <summary>The sample of the plane starting at <paramref name="plane"/>, summed in PyTorch's order.</summary>
    public float Sample(ArrayView<float> map, int plane)
    {
        float t00 = map[plane + _o00], t10 = map[plane + _o10], t01 = map[plane + _o01], t11 = map[plane + _o11];
        return (_in00 ? t00 : 0f) * _w00 + (_in10 ? t10 : 0f) * _w10 + (_in01 ? t01 : 0f) * _w01 + (_in11 ? t11 : 0f) * _w11;
    }
}
