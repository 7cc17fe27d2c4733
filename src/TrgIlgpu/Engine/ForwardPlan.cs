using System.Text;
using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Kernels;
using TrgIlgpu.Model;

namespace TrgIlgpu.Engine;

/// <summary>A 1-D launch shape: <paramref name="Groups"/> groups of <paramref name="GroupSize"/> threads.</summary>
public readonly record struct LaunchConfig(int Groups, int GroupSize)
{
    public static implicit operator LaunchConfig(KernelConfig c) => new(c.GridDim.Size, c.GroupDim.Size);
    public static implicit operator KernelConfig(LaunchConfig c) => new(c.Groups, c.GroupSize);
}

/// <summary>
/// One kernel launch of a forward pass: what it computes, its kernel (a <see cref="Backends.KernelCatalog"/> name),
/// its launch shape, its counted work, and the launch itself.
/// </summary>
public sealed record PlanOp(string Name, string Kernel, string Shape, long Flops, long Bytes, LaunchConfig Config, Action<AcceleratorStream> Launch);

/// <summary>
/// The forward pass for one batch size: an ordered list of launches over buffers assigned once. Activation buffers
/// are recycled (a small slot allocator reuses a buffer once its tensor is dead). Nothing is allocated while running.
/// </summary>
public sealed class ForwardPlan : IDisposable
{
    public int Batch { get; }
    public IReadOnlyList<PlanOp> Ops => _ops;
    public ResultLayout Layout { get; }
    public MemoryBuffer1D<FaceParams, Stride1D.Dense> Faces { get; }
    public MemoryBuffer1D<float, Stride1D.Dense> Results { get; }
    /// <summary>Bytes of device memory this plan allocated (activations, faces, results).</summary>
    public long AllocatedBytes { get; }

    private readonly List<PlanOp> _ops = new();
    private readonly List<Slot> _slots = new();
    private readonly DeviceWeights _w;
    private readonly DeviceKernels _k;

    /// <summary>A recyclable device buffer; its capacity is the largest tensor it ever holds.</summary>
    private sealed class Slot
    {
        public long Capacity;
        public bool Busy;
        public MemoryBuffer1D<float, Stride1D.Dense>? Buffer;
    }

    /// <summary>An activation tensor: a prefix of a slot. Views are resolved at launch time, after allocation.</summary>
    private sealed class Tensor(Slot slot, long length, string shape)
    {
        public Slot Slot { get; } = slot;
        public long Length { get; } = length;
        public string Shape { get; } = shape;
        public ArrayView<float> View => Slot.Buffer!.View.SubView(0, Length);
    }

    internal ForwardPlan(Accelerator accelerator, DeviceKernels kernels, DeviceWeights weights, Func<ArrayView<byte>> images, int batch)
    {
        Batch = batch;
        _w = weights;
        _k = kernels;
        var v = weights.Variant;
        Layout = new ResultLayout { Iterations = v.Iterations };
        Faces = accelerator.Allocate1D<FaceParams>(batch);
        Results = accelerator.Allocate1D<float>((long)batch * Layout.Stride);
        Build(images, v);
        foreach (var s in _slots) s.Buffer = accelerator.Allocate1D<float>(s.Capacity);
        AllocatedBytes = _slots.Sum(s => s.Capacity) * 4 + Faces.LengthInBytes + Results.LengthInBytes;
    }

    private Tensor Alloc(long length, string shape)
    {
        var slot = _slots.Where(s => !s.Busy).OrderByDescending(s => s.Capacity >= length).ThenBy(s => Math.Abs(s.Capacity - length)).FirstOrDefault();
        if (slot is null) { slot = new Slot(); _slots.Add(slot); }
        slot.Busy = true;
        slot.Capacity = Math.Max(slot.Capacity, length);
        return new Tensor(slot, length, shape);
    }

    private static void Free(params Tensor[] tensors)
    {
        foreach (var t in tensors) t.Slot.Busy = false;
    }

    private void Add(string name, string kernel, string shape, long flops, long bytes, KernelConfig config, Action<AcceleratorStream, KernelConfig> launch) =>
        _ops.Add(new PlanOp(name, kernel, shape, flops, bytes, config, st => launch(st, config)));

