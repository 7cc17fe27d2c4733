using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Backends;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Engine;

/// <summary>
/// The network-agnostic layer helpers over a <see cref="ComputeGraph"/>: each infers and checks its output shape
/// (<see cref="Shapes"/>), checks the packed weight against the input, picks the kernel, counts the work and adds one
/// op that records what it reads and writes. A network definition (e.g. <see cref="TrgNetwork"/>) is a sequence of
/// these calls plus its own special ops; it never writes a dimension or frees a buffer.
/// </summary>
internal sealed partial class NetworkBuilder(ComputeGraph graph, DeviceKernels kernels, DeviceLayers weights)
{
    private readonly Dictionary<string, LayerTensors> _layers = new();
    private readonly List<NamedConvolution> _convolutions = new();

    /// <summary>Every convolution added so far, in order, with the kernel the policy gave it.</summary>
    public IReadOnlyList<NamedConvolution> Convolutions => _convolutions;

    public ComputeGraph Graph { get; } = graph;
    public DeviceKernels Kernels { get; } = kernels;
    public DeviceLayers Weights { get; } = weights;

    /// <summary>One convolution of a plan: its op name, launch parameters and kernel (the kernel benchmark's shapes).</summary>
    public sealed record NamedConvolution(string Name, ConvParams Params, ConvKernel Kernel);

    /// <summary>A packed layer and its buffers as the graph's external tensors (flat: the packed layouts are the kernels').</summary>
    public sealed record LayerTensors(DeviceLayer Layer, GraphTensor Weight, GraphTensor Bias, GraphTensor? ShortcutWeight);

    /// <summary>The layer <paramref name="name"/> of the model, its buffers registered once as externals.</summary>
    public LayerTensors Layer(string name)
    {
        if (_layers.TryGetValue(name, out var known)) return known;
        var layer = Weights[name];
        var t = new LayerTensors(layer, Constant($"{name}.weight", layer.Weight), Constant($"{name}.bias", layer.Bias),
            layer.ShortcutWeight is { } sw ? Constant($"{name}.shortcut_weight", sw) : null);
        _layers[name] = t;
        return t;
    }

    /// <summary>A device buffer of the model (weights, constants) as an external tensor of its length.</summary>
    public GraphTensor Constant(string name, MemoryBuffer1D<float, Stride1D.Dense> buffer) =>
        Graph.External(name, new TensorShape(checked((int)buffer.Length)), () => buffer.View);

