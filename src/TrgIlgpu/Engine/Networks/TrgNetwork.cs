using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Kernels;
using TrgIlgpu.Model;

namespace TrgIlgpu.Engine;

/// <summary>
/// The TRG / TRGv2 forward as a graph: crop, ResNet-18, deconvolutions interleaved with the iterations that sample
/// them, heatmap head, soft-argmax, final geometry. Every dimension comes from <see cref="VariantInfo"/>, the packed
/// layers and the shapes the builder infers; the per-face results row is an external the ops write by region.
/// </summary>
internal sealed class TrgNetwork
{
    /// <summary>Colour channels of the crop (RGB), as <see cref="Preprocess.CropNormalize"/> writes them.</summary>
    private const int ImageChannels = 3;

    private readonly NetworkBuilder _nb;
    private readonly VariantInfo _v;
    private readonly ResultLayout _layout;
    private readonly int _batch;
    private readonly GraphTensor _images, _faces, _results, _initFace, _initPose, _pointsGrid, _subsample;
    private readonly ArrayView<FaceParams> _facesView;

    private TrgNetwork(NetworkBuilder nb, int batch, ResultLayout layout,
        MemoryBuffer1D<FaceParams, Stride1D.Dense> faces, MemoryBuffer1D<float, Stride1D.Dense> results)
    {
        _nb = nb;
        var w = TrgWeights(nb);
        _v = w.Variant;
        _batch = batch;
        _layout = layout;
        var g = nb.Graph;
        // The uploaded images (bytes, resized per call) and the per-face crop parameters; the kernels bind them directly.
        _images = g.External("images", null);
        _faces = g.External("faces", new TensorShape(batch));
        _facesView = faces.View;
        _results = g.External("results", new TensorShape(batch, layout.Stride), () => results.View);
        _initFace = nb.Constant("init_face", w.InitFace);
        _initPose = nb.Constant("init_pose", w.InitPose);
        _pointsGrid = nb.Constant("points_grid", w.PointsGrid);
        _subsample = g.External("subsample", new TensorShape(checked((int)w.Subsample.Length)));
    }

    /// <summary>The TRG model's weights and constants (the builder of a TRG forward is made over them).</summary>
    private static DeviceWeights TrgWeights(NetworkBuilder nb) => nb.Weights as DeviceWeights
        ?? throw new InvalidOperationException("the TRG network is built over a TRG model's DeviceWeights");

    /// <summary>Adds the whole forward for <paramref name="batch"/> faces to <paramref name="nb"/>'s graph.</summary>
    public static void Build(NetworkBuilder nb, int batch, ResultLayout layout, Func<ArrayView<byte>> images,
        MemoryBuffer1D<FaceParams, Stride1D.Dense> faces, MemoryBuffer1D<float, Stride1D.Dense> results) =>
        new TrgNetwork(nb, batch, layout, faces, results).Define(images);

    private void Define(Func<ArrayView<byte>> images)
    {
        var nb = _nb;
        var x = Preprocess(images);
        var c1 = nb.Conv("conv1", x, 7, 2, Padding2D.Symmetric(3), Activation.Relu);
        var cur = nb.MaxPool3x3S2("maxpool", c1);
        for (int li = 1; li <= 4; li++)
            for (int bi = 0; bi < 2; bi++)
            {
                // The first block of layers 2-4 downsamples (stride 2 in its conv1, projection shortcut in its conv2).
                int stride = li > 1 && bi == 0 ? 2 : 1;
                var y = nb.Conv($"layer{li}.{bi}.conv1", cur, 3, stride, Padding2D.Symmetric(1), Activation.Relu);
                cur = nb.Conv($"layer{li}.{bi}.conv2", y, 3, 1, Padding2D.Symmetric(1), Activation.Relu, shortcut: cur);
            }

        // Deconvolution stages interleaved with the iterations that sample them (TRG: iteration i samples stage i;
        // TRGv2: both iterations sample the last stage).
        for (int d = 0; d < _v.DeconvStages; d++)
        {
            cur = nb.Deconv4x4S2($"deconv{d}", cur, Activation.Relu);
            if (_v.Variant == ModelVariant.Trg) Iteration(d, cur);
        }
        if (_v.Variant == ModelVariant.TrgV2)
            for (int i = 0; i < _v.Iterations; i++) Iteration(i, cur);

        var heat = _v.Variant == ModelVariant.TrgV2
            ? nb.Conv("heatmap.conv1x1", nb.Conv("heatmap.conv3x3", cur, 3, 1, Padding2D.Symmetric(1), Activation.LeakyRelu), 1, 1, Padding2D.Valid, Activation.None)
            : nb.Conv("heatmap.conv1x1", cur, 1, 1, Padding2D.Valid, Activation.None);
        SoftArgmax(heat);
        FinalGeometry();
        // The crop and the block outputs that only stride-2 convolutions read are written as their phase planes.
        nb.WritePlanesInProducers();
    }

