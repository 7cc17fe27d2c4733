using TrgIlgpu.Kernels;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// Launches use <see cref="Tiling.GroupSize"/> threads per group, narrowed to what the device allows
/// (ILGPU's CPU accelerator allows 16): the chosen size must be accepted and as large as allowed.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class LaunchConfigTests(KernelDevices devices)
{
    [Fact]
    public void CpuAccelerator_GroupSizeFitsTheDevice() => Check(devices.Cpu);

    [OpenCLFact]
    public void OpenCLAccelerator_GroupSizeFitsTheDevice() => Check(devices.OpenCL);

    private static void Check(DeviceUnderTest device)
    {
        int max = device.Accelerator.MaxNumThreadsPerGroup;
        int used = device.Kernels.GroupSize;
        Assert.True(used >= 1 && used <= max, $"{device.Description}: launches use {used} threads per group, the device allows {max}");
        Assert.Equal(Math.Min(Tiling.GroupSize, max), used);
    }
}
