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
    /// <summary>Runs of <see cref="PointFeatures.PointRun"/> points a face (the last may overlap its neighbour).</summary>
    public readonly int PointRuns => Tiling.CeilDiv(Points, PointFeatures.PointRun);
    public readonly int ChannelBlocks => OutChannelsPadded / PointFeatures.ChannelTile;
    /// <summary>One thread per (batch, point run, channel block), channel blocks fastest.</summary>
    public readonly long ThreadCount => (long)Batch * PointRuns * ChannelBlocks;
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
    public const int ChannelTile = 8;

    /// <summary>Consecutive points per <see cref="PointMlp"/> thread: one 16-wide row of its accumulators.</summary>
    public const int PointRun = 16;

    /// <summary>
    /// One point-MLP layer: out[b, o, n] = act(sum_k W[k, o] [extra; features][b, k, n] + bias[o]). Weights packed
    /// <c>[k * OutPadded + o]</c> (padded to <see cref="ChannelTile"/> channels) with the extra (previous layer) rows
    /// first, as in the concat. The Winograd product's register shape (<see cref="Tile16x8"/>): a thread owns
    /// <see cref="PointRun"/> consecutive points x 8 channels; per input channel it makes one contiguous 16-point load
    /// (points are contiguous in [face, channel, point]), 8 broadcast weights (contiguous) and 8 16-wide fused
    /// multiply-adds. The last run of a face moves back to end at its last point (it recomputes and stores some of its
    /// neighbour's outputs, with the same values), so every load is in bounds and gather-free; maps of fewer than 16
    /// points clamp each index instead (a separate loop).
    /// </summary>
    public static void PointMlp(
        ArrayView<float> extra, ArrayView<float> features, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> output, PointMlpParams p)
    {
        // Uniform loops, no early exit (see Convolution.Conv2D): spare threads repeat the last one's work.
        int blocks = p.ChannelBlocks, runs = p.PointRuns;
        int total = (int)p.ThreadCount;
        bool active = Grid.GlobalIndex.X < total;
        int g = active ? Grid.GlobalIndex.X : total - 1;
        // Channel blocks fastest: neighbouring threads read the same 16 points of every input row.
        int o = g % blocks * ChannelTile;
        int run = g / blocks % runs, b = g / blocks / runs;
        bool whole = p.Points >= PointRun;
        int n0 = whole ? Min(PointRun * run, p.Points - PointRun) : 0;
        var tile = whole ? MlpRun(extra, features, weight, p, o, b, n0) : MlpClamped(extra, features, weight, p, o, b);
        if (!active) return;
        int at = b * p.OutBatchStride + o * p.Points + n0;
        int count = whole ? PointRun : p.Points;
        var act = (Activation)p.Activation;
        int c = p.OutChannels - o; // channels of this block that exist (the last block of the 5-output layer: 5)
        Put(output, at, tile.A0, bias[o], act, count);
        if (c > 1) Put(output, at + p.Points, tile.A1, bias[o + 1], act, count);
        if (c > 2) Put(output, at + 2 * p.Points, tile.A2, bias[o + 2], act, count);
        if (c > 3) Put(output, at + 3 * p.Points, tile.A3, bias[o + 3], act, count);
        if (c > 4) Put(output, at + 4 * p.Points, tile.A4, bias[o + 4], act, count);
        if (c > 5) Put(output, at + 5 * p.Points, tile.A5, bias[o + 5], act, count);
        if (c > 6) Put(output, at + 6 * p.Points, tile.A6, bias[o + 6], act, count);
        if (c > 7) Put(output, at + 7 * p.Points, tile.A7, bias[o + 7], act, count);
    }

    /// <summary>The accumulators of points n0..n0+15 over [extra; features], 8 channels from <paramref name="o"/>: contiguous loads.</summary>
    private static Tile16x8 MlpRun(ArrayView<float> extra, ArrayView<float> features, ArrayView<float> weight, PointMlpParams p,
        int o, int b, int n0)
    {
        var tile = new Tile16x8();
        int outPad = p.OutChannelsPadded;
        int w = o;
        int x = b * p.ExtraChannels * p.Points + n0;
        for (int k = 0; k < p.ExtraChannels; k++)
        {
            tile.Add(Acc16.Load(extra, x), weight, w);
            w += outPad;
            x += p.Points;
        }
        // The feature rows' weights as a view of their own, indexed from o again: continuing w from the loop above
        // made LLVM gather 4 of the 8 weights (docs/devices.md, "Transposed convolutions and the iteration").
        var featureWeight = weight.SubView(p.ExtraChannels * outPad);
        w = o;
        x = b * p.FeatureChannels * p.Points + n0;
        for (int k = 0; k < p.FeatureChannels; k++)
        {
            tile.Add(Acc16.Load(features, x), featureWeight, w);
            w += outPad;
            x += p.Points;
        }
        return tile;
    }

    /// <summary>As <see cref="MlpRun"/> from point 0 for maps of fewer than 16 points: point i reads min(i, last).</summary>
    private static Tile16x8 MlpClamped(ArrayView<float> extra, ArrayView<float> features, ArrayView<float> weight, PointMlpParams p,
        int o, int b)
    {
        var tile = new Tile16x8();
        int outPad = p.OutChannelsPadded, last = p.Points - 1;
        int w = o;
        int x = b * p.ExtraChannels * p.Points;
        for (int k = 0; k < p.ExtraChannels; k++)
        {
            tile.Add(Tile16x8.LoadClamped(extra, x, last), weight, w);
            w += outPad;
            x += p.Points;
        }
        var featureWeight = weight.SubView(p.ExtraChannels * outPad);
        w = o;
        x = b * p.FeatureChannels * p.Points;
        for (int k = 0; k < p.FeatureChannels; k++)
        {
            tile.Add(Tile16x8.LoadClamped(features, x, last), featureWeight, w);
            w += outPad;
            x += p.Points;
        }
        return tile;
    }

    /// <summary>output[at + i] = act(row[i] + bias) for the first <paramref name="count"/> points (16: all, unconditionally).</summary>
    private static void Put(ArrayView<float> output, int at, Acc16 row, float bias, Activation act, int count)
    {
        if (count == PointRun)
        {
            Tile16x8.Activated(row, bias, act).Store(output, at);
            return;
        }
        for (int i = 0; i < count; i++)
            output[at + i] = Act.Select(row.Get(i) + bias, act);
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
