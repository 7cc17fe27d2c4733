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
        Assert.Equal(launches + 2 * threeLaunch
            + plan.Convolutions.Count(c => c.Kernel == ConvKernel.Conv2DPhase && !PhaseConvolution.InPlace(c.Params) && c.Params.PlaneKernel == 0)
            + projections, plan.Ops.Count);
        GraphInvariants.Check(g, $"{variant} batch {batch}");

        // Memory: the slots plus the faces and results buffers, nothing else.
        Assert.Equal(g.SlotBytes + plan.Faces.LengthInBytes + plan.Results.LengthInBytes, plan.AllocatedBytes);

        // Tensors live at the same time resolve to different device buffers (what the launches actually bind).
        var roots = g.Tensors.Where(t => t.Kind == TensorKind.Activation && t.Source is null).ToList();
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
                var owner = plan.Ops.Single(o => o.Kernel == "PhaseSplit" && o.Writes[0].Tensor == op.Reads[0].Tensor);
                Assert.True(owner.Index < op.Index - 1, $"{op.Name} reads the planes of {owner.Name}");
                var conv1 = plan.Convolutions.Single(c => $"{c.Name}.phase_split" == owner.Name).Params;
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
            var split = plan.Ops[op.Index - 1];
            Assert.Equal("PhaseSplit", split.Kernel);
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