    private GraphTensor Preprocess(Func<ArrayView<byte>> images)
    {
        const int s = VariantInfo.InputSize;
        int b = _batch;
        var x = _nb.Graph.Activation("preprocess", TensorShape.Nchw(b, ImageChannels, s, s));
        var k = _nb.Kernels;
        var faces = _facesView;
        long flops = (long)b * s * s * 40;
        var op = _nb.Graph.Add("preprocess", "CropNormalize", x.Shape!.ToString(), flops, (long)b * s * s * ImageChannels * 5,
            k.Config(TrgIlgpu.Kernels.Preprocess.ThreadCount(b)), [_images, _faces], [x], (st, c) => k.CropNormalize(st, c, images(), faces, x.View, b));
        var g = _nb.Graph;
        TensorAccess[] reads = [_images, _faces];
        _nb.CanWritePlanes(x, op, split => TrgIlgpu.Kernels.Preprocess.SupportsPlanes(split, b), (splitOp, planes, split) =>
            g.Fuse(op, splitOp, nameof(TrgIlgpu.Kernels.Preprocess.CropNormalizePlanes), NetworkBuilder.PlanesText(x.Shape!.ToString(), planes, splitOp),
                flops, (long)b * s * s * ImageChannels + 4 * planes.Length, k.Config(TrgIlgpu.Kernels.Preprocess.PlanesThreadCount(split)), reads, [planes],
                (st, c) => k.CropNormalizePlanes(st, c, images(), faces, planes.View, split)));
        return x;
    }

    /// <summary>One refinement: sample the map at the projected points, point MLP x3, regressor, state update.</summary>
    private void Iteration(int i, GraphTensor map)
    {
        var nb = _nb;
        var g = nb.Graph;
        string op = $"iter{i}.sample";
        var mapShape = NetworkBuilder.Input(op, map);
        if (mapShape.Rank != 4 || mapShape[2] != mapShape[3]) throw new GraphException(op, $"samples a square NCHW map, got {mapShape}");
        int b = _batch, n = _v.PointCount(i), kin = _v.RegressorInput(i), mlpOut = nb.Layer($"mlp{i}.2").Layer.OutChannels;
        Shapes.RequireSameBatch(op, mapShape, new TensorShape(b));
        var sampled = g.Activation($"iter{i}.sampled", new TensorShape(b, mapShape[1], n));
        var xc = g.Activation($"iter{i}.regressor_input", new TensorShape(b, kin));
        var sp = new SampleParams
        {
            Batch = b, Channels = mapShape[1], MapSize = mapShape[2], Points = n, Iteration = i,
            RegressorInput = kin, RegressorTail = n * mlpOut, Layout = _layout,
        };
        bool first = i == 0;
        // Iteration 0 starts from the initial face and pose; later ones from the state in the results row.
        TensorAccess[] state = first ? [_pointsGrid, _initFace, _initPose] : [new(_results, "face_head"), new(_results, $"pose_history[{i - 1}]")];
        TensorAccess[] writes = first ? [sampled, new(xc, "vertex tail")] : [sampled, new(xc, "vertex tail"), new(_results, $"points[{i - 1}]")];
        var k = nb.Kernels;
        var w = TrgWeights(nb);
        var (faces, results, grid, initFace, initPose) = (_facesView, _results, _pointsGrid, _initFace, _initPose);
        g.Add(op, "Sample", $"{mapShape}@{n}pts->{sampled.Shape}", (long)sp.ThreadCount * 12, (long)sp.ThreadCount * 20, k.Config(sp.ThreadCount),
            [map, _subsample, _faces, .. state], writes, (st, c) =>
            k.Sample(st, c, map.View, grid.View, w.Subsample.View, initFace.View, initPose.View, faces, results.View, sampled.View, xc.View, sp));

        var y0 = Mlp(i, 0, null, sampled, Activation.LeakyRelu, null);
        var y1 = Mlp(i, 1, y0, sampled, Activation.LeakyRelu, null);
        Mlp(i, 2, y1, sampled, Activation.Relu, xc);
        var hidden = nb.Dense($"iter{i}.regressor", $"regressor{i}.hidden", xc, "(fc2*fc1)");
        StateUpdate(i, hidden);
    }

