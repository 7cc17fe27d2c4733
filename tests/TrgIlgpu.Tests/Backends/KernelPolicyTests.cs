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
        Assert.Equal(new KernelPolicy(ConvAlgorithm.Direct, Tiling.GroupSize), KernelPolicy.For(DeviceKind.Cuda));
        Assert.Equal(ConvAlgorithm.Winograd, KernelPolicy.For(DeviceKind.OpenCL).Convolutions);
        Assert.Equal(ConvAlgorithm.Winograd, KernelPolicy.For(DeviceKind.Cpu).Convolutions);
        var cuda = KernelPolicy.For(DeviceKind.Cuda);
        Assert.Same(cuda, cuda.With(ConvAlgorithm.Auto));
        Assert.Equal(ConvAlgorithm.Winograd, cuda.With(ConvAlgorithm.Winograd).Convolutions);
    }

    [Fact]
    public void CudaPlan_OnACudaShapedCpu_HasCudaLaunchShapes()
    {
        var policy = KernelPolicy.For(DeviceKind.Cuda);
        using var session = new InferenceSession(ModelWeights.Load("synthetic:trgv2:7"), ComputeDevice.OpenCudaShapedCpu(), ConvAlgorithm.Auto, policy);
        Assert.Equal(policy, session.Policy);
        var ops = session.Plan(2).Ops;
        Assert.Equal(37, ops.Count);
        Assert.DoesNotContain(ops, o => o.Kernel == "WinogradF2x3");
        foreach (var op in ops)
        {
            // Groups of the policy's 64 threads, as on a GPU (the default CPU accelerator allows only 16).
            Assert.Equal(policy.GroupSize, op.GroupSize);
            Assert.True(op.Groups >= 1, op.Name);
        }
        // The preprocessing launch covers one thread per output pixel of the batch's crops.
        var pre = ops.Single(o => o.Name == "preprocess");
        Assert.Equal(Tiling.CeilDiv(2 * VariantInfo.InputSize * VariantInfo.InputSize, policy.GroupSize), pre.Groups);
    }
}