    private void Build(Func<ArrayView<byte>> images, VariantInfo v)
    {
        int b = Batch;
        const int s = VariantInfo.InputSize;
        var k = _k;
        var facesView = Faces.View;

        var x = Alloc((long)b * 3 * s * s, $"[{b},3,{s},{s}]");
        Add("preprocess", "CropNormalize", x.Shape, (long)b * s * s * 40, (long)b * s * s * 3 * 5, k.Config((long)b * s * s), (st, c) =>
            k.CropNormalize(st, c, images(), facesView, x.View, b));

        var c1 = Conv("conv1", x, 3, s, s, 7, 2, 3, Activation.Relu);
        Free(x);
        var pooled = Alloc((long)b * 64 * 48 * 48, $"[{b},64,48,48]");
        var pp = new PoolParams { Batch = b, Channels = 64, InHeight = 96, InWidth = 96, OutHeight = 48, OutWidth = 48 };
        Add("maxpool", "MaxPool3x3S2", pooled.Shape, pp.OutputCount * 9L, (long)b * 64 * (96 * 96 + 48 * 48) * 4, k.Config(pp.ThreadCount), (st, c) =>
            k.MaxPool(st, c, c1.View, pooled.View, pp));
        Free(c1);

        var cur = pooled;
        int ch = 64, hw = 48;
        for (int li = 1; li <= 4; li++)
        {
            int planes = 64 << (li - 1);
            for (int bi = 0; bi < 2; bi++)
            {
                int stride = li > 1 && bi == 0 ? 2 : 1;
                int outHw = hw / stride;
                var y = Conv($"layer{li}.{bi}.conv1", cur, ch, hw, hw, 3, stride, 1, Activation.Relu);
                var z = Conv($"layer{li}.{bi}.conv2", y, planes, outHw, outHw, 3, 1, 1, Activation.Relu,
                    shortcut: cur, shortcutChannels: ch, shortcutSize: hw, shortcutStride: stride);
                Free(y, cur);
                cur = z; ch = planes; hw = outHw;
            }
        }

        // Deconvolution stages interleaved with the iterations that sample them (TRG: iteration i samples stage i;
        // TRGv2: both iterations sample the last stage).
        var maps = new List<(Tensor map, int size)>();
        int cin = 512;
        for (int d = 0; d < v.DeconvStages; d++)
        {
            var o = Deconv($"deconv{d}", cur, cin, hw);
            Free(cur);
            cur = o; cin = 256; hw *= 2;
            if (v.Variant == ModelVariant.Trg) Iteration(d, cur, hw);
        }
        if (v.Variant == ModelVariant.TrgV2)
            for (int i = 0; i < v.Iterations; i++) Iteration(i, cur, hw);

        Tensor heat;
        if (v.Variant == ModelVariant.TrgV2)
        {
            var h1 = Conv("heatmap.conv3x3", cur, 256, hw, hw, 3, 1, 1, Activation.LeakyRelu);
            heat = Conv("heatmap.conv1x1", h1, 256, hw, hw, 1, 1, 0, Activation.None);
            Free(h1);
        }
        else
        {
            heat = Conv("heatmap.conv1x1", cur, 256, hw, hw, 1, 1, 0, Activation.None);
        }
        var layout = Layout;
        var results = Results.View;
        int size = hw;
        Add("soft_argmax", "SoftArgmax", $"[{b},68,{size},{size}]->[{b},68,2]", (long)b * 68 * size * size * 8, (long)b * 68 * size * size * 4, k.Config(b * 68), (st, c) =>
            k.SoftArgmax(st, c, heat.View, results, b, 68, size, layout.Stride, layout.Landmarks));
        Free(heat, cur);

        Add("geometry", "FinalGeometry", $"[{b},1220,3]", (long)b * 1220 * 30, (long)b * 1220 * 24, k.Config(b * 1220), (st, c) =>
            k.FinalGeometry(st, c, facesView, results, layout, b));
    }

