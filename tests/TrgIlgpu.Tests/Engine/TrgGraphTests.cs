using ILGPU;
using TrgIlgpu.Backends;
using TrgIlgpu.Engine;
using TrgIlgpu.Kernels;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.Engine;

/// <summary>The TRG and TRGv2 forward graphs as built on the CPU accelerator: allocation, op records, shape checks.</summary>
public sealed class TrgGraphTests
{
    [Theory]
    [InlineData("trgv2", 1, 39)]
    [InlineData("trgv2", 8, 39)]
    [InlineData("trg", 1, 46)]
    [InlineData("trg", 8, 46)]
    public void Plan_SlotsNeverHoldTwoLiveTensors_AndOpsRecordWhatTheyTouch(string variant, int batch, int launches)
    {
        using var session = new InferenceSession(ModelWeights.Load($"synthetic:{variant}:3"), DeviceKind.Cpu);
        var plan = session.Plan(batch);
        var g = plan.Graph;
        // launches: one a convolution, two a transposed convolution (DeconvPad + Deconv4x4S2); the three-launch
        // Winograd adds two for each convolution it runs, the phase split one (unless it reads its input in place or another
        // convolution's planes), and a projection shortcut run as its own convolution (before a three-launch Winograd conv2) one more.
        int threeLaunch = plan.Convolutions.Count(c => c.Kernel is ConvKernel.WinogradGemmF2 or ConvKernel.WinogradGemmF2x16 or ConvKernel.WinogradGemmF4x16);
        int projections = plan.Convolutions.Count(c => c.Name.EndsWith(".projection", StringComparison.Ordinal));
        Assert.Equal(threeLaunch > 0 ? 3 : 0, projections);
        // Each phase-split projection reads its block's conv1 planes (same input, stride 2): no split of its own.
        Assert.All(plan.Convolutions.Where(c => c.Name.EndsWith(".projection", StringComparison.Ordinal) && c.Kernel == ConvKernel.Conv2DPhase),
            c => Assert.Equal(3, c.Params.PlaneKernel));
        // A producer that writes a split's planes itself (round nine: kernel name ending in "Planes") replaces that split.
        int planeWriters = plan.Ops.Count(o => o.Kernel.EndsWith("Planes", StringComparison.Ordinal));
        Assert.Equal(launches + 2 * threeLaunch
            + plan.Convolutions.Count(c => c.Kernel == ConvKernel.Conv2DPhase && !PhaseConvolution.InPlace(c.Params) && c.Params.PlaneKernel == 0)
            + projections - planeWriters, plan.Ops.Count);
        GraphInvariants.Check(g, $"{variant} batch {batch}");

        // Memory: the slots plus the faces and results buffers, nothing else.
        Assert.Equal(g.SlotBytes + plan.Faces.LengthInBytes + plan.Results.LengthInBytes, plan.AllocatedBytes);

        // Tensors live at the same time resolve to different device buffers (what the launches actually bind).
        // (Tensors no op touches any more, such as the NCHW outputs of producers that write phase planes, take no slot.)
        var roots = g.Tensors.Where(t => t.Kind == TensorKind.Activation && t.Source is null && t.FirstUse >= 0).ToList();
        foreach (var a in roots)
        {
            Assert.Equal(a.Length, a.View.Length);
            foreach (var b in roots.Where(b => b.Id > a.Id && b.FirstUse <= a.LastUse && a.FirstUse <= b.LastUse))
                Assert.NotSame(((IArrayView)a.View).Buffer, ((IArrayView)b.View).Buffer);
        }

        var readLater = new HashSet<GraphTensor>();
        foreach (var op in plan.Ops.Reverse())
        {
            // Every op writes something; every activation it writes is read by a later op (no dead launches).
            Assert.NotEmpty(op.Writes);
            foreach (var w in op.Writes.Where(w => w.Tensor.Kind == TensorKind.Activation))
                Assert.True(readLater.Contains(w.Tensor.Root), $"{op.Name} writes '{w.Tensor.Name}', which nothing reads");
            foreach (var r in op.Reads) readLater.Add(r.Tensor.Root);
            // The results row is shared by many ops: each writes a named region of it.
            Assert.All(op.Writes.Where(w => w.Tensor.Name == "results"), w => Assert.NotNull(w.Region));
            Assert.True(op.Config.GridDim.X >= 1 && op.Config.GroupDim.X >= 1, op.Name);
        }

        // The shape text of each convolution, deconvolution and dense op is its recorded input -> output.
        foreach (var op in plan.Ops.Where(o => o.Kernel is "Conv2D" or "Conv2DWide" or "Conv2DStrip" or "WinogradF2x3" or "Stem7x7S2" or "Dense" or "DeconvPad"))
            Assert.StartsWith($"{op.Reads[0].Tensor.Shape}->{op.Writes[0].Tensor.Shape}", op.Shape);
        // A phase-split convolution reads the planes its PhaseSplit launch wrote right before it (or, in place, its input; or
        // a projection shortcut, the planes its block's strided conv1 split from the same input).
        foreach (var op in plan.Ops.Where(o => o.Kernel == "Conv2DPhase"))
        {
            var p = plan.Convolutions.Single(c => c.Name == op.Name).Params;
            if (p.PlaneKernel > 0)
            {
                Assert.EndsWith(".projection", op.Name);
                var owner = plan.Ops.Single(o => o.Writes.Any(w => w.Tensor == op.Reads[0].Tensor));
                Assert.True(owner.Index < op.Index - 1, $"{op.Name} reads the planes of {owner.Name}");
                var conv1 = plan.Convolutions.Single(c => $"{c.Name}.phase_planes" == op.Reads[0].Tensor.Name).Params;
                Assert.True(PhaseConvolution.CanRead(p with { PlaneKernel = 0 }, conv1), op.Name);
                Assert.Equal(conv1.Kernel, p.PlaneKernel);
                Assert.True(op.Reads[0].Tensor.Root.LastUse >= op.Index, $"{op.Name}: planes not live");
                continue;
            }
            if (PhaseConvolution.InPlace(p))
            {
                Assert.NotEqual("PhaseSplit", plan.Ops[op.Index - 1].Kernel);
                Assert.StartsWith($"{op.Reads[0].Tensor.Shape}->{op.Writes[0].Tensor.Shape}", op.Shape);
                continue;
            }
            var split = plan.Ops.Single(o => o.Writes.Any(w => w.Tensor == op.Reads[0].Tensor));
            if (split.Kernel != "PhaseSplit")
            {
                // Written by the producer of the convolution's input, which nothing else reads (no slot of its own).
                Assert.EndsWith("Planes", split.Kernel);
                Assert.Contains($"writes planes{op.Reads[0].Tensor.Shape} for {op.Name}", split.Shape);
                Assert.True(split.Index < op.Index, op.Name);
                continue;
            }
            Assert.Equal(op.Index - 1, split.Index);
            Assert.Same(split.Writes[0].Tensor, op.Reads[0].Tensor);
            Assert.StartsWith($"{split.Reads[0].Tensor.Shape}->{op.Writes[0].Tensor.Shape}", op.Shape);
        }
        // A transposed convolution reads its input padded by the launch before it: its text names the unpadded input.
        foreach (var (pad, deconv) in plan.Ops.Zip(plan.Ops.Skip(1)).Where(o => o.Second.Kernel == "Deconv4x4S2"))
        {
            Assert.Equal("DeconvPad", pad.Kernel);
            Assert.Same(pad.Writes[0].Tensor, deconv.Reads[0].Tensor);
            Assert.StartsWith($"{pad.Reads[0].Tensor.Shape}->{deconv.Writes[0].Tensor.Shape}", deconv.Shape);
        }

        // Weights and the results buffer are externals; the first op reads the uploaded images, the last writes results.
        Assert.All(g.Tensors.Where(t => t.Name.EndsWith(".weight")), t => Assert.Equal(TensorKind.External, t.Kind));
        Assert.Contains(plan.Ops[0].Reads, r => r.Tensor.Name == "images");
        Assert.All(plan.Ops[^1].Writes, w => Assert.Equal("results", w.Tensor.Name));
        Assert.All(plan.Ops.Where(o => o.Kernel == "DenseStateUpdate"), o => Assert.Contains(o.Writes, w => w.ToString().StartsWith("results[pose_history[")));
        Assert.Contains("slot", plan.Describe());
    }

