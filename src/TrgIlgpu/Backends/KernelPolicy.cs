using TrgIlgpu.Engine;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Backends;

/// <summary>
/// Which kernel shapes a session uses on a kind of device: the one place for that decision (read by
/// <see cref="InferenceSession"/>; `trg ptx --plan` previews the CUDA one).
/// <para>
/// OpenCL and the CPU accelerator: Winograd F(2x2, 3x3) for the 3x3 stride-1 convolutions (measured about twice
/// as fast as direct on PoCL, docs/devices.md), groups of 64 threads.
/// </para>
/// <para>
/// CUDA: direct convolutions, groups of 64 threads; not measured on a GPU yet. Findings from ptxas 11.8 for sm_90
/// without a GPU (docs/devices.md, "CUDA without a GPU"): the register-tiled kernels need many registers a thread
/// (Winograd about 168, deconv about 124, stem about 114), which caps their occupancy at 25-38% of an SM's warps,
/// and at batch 1 most launches have fewer groups of 64 than an H200 has SMs (132), so most of the GPU idles. What a
/// CUDA policy should use instead is listed there (fewer channels a thread or split reductions at small batch,
/// __launch_bounds__-style specialisation); until it is measured this policy keeps the kernels as they are.
/// </para>
/// </summary>
/// <param name="Convolutions">How the 3x3 stride-1 convolutions run (never <see cref="ConvAlgorithm.Auto"/>).</param>
/// <param name="GroupSize">Threads a group for the 1-D launches (capped by the device's maximum).</param>
public sealed record KernelPolicy(ConvAlgorithm Convolutions, int GroupSize)
{
    /// <summary>The policy for <paramref name="kind"/> (Auto is resolved by the caller to the device it opened).</summary>
    public static KernelPolicy For(DeviceKind kind) => kind switch
    {
        DeviceKind.Cuda => new(ConvAlgorithm.Direct, Tiling.GroupSize),
        _ => new(ConvAlgorithm.Winograd, Tiling.GroupSize),
    };

    /// <summary>This policy with <paramref name="convolutions"/> instead, unless that is Auto.</summary>
    public KernelPolicy With(ConvAlgorithm convolutions) =>
        convolutions == ConvAlgorithm.Auto ? this : this with { Convolutions = convolutions };
}