    /// <summary>
    /// A square convolution with folded BatchNorm and <paramref name="act"/>, optionally adding a residual
    /// <paramref name="shortcut"/> (identity, or the layer's 1x1 projection when it has one; its stride is inferred
    /// from the shapes). Kernel: <see cref="KernelPolicy.ConvKernelFor"/> (Winograd when the layer is packed for it, the 3-channel stem,
    /// the 16-channel tile, else the 8-channel direct convolution).
    /// </summary>
    public GraphTensor Conv(string name, GraphTensor input, int kernel, int stride, Padding2D pad, Activation act, GraphTensor? shortcut = null)
    {
        var (layer, weight, bias, shortcutWeight) = Layer(name);
        var inShape = Input(name, input);
        if (pad.Top != pad.Left) throw new GraphException(name, $"the convolution kernels pad rows and columns alike before the input, got {pad}");
        int cout = layer.OutChannels, coutPadded = Tiling.PadChannels(cout, Convolution.ChannelTile);
        int taps = layer.Winograd switch
        {
            WinogradForm.F2 => WinogradConvolution.Components,
            WinogradForm.F4 => WinogradConvolution.ComponentsF4,
            _ => kernel * kernel,
        };
        var outShape = Shapes.Conv2D(name, inShape, WeightInputs(name, layer.Weight.Length, taps * coutPadded, $"{taps} taps x {coutPadded} padded outputs"),
            cout, kernel, stride, pad);
        var p = new ConvParams
        {
            Batch = inShape.Batch, InChannels = inShape[1], InHeight = inShape[2], InWidth = inShape[3],
            OutChannels = cout, OutHeight = outShape[2], OutWidth = outShape[3],
            Kernel = kernel, Stride = stride, Pad = pad.Top, Activation = (int)act,
            ShortcutMode = shortcut is null ? Convolution.ShortcutNone : shortcutWeight is not null ? Convolution.ShortcutProjection : Convolution.ShortcutIdentity,
        };
        if (shortcut is not null) SetShortcut(name, ref p, Input(name, shortcut), outShape, layer);
        // The direct kernels bounds-check every tap, so padding after the input (TF 'same') needs no parameter;
        // the Winograd and stem kernels assume symmetric padding.
        if (!pad.IsSymmetric && (layer.Winograd != WinogradForm.None || StemConvolution.Supports(p)))
            throw new GraphException(name, $"the Winograd and stem kernels take symmetric padding only, got {pad}");
        var output = Graph.Activation(name, outShape);

        if (layer.Winograd != WinogradForm.None && !WinogradConvolution.Supports(p))
            // Packed for Winograd by PackedModel; only a 3x3 stride-1 pad-1 convolution can read that layout.
            throw new GraphException(name, $"Winograd weights, but the convolution is k{kernel} s{stride} {pad}");
        if (layer.Winograd == WinogradForm.F4 && !WinogradConvolution.SupportsF4(p))
            throw new GraphException(name, $"Winograd F(4x4, 3x3) weights, but the convolution {inShape}->{outShape} k{kernel}s{stride} has {cout} output channels (F4 takes whole 16s)");
        var kind = Kernels.Policy.ConvKernelFor(p, layer.Winograd);
        if (KernelPolicy.SeparateProjection(kind, p))
        {
            // The projection first, into a scratch activation that the output transform adds as an identity shortcut:
            // act(conv + bias + projection), the projection's bias pre-summed into the convolution's.
            shortcut = Projection(name, p, shortcut!, shortcutWeight!);
            shortcutWeight = null;
            p.ShortcutMode = Convolution.ShortcutIdentity;
            (p.ShortcutChannels, p.ShortcutHeight, p.ShortcutWidth, p.ShortcutStride) = (cout, outShape[2], outShape[3], 1);
        }
        _convolutions.Add(new NamedConvolution(name, p, kind));

        long macs = outShape.ElementCount * (inShape[1] * kernel * kernel + (p.ShortcutMode == Convolution.ShortcutProjection ? p.ShortcutChannels : 0));
        long bytes = 4 * (inShape.ElementCount + layer.Weight.Length + outShape.ElementCount);
        string sc = p.ShortcutMode switch { Convolution.ShortcutProjection => " +proj", Convolution.ShortcutIdentity => " +res", _ => "" };
        Launch(name, $"{inShape}->{outShape} k{kernel}s{stride}{sc} {act}", p, kind, macs, bytes, input, weight, bias, shortcut, shortcutWeight, output);
        return output;
    }

    /// <summary>
    /// The 1x1 projection shortcut of convolution <paramref name="name"/> (<see cref="KernelPolicy.SeparateProjection"/>) as
    /// its own convolution <c>{name}.projection</c> (<see cref="Convolution.Projection"/>; kernel from
    /// <see cref="KernelPolicy.ConvKernelFor"/>, a zero bias), into a new activation of the convolution's output shape.
    /// </summary>
    private GraphTensor Projection(string name, ConvParams p, GraphTensor shortcut, GraphTensor shortcutWeight)
    {
        string op = $"{name}.projection";
        var pp = Convolution.Projection(p);
        var outShape = new TensorShape(pp.Batch, pp.OutChannels, pp.OutHeight, pp.OutWidth);
        var output = Graph.Activation(op, outShape);
        var kind = Kernels.Policy.ConvKernelFor(pp, WinogradForm.None);
        long macs = outShape.ElementCount * pp.InChannels;
        long bytes = 4 * (shortcut.Length + shortcutWeight.Length + outShape.ElementCount);
        string text = $"{shortcut.Shape}->{outShape} k1s{pp.Stride} proj";
        // Where the block's strided conv1 already split this input: read its planes (the centre tap's), no split of our own.
        bool reuse = _splits.TryGetValue(shortcut, out var split) && kind == ConvKernel.Conv2DPhase && PhaseConvolution.CanRead(pp, split.Params);
        if (reuse) pp.PlaneKernel = split.Params.Kernel;
        _convolutions.Add(new NamedConvolution(op, pp, kind));
        if (reuse)
            PhaseConv(op, text, pp, macs, bytes, shortcut, shortcutWeight, ZeroBias(pp.OutChannelsPadded), null, output, split.Planes);
        else
            Launch(op, text, pp, kind, macs, bytes, shortcut, shortcutWeight, ZeroBias(pp.OutChannelsPadded), null, null, output);
        return output;
    }