    /// <summary>
    /// TRGv2 on the CPU devices' policy: the crop and the three block outputs that only stride-2 convolutions read are written
    /// as phase planes by their producers (round nine), so the four PhaseSplit launches go: 70 launches, not 74.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public void Plan_TrgV2_ProducersWriteThePhasePlanes_NoSplitLeft(int batch)
    {
        using var session = new InferenceSession(ModelWeights.Load("synthetic:trgv2:3"), DeviceKind.Cpu);
        var plan = session.Plan(batch);
        Assert.Equal(70, plan.Ops.Count);
        Assert.DoesNotContain(plan.Ops, o => o.Kernel == "PhaseSplit");
        var writers = plan.Ops.Where(o => o.Kernel.EndsWith("Planes", StringComparison.Ordinal)).Select(o => (o.Name, o.Kernel)).ToArray();
        Assert.Equal([("preprocess", "CropNormalizePlanes"), ("layer1.1.conv2", "WinogradOutputF4Planes"),
            ("layer2.1.conv2", "WinogradOutputF4Planes"), ("layer3.1.conv2", "WinogradOutputF2Planes")], writers);
        Assert.Contains("writes planes", plan.Ops.Single(o => o.Name == "layer1.1.conv2").Shape);
        // The NCHW tensors they no longer write take no slot.
        Assert.All(plan.Graph.Tensors.Where(t => t.Name is "preprocess" or "layer1.1.conv2" or "layer2.1.conv2" or "layer3.1.conv2"),
            t => Assert.Equal(-1, t.Slot));
    }