    private Tensor Conv(string name, Tensor input, int cin, int h, int w, int kernel, int stride, int pad, Activation act,
        Tensor? shortcut = null, int shortcutChannels = 0, int shortcutSize = 0, int shortcutStride = 1)
    {
        var layer = _w[name];
        int cout = layer.OutChannels;
        int ho = (h + 2 * pad - kernel) / stride + 1, wo = (w + 2 * pad - kernel) / stride + 1;
        var p = new ConvParams
        {
            Batch = Batch, InChannels = cin, InHeight = h, InWidth = w, OutChannels = cout, OutHeight = ho, OutWidth = wo,
            Kernel = kernel, Stride = stride, Pad = pad, Activation = (int)act,
            ShortcutMode = shortcut is null ? Convolution.ShortcutNone : layer.HasShortcutWeight ? Convolution.ShortcutProjection : Convolution.ShortcutIdentity,
            ShortcutChannels = shortcutChannels, ShortcutHeight = shortcutSize, ShortcutWidth = shortcutSize, ShortcutStride = shortcutStride,
        };
        var output = Alloc((long)Batch * cout * ho * wo, $"[{Batch},{cout},{ho},{wo}]");
        long macs = (long)Batch * cout * ho * wo * (cin * kernel * kernel + (p.ShortcutMode == Convolution.ShortcutProjection ? shortcutChannels : 0));
        long bytes = 4 * ((long)Batch * cin * h * w + layer.Weight.Length + output.Length);
        var k = _k;
        var dummy = _w.Dummy;
        string sc = p.ShortcutMode switch { Convolution.ShortcutProjection => " +proj", Convolution.ShortcutIdentity => " +res", _ => "" };
        string shape = $"{input.Shape}->{output.Shape} k{kernel}s{stride}{sc} {act}";
        if (layer.Winograd)
        {
            // Packed for Winograd by PackedModel; only a 3x3 stride-1 pad-1 convolution can read that layout.
            if (!WinogradConvolution.Supports(p))
                throw new InvalidOperationException($"{name}: Winograd weights, but the convolution is k{kernel} s{stride} p{pad}");
            // Counted work stays the direct convolution's (an "effective" rate), so the two algorithms compare directly.
            var config = k.Config(WinogradConvolution.ThreadCount(p));
            Add(name, "WinogradF2x3", shape, 2 * macs, bytes, config, (st, c) =>
                k.WinogradConv3x3(st, c, input.View, layer.Weight.View, layer.Bias.View,
                    shortcut?.View ?? dummy, layer.ShortcutWeight?.View ?? dummy, output.View, p));
        }
        else if (StemConvolution.Supports(p))
        {
            // The 3-channel 7x7/2 stem (conv1): constant shape, 16 channels per thread (see StemConvolution).
            var config = k.Config(StemConvolution.ThreadCount(p));
            Add(name, "Stem7x7S2", shape, 2 * macs, bytes, config, (st, c) =>
                k.StemConv7x7S2(st, c, input.View, layer.Weight.View, layer.Bias.View, output.View, p));
        }
        else if (Convolution.SupportsWide(p))
        {
            // 16 channels per thread wherever the channel count allows it (see Convolution.Conv2DWide).
            var config = k.Config(Convolution.WideThreadCount(p));
            Add(name, "Conv2DWide", shape, 2 * macs, bytes, config, (st, c) =>
                k.Conv2DWide(st, c, input.View, layer.Weight.View, layer.Bias.View, shortcut?.View ?? dummy, output.View, p));
        }
        else
        {
            Add(name, "Conv2D", shape, 2 * macs, bytes, p.Config(k.GroupSize), (st, c) =>
                k.Conv2D(st, c, input.View, layer.Weight.View, layer.Bias.View,
                    shortcut?.View ?? dummy, layer.ShortcutWeight?.View ?? dummy, output.View, p));
        }
        return output;
    }

    private Tensor Deconv(string name, Tensor input, int cin, int hw)
    {
        var layer = _w[name];
        var p = new DeconvParams { Batch = Batch, InChannels = cin, InHeight = hw, InWidth = hw, OutChannels = 256, Activation = (int)Activation.Relu };
        var output = Alloc((long)Batch * 256 * 4 * hw * hw, $"[{Batch},256,{2 * hw},{2 * hw}]");
        var k = _k;
        long flops = 2L * Batch * 256 * 4 * hw * hw * cin * 4;
        long bytes = 4 * ((long)Batch * cin * hw * hw + layer.Weight.Length + output.Length);
        string shape = $"{input.Shape}->{output.Shape} Relu";
        Add(name, "Deconv4x4S2", shape, flops, bytes, p.Config(k.GroupSize), (st, c) =>
            k.Deconv(st, c, input.View, layer.Weight.View, layer.Bias.View, output.View, p));
        return output;
    }

