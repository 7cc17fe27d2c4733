using ILGPU;
using TrgIlgpu.Engine;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Backends;

/// <summary>
/// The kernel variants a convolution can run with; each name is the plan's kernel label (the three-launch
/// <see cref="WinogradGemmF2"/> shows as <c>WinogradInputF2</c>, <c>WinogradGemmF2</c>, <c>WinogradOutputF2</c>).
/// </summary>
public enum ConvKernel
{
    /// <summary><see cref="Convolution.Conv2D"/>: 8 channels x 4 positions a thread, any shape.</summary>
    Conv2D,
    /// <summary><see cref="Convolution.Conv2DWide"/>: 16 channels x 4 positions, whole 16-channel tiles, no projection.</summary>
    Conv2DWide,
    /// <summary><see cref="Convolution.Conv2DStrip"/>: 16 positions x 8 channels (the Winograd product's shape), no projection.</summary>
    Conv2DStrip,
    /// <summary>
    /// <see cref="PhaseConvolution.Conv2DPhase"/> after <see cref="PhaseConvolution.PhaseSplit"/> (its own launch, labelled
    /// <c>PhaseSplit</c>): a stride-2 or stride-1 convolution with an odd kernel, padding K/2, no projection, as 16
    /// positions x 8 channels over de-interleaved (stride 2) or zero-padded (stride 1) planes (contiguous loads).
    /// </summary>
    Conv2DPhase,
    /// <summary><see cref="StemConvolution.Stem7x7S2"/>: the 3-channel 7x7/2 stem.</summary>
    Stem7x7S2,
    /// <summary><see cref="WinogradConvolution.WinogradF2x3"/>: Winograd F(2x2, 3x3), transforms fused, one launch.</summary>
    WinogradF2x3,
    /// <summary><see cref="WinogradConvolution"/>: Winograd F(2x2, 3x3) as input transform, batched product, output transform.</summary>
    WinogradGemmF2,
    /// <summary>
    /// <see cref="WinogradGemmF2"/> with the product <see cref="WinogradConvolution.WinogradGemmF2x16"/> (16 tiles x 16
    /// channels a thread; labelled <c>WinogradGemmF2x16</c>), where <see cref="WinogradConvolution.SupportsGemm16"/>; the
    /// input and output transforms are the same launches.
    /// </summary>
    WinogradGemmF2x16,
    /// <summary>
    /// Winograd F(4x4, 3x3) in three launches: <see cref="WinogradConvolution.WinogradInputF4"/>, the product
    /// <see cref="WinogradConvolution.WinogradGemmF4x16"/> (<see cref="WinogradConvolution.WinogradGemmF2x16"/>'s body over
    /// 36 components; labelled <c>WinogradGemmF4x16</c>), <see cref="WinogradConvolution.WinogradOutputF4"/>; weights packed
    /// <see cref="WinogradForm.F4"/>, only where <see cref="WinogradConvolution.SupportsF4"/> (no projection shortcut,
    /// whole 16-channel pairs).
    /// </summary>
    WinogradGemmF4x16,
}

/// <summary>The kernel variants of the 3x3 stride-2 max-pool; each name is the kernel's and the plan's label.</summary>
public enum PoolKernel
{
    /// <summary>
    /// <see cref="Pooling.MaxPool3x3S2"/>: <see cref="Pooling.RowRun"/> outputs of a row a thread (contiguous 16-float
    /// loads and even/odd shuffles on PoCL); the CPU devices' form.
    /// </summary>
    MaxPool3x3S2,
    /// <summary>
    /// <see cref="Pooling.MaxPool3x3S2PerOutput"/>: one output a thread, consecutive threads on consecutive outputs (a
    /// warp's stores coalesce); CUDA's form.
    /// </summary>
    MaxPool3x3S2PerOutput,
}