    /// <summary>
    /// The producer writes the planes only when every reader of its output reads planes: a tensor that another op reads as
    /// NCHW keeps its split (and the graph refuses the fusion outright).
    /// </summary>
    [Fact]
    public void WritePlanesInProducers_KeepsTheSplit_WhenAnotherOpReadsTheTensor()
    {
        using var device = ComputeDevice.Open(DeviceKind.Cpu);
        var a = device.Accelerator;
        // The CPU devices' policy: stride-2 convolutions split into phase planes.
        var kernels = new DeviceKernels(a, KernelPolicy.For(DeviceKind.Cpu));
        using var weights = new DeviceWeights(a, new PackedModel(ModelWeights.Load("synthetic:trgv2:3"), winograd: true));

        (ComputeGraph Graph, NetworkBuilder Builder) Build(bool nchwReader)
        {
            var g = new ComputeGraph("planes");
            var nb = new NetworkBuilder(g, kernels, weights);
            var x = g.External("x", TensorShape.Nchw(2, 64, 48, 48));
            var y = nb.Conv("layer1.1.conv2", x, 3, 1, Padding2D.Symmetric(1), Activation.Relu, shortcut: x);
            nb.Conv("layer2.0.conv1", y, 3, 2, Padding2D.Symmetric(1), Activation.Relu);
            if (nchwReader) nb.MaxPool3x3S2("maxpool", y);
            return (g, nb);
        }

        var (kept, keptBuilder) = Build(nchwReader: true);
        int before = kept.Ops.Count;
        Assert.Equal(0, keptBuilder.WritePlanesInProducers());
        Assert.Equal(before, kept.Ops.Count);
        Assert.True(kept.Ops.Count(o => o.Kernel == "PhaseSplit") == 1, string.Join("\n", kept.Ops));
        var split = kept.Ops.Single(o => o.Kernel == "PhaseSplit");
        var producer = kept.Ops.Single(o => o.Name == "layer1.1.conv2");
        var e = Assert.Throws<GraphException>(() => kept.Fuse(producer, split, "X", "", 0, 0, producer.Config, producer.Reads, split.Writes, (_, _) => { }));
        Assert.Contains("maxpool", e.Message);
        kept.AssignSlots();
        GraphInvariants.Check(kept, "kept");

        var (fused, fusedBuilder) = Build(nchwReader: false);
        before = fused.Ops.Count;
        Assert.Equal(1, fusedBuilder.WritePlanesInProducers());
        Assert.Equal(before - 1, fused.Ops.Count);
        Assert.DoesNotContain(fused.Ops, o => o.Kernel == "PhaseSplit");
        var writer = fused.Ops.Single(o => o.Name == "layer1.1.conv2");
        Assert.EndsWith("Planes", writer.Kernel);
        Assert.Equal("layer2.0.conv1.phase_planes", writer.Writes.Single().Tensor.Name);
        Assert.Equal(Enumerable.Range(0, fused.Ops.Count), fused.Ops.Select(o => o.Index));
        fused.AssignSlots();
        Assert.Equal(-1, fused.Tensors.Single(t => t.Name == "layer1.1.conv2").Slot);
        GraphInvariants.Check(fused, "fused");
    }