    /// <summary>The phase planes written so far, by the tensor they split, with the convolution they were split for and the split's op.</summary>
    private readonly Dictionary<GraphTensor, (GraphTensor Planes, ConvParams Params, PlanOp Split)> _splits = new();

    /// <summary>
    /// A launch that can write its output's phase planes in place of it (<see cref="WritePlanesInProducers"/>): the op, whether
    /// it can write a given split's planes, and the fusion (given the split's op, planes and convolution).
    /// </summary>
    private sealed record PlaneWriter(PlanOp Op, Func<ConvParams, bool> Supports, Action<PlanOp, GraphTensor, ConvParams> Fuse);

    private readonly Dictionary<GraphTensor, PlaneWriter> _planeWriters = new();

    /// <summary>
    /// Records that <paramref name="producer"/> (the op that writes <paramref name="output"/>) can write, instead, the phase
    /// planes of a convolution <paramref name="supports"/> accepts: <paramref name="fuse"/> replaces it by that launch
    /// (<see cref="ComputeGraph.Fuse"/>), given the split op it replaces too, the planes and the convolution.
    /// </summary>
    public void CanWritePlanes(GraphTensor output, PlanOp producer, Func<ConvParams, bool> supports, Action<PlanOp, GraphTensor, ConvParams> fuse) =>
        _planeWriters[output] = new PlaneWriter(producer, supports, fuse);

    /// <summary>
    /// After the network is defined: each phase split whose input has no other reader (every other convolution of it reads
    /// the planes: <see cref="PhaseConvolution.CanRead"/>) and whose producer can write those planes
    /// (<see cref="CanWritePlanes"/>) is fused into the producer, which then writes the planes and nothing else; the NCHW
    /// tensor takes no memory. Returns how many splits went. Where another op reads the tensor itself, the split stays.
    /// </summary>
    public int WritePlanesInProducers()
    {
        int fused = 0;
        foreach (var (input, split) in _splits)
        {
            if (!_planeWriters.TryGetValue(input, out var writer) || !writer.Supports(split.Params)) continue;
            if (Graph.Readers(input).Any(op => op != split.Split)) continue;
            writer.Fuse(split.Split, split.Planes, split.Params);
            fused++;
        }
        return fused;
    }

    /// <summary>The shape text of a producer that writes <paramref name="split"/>'s planes: its own, then the planes and their reader.</summary>
    public static string PlanesText(string text, GraphTensor planes, PlanOp split) =>
        $"{text} writes planes{planes.Shape} for {split.Name.Replace(".phase_split", "", StringComparison.Ordinal)}";

    /// <summary>A bias of <paramref name="length"/> zeros (one external a length, shared by the plan's convolutions).</summary>
    private GraphTensor ZeroBias(int length)
    {
        if (_zeros.TryGetValue(length, out var known)) return known;
        var t = Constant($"zeros[{length}]", Weights.Zeros(length));
        _zeros[length] = t;
        return t;
    }

    private readonly Dictionary<int, GraphTensor> _zeros = new();