/// <summary>
/// Which kernel shapes a session uses on a kind of device: the one place for that decision, read by
/// <see cref="InferenceSession"/> (packing and kernels), the forward plan (<see cref="ConvKernelFor"/>), the tests and the
/// kernel-variant benchmark (`TrgIlgpu.Bench -- kernels`); `trg ptx --plan` previews the CUDA one.
/// <para>
/// OpenCL and the CPU accelerator: Winograd F(2x2, 3x3) for the 3x3 stride-1 convolutions, in its three-launch
/// batched-product form, which measured faster than the fused kernel on PoCL on every TRGv2 shape at batch 1 and 8
/// once its product ran as fused multiply-adds over 16-tile rows (bench/RESULTS.md, "Kernel variants"), with 16 output
/// channels a product thread (<see cref="ConvKernel.WinogradGemmF2x16"/>: one load of V for 16 multiply-adds; faster
/// than 8 channels on PoCL at batch 1 and 8, docs/devices.md, "The product in 512-bit vectors (round six)") where the
/// padded output channels are whole 16s, else 8; groups of 64 threads. Winograd F(4x4, 3x3)
/// (<see cref="ConvKernel.WinogradGemmF4x16"/>) instead for the maps of 24 or more a side
/// (<see cref="WinogradF4MinMap"/>: 0.60-0.90x of F2's CPU time there at batch 1 and 8, slower on layer 4's 6x6 maps;
/// layer 3's 12x12 maps gain little at batch 1 and their U would add 15.7 MiB to the device weights, which on PoCL are
/// the process's resident memory: docs/devices.md, "Acceptance status after round seven").
/// </para>
/// <para>
/// CUDA: direct convolutions, groups of 64 threads; not measured on a GPU yet. Were it Winograd, the 8-channel product
/// <see cref="ConvKernel.WinogradGemmF2"/>: the 16-channel one needs 255 registers and spills under ptxas 11.8. Findings from ptxas 11.8 for sm_90
/// without a GPU (docs/devices.md, "CUDA without a GPU"): the register-tiled kernels need many registers a thread
/// (Winograd about 168, deconv about 124, stem about 114), which caps their occupancy at 25-38% of an SM's warps,
/// and at batch 1 most launches have fewer groups of 64 than an H200 has SMs (132), so most of the GPU idles. What a
/// CUDA policy should use instead is listed there (fewer channels a thread or split reductions at small batch,
/// __launch_bounds__-style specialisation); until it is measured this policy keeps the kernels as they are.
/// </para>
/// </summary>
/// <param name="Convolutions">How the 3x3 stride-1 convolutions run (never <see cref="ConvAlgorithm.Auto"/>).</param>
/// <param name="GroupSize">Threads a group for the 1-D launches (capped by the device's maximum).</param>
/// <param name="Winograd">The Winograd kernel of every 3x3 stride-1 convolution when <paramref name="Convolutions"/> is
/// Winograd: the fused <see cref="ConvKernel.WinogradF2x3"/>, the three-launch <see cref="ConvKernel.WinogradGemmF2"/>, or
/// <see cref="ConvKernel.WinogradGemmF2x16"/> (its 16-channel product; <see cref="ConvKernelFor"/> falls back to
/// <see cref="ConvKernel.WinogradGemmF2"/> where the padded output channels are not whole 16s).</param>
/// <param name="DenseGroupSize">Threads a group for the dense layers (<see cref="Linear.Dense"/>,
/// <see cref="Linear.DenseStateUpdate"/>), capped by the device's maximum: on the CPU devices
/// <see cref="Linear.GroupSize"/> (few threads, and PoCL runs a group on one core), on CUDA whole warps.</param>
/// <param name="Strided">The kernel of the stride-2 convolutions without a projection shortcut where it can run them:
/// <see cref="ConvKernel.Conv2DPhase"/> (any odd kernel with padding K/2, the stem included), <see cref="ConvKernel.Conv2DStrip"/>
/// (3x3 only) or <see cref="ConvKernel.Conv2DWide"/> (the rule for other shapes). On PoCL the phase split measured fastest on
/// TRGv2's stem and three 3x3 stride-2 convolutions at batch 1 and 8 (bench/RESULTS.md, "Kernel design measurements");
/// not measured on CUDA.</param>
/// <param name="Pointwise">The kernel of the 1x1 convolutions (TRGv2's heatmap head at stride 1, and the ResNet projection
/// shortcuts at stride 2 where <see cref="SeparateProjection"/> runs them as their own launch) where it can run them:
/// <see cref="ConvKernel.Conv2DPhase"/> (16 contiguous positions x 8 channels over a copy of the input, or of its
/// subsampled phase at stride 2), <see cref="ConvKernel.Conv2DStrip"/> (stride 1 only: contiguous 16-position loads from
/// the input itself) or <see cref="ConvKernel.Conv2DWide"/> (the rule for other shapes). On PoCL the phase form measured
/// fastest (docs/devices.md, "Pointwise convolutions and the projection (round seven)"); not measured on CUDA.</param>
/// <param name="PhaseStride1">Whether the odd-kernel stride-1 convolutions without a projection shortcut whose weights are
/// not packed for Winograd (<see cref="ConvAlgorithm.Direct"/>) run <see cref="ConvKernel.Conv2DPhase"/> over one
/// zero-padded plane: on PoCL 1.6-3x faster than <see cref="ConvKernel.Conv2DWide"/> on every TRGv2 3x3 stride-1 shape at batch 1
/// and 8, and 1.6-3x slower than <see cref="ConvKernel.WinogradGemmF2"/>, layer 4's 6x6 maps included (docs/devices.md, "Small
/// maps without Winograd (round six)"), so Winograd stays the choice where it is packed; not measured on CUDA.</param>
/// <param name="WinogradF4MinMap">The Winograd form rule, by shape only (so that one packed weight set serves every batch
/// size): a Winograd-packed convolution whose output maps are at least this many positions a side (0: none) and that
/// <see cref="WinogradConvolution.SupportsF4"/> (whole 16-channel pairs; a projection shortcut is its own launch,
/// <see cref="SeparateProjection"/>) is packed
/// <see cref="WinogradForm.F4"/> and runs <see cref="ConvKernel.WinogradGemmF4x16"/>; the others F(2x2, 3x3). F4 does
/// 0.56x the product's multiply-adds and V and M shrink from 4 to 2.25 floats an output, but U grows from 16 to 36
/// floats a filter, which the small maps (few tiles) stream for little work (docs/devices.md, "Winograd F(4x4, 3x3)
/// (round seven)"). On the CPU devices 24: on PoCL F4 took 0.60-0.62x of F2's CPU time on TRGv2's 48 and 24 maps
/// (layers 1-2, the heatmap 3x3) at batch 8 and 0.63-0.90x at batch 1; layer 3's 12x12 maps (0.87x at batch 1, the
/// same wall time) stay F2 because on PoCL their 15.7 MiB more of U is resident memory, and layer 4's 6x6 maps (4 tiles
/// an image) were 1.2-3.2x slower in F4; CUDA 0 (not measured).</param>
/// <param name="DeconvGroupSize">Threads a group for <see cref="TransposedConvolution.Deconv4x4S2"/>, capped by the device's
/// maximum and <see cref="TransposedConvolution.MaxGroupSize"/>: on the CPU devices <see cref="TransposedConvolution.GroupSize"/>
/// (16: deconv0 has 144 threads at batch 1 and PoCL runs a group on one core), on CUDA one warp (the most the
/// kernel's 32 KB staging tile allows).</param>
/// <param name="Pool">The max-pool's kernel: on the CPU devices <see cref="PoolKernel.MaxPool3x3S2"/> (16 outputs a
/// thread: PoCL made the one-output form's stride-2 taps into gathers; docs/devices.md, "Max-pool at bandwidth (round
/// eight)"), on CUDA <see cref="PoolKernel.MaxPool3x3S2PerOutput"/> (one output a thread: in the 16-output form a warp's
/// 32 threads store 32 runs 64 bytes apart, 16 store instructions each, and batch 1 has 16x fewer threads; ptxas finds
/// neither form spills; docs/devices.md, "SoftArgmax and the CUDA policy (round nine)"). Not measured on a GPU.</param>
/// <remarks>
/// <see cref="Heatmap.SoftArgmax"/> has one form on every device (one group a heatmap, one thread a column at TRGv2's
/// 24x24 maps): on CUDA it replaces one thread a heatmap's 576 serial exponentials (68 threads at batch 1) by 24, over 68
/// groups; its row-step barriers cost a bar.sync each there, which a CUDA-only form without them would save (not
/// measured).
/// </remarks>
public sealed record KernelPolicy(ConvAlgorithm Convolutions, int GroupSize, ConvKernel Winograd = ConvKernel.WinogradGemmF2,
    int DenseGroupSize = Linear.GroupSize, ConvKernel Strided = ConvKernel.Conv2DWide, ConvKernel Pointwise = ConvKernel.Conv2DWide, bool PhaseStride1 = false,
    int WinogradF4MinMap = 0, int DeconvGroupSize = TransposedConvolution.GroupSize, PoolKernel Pool = PoolKernel.MaxPool3x3S2)
{
    /// <summary>The policy for <paramref name="kind"/> (Auto is resolved by the caller to the device it opened).</summary>
    public static KernelPolicy For(DeviceKind kind) => kind switch
    {
        DeviceKind.Cuda => new(ConvAlgorithm.Direct, Tiling.GroupSize, DenseGroupSize: Tiling.GroupSize, DeconvGroupSize: TransposedConvolution.MaxGroupSize,
            Pool: PoolKernel.MaxPool3x3S2PerOutput),
        _ => new(ConvAlgorithm.Winograd, Tiling.GroupSize, ConvKernel.WinogradGemmF2x16, Strided: ConvKernel.Conv2DPhase, Pointwise: ConvKernel.Conv2DPhase,
            PhaseStride1: true, WinogradF4MinMap: 24),
    };

    /// <summary>The launch of <see cref="Pool"/> over <paramref name="p"/> with groups of <paramref name="group"/> threads.</summary>
    public KernelConfig PoolConfig(in PoolParams p, int group) =>
        Pool == PoolKernel.MaxPool3x3S2PerOutput ? Pooling.ConfigPerOutput(p, group) : Pooling.Config(p, group);

    /// <summary>This policy with <paramref name="convolutions"/> instead, unless that is Auto.</summary>
    public KernelPolicy With(ConvAlgorithm convolutions) =>
        convolutions == ConvAlgorithm.Auto ? this : this with { Convolutions = convolutions };

    /// <summary>Whether the 3x3 stride-1 convolutions' weights are packed for Winograd (U = G g G^T).</summary>
    public bool PacksWinograd => Convolutions == ConvAlgorithm.Winograd;

    /// <summary>
    /// The Winograd form a 3x3 stride-1 convolution of shape <paramref name="p"/> is packed in when this policy packs
    /// Winograd (<see cref="WinogradF4MinMap"/>; the batch size is not read): <see cref="WinogradForm.F4"/> or
    /// <see cref="WinogradForm.F2"/>.
    /// </summary>
    public WinogradForm WinogradFormFor(ConvParams p) =>
        WinogradF4MinMap > 0 && p.OutHeight >= WinogradF4MinMap && p.OutWidth >= WinogradF4MinMap && WinogradConvolution.SupportsF4(p)
            ? WinogradForm.F4 : WinogradForm.F2;

    /// <summary>
    /// The kernel for convolution <paramref name="p"/>: <see cref="ConvKernel.WinogradGemmF4x16"/> when its weights are
    /// packed <see cref="WinogradForm.F4"/>, <see cref="Winograd"/> when they are packed <see cref="WinogradForm.F2"/> (the
    /// 8-channel <see cref="ConvKernel.WinogradGemmF2"/> instead of <see cref="ConvKernel.WinogradGemmF2x16"/> where that
    /// cannot run the shape); for a 1x1 kernel <see cref="Pointwise"/> where it can run the shape; else
    /// the phase split for a stride-2 convolution it can run (where <see cref="Strided"/> says so) or a stride-1 one
    /// (where <see cref="PhaseStride1"/>), the 3-channel stem,
    /// the 16-position strip for a 3x3 stride-2 convolution (where <see cref="Strided"/> is it, or the phase split and that
    /// cannot run the shape: more than <see cref="PhaseConvolution.MaxPlanes"/> planes), the 16-channel tile
    /// where whole tiles fit, else the 8-channel direct kernel.
    /// </summary>
    public ConvKernel ConvKernelFor(in ConvParams p, WinogradForm packed) =>
        packed == WinogradForm.F4 ? ConvKernel.WinogradGemmF4x16
        : packed == WinogradForm.F2 ? (Winograd == ConvKernel.WinogradGemmF2x16 && !WinogradConvolution.SupportsGemm16(p) ? ConvKernel.WinogradGemmF2 : Winograd)
        : p.Kernel == 1 && Pointwise == ConvKernel.Conv2DPhase && PhaseConvolution.Supports(p) ? ConvKernel.Conv2DPhase
        : p.Kernel == 1 && (Pointwise is ConvKernel.Conv2DStrip or ConvKernel.Conv2DPhase) && p.Stride == 1 && Convolution.SupportsStrip(p) ? ConvKernel.Conv2DStrip
        : p.Kernel > 1 && Strided == ConvKernel.Conv2DPhase && p.Stride == 2 && PhaseConvolution.Supports(p) ? ConvKernel.Conv2DPhase
        : p.Kernel > 1 && PhaseStride1 && p.Stride == 1 && PhaseConvolution.Supports(p) ? ConvKernel.Conv2DPhase
        : StemConvolution.Supports(p) ? ConvKernel.Stem7x7S2
        : (Strided is ConvKernel.Conv2DStrip or ConvKernel.Conv2DPhase) && p.Kernel == 3 && p.Stride == 2 && Convolution.SupportsStrip(p) ? ConvKernel.Conv2DStrip
        : Convolution.SupportsWide(p) ? ConvKernel.Conv2DWide
        : ConvKernel.Conv2D;

    /// <summary>
    /// Whether convolution <paramref name="p"/>, run by <paramref name="kernel"/>, computes its 1x1 projection shortcut as
    /// a launch of its own (<see cref="Convolution.Projection"/>, its kernel from <see cref="ConvKernelFor"/>, writing a
    /// scratch activation that the convolution then adds as an identity shortcut): the three-launch Winograd forms,
    /// whose output transform is loop-free and takes an identity shortcut only. The direct and fused kernels keep the
    /// projection in their epilogue.
    /// </summary>
    public static bool SeparateProjection(ConvKernel kernel, in ConvParams p) =>
        p.ShortcutMode == Convolution.ShortcutProjection && (kernel is ConvKernel.WinogradGemmF2 or ConvKernel.WinogradGemmF2x16 or ConvKernel.WinogradGemmF4x16);

    /// <summary>
    /// Every variant that can compute <paramref name="p"/> in one piece (its weights packed as each needs): the benchmark's
    /// list. With a projection shortcut, not the three-launch Winograd forms (<see cref="SeparateProjection"/>).
    /// </summary>
    public static IReadOnlyList<ConvKernel> Candidates(in ConvParams p)
    {
        var all = new List<ConvKernel> { ConvKernel.Conv2D };
        if (Convolution.SupportsWide(p)) all.Add(ConvKernel.Conv2DWide);
        if (Convolution.SupportsStrip(p)) all.Add(ConvKernel.Conv2DStrip);
        if (PhaseConvolution.Supports(p)) all.Add(ConvKernel.Conv2DPhase);
        if (StemConvolution.Supports(p)) all.Add(ConvKernel.Stem7x7S2);
        if (WinogradConvolution.Supports(p)) all.Add(ConvKernel.WinogradF2x3);
        // The three-launch forms' output transform takes an identity shortcut only (a projection is its own launch first).
        bool identityOnly = p.ShortcutMode != Convolution.ShortcutProjection;
        if (identityOnly && WinogradConvolution.Supports(p)) all.Add(ConvKernel.WinogradGemmF2);
        if (identityOnly && WinogradConvolution.SupportsGemm16(p)) all.Add(ConvKernel.WinogradGemmF2x16);
        if (identityOnly && WinogradConvolution.SupportsF4(p)) all.Add(ConvKernel.WinogradGemmF4x16);
        return all;
    }

    /// <summary>Whether <paramref name="kernel"/> reads Winograd-packed weights (of either form: <see cref="FormOf"/>).</summary>
    public static bool IsWinograd(ConvKernel kernel) => FormOf(kernel) != WinogradForm.None;

    /// <summary>The packing <paramref name="kernel"/> reads.</summary>
    public static WinogradForm FormOf(ConvKernel kernel) => kernel switch
    {
        ConvKernel.WinogradF2x3 or ConvKernel.WinogradGemmF2 or ConvKernel.WinogradGemmF2x16 => WinogradForm.F2,
        ConvKernel.WinogradGemmF4x16 => WinogradForm.F4,
        _ => WinogradForm.None,
    };
}