    [Fact]
    public void Builder_RejectsInputsThatDoNotFitTheModel_NamingTheOp()
    {
        using var device = ComputeDevice.Open(DeviceKind.Cpu);
        var a = device.Accelerator;
        var kernels = new DeviceKernels(a);
        using var weights = new DeviceWeights(a, new PackedModel(ModelWeights.Load("synthetic:trgv2:3"), winograd: true));
        var g = new ComputeGraph("test");
        var nb = new NetworkBuilder(g, kernels, weights);

        void Throws(string op, string fragment, Action build)
        {
            var e = Assert.Throws<GraphException>(build);
            Assert.Equal(op, e.Op);
            Assert.Contains(fragment, e.Message);
        }

        Throws("layer2.1.conv1", "65 channels", () => nb.Conv("layer2.1.conv1", g.External("x65", TensorShape.Nchw(2, 65, 24, 24)), 3, 1, Padding2D.Symmetric(1), Activation.Relu));
        Throws("layer1.0.conv2", "batch", () => nb.Conv("layer1.0.conv2", g.External("x", TensorShape.Nchw(2, 64, 47, 47)), 3, 1, Padding2D.Symmetric(1), Activation.Relu,
            shortcut: g.External("sc", TensorShape.Nchw(3, 64, 47, 47))));
        Throws("layer1.0.conv2", "identity shortcut", () => nb.Conv("layer1.0.conv2", g.External("y", TensorShape.Nchw(2, 64, 47, 47)), 3, 1, Padding2D.Symmetric(1), Activation.Relu,
            shortcut: g.External("sc2", TensorShape.Nchw(2, 64, 45, 47))));
        Throws("layer1.1.conv1", "Winograd", () => nb.Conv("layer1.1.conv1", g.External("z", TensorShape.Nchw(2, 64, 47, 47)), 3, 2, Padding2D.Symmetric(1), Activation.Relu));
        Throws("layer1.0.conv1", "symmetric", () => nb.Conv("layer1.0.conv1", g.External("w", TensorShape.Nchw(2, 64, 48, 48)), 3, 1, new Padding2D(1, 1, 2, 2), Activation.Relu));
        Throws("layer2.0.conv1", "rows and columns", () => nb.Conv("layer2.0.conv1", g.External("w2", TensorShape.Nchw(2, 64, 48, 48)), 3, 2, new Padding2D(0, 1, 1, 1), Activation.Relu));
        Throws("deconv0", "channels", () => nb.Deconv4x4S2("deconv0", g.External("d", TensorShape.Nchw(1, 256, 7, 7)), Activation.Relu));
        Throws("deconv1", "DeconvPad's limits", () => nb.Deconv4x4S2("deconv1", g.External("d2", TensorShape.Nchw(1, 256, 2047, 2047)), Activation.Relu));
        Throws("iter0.regressor", "features", () => nb.Dense("iter0.regressor", "regressor0.hidden", g.External("f", new TensorShape(3, VariantInfo.TrgV2.RegressorInput(0) - 1))));
        Throws("maxpool", "NCHW", () => nb.MaxPool3x3S2("maxpool", g.External("m", new TensorShape(2, 64, 96))));
        Assert.Empty(g.Ops);

        // The same layers accept inputs that fit, with odd sizes and the shapes inferred.
        var ok = nb.Conv("layer2.0.conv1", g.External("ok", TensorShape.Nchw(3, 64, 47, 45)), 3, 2, Padding2D.Symmetric(1), Activation.Relu);
        Assert.Equal(TensorShape.Nchw(3, 128, 24, 23), ok.Shape);
        Assert.Equal(TensorShape.Nchw(3, 256, 48, 46), nb.Deconv4x4S2("deconv1", g.External("ok2", TensorShape.Nchw(3, 256, 24, 23)), Activation.Relu).Shape);
    }
}
