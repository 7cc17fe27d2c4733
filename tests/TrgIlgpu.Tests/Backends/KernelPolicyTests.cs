using TrgIlgpu.Backends;
using TrgIlgpu.Engine;
using TrgIlgpu.Kernels;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.Backends;

/// <summary>The per-device kernel policy, and the CUDA plan `trg ptx --plan` previews on a CUDA-shaped CPU accelerator.</summary>
public sealed class KernelPolicyTests
{
    [Fact]
    public void Policy_IsDirectOnCudaAndWinogradElsewhere_WithOverrides()
    {
        Assert.Equal(new KernelPolicy(ConvAlgorithm.Direct, Tiling.GroupSize, DenseGroupSize: Tiling.GroupSize,
            DeconvGroupSize: TransposedConvolution.MaxGroupSize, Pool: PoolKernel.MaxPool3x3S2PerOutput),
            KernelPolicy.For(DeviceKind.Cuda));
        // The dense layers: small groups on the CPU devices (both cores share a 64-thread layer), whole warps on CUDA.
        Assert.Equal(Linear.GroupSize, KernelPolicy.For(DeviceKind.OpenCL).DenseGroupSize);
        Assert.Equal(Linear.GroupSize, KernelPolicy.For(DeviceKind.Cpu).DenseGroupSize);
        Assert.Equal(TransposedConvolution.GroupSize, KernelPolicy.For(DeviceKind.OpenCL).DeconvGroupSize);
        Assert.Equal(TransposedConvolution.GroupSize, KernelPolicy.For(DeviceKind.Cpu).DeconvGroupSize);
        Assert.Equal(ConvAlgorithm.Winograd, KernelPolicy.For(DeviceKind.OpenCL).Convolutions);
        Assert.Equal(ConvAlgorithm.Winograd, KernelPolicy.For(DeviceKind.Cpu).Convolutions);
        var cuda = KernelPolicy.For(DeviceKind.Cuda);
        Assert.Same(cuda, cuda.With(ConvAlgorithm.Auto));
        Assert.Equal(ConvAlgorithm.Winograd, cuda.With(ConvAlgorithm.Winograd).Convolutions);
    }

    [Fact]
    public void Pool_Is16OutputsAThreadOnTheCpuDevicesAndOneOnCuda_EachWithItsLaunch()
    {
        Assert.Equal(PoolKernel.MaxPool3x3S2, KernelPolicy.For(DeviceKind.OpenCL).Pool);
        Assert.Equal(PoolKernel.MaxPool3x3S2, KernelPolicy.For(DeviceKind.Cpu).Pool);
        Assert.Equal(PoolKernel.MaxPool3x3S2PerOutput, KernelPolicy.For(DeviceKind.Cuda).Pool);
        // TRGv2's pool at batch 2: [2,64,96,96] -> [2,64,48,48].
        var p = new PoolParams { Batch = 2, Channels = 64, InHeight = 96, InWidth = 96, OutHeight = 48, OutWidth = 48 };
        var runs = KernelPolicy.For(DeviceKind.OpenCL).PoolConfig(p, Tiling.GroupSize);
        Assert.Equal((48 / Pooling.RowRun, Tiling.CeilDiv(48, Tiling.GroupSize), 128), (runs.GridDim.X, runs.GridDim.Y, runs.GridDim.Z));
        Assert.Equal((1, Tiling.GroupSize, 1), (runs.GroupDim.X, runs.GroupDim.Y, runs.GroupDim.Z));
        var each = KernelPolicy.For(DeviceKind.Cuda).PoolConfig(p, Tiling.GroupSize);
        int rows = Tiling.GroupSize / Pooling.GroupColumns;
        Assert.Equal((48 / Pooling.GroupColumns, Tiling.CeilDiv(48, rows), 128), (each.GridDim.X, each.GridDim.Y, each.GridDim.Z));
        Assert.Equal((Pooling.GroupColumns, rows, 1), (each.GroupDim.X, each.GroupDim.Y, each.GroupDim.Z));
    }