    /// <summary>
    /// Adds the launches of convolution <paramref name="p"/> on <paramref name="kind"/>: one op named
    /// <paramref name="name"/> writing <paramref name="output"/>, after the scratch ops of the multi-launch forms.
    /// Counted work stays the direct convolution's (an "effective" rate), so the variants compare directly.
    /// </summary>
    private void Launch(string name, string text, ConvParams p, ConvKernel kind, long macs, long bytes, GraphTensor input,
        GraphTensor weight, GraphTensor bias, GraphTensor? shortcut, GraphTensor? shortcutWeight, GraphTensor output)
    {
        var reads = new List<TensorAccess> { input, weight, bias };
        if (shortcut is not null) reads.Add(shortcut);
        if (shortcutWeight is not null && shortcut is not null) reads.Add(shortcutWeight);
        var k = Kernels;
        var dummy = Weights.Dummy;
        switch (kind)
        {
            case ConvKernel.WinogradF2x3:
                Graph.Add(name, "WinogradF2x3", text, 2 * macs, bytes, k.Config(WinogradConvolution.ThreadCount(p)), reads, [output], (st, c) =>
                    k.WinogradConv3x3(st, c, input.View, weight.View, bias.View, shortcut?.View ?? dummy, shortcutWeight?.View ?? dummy, output.View, p));
                break;
            case ConvKernel.WinogradGemmF2 or ConvKernel.WinogradGemmF2x16:
                WinogradGemm(name, text, p, macs, kind, input, weight, bias, shortcut, output);
                break;
            case ConvKernel.WinogradGemmF4x16:
                WinogradF4(name, text, p, macs, input, weight, bias, shortcut, output);
                break;
            case ConvKernel.Stem7x7S2:
                // The 3-channel 7x7/2 stem: 16 channels per thread (see StemConvolution).
                Graph.Add(name, "Stem7x7S2", text, 2 * macs, bytes, k.Config(StemConvolution.ThreadCount(p)), reads, [output], (st, c) =>
                    k.StemConv7x7S2(st, c, input.View, weight.View, bias.View, output.View, p));
                break;
            case ConvKernel.Conv2DWide:
                // 16 channels per thread wherever the channel count allows it (see Convolution.Conv2DWide).
                Graph.Add(name, "Conv2DWide", text, 2 * macs, bytes, k.Config(Convolution.WideThreadCount(p)), reads, [output], (st, c) =>
                    k.Conv2DWide(st, c, input.View, weight.View, bias.View, shortcut?.View ?? dummy, output.View, p));
                break;
            case ConvKernel.Conv2DStrip:
                // 16 positions x 8 channels per thread (see Convolution.Conv2DStrip).
                Graph.Add(name, "Conv2DStrip", text, 2 * macs, bytes, k.Config(Convolution.StripThreadCount(p)), reads, [output], (st, c) =>
                    k.Conv2DStrip(st, c, input.View, weight.View, bias.View, shortcut?.View ?? dummy, output.View, p));
                break;
            case ConvKernel.Conv2DPhase:
                PhaseConv(name, text, p, macs, bytes, input, weight, bias, shortcut, output);
                break;
            default:
                Graph.Add(name, "Conv2D", text, 2 * macs, bytes, p.Config(k.GroupSize), reads, [output], (st, c) =>
                    k.Conv2D(st, c, input.View, weight.View, bias.View, shortcut?.View ?? dummy, shortcutWeight?.View ?? dummy, output.View, p));
                break;
        }
    }

