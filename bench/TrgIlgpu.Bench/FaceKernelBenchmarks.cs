using BenchmarkDotNet.Attributes;
using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Backends;
using TrgIlgpu.Engine;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Bench;

/// <summary>
/// One benchmark per face-network kernel (face-api's SSD MobileNet v1, Tiny Face Detector, FaceLandmark68Net) at one
/// of the networks' real layer shapes, batch 1, seeded random inputs and weights: launch and synchronise. The shapes
/// are listed here (the whole networks are timed by <c>-- faces</c>, FaceBench); <c>PointwiseConv</c> is paired with the direct
/// <c>Conv2DWide</c> on the same 1x1 layer.
/// </summary>
[MemoryDiagnoser]
public class FaceKernelBenchmarks
{
    private ComputeDevice _device = null!;
    private DeviceKernels _kernels = null!;
    private readonly List<MemoryBuffer> _buffers = new();
    private Action<AcceleratorStream> _launch = null!;

    public static IEnumerable<string> Ops() => Cases.Keys;

    [ParamsSource(nameof(Ops))]
    public string Op { get; set; } = "";

    private static readonly Dictionary<string, Func<FaceKernelBenchmarks, Action<AcceleratorStream>>> Cases = new()
    {
        ["ResizeToSquare 333x517->512 ssd"] = b => b.Resize(333, 517, 512),
        ["Conv2DWide ssd.conv_0 3->32 512/2"] = b => b.Conv3x3(3, 512, 32, 2),
        ["DepthwiseConv3x3 32@256 s1"] = b => b.Depthwise(32, 256, 1),
        ["DepthwiseConv3x3 256@64 s2"] = b => b.Depthwise(256, 64, 2),
        ["DepthwiseConv3x3 512@32 s1"] = b => b.Depthwise(512, 32, 1),
        ["DepthwiseConv3x3 1024@16 s1"] = b => b.Depthwise(1024, 16, 1),
        ["PointwiseConv 32->64 @256"] = b => b.Pointwise(32, 64, 256),
        ["PointwiseConv 512->512 @32"] = b => b.Pointwise(512, 512, 32),
        ["Conv2DWide(1x1) 512->512 @32"] = b => b.Conv1x1(512, 512, 32),
        ["PointwiseConv 512->1024 @16"] = b => b.Pointwise(512, 1024, 16),
        ["MaxPool2x2 16@414 s2"] = b => b.MaxPool(16, 414, 2),
        ["GlobalAvgPool 256@7"] = b => b.AvgPool(256, 7),
    };

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open(BenchSettings.Device);
        _kernels = new DeviceKernels(_device.Accelerator);
        _launch = Cases[Op](this);
        _launch(_device.Accelerator.DefaultStream);
        _device.Accelerator.DefaultStream.Synchronize();
    }

    [Benchmark]
    public void Launch()
    {
        var stream = _device.Accelerator.DefaultStream;
        _launch(stream);
        stream.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var b in _buffers) b.Dispose();
        _device.Dispose();
    }

    private ArrayView<T> Buffer<T>(T[] data) where T : unmanaged
    {
        var b = _device.Accelerator.Allocate1D(data);
        _buffers.Add(b);
        return b.View;
    }

    private static readonly Random Rng = new(7);
    private static float[] Random(long n, double scale = 1) => Enumerable.Range(0, (int)n).Select(_ => (float)((Rng.NextDouble() * 2 - 1) * scale)).ToArray();

    private Action<AcceleratorStream> Resize(int w, int h, int size)
    {
        var bytes = new byte[w * h * 3];
        Rng.NextBytes(bytes);
        var item = FacePacking.ResizeItem(0, w, h, 0, 0, w, h, SquarePadding.BottomRight, size);
        var images = Buffer(bytes);
        var items = Buffer(new[] { item });
        var output = Buffer(new float[3 * size * size]);
        var config = _kernels.Config(size * size);
        return s => _kernels.ResizeToSquare(s, config, images, items, output, 1, size, FaceNormalization.SsdMobilenetV1);
    }

    private Action<AcceleratorStream> Conv3x3(int cin, int size, int cout, int stride)
    {
        var packed = FacePacking.Conv("bench", Random(9L * cin * cout, 0.2), 3, cin, cout, Random(cout));
        var p = new ConvParams
        {
            Batch = 1, InChannels = cin, InHeight = size, InWidth = size, OutChannels = cout, Kernel = 3, Stride = stride,
            OutHeight = TfPadding.Output(size, 3, stride, TfPaddingMode.Same), OutWidth = TfPadding.Output(size, 3, stride, TfPaddingMode.Same),
            Pad = TfPadding.Before(size, 3, stride, TfPaddingMode.Same), Activation = (int)Activation.Relu6,
        };
        return Wide(p, packed, (long)cin * size * size);
    }

    private Action<AcceleratorStream> Conv1x1(int cin, int cout, int size)
    {
        var packed = FacePacking.Conv("bench", Random((long)cin * cout, 0.05), 1, cin, cout, Random(cout));
        var p = new ConvParams
        {
            Batch = 1, InChannels = cin, InHeight = size, InWidth = size, OutChannels = cout, Kernel = 1, Stride = 1,
            OutHeight = size, OutWidth = size, Activation = (int)Activation.Relu6,
        };
        return Wide(p, packed, (long)cin * size * size);
    }

    private Action<AcceleratorStream> Wide(ConvParams p, PackedFaceLayer packed, long inputs)
    {
        var input = Buffer(Random(inputs));
        var weight = Buffer(packed.Weight);
        var bias = Buffer(packed.Bias);
        var output = Buffer(new float[(long)p.OutChannels * p.OutHeight * p.OutWidth]);
        var config = _kernels.Config(Convolution.WideThreadCount(p));
        return s => _kernels.Conv2DWide(s, config, input, weight, bias, output, output, p);
    }

    private Action<AcceleratorStream> Depthwise(int channels, int size, int stride)
    {
        var packed = FacePacking.Depthwise("bench", Random(9L * channels, 0.3), channels,
            new TfBatchNorm(Random(channels), Random(channels, 0.5).Select(v => v + 1f).ToArray(), Random(channels), Random(channels)));
        var p = new DepthwiseParams
        {
            Batch = 1, Channels = channels, InHeight = size, InWidth = size, Stride = stride,
            OutHeight = TfPadding.Output(size, 3, stride, TfPaddingMode.Same), OutWidth = TfPadding.Output(size, 3, stride, TfPaddingMode.Same),
            PadTop = TfPadding.Before(size, 3, stride, TfPaddingMode.Same), PadLeft = TfPadding.Before(size, 3, stride, TfPaddingMode.Same),
            Activation = Activation.Relu6,
        };
        var input = Buffer(Random((long)channels * size * size));
        var weight = Buffer(packed.Weight);
        var bias = Buffer(packed.Bias);
        var output = Buffer(new float[(long)channels * p.OutHeight * p.OutWidth]);
        var config = _kernels.Config(p.ThreadCount);
        return s => _kernels.DepthwiseConv3x3(s, config, input, weight, bias, output, p);
    }

    private Action<AcceleratorStream> Pointwise(int cin, int cout, int size)
    {
        var packed = FacePacking.Pointwise("bench", Random((long)cin * cout, 0.05), cin, cout, Random(cout));
        var p = new PointwiseParams { Batch = 1, InChannels = cin, OutChannels = cout, Positions = size * size, Activation = Activation.Relu6 };
        var input = Buffer(Random((long)cin * size * size));
        var weight = Buffer(packed.Weight);
        var bias = Buffer(packed.Bias);
        var output = Buffer(new float[(long)cout * size * size]);
        var config = _kernels.Config(p.ThreadCount);
        return s => _kernels.PointwiseConv(s, config, input, weight, bias, output, output, p);
    }

    private Action<AcceleratorStream> MaxPool(int channels, int size, int stride)
    {
        int o = TfPadding.Output(size, 2, stride, TfPaddingMode.Same);
        var p = new MaxPool2x2Params { Batch = 1, Channels = channels, InHeight = size, InWidth = size, Stride = stride, OutHeight = o, OutWidth = o };
        var input = Buffer(Random((long)channels * size * size));
        var output = Buffer(new float[(long)channels * o * o]);
        var config = _kernels.Config(p.ThreadCount);
        return s => _kernels.MaxPool2x2(s, config, input, output, p);
    }

    private Action<AcceleratorStream> AvgPool(int channels, int size)
    {
        var p = new GlobalPoolParams { Batch = 1, Channels = channels, Height = size, Width = size, InputActivation = ReadActivation.Relu };
        var input = Buffer(Random((long)channels * size * size));
        var output = Buffer(new float[channels]);
        var config = _kernels.Config(p.ThreadCount);
        return s => _kernels.GlobalAvgPool(s, config, input, output, p);
    }
}