    [Fact]
    public void ConvKernelFor_PicksEachVariantWhereItApplies()
    {
        var pocl = KernelPolicy.For(DeviceKind.OpenCL);
        Assert.Equal(ConvKernel.WinogradGemmF2x16, pocl.Winograd);
        Assert.Equal(ConvKernel.WinogradGemmF2x16, KernelPolicy.For(DeviceKind.Cpu).Winograd);
        // CUDA never gets the 16-channel product (255 registers and spills under ptxas): its Winograd form is the 8-channel one.
        Assert.Equal(ConvKernel.WinogradGemmF2, KernelPolicy.For(DeviceKind.Cuda).Winograd);
        static ConvParams Conv(int batch, int cin, int size, int cout, int k = 3, int stride = 1) => new()
        {
            Batch = batch, InChannels = cin, InHeight = size, InWidth = size, OutChannels = cout,
            OutHeight = (size + 2 * (k / 2) - k) / stride + 1, OutWidth = (size + 2 * (k / 2) - k) / stride + 1,
            Kernel = k, Stride = stride, Pad = k / 2,
        };
        // Winograd-packed: the policy's form for every shape (the 16-channel product on PoCL where the padded output
        // channels are whole 16s, else the 8-channel one), the others when asked.
        foreach (var p in new[] { Conv(1, 512, 6, 512), Conv(8, 512, 6, 512), Conv(1, 128, 24, 128), Conv(1, 64, 48, 64), Conv(3, 20, 7, 13), Conv(3, 20, 7, 8), Conv(2, 9, 5, 21) })
        {
            bool sixteens = (p.OutChannels + 15) / 16 * 16 == p.OutChannelsPadded;
            Assert.Equal(sixteens, WinogradConvolution.SupportsGemm16(p));
            Assert.Equal(sixteens ? ConvKernel.WinogradGemmF2x16 : ConvKernel.WinogradGemmF2, pocl.ConvKernelFor(p, WinogradForm.F2));
            Assert.Equal(ConvKernel.WinogradGemmF2, (pocl with { Winograd = ConvKernel.WinogradGemmF2 }).ConvKernelFor(p, WinogradForm.F2));
            Assert.Equal(ConvKernel.WinogradF2x3, (pocl with { Winograd = ConvKernel.WinogradF2x3 }).ConvKernelFor(p, WinogradForm.F2));
        }
        // Direct weights: the stride-2 convolutions (stem included) as phase split on the CPU devices, also where the
        // last strip is partial (6x6); on CUDA the stem kernel and the wide tile.
        Assert.Equal(ConvKernel.Conv2DPhase, pocl.Strided);
        Assert.Equal(ConvKernel.Conv2DPhase, KernelPolicy.For(DeviceKind.Cpu).Strided);
        Assert.Equal(ConvKernel.Conv2DWide, KernelPolicy.For(DeviceKind.Cuda).Strided);
        Assert.Equal(ConvKernel.Conv2DPhase, pocl.ConvKernelFor(Conv(1, 3, 192, 64, k: 7, stride: 2), WinogradForm.None));
        Assert.Equal(ConvKernel.Conv2DPhase, pocl.ConvKernelFor(Conv(1, 64, 48, 128, stride: 2), WinogradForm.None));
        Assert.Equal(ConvKernel.Conv2DPhase, pocl.ConvKernelFor(Conv(8, 128, 24, 256, stride: 2), WinogradForm.None));
        Assert.Equal(ConvKernel.Conv2DPhase, pocl.ConvKernelFor(Conv(1, 256, 12, 512, stride: 2), WinogradForm.None));
        // Past the phase split's plane count (batch x channels x 4 > 65535) the strip runs instead.
        Assert.Equal(ConvKernel.Conv2DStrip, pocl.ConvKernelFor(Conv(64, 256, 12, 512, stride: 2), WinogradForm.None));
        var cuda = KernelPolicy.For(DeviceKind.Cuda);
        Assert.Equal(ConvKernel.Stem7x7S2, cuda.ConvKernelFor(Conv(1, 3, 192, 64, k: 7, stride: 2), WinogradForm.None));
        Assert.Equal(ConvKernel.Conv2DWide, cuda.ConvKernelFor(Conv(1, 64, 48, 128, stride: 2), WinogradForm.None));
        // The strip where a policy asks for it: 3x3 stride 2 only (the stem keeps its kernel).
        var strips = pocl with { Strided = ConvKernel.Conv2DStrip };
        Assert.Equal(ConvKernel.Conv2DStrip, strips.ConvKernelFor(Conv(1, 64, 48, 128, stride: 2), WinogradForm.None));
        Assert.Equal(ConvKernel.Stem7x7S2, strips.ConvKernelFor(Conv(1, 3, 192, 64, k: 7, stride: 2), WinogradForm.None));
        // 1x1 (stride 1: the heatmap head; stride 2: the projection shortcuts) on the phase split on the CPU devices, the
        // strip at stride 1 where a policy asks for it, the 8-channel kernel on CUDA.
        Assert.Equal(ConvKernel.Conv2DPhase, pocl.Pointwise);
        Assert.Equal(ConvKernel.Conv2DPhase, KernelPolicy.For(DeviceKind.Cpu).Pointwise);
        Assert.Equal(ConvKernel.Conv2DWide, KernelPolicy.For(DeviceKind.Cuda).Pointwise);
        foreach (var p in new[] { Conv(1, 256, 24, 68, k: 1), Conv(8, 256, 24, 68, k: 1), Conv(1, 64, 48, 128, k: 1, stride: 2), Conv(3, 19, 13, 30, k: 1, stride: 2) })
        {
            Assert.Equal(ConvKernel.Conv2DPhase, pocl.ConvKernelFor(p, WinogradForm.None));
            Assert.Equal(p.Stride == 1 ? ConvKernel.Conv2DStrip : Convolution.SupportsWide(p) ? ConvKernel.Conv2DWide : ConvKernel.Conv2D, (pocl with { Pointwise = ConvKernel.Conv2DStrip }).ConvKernelFor(p, WinogradForm.None));
            Assert.Equal(Convolution.SupportsWide(p) ? ConvKernel.Conv2DWide : ConvKernel.Conv2D, KernelPolicy.For(DeviceKind.Cuda).ConvKernelFor(p, WinogradForm.None));
        }
        // Past the phase split's plane count the strip, at stride 1.
        Assert.Equal(ConvKernel.Conv2DStrip, pocl.ConvKernelFor(Conv(300, 256, 24, 68, k: 1), WinogradForm.None));
        // The projection shortcut as its own launch: with the three-launch Winograd forms only.
        var projected = Conv(1, 128, 24, 128) with { ShortcutMode = Convolution.ShortcutProjection };
        Assert.True(KernelPolicy.SeparateProjection(ConvKernel.WinogradGemmF2x16, projected));
        Assert.True(KernelPolicy.SeparateProjection(ConvKernel.WinogradGemmF2, projected));
        Assert.True(KernelPolicy.SeparateProjection(ConvKernel.WinogradGemmF4x16, projected));
        Assert.False(KernelPolicy.SeparateProjection(ConvKernel.WinogradF2x3, projected));
        Assert.False(KernelPolicy.SeparateProjection(ConvKernel.Conv2D, projected));
        Assert.False(KernelPolicy.SeparateProjection(ConvKernel.WinogradGemmF2x16, projected with { ShortcutMode = Convolution.ShortcutIdentity }));
        // Direct weights at stride 1: one zero-padded plane on the CPU devices (layer 4's 6x6 maps at batch 1 and 8
        // included), the 8-channel kernel with a projection shortcut, the wide tile on CUDA or where the policy says no.
        Assert.True(pocl.PhaseStride1);
        Assert.False(KernelPolicy.For(DeviceKind.Cuda).PhaseStride1);
        foreach (var p in new[] { Conv(1, 64, 48, 64), Conv(1, 512, 6, 512), Conv(8, 512, 6, 512), Conv(3, 20, 7, 13) })
        {
            Assert.Equal(ConvKernel.Conv2DPhase, pocl.ConvKernelFor(p, WinogradForm.None));
            Assert.Equal(ConvKernel.Conv2DPhase, pocl.ConvKernelFor(p with { ShortcutMode = Convolution.ShortcutIdentity }, WinogradForm.None));
            Assert.Equal(ConvKernel.Conv2D, pocl.ConvKernelFor(p with { ShortcutMode = Convolution.ShortcutProjection }, WinogradForm.None));
            Assert.Equal(ConvKernel.Conv2DWide, (pocl with { PhaseStride1 = false }).ConvKernelFor(p with { OutChannels = 16 }, WinogradForm.None));
            Assert.Equal(ConvKernel.Conv2DWide, KernelPolicy.For(DeviceKind.Cuda).ConvKernelFor(p with { OutChannels = 16 }, WinogradForm.None));
        }
        // The benchmark's candidates: every variant that can run the shape.
        Assert.Equal([ConvKernel.Conv2D, ConvKernel.Conv2DWide, ConvKernel.Conv2DStrip, ConvKernel.Conv2DPhase, ConvKernel.WinogradF2x3, ConvKernel.WinogradGemmF2,
            ConvKernel.WinogradGemmF2x16, ConvKernel.WinogradGemmF4x16], KernelPolicy.Candidates(Conv(1, 64, 48, 64)));
        Assert.Equal([ConvKernel.Conv2D, ConvKernel.Conv2DWide, ConvKernel.Conv2DStrip, ConvKernel.Conv2DPhase, ConvKernel.WinogradF2x3, ConvKernel.WinogradGemmF2,
            ConvKernel.WinogradGemmF2x16, ConvKernel.WinogradGemmF4x16], KernelPolicy.Candidates(Conv(1, 512, 6, 512)));
        // A projection shortcut: no three-launch form (F2 or F4), whose output transform takes an identity shortcut only
        // (the plan runs the projection as its own launch first: SeparateProjection).
        Assert.Equal([ConvKernel.Conv2D, ConvKernel.WinogradF2x3], KernelPolicy.Candidates(Conv(1, 512, 6, 512) with
            { ShortcutMode = Convolution.ShortcutProjection, ShortcutChannels = 256, ShortcutHeight = 12, ShortcutWidth = 12, ShortcutStride = 2 }));
        // Padded to 8 output channels, not 16: no 16-channel product.
        Assert.Equal([ConvKernel.Conv2D, ConvKernel.Conv2DStrip, ConvKernel.Conv2DPhase, ConvKernel.WinogradF2x3, ConvKernel.WinogradGemmF2],
            KernelPolicy.Candidates(Conv(3, 20, 7, 8)));
        Assert.Equal([ConvKernel.Conv2D, ConvKernel.Conv2DWide, ConvKernel.Conv2DStrip, ConvKernel.Conv2DPhase, ConvKernel.Stem7x7S2],
            KernelPolicy.Candidates(Conv(1, 3, 192, 64, k: 7, stride: 2)));
        Assert.Equal([ConvKernel.Conv2D, ConvKernel.Conv2DWide, ConvKernel.Conv2DStrip, ConvKernel.Conv2DPhase],
            KernelPolicy.Candidates(Conv(1, 64, 48, 128, stride: 2)));
        Assert.Equal([ConvKernel.Conv2D, ConvKernel.Conv2DStrip, ConvKernel.Conv2DPhase], KernelPolicy.Candidates(Conv(1, 256, 24, 68, k: 1)));
        Assert.Equal([ConvKernel.Conv2D, ConvKernel.Conv2DWide, ConvKernel.Conv2DStrip, ConvKernel.Conv2DPhase], KernelPolicy.Candidates(Conv(1, 64, 48, 128, k: 1, stride: 2)));
    }