    /// <summary>
    /// A Winograd convolution as three launches (<see cref="WinogradConvolution"/>): <c>{name}.winograd_in</c> writes
    /// V, <c>{name}.winograd_gemm</c> the products M (counted as the direct convolution's work; <paramref name="kind"/>'s
    /// product kernel, labelled with its name), and <c>{name}</c> the output with the epilogue. V and M are activations,
    /// so their memory is reused after the convolution.
    /// </summary>
    private void WinogradGemm(string name, string text, ConvParams p, long macs, ConvKernel kind, GraphTensor input,
        GraphTensor weight, GraphTensor bias, GraphTensor? shortcut, GraphTensor output)
    {
        var k = Kernels;
        var dummy = Weights.Dummy;
        // Rows of V and M hold TileStride entries (the tiles padded to whole product threads).
        int tiles = WinogradConvolution.TileStride(p);
        var v = Graph.Activation($"{name}.winograd_v", new TensorShape(WinogradConvolution.Components, p.InChannels, tiles));
        var m = Graph.Activation($"{name}.winograd_m", new TensorShape(WinogradConvolution.Components, p.OutChannelsPadded, tiles));
        long inputBytes = 4L * p.Batch * p.InChannels * p.InHeight * p.InWidth, vBytes = 4 * v.Length, mBytes = 4 * m.Length;
        Graph.Add($"{name}.winograd_in", "WinogradInputF2", $"{text} V{v.Shape}", 32L * p.InChannels * tiles, inputBytes + vBytes,
            k.Config(WinogradConvolution.InputThreadCount(p)), [input], [v], (st, c) => k.WinogradInputF2(st, c, input.View, v.View, p));
        long gemmBytes = vBytes + 4 * weight.Length + mBytes;
        if (kind == ConvKernel.WinogradGemmF2x16)
            Graph.Add($"{name}.winograd_gemm", nameof(ConvKernel.WinogradGemmF2x16), $"{text} M{m.Shape}", 2 * macs, gemmBytes,
                k.Config(WinogradConvolution.Gemm16ThreadCount(p)), [v, weight], [m], (st, c) => k.WinogradGemmF2x16(st, c, v.View, weight.View, m.View, p));
        else
            Graph.Add($"{name}.winograd_gemm", nameof(ConvKernel.WinogradGemmF2), $"{text} M{m.Shape}", 2 * macs, gemmBytes,
                k.Config(WinogradConvolution.GemmThreadCount(p)), [v, weight], [m], (st, c) => k.WinogradGemmF2(st, c, v.View, weight.View, m.View, p));
        var reads = new List<TensorAccess> { m, bias };
        if (shortcut is not null) reads.Add(shortcut);
        long flops = 24L * p.OutChannelsPadded * tiles;
        var config = k.Config(WinogradConvolution.OutputThreadCount(p));
        var op = Graph.Add(name, nameof(WinogradConvolution.WinogradOutputF2), text, flops, mBytes + 4 * output.Length,
            config, reads, [output], (st, c) =>
            k.WinogradOutputF2(st, c, m.View, bias.View, shortcut?.View ?? dummy, dummy, output.View, p));
        CanWritePlanes(output, op, split => WinogradConvolution.SupportsPlanes(p, split), (splitOp, planes, split) =>
            Graph.Fuse(op, splitOp, nameof(WinogradConvolution.WinogradOutputF2Planes), PlanesText(text, planes, splitOp), flops,
                mBytes + 4 * planes.Length, config, reads, [planes], (st, c) =>
                k.WinogradOutputF2Planes(st, c, m.View, bias.View, shortcut?.View ?? dummy, planes.View, p, split)));
    }

