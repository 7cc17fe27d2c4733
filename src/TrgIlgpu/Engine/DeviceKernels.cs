using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Backends;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Engine;

using V = ArrayView<float>;

/// <summary>Every kernel of the forward pass, compiled once per accelerator (explicitly grouped).</summary>
internal sealed class DeviceKernels
{
    public readonly Action<AcceleratorStream, KernelConfig, ArrayView<byte>, ArrayView<FaceParams>, V, int> CropNormalize;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, V, V, V, V, ConvParams> Conv2D;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, V, V, V, V, ConvParams> WinogradConv3x3;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, ConvParams> WinogradInputF2;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, V, ConvParams> WinogradGemmF2;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, V, V, V, ConvParams> WinogradOutputF2;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, V, V, ConvParams> StemConv7x7S2;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, V, V, V, ConvParams> Conv2DWide;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, PoolParams> MaxPool;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, V, V, DeconvParams> Deconv;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, int, int, int, int, int> SoftArgmax;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, ArrayView<int>, V, V, ArrayView<FaceParams>, V, V, V, SampleParams> Sample;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, V, V, V, PointMlpParams> PointMlp;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, V, V, LinearParams> Dense;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, V, V, V, V, LinearParams, ResultLayout, int> DenseStateUpdate;
    public readonly Action<AcceleratorStream, KernelConfig, ArrayView<FaceParams>, V, ResultLayout, int> FinalGeometry;
    // The face networks (face-api: SSD MobileNet v1, Tiny Face Detector, FaceLandmark68Net).
    public readonly Action<AcceleratorStream, KernelConfig, ArrayView<byte>, ArrayView<SquareResizeItem>, V, int, int, FaceNormalization> ResizeToSquare;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, V, V, DepthwiseParams> DepthwiseConv3x3;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, V, V, V, PointwiseParams> PointwiseConv;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, MaxPool2x2Params> MaxPool2x2;
    public readonly Action<AcceleratorStream, KernelConfig, V, V, GlobalPoolParams> GlobalAvgPool;

    /// <summary>The kernel policy these kernels were loaded for (the plan picks each convolution's kernel from it).</summary>
    public KernelPolicy Policy { get; }

    /// <summary>Threads per group: the policy's (64), or the device's maximum when smaller.</summary>
    public readonly int GroupSize;

    /// <param name="winograd">
    /// Compile the Winograd kernels too (<see cref="WinogradConv3x3"/> and the three launches of
    /// <see cref="WinogradConvolution"/>). Sessions that run the direct convolutions skip them (no compile time,
    /// and CUDA, where direct is the default, never builds a kernel that has not been run there); launching one then throws.
    /// </param>
    /// <param name="groupSize">Threads a group wanted (<see cref="Backends.KernelPolicy.GroupSize"/>).</param>
    public DeviceKernels(Accelerator a, bool winograd = true, int groupSize = Tiling.GroupSize)
        : this(a, new KernelPolicy(winograd ? ConvAlgorithm.Winograd : ConvAlgorithm.Direct, groupSize))
    {
    }

    /// <summary>The kernels <paramref name="policy"/> needs (the Winograd ones only when it packs for Winograd).</summary>
    public DeviceKernels(Accelerator a, KernelPolicy policy)
    {
        Policy = policy;
        bool winograd = policy.PacksWinograd;
        GroupSize = Math.Min(policy.GroupSize, a.MaxNumThreadsPerGroup);
        CropNormalize = a.LoadKernel<ArrayView<byte>, ArrayView<FaceParams>, V, int>(Preprocess.CropNormalize);
        Conv2D = a.LoadKernel<V, V, V, V, V, V, ConvParams>(Convolution.Conv2D);
        if (winograd)
        {
            WinogradConv3x3 = a.LoadKernel<V, V, V, V, V, V, ConvParams>(WinogradConvolution.WinogradF2x3);
            WinogradInputF2 = a.LoadKernel<V, V, ConvParams>(WinogradConvolution.WinogradInputF2);
            WinogradGemmF2 = a.LoadKernel<V, V, V, ConvParams>(WinogradConvolution.WinogradGemmF2);
            WinogradOutputF2 = a.LoadKernel<V, V, V, V, V, ConvParams>(WinogradConvolution.WinogradOutputF2);
        }
        else
        {
            WinogradConv3x3 = (_, _, _, _, _, _, _, _, _) => throw NotLoaded();
            WinogradInputF2 = (_, _, _, _, _) => throw NotLoaded();
            WinogradGemmF2 = (_, _, _, _, _, _) => throw NotLoaded();
            WinogradOutputF2 = (_, _, _, _, _, _, _, _) => throw NotLoaded();
        }
        StemConv7x7S2 = a.LoadKernel<V, V, V, V, ConvParams>(StemConvolution.Stem7x7S2);
        Conv2DWide = a.LoadKernel<V, V, V, V, V, ConvParams>(Convolution.Conv2DWide);
        MaxPool = a.LoadKernel<V, V, PoolParams>(Pooling.MaxPool3x3S2);
        Deconv = a.LoadKernel<V, V, V, V, DeconvParams>(TransposedConvolution.Deconv4x4S2);
        SoftArgmax = a.LoadKernel<V, V, int, int, int, int, int>(Heatmap.SoftArgmax);
        Sample = a.LoadKernel<V, V, ArrayView<int>, V, V, ArrayView<FaceParams>, V, V, V, SampleParams>(PointFeatures.Sample);
        PointMlp = a.LoadKernel<V, V, V, V, V, PointMlpParams>(PointFeatures.PointMlp);
        Dense = a.LoadKernel<V, V, V, V, LinearParams>(Linear.Dense);
        DenseStateUpdate = a.LoadKernel<V, V, V, V, V, V, LinearParams, ResultLayout, int>(Linear.DenseStateUpdate);
        FinalGeometry = a.LoadKernel<ArrayView<FaceParams>, V, ResultLayout, int>(PoseMath.FinalGeometry);
        ResizeToSquare = a.LoadKernel<ArrayView<byte>, ArrayView<SquareResizeItem>, V, int, int, FaceNormalization>(FacePreprocess.ResizeToSquare);
        DepthwiseConv3x3 = a.LoadKernel<V, V, V, V, DepthwiseParams>(SeparableConvolution.DepthwiseConv3x3);
        PointwiseConv = a.LoadKernel<V, V, V, V, V, PointwiseParams>(SeparableConvolution.PointwiseConv);
        MaxPool2x2 = a.LoadKernel<V, V, MaxPool2x2Params>(FacePooling.MaxPool2x2);
        GlobalAvgPool = a.LoadKernel<V, V, GlobalPoolParams>(FacePooling.GlobalAvgPool);
    }

    private static InvalidOperationException NotLoaded() =>
        new("the Winograd kernels are not loaded on this device (the session runs direct convolutions)");

    /// <summary>Launch shape for a barrier-free kernel over <paramref name="threads"/> threads.</summary>
    public KernelConfig Config(long threads) => new((int)((threads + GroupSize - 1) / GroupSize), GroupSize);
}
