using TrgIlgpu.Kernels;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>Every launch uses <see cref="Tiling.GroupSize"/> threads per group: each device must accept that.</summary>
[Collection(KernelCollection.Name)]
public sealed class LaunchConfigTests(KernelDevices devices)
{
    [Fact]
    public void CpuAccelerator_AcceptsTheLaunchGroupSize() =>
        Assert.True(devices.Cpu.Accelerator.MaxNumThreadsPerGroup >= Tiling.GroupSize,
            $"{devices.Cpu.Description} allows {devices.Cpu.Accelerator.MaxNumThreadsPerGroup} threads per group; launches use {Tiling.GroupSize}");

    [OpenCLFact]
    public void OpenCLAccelerator_AcceptsTheLaunchGroupSize() =>
        Assert.True(devices.OpenCL.Accelerator.MaxNumThreadsPerGroup >= Tiling.GroupSize,
            $"{devices.OpenCL.Description} allows {devices.OpenCL.Accelerator.MaxNumThreadsPerGroup} threads per group; launches use {Tiling.GroupSize}");
}