    /// <summary>
    /// A Winograd F(4x4, 3x3) convolution as three launches, named as <see cref="WinogradGemm"/>'s:
    /// <c>WinogradInputF4</c>, <c>WinogradGemmF4x16</c>, <c>WinogradOutputF4</c> (an identity shortcut at most:
    /// a projection runs before it, <see cref="KernelPolicy.SeparateProjection"/>).
    /// </summary>
    private void WinogradF4(string name, string text, ConvParams p, long macs, GraphTensor input, GraphTensor weight,
        GraphTensor bias, GraphTensor? shortcut, GraphTensor output)
    {
        var k = Kernels;
        var dummy = Weights.Dummy;
        int tiles = WinogradConvolution.TileStrideF4(p);
        var v = Graph.Activation($"{name}.winograd_v", new TensorShape(WinogradConvolution.ComponentsF4, p.InChannels, tiles));
        var m = Graph.Activation($"{name}.winograd_m", new TensorShape(WinogradConvolution.ComponentsF4, p.OutChannelsPadded, tiles));
        long inputBytes = 4L * p.Batch * p.InChannels * p.InHeight * p.InWidth, vBytes = 4 * v.Length, mBytes = 4 * m.Length;
        // About 22 flops a 6-vector through B^T (12 a tile), 14 through A^T (10 a tile).
        Graph.Add($"{name}.winograd_in", nameof(WinogradConvolution.WinogradInputF4), $"{text} V{v.Shape}", 264L * p.InChannels * tiles, inputBytes + vBytes,
            k.Config(WinogradConvolution.InputThreadCountF4(p)), [input], [v], (st, c) => k.WinogradInputF4(st, c, input.View, v.View, p));
        Graph.Add($"{name}.winograd_gemm", nameof(ConvKernel.WinogradGemmF4x16), $"{text} M{m.Shape}", 2 * macs, vBytes + 4 * weight.Length + mBytes,
            k.Config(WinogradConvolution.Gemm16ThreadCountF4(p)), [v, weight], [m], (st, c) => k.WinogradGemmF4x16(st, c, v.View, weight.View, m.View, p));
        var reads = new List<TensorAccess> { m, bias };
        if (shortcut is not null) reads.Add(shortcut);
        long flops = 140L * p.OutChannels * tiles;
        var config = k.Config(WinogradConvolution.OutputThreadCountF4(p));
        var op = Graph.Add(name, nameof(WinogradConvolution.WinogradOutputF4), text, flops, mBytes + 4 * output.Length,
            config, reads, [output], (st, c) =>
            k.WinogradOutputF4(st, c, m.View, bias.View, shortcut?.View ?? dummy, dummy, output.View, p));
        CanWritePlanes(output, op, split => WinogradConvolution.SupportsPlanes(p, split), (splitOp, planes, split) =>
            Graph.Fuse(op, splitOp, nameof(WinogradConvolution.WinogradOutputF4Planes), PlanesText(text, planes, splitOp), flops,
                mBytes + 4 * planes.Length, config, reads, [planes], (st, c) =>
                k.WinogradOutputF4Planes(st, c, m.View, bias.View, shortcut?.View ?? dummy, planes.View, p, split)));
    }

    /// <summary>
    /// A phase convolution as two launches (<see cref="PhaseConvolution"/>): <c>{name}.phase_split</c> writes the
    /// input's phase planes, <c>{name}</c> the output from them. The planes are an activation, so their memory is reused
    /// after the convolution. Where the input is its own plane (<see cref="PhaseConvolution.InPlace"/>) one launch, reading it;
    /// given <paramref name="shared"/> (another convolution's planes of the same input, <see cref="PhaseConvolution.CanRead"/>)
    /// one launch, reading those, which the graph then keeps alive until this op.
    /// </summary>
    private void PhaseConv(string name, string text, ConvParams p, long macs, long bytes, GraphTensor input,
        GraphTensor weight, GraphTensor bias, GraphTensor? shortcut, GraphTensor output, GraphTensor? shared = null)
    {
        var k = Kernels;
        var planes = shared ?? input;
        long splitBytes = shared is null ? 0 : PhaseConvolution.SharedPlaneBytes(p, shared.Length);
        if (shared is null && !PhaseConvolution.InPlace(p))
        {
            planes = Graph.Activation($"{name}.phase_planes",
                new TensorShape(p.Batch, p.InChannels, PhaseConvolution.Phases(p), PhaseConvolution.PlaneStride(p)));
            long inputBytes = 4L * p.Batch * p.InChannels * p.InHeight * p.InWidth, planeBytes = 4 * planes.Length;
            var split = planes;
            var splitOp = Graph.Add($"{name}.phase_split", "PhaseSplit", $"{text} planes{planes.Shape}", 0, inputBytes + planeBytes,
                PhaseConvolution.SplitConfig(p, k.GroupSize), [input], [planes], (st, c) => k.PhaseSplit(st, c, input.View, split.View, p));
            splitBytes = planeBytes - inputBytes;
            _splits.TryAdd(input, (planes, p, splitOp));
        }
        var reads = new List<TensorAccess> { planes, weight, bias };
        if (shortcut is not null) reads.Add(shortcut);
        Graph.Add(name, "Conv2DPhase", text, 2 * macs, bytes + splitBytes, k.Config(PhaseConvolution.ThreadCount(p)), reads, [output],
            (st, c) => k.Conv2DPhase(st, c, planes.View, weight.View, bias.View, shortcut?.View ?? Weights.Dummy, output.View, p));
    }