    private void Iteration(int i, Tensor map, int mapSize)
    {
        var v = _w.Variant;
        int b = Batch, n = v.PointCount(i), kin = v.RegressorInput(i);
        var k = _k;
        var w = _w;
        var layout = Layout;
        var results = Results.View;
        var facesView = Faces.View;

        var sampled = Alloc((long)b * 256 * n, $"[{b},256,{n}]");
        var xc = Alloc((long)b * kin, $"[{b},{kin}]");
        var sp = new SampleParams
        {
            Batch = b, Channels = 256, MapSize = mapSize, Points = n, Iteration = i,
            RegressorInput = kin, RegressorTail = n * 5, Layout = layout,
        };
        Add($"iter{i}.sample", "Sample", $"{map.Shape}@{n}pts->{sampled.Shape}", (long)sp.ThreadCount * 12, (long)sp.ThreadCount * 20, k.Config(sp.ThreadCount), (st, c) =>
            k.Sample(st, c, map.View, w.PointsGrid.View, w.Subsample.View, w.InitFace.View, w.InitPose.View,
                facesView, results, sampled.View, xc.View, sp));

        var y0 = Mlp(i, 0, null, sampled, n, 128, Activation.LeakyRelu, null, 0);
        var y1 = Mlp(i, 1, y0, sampled, n, 64, Activation.LeakyRelu, null, 0);
        Free(y0);
        Mlp(i, 2, y1, sampled, n, 5, Activation.Relu, xc, kin);
        Free(y1, sampled);

        var hidden = Alloc((long)b * VariantInfo.Hidden, $"[{b},1024]");
        var hl = w[$"regressor{i}.hidden"];
        var lp = new LinearParams { Batch = b, In = kin, Out = VariantInfo.Hidden, InStride = kin, OutStride = VariantInfo.Hidden };
        Add($"iter{i}.regressor", "Dense", $"{xc.Shape}->{hidden.Shape} (fc2*fc1)", 2L * b * kin * 1024, 4L * (hl.Weight.Length + b * (kin + 1024)), k.Config(lp.ThreadCount), (st, c) =>
            k.Dense(st, c, xc.View, hl.Weight.View, hl.Bias.View, hidden.View, lp));
        Free(xc);

        var ol = w[$"regressor{i}.out"];
        var op = new LinearParams { Batch = b, In = VariantInfo.Hidden, Out = 3669, InStride = VariantInfo.Hidden, OutStride = 0 };
        Add($"iter{i}.update", "DenseStateUpdate", $"{hidden.Shape}->face+=[{b},3660], pose9+=[{b},9]", 2L * b * 1024 * 3669, 4L * (ol.Weight.Length + b * 3669 * 3), k.Config(op.ThreadCount), (st, c) =>
            k.DenseStateUpdate(st, c, hidden.View, ol.Weight.View, ol.Bias.View, w.InitFace.View, w.InitPose.View,
                results, op, layout, i));
        Free(hidden);
    }

    private Tensor Mlp(int i, int l, Tensor? extra, Tensor features, int n, int outCh, Activation act, Tensor? into, int intoStride)
    {
        var layer = _w[$"mlp{i}.{l}"];
        int extraCh = extra is null ? 0 : (l == 1 ? 128 : 64);
        var p = new PointMlpParams
        {
            Batch = Batch, Points = n, ExtraChannels = extraCh, FeatureChannels = 256, OutChannels = outCh,
            Activation = (int)act, OutBatchStride = into is null ? outCh * n : intoStride,
        };
        var output = into ?? Alloc((long)Batch * outCh * n, $"[{Batch},{outCh},{n}]");
        var k = _k;
        var dummy = _w.Dummy;
        Add($"iter{i}.mlp{l}", "PointMlp", $"[{Batch},{extraCh}+256,{n}]->[{Batch},{outCh},{n}] {act}", 2L * Batch * n * outCh * (extraCh + 256),
            4L * (layer.Weight.Length + Batch * n * (extraCh + 256 + outCh)), p.Config(k.GroupSize), (st, c) =>
            k.PointMlp(st, c, extra?.View ?? dummy, features.View, layer.Weight.View, layer.Bias.View, output.View, p));
        return output;
    }

    /// <summary>The plan as a table: one line per launch with its shapes and counted work.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        bool winograd = _ops.Any(o => o.Kernel == "WinogradF2x3");
        sb.AppendLine($"forward plan: {_w.Variant.Name}, batch {Batch}, {_ops.Count} launches, {AllocatedBytes / 1048576.0:F1} MiB activations+results, {_w.AllocatedBytes / 1048576.0:F1} MiB weights, 3x3 stride-1 convolutions {(winograd ? "Winograd F(2x2,3x3)" : "direct")}");
        int i = 0;
        foreach (var op in _ops)
            sb.AppendLine($"{i++,3}  {op.Name,-22} {op.Kernel,-17} {op.Shape,-58} {op.Flops / 1e6,9:F1} MFLOP");
        sb.AppendLine($"total {_ops.Sum(o => o.Flops) / 1e9:F2} GFLOP{(winograd ? " (Winograd convolutions counted as the direct ones they replace)" : "")}");
        return sb.ToString();
    }

    public void Dispose()
    {
        foreach (var s in _slots) s.Buffer?.Dispose();
        Faces.Dispose();
        Results.Dispose();
    }
}