    /// <summary>
    /// The Winograd form rule: by shape only (the same form at every batch size), F4 on the CPU devices for maps of 12
    /// or more a side with whole 16-channel pairs, with or without a projection shortcut (TRGv2: layers 1-3, their
    /// projection conv2s included, and the heatmap 3x3, not layer 4's 6x6), never on CUDA; an F4-packed layer runs WinogradGemmF4x16, whatever the F2 product is.
    /// </summary>
    [Fact]
    public void WinogradFormFor_IsByShape_F4OnlyOnTheCpuDevicesForLargeMaps()
    {
        static ConvParams Conv(int batch, int cin, int size, int cout, int shortcut = Convolution.ShortcutNone) => new()
        {
            Batch = batch, InChannels = cin, InHeight = size, InWidth = size, OutChannels = cout, OutHeight = size, OutWidth = size,
            Kernel = 3, Stride = 1, Pad = 1, ShortcutMode = shortcut,
            ShortcutChannels = shortcut == Convolution.ShortcutProjection ? cin / 2 : 0, ShortcutHeight = 2 * size, ShortcutWidth = 2 * size, ShortcutStride = 2,
        };
        foreach (var kind in new[] { DeviceKind.OpenCL, DeviceKind.Cpu })
        {
            var policy = KernelPolicy.For(kind);
            Assert.Equal(24, policy.WinogradF4MinMap);
            foreach (int batch in new[] { 1, 3, 8 })
            {
                Assert.Equal(WinogradForm.F4, policy.WinogradFormFor(Conv(batch, 64, 48, 64)));                  // layer 1
                Assert.Equal(WinogradForm.F4, policy.WinogradFormFor(Conv(batch, 128, 24, 128)));                // layer 2
                Assert.Equal(WinogradForm.F4, policy.WinogradFormFor(Conv(batch, 256, 24, 256)));                // heatmap 3x3
                Assert.Equal(WinogradForm.F4, policy.WinogradFormFor(Conv(batch, 128, 24, 128, Convolution.ShortcutProjection))); // layer2.0.conv2
                Assert.Equal(WinogradForm.F2, policy.WinogradFormFor(Conv(batch, 256, 12, 256)));                // layer 3
                Assert.Equal(WinogradForm.F2, policy.WinogradFormFor(Conv(batch, 256, 12, 256, Convolution.ShortcutProjection))); // layer3.0.conv2
                Assert.Equal(WinogradForm.F2, policy.WinogradFormFor(Conv(batch, 512, 6, 512, Convolution.ShortcutProjection)));  // layer4.0.conv2
                Assert.Equal(WinogradForm.F2, policy.WinogradFormFor(Conv(batch, 512, 6, 512)));                 // layer 4
                Assert.Equal(WinogradForm.F2, policy.WinogradFormFor(Conv(batch, 64, 48, 8)));                   // padded to 8 channels
            }
            Assert.Equal(ConvKernel.WinogradGemmF4x16, policy.ConvKernelFor(Conv(1, 64, 48, 64), WinogradForm.F4));
            Assert.Equal(ConvKernel.WinogradGemmF4x16, (policy with { Winograd = ConvKernel.WinogradGemmF2 }).ConvKernelFor(Conv(8, 64, 48, 64), WinogradForm.F4));
        }
        var cuda = KernelPolicy.For(DeviceKind.Cuda).With(ConvAlgorithm.Winograd);
        Assert.Equal(0, cuda.WinogradF4MinMap);
        Assert.Equal(WinogradForm.F2, cuda.WinogradFormFor(Conv(1, 64, 48, 64)));
        Assert.Equal(WinogradForm.F4, KernelPolicy.FormOf(ConvKernel.WinogradGemmF4x16));
        Assert.Equal(WinogradForm.F2, KernelPolicy.FormOf(ConvKernel.WinogradGemmF2x16));
        Assert.Equal(WinogradForm.None, KernelPolicy.FormOf(ConvKernel.Conv2DPhase));
    }