    /// <summary>Shortcut geometry from its shape: identity needs the output's shape, a projection a whole stride.</summary>
    private static void SetShortcut(string name, ref ConvParams p, TensorShape sc, TensorShape outShape, DeviceLayer layer)
    {
        Shapes.RequireSameBatch(name, sc, outShape);
        int stride = sc[2] / outShape[2];
        if (p.ShortcutMode == Convolution.ShortcutIdentity)
            Shapes.RequireShape(name, "the identity shortcut", sc, outShape);
        else
        {
            if (stride < 1 || (sc[2] - 1) / stride + 1 != outShape[2] || (sc[3] - 1) / stride + 1 != outShape[3])
                throw new GraphException(name, $"shortcut {sc} does not subsample to the output {outShape}");
            int padded = Tiling.PadChannels(layer.OutChannels, Convolution.ChannelTile);
            if (layer.ShortcutWeight!.Length != (long)sc[1] * padded)
                throw new GraphException(name, $"shortcut {sc} has {sc[1]} channels, the projection weight holds {layer.ShortcutWeight.Length} floats ({padded} padded outputs)");
        }
        p.ShortcutChannels = sc[1];
        p.ShortcutHeight = sc[2];
        p.ShortcutWidth = sc[3];
        p.ShortcutStride = Math.Max(stride, 1);
    }

    /// <summary>Max pooling 3x3, stride 2, padding 1 (PyTorch's ResNet pool); the kernel clamps at the edges.</summary>
    public GraphTensor MaxPool3x3S2(string name, GraphTensor input)
    {
        var inShape = Input(name, input);
        var outShape = Shapes.Pool2D(name, inShape, 3, 2, Padding2D.Symmetric(1));
        var output = Graph.Activation(name, outShape);
        var pp = new PoolParams
        {
            Batch = inShape.Batch, Channels = inShape[1], InHeight = inShape[2], InWidth = inShape[3], OutHeight = outShape[2], OutWidth = outShape[3],
        };
        if (!Pooling.Supports(pp))
            throw new GraphException(name, $"max-pool of {inShape}: batch x channels {(long)pp.Batch * pp.Channels} is over " +
                $"the {Pooling.MaxPlanes} planes of one launch; use smaller batches");
        var k = Kernels;
        var pool = k.Policy.Pool;
        Graph.Add(name, pool.ToString(), outShape.ToString(), pp.OutputCount * 9L, 4 * (inShape.ElementCount + outShape.ElementCount),
            k.Policy.PoolConfig(pp, k.GroupSize), [input], [output], (st, c) => k.MaxPoolOf(pool)(st, c, input.View, output.View, pp));
        return output;
    }