    /// <summary>A point-wise MLP layer over [extra; features]; with <paramref name="into"/>, written into the head of each of its rows.</summary>
    private GraphTensor Mlp(int i, int l, GraphTensor? extra, GraphTensor features, Activation act, GraphTensor? into)
    {
        string op = $"iter{i}.mlp{l}";
        var (layer, weight, bias, _) = _nb.Layer($"mlp{i}.{l}");
        var fShape = NetworkBuilder.Input(op, features);
        int b = fShape.Batch, featureCh = fShape[1], n = fShape[2], outCh = layer.OutChannels;
        int extraCh = 0;
        if (extra is not null)
        {
            var eShape = NetworkBuilder.Input(op, extra);
            Shapes.RequireShape(op, "the extra input", eShape, new TensorShape(b, eShape[1], n));
            extraCh = eShape[1];
        }
        int outPadded = Tiling.PadChannels(outCh, PointFeatures.ChannelTile);
        int inputs = NetworkBuilder.WeightInputs(op, layer.Weight.Length, outPadded, $"{outPadded} padded outputs");
        if (inputs != extraCh + featureCh)
            throw new GraphException(op, $"inputs have {extraCh}+{featureCh} channels, the weight expects {inputs}");
        var outShape = new TensorShape(b, outCh, n);
        if (into is not null)
        {
            var intoShape = NetworkBuilder.Input(op, into);
            if (intoShape.Rank != 2 || intoShape.Batch != b || intoShape[1] < outShape.ElementCount / b)
                throw new GraphException(op, $"cannot write {outShape} into the rows of {intoShape}");
        }
        var output = into ?? _nb.Graph.Activation(op, outShape);
        var p = new PointMlpParams
        {
            Batch = b, Points = n, ExtraChannels = extraCh, FeatureChannels = featureCh, OutChannels = outCh,
            Activation = (int)act, OutBatchStride = into is null ? outCh * n : into.Shape![1],
        };
        var reads = new List<TensorAccess> { features, weight, bias };
        if (extra is not null) reads.Insert(0, extra);
        var written = into is null ? new TensorAccess(output) : new TensorAccess(into, "mlp head");
        var k = _nb.Kernels;
        var dummy = _nb.Weights.Dummy;
        _nb.Graph.Add(op, "PointMlp", $"[{b},{extraCh}+{featureCh},{n}]->{outShape} {act}", 2L * b * n * outCh * (extraCh + featureCh),
            4L * (layer.Weight.Length + (long)b * n * (extraCh + featureCh + outCh)), p.Config(k.GroupSize), reads, [written], (st, c) =>
            k.PointMlp(st, c, extra?.View ?? dummy, features.View, weight.View, bias.View, output.View, p));
        return output;
    }

    /// <summary>The regressor's output layer, added straight into the face and pose state in the results row.</summary>
    private void StateUpdate(int i, GraphTensor hidden)
    {
        string op = $"iter{i}.update";
        var (layer, weight, bias, _) = _nb.Layer($"regressor{i}.out");
        var hShape = NetworkBuilder.Input(op, hidden);
        int b = hShape.Batch, outs = layer.OutChannels, face = VariantInfo.Vertices * 3, pose = outs - face;
        int inputs = NetworkBuilder.WeightInputs(op, layer.Weight.Length, Tiling.PadChannels(outs, Linear.ChannelTile), "padded outputs");
        Shapes.Dense(op, hShape, inputs, outs);
        var lp = new LinearParams { Batch = b, In = inputs, Out = outs, InStride = inputs, OutStride = 0 };
        TensorAccess[] previous = i == 0 ? [_initFace, _initPose] : [new(_results, "face_head"), new(_results, $"pose_history[{i - 1}]")];
        var k = _nb.Kernels;
        var (layout, results, initFace, initPose) = (_layout, _results, _initFace, _initPose);
        _nb.Graph.Add(op, "DenseStateUpdate", $"{hShape}->face+=[{b},{face}], pose9+=[{b},{pose}]", 2L * hShape.ElementCount * outs,
            4L * (layer.Weight.Length + (long)b * outs * 3), lp.Config(k.DenseGroupSize), [hidden, weight, bias, .. previous],
            [new(_results, "face_head"), new(_results, $"pose_history[{i}]")], (st, c) =>
            k.DenseStateUpdate(st, c, hidden.View, weight.View, bias.View, initFace.View, initPose.View, results.View, lp, layout, i));
    }

    private void SoftArgmax(GraphTensor heat)
    {
        const string op = "soft_argmax";
        var h = NetworkBuilder.Input(op, heat);
        if (h.Rank != 4 || h[1] != VariantInfo.Landmarks || h[2] != h[3])
            throw new GraphException(op, $"expects square heatmaps [{_batch},{VariantInfo.Landmarks},S,S], got {h}");
        var k = _nb.Kernels;
        var (layout, results) = (_layout, _results);
        int b = h.Batch, landmarks = h[1], size = h[2];
        _nb.Graph.Add(op, "SoftArgmax", $"{h}->{new TensorShape(b, landmarks, 2)}", h.ElementCount * 8, h.ElementCount * 4, Heatmap.Config(b * landmarks, size, k.GroupSize),
            [heat], [new(_results, "landmarks")], (st, c) =>
            k.SoftArgmax(st, c, heat.View, results.View, b, landmarks, size, layout.Stride, layout.Landmarks));
    }

    private void FinalGeometry()
    {
        int b = _batch, v = VariantInfo.Vertices;
        var k = _nb.Kernels;
        var (layout, faces, results) = (_layout, _facesView, _results);
        _nb.Graph.Add("geometry", "FinalGeometry", new TensorShape(b, v, 3).ToString(), (long)b * v * 30, (long)b * v * 24, k.Config(b * v),
            [_faces, new(_results, "face_head"), new(_results, "pose_history")],
            [new(_results, "face_cam"), new(_results, "rotations"), new(_results, "translations")], (st, c) =>
            k.FinalGeometry(st, c, faces, results.View, layout, b));
    }
}