    [Fact]
    public void CudaPlan_OnACudaShapedCpu_HasCudaLaunchShapes()
    {
        var policy = KernelPolicy.For(DeviceKind.Cuda);
        using var session = new InferenceSession(ModelWeights.Load("synthetic:trgv2:7"), ComputeDevice.OpenCudaShapedCpu(), ConvAlgorithm.Auto, policy);
        Assert.Equal(policy, session.Policy);
        var ops = session.Plan(2).Ops;
        Assert.Equal(39, ops.Count); // 33 convolution, pooling and iteration launches + 2 transposed convolutions x 2 launches
        Assert.DoesNotContain(ops, o => o.Kernel == "WinogradF2x3");
        Assert.Equal("MaxPool3x3S2PerOutput", ops.Single(o => o.Name == "maxpool").Kernel);
        foreach (var op in ops)
        {
            // Groups of the policy's 64 threads, as on a GPU (the default CPU accelerator allows only 16); the transposed
            // convolutions one warp (their staging tile's size).
            // SoftArgmax one group a heatmap, one thread a column of its 24x24 cells.
            int group = op.Kernel switch
            {
                "Deconv4x4S2" => policy.DeconvGroupSize,
                "SoftArgmax" => Heatmap.Config(1, VariantInfo.TrgV2.HeatmapSize, policy.GroupSize).GroupDim.Size,
                _ => policy.GroupSize,
            };
            Assert.Equal(group, op.GroupSize);
            Assert.True(op.Groups >= 1, op.Name);
        }
        // The preprocessing launch covers one thread per 16-pixel run of a row of the batch's crops.
        var pre = ops.Single(o => o.Name == "preprocess");
        Assert.Equal(Tiling.CeilDiv(2 * VariantInfo.InputSize * VariantInfo.InputSize / Preprocess.RowRun, policy.GroupSize), pre.Groups);
    }
}