    /// <summary>
    /// A 4x4 stride-2 padding-1 transposed convolution (doubles height and width) with folded BatchNorm, as two
    /// launches (<see cref="TransposedConvolution"/>): <c>{name}.pad</c> writes the input with a zero border (an
    /// activation, so its memory is reused after the convolution), <c>{name}</c> the output.
    /// </summary>
    public GraphTensor Deconv4x4S2(string name, GraphTensor input, Activation act)
    {
        var (layer, weight, bias, _) = Layer(name);
        var inShape = Input(name, input);
        int cout = layer.OutChannels, outPadded = Tiling.PadChannels(cout, TransposedConvolution.ChannelTile);
        var outShape = Shapes.ConvTranspose2D(name, inShape, WeightInputs(name, layer.Weight.Length, 16 * outPadded, $"16 taps x {outPadded} padded outputs"),
            cout, 4, 2, 1);
        var p = new DeconvParams
        {
            Batch = inShape.Batch, InChannels = inShape[1], InHeight = inShape[2], InWidth = inShape[3], OutChannels = cout, Activation = (int)act,
        };
        if (!p.PadSupported)
            throw new GraphException(name, $"input {inShape}: a padded plane of {p.PadExtent} floats, {p.InChannels} channels or batch {p.Batch} " +
                $"is past DeconvPad's limits ({TransposedConvolution.MaxPadExtent} floats, {TransposedConvolution.MaxPadGrid} channels and faces)");
        var padded = Graph.Activation($"{name}.pad", new TensorShape(p.Batch, p.PaddedFace));
        var output = Graph.Activation(name, outShape);
        var k = Kernels;
        Graph.Add($"{name}.pad", "DeconvPad", $"{inShape}->{padded.Shape}", 0, 4 * (inShape.ElementCount + padded.Length),
            p.PadConfig(k.GroupSize), [input], [padded], (st, c) => k.DeconvPad(st, c, input.View, padded.View, p));
        long flops = 2L * outShape.ElementCount * inShape[1] * 4;
        long bytes = 4 * (padded.Length + layer.Weight.Length + outShape.ElementCount);
        Graph.Add(name, "Deconv4x4S2", $"{inShape}->{outShape} {act}", flops, bytes, p.Config(k.DeconvGroupSize), [padded, weight, bias], [output], (st, c) =>
            k.Deconv(st, c, padded.View, weight.View, bias.View, output.View, p));
        return output;
    }

    /// <summary>
    /// A dense layer (the model's layer <paramref name="layerName"/>) over every non-batch element of
    /// <paramref name="input"/>; <paramref name="note"/> is appended to the shape text.
    /// </summary>
    /// <param name="into">Makes the tensor to write, given the output shape (an external output buffer); null: a new activation.</param>
    public GraphTensor Dense(string name, string layerName, GraphTensor input, string? note = null, Func<TensorShape, GraphTensor>? into = null)
    {
        var (layer, weight, bias, _) = Layer(layerName);
        var inShape = Input(name, input);
        int outs = layer.OutChannels, padded = Tiling.PadChannels(outs, Linear.ChannelTile);
        var outShape = Shapes.Dense(name, inShape, WeightInputs(name, layer.Weight.Length, padded, $"{padded} padded outputs"), outs);
        int features = checked((int)(inShape.ElementCount / inShape.Batch));
        var lp = new LinearParams { Batch = inShape.Batch, In = features, Out = outs, InStride = features, OutStride = outs };
        var output = Target(name, outShape, into);
        var k = Kernels;
        Graph.Add(name, "Dense", $"{inShape}->{outShape}{(note is null ? "" : " " + note)}", 2L * inShape.ElementCount * outs,
            4L * (layer.Weight.Length + inShape.ElementCount + outShape.ElementCount), lp.Config(k.DenseGroupSize), [input, weight, bias], [output], (st, c) =>
            k.Dense(st, c, input.View, weight.View, bias.View, output.View, lp));
        return output;
    }

    /// <summary>The shape of an op's input (an activation or a shaped external).</summary>
    public static TensorShape Input(string op, GraphTensor input) =>
        input.Shape ?? throw new GraphException(op, $"input '{input.Name}' has no shape");

    /// <summary>Input channels (or features) a packed weight holds: its length over the per-input size, which must divide it.</summary>
    public static int WeightInputs(string op, long weightLength, int perInput, string what)
    {
        if (weightLength % perInput != 0)
            throw new GraphException(op, $"the packed weight holds {weightLength} floats, not a whole number of inputs of {what}");
        return checked((int)(weightLength / perInput));
    }
}
