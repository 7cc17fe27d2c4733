using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Engine;

using V = ArrayView<float>;

/// <summary>Every kernel of the TRG and face networks on one accelerator (explicitly grouped), each compiled on its first use.</summary>
internal sealed class DeviceKernels
{
    public Action<AcceleratorStream, KernelConfig, ArrayView<byte>, ArrayView<FaceParams>, V, int> CropNormalize => Load(ref field, static a => a.LoadKernel<ArrayView<byte>, ArrayView<FaceParams>, V, int>(Preprocess.CropNormalize));
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, V, ConvParams> Conv2D => Load(ref field, static a => a.LoadKernel<V, V, V, V, V, V, ConvParams>(Convolution.Conv2D));
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, V, ConvParams> WinogradConv3x3 => Load(ref field, static a => a.LoadKernel<V, V, V, V, V, V, ConvParams>(WinogradConvolution.WinogradF2x3));
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, ConvParams> StemConv7x7S2 => Load(ref field, static a => a.LoadKernel<V, V, V, V, ConvParams>(StemConvolution.Stem7x7S2));
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, ConvParams> Conv2DWide => Load(ref field, static a => a.LoadKernel<V, V, V, V, V, ConvParams>(Convolution.Conv2DWide));
    public Action<AcceleratorStream, KernelConfig, V, V, PoolParams> MaxPool => Load(ref field, static a => a.LoadKernel<V, V, PoolParams>(Pooling.MaxPool3x3S2));
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, DeconvParams> Deconv => Load(ref field, static a => a.LoadKernel<V, V, V, V, DeconvParams>(TransposedConvolution.Deconv4x4S2));
    public Action<AcceleratorStream, KernelConfig, V, V, int, int, int, int, int> SoftArgmax => Load(ref field, static a => a.LoadKernel<V, V, int, int, int, int, int>(Heatmap.SoftArgmax));
    public Action<AcceleratorStream, KernelConfig, V, V, ArrayView<int>, V, V, ArrayView<FaceParams>, V, V, V, SampleParams> Sample => Load(ref field, static a => a.LoadKernel<V, V, ArrayView<int>, V, V, ArrayView<FaceParams>, V, V, V, SampleParams>(PointFeatures.Sample));
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, PointMlpParams> PointMlp => Load(ref field, static a => a.LoadKernel<V, V, V, V, V, PointMlpParams>(PointFeatures.PointMlp));
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, LinearParams> Dense => Load(ref field, static a => a.LoadKernel<V, V, V, V, LinearParams>(Linear.Dense));
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, V, LinearParams, ResultLayout, int> DenseStateUpdate => Load(ref field, static a => a.LoadKernel<V, V, V, V, V, V, LinearParams, ResultLayout, int>(Linear.DenseStateUpdate));
    public Action<AcceleratorStream, KernelConfig, ArrayView<FaceParams>, V, ResultLayout, int> FinalGeometry => Load(ref field, static a => a.LoadKernel<ArrayView<FaceParams>, V, ResultLayout, int>(PoseMath.FinalGeometry));
    // The face networks (face-api: SSD MobileNet v1, Tiny Face Detector, FaceLandmark68Net).
    public Action<AcceleratorStream, KernelConfig, ArrayView<byte>, ArrayView<SquareResizeItem>, V, int, int, FaceNormalization> ResizeToSquare => Load(ref field, static a => a.LoadKernel<ArrayView<byte>, ArrayView<SquareResizeItem>, V, int, int, FaceNormalization>(FacePreprocess.ResizeToSquare));
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, DepthwiseParams> DepthwiseConv3x3 => Load(ref field, static a => a.LoadKernel<V, V, V, V, DepthwiseParams>(SeparableConvolution.DepthwiseConv3x3));
    public Action<AcceleratorStream, KernelConfig, V, V, V, V, V, PointwiseParams> PointwiseConv => Load(ref field, static a => a.LoadKernel<V, V, V, V, V, PointwiseParams>(SeparableConvolution.PointwiseConv));
    public Action<AcceleratorStream, KernelConfig, V, V, MaxPool2x2Params> MaxPool2x2 => Load(ref field, static a => a.LoadKernel<V, V, MaxPool2x2Params>(FacePooling.MaxPool2x2));
    public Action<AcceleratorStream, KernelConfig, V, V, GlobalPoolParams> GlobalAvgPool => Load(ref field, static a => a.LoadKernel<V, V, GlobalPoolParams>(FacePooling.GlobalAvgPool));

    private readonly Accelerator _accelerator;
    private readonly object _gate = new();

    /// <summary>Threads per group: the policy's (64), or the device's maximum when smaller.</summary>
    public readonly int GroupSize;

    /// <summary>Where the time spent compiling goes (<see cref="StartupPhase.KernelCompile"/>); null: not measured.</summary>
    public StartupTimings? Timings { get; set; }

    /// <summary>How many kernels have been compiled so far (each on its first launch).</summary>
    public int CompiledCount { get; private set; }

    /// <param name="a">The accelerator the kernels run on.</param>
    /// <param name="groupSize">Threads a group wanted (<see cref="Backends.KernelPolicy.GroupSize"/>).</param>
    /// <remarks>
    /// Nothing is compiled here: each kernel is compiled on its first use (the first launch of a plan that uses it),
    /// so a session compiles exactly the kernels its plans launch, and the sessions of one device share one set
    /// (<see cref="Backends.ComputeDevice.Kernels"/>): the face finder and TRG never compile a kernel twice.
    /// </remarks>
    public DeviceKernels(Accelerator a, int groupSize = Tiling.GroupSize)
    {
        _accelerator = a;
        GroupSize = Math.Min(groupSize, a.MaxNumThreadsPerGroup);
    }

    /// <summary>The kernel in <paramref name="slot"/>, compiled by <paramref name="compile"/> on first use (once, thread-safe).</summary>
    private T Load<T>(ref T? slot, Func<Accelerator, T> compile) where T : Delegate
    {
        var kernel = Volatile.Read(ref slot);
        if (kernel is not null) return kernel;
        lock (_gate)
        {
            if (slot is null)
            {
                using (Timings.Time(StartupPhase.KernelCompile)) Volatile.Write(ref slot, compile(_accelerator));
                CompiledCount++;
            }
            return slot!;
        }
    }

    /// <summary>Launch shape for a barrier-free kernel over <paramref name="threads"/> threads.</summary>
    public KernelConfig Config(long threads) => new((int)((threads + GroupSize - 1) / GroupSize), GroupSize);
}
