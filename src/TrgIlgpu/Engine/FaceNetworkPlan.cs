using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Engine;

/// <summary>The face-api networks the engine runs.</summary>
public enum FaceNetworkKind
{
    /// <summary>SSD MobileNet v1 face detector (512 input).</summary>
    SsdMobilenetV1,
    /// <summary>Tiny face detector (input a multiple of 32).</summary>
    TinyFaceDetector,
    /// <summary>FaceLandmark68Net (112 input).</summary>
    FaceLandmark68,
}

/// <summary>Where a face network plan's input comes from.</summary>
internal enum FacePlanInput
{
    /// <summary>Uploaded images, resized and normalised on the device by one ResizeToSquare launch (one item a batch entry).</summary>
    Images,
    /// <summary>A normalised <c>[B, 3, S, S]</c> tensor the caller uploads to <see cref="FaceNetworkPlan.Input"/> (parity tests).</summary>
    Tensor,
}

/// <summary>
/// One face network's forward for one batch size and input side: its graph (slots allocated once), the resize items
/// or input tensor, and ONE output buffer holding every output region (SSD: the 12 head maps; tiny: the grid;
/// landmarks: the 136 outputs a face), downloaded in one copy a forward into <see cref="Host"/>.
/// </summary>
internal sealed class FaceNetworkPlan : IDisposable
{
    private readonly Dictionary<string, (long Offset, TensorShape Shape)> _regions = new();
    private long _outputLength;
    private MemoryBuffer1D<float, Stride1D.Dense>? _output;

    public FaceNetworkKind Network { get; }
    public int Batch { get; }
    public int InputSize { get; }
    public ComputeGraph Graph { get; }
    /// <summary>The resize items (input from images), else null.</summary>
    public MemoryBuffer1D<SquareResizeItem, Stride1D.Dense>? Items { get; }
    /// <summary>The input tensor (input from a tensor), else null.</summary>
    public MemoryBuffer1D<float, Stride1D.Dense>? Input { get; }
    /// <summary>The outputs after <see cref="Run"/>, host side (reused by every run).</summary>
    public float[] Host { get; private set; } = [];
    /// <summary>Device bytes this plan allocated (slots, items or input, outputs).</summary>
    public long AllocatedBytes => Graph.SlotBytes + (Items?.LengthInBytes ?? 0) + (Input?.LengthInBytes ?? 0) + (_output?.LengthInBytes ?? 0);

    public FaceNetworkPlan(Accelerator a, DeviceKernels kernels, DeviceLayers weights, FaceNetworkKind network, int batch, int inputSize,
        FacePlanInput source, Func<ArrayView<byte>> images)
    {
        Network = network;
        Batch = batch;
        InputSize = inputSize;
        Graph = new ComputeGraph(network.ToString());
        try
        {
            var nb = new NetworkBuilder(Graph, kernels, weights);
            GraphTensor input;
            if (source == FacePlanInput.Images)
            {
                Items = a.Allocate1D<SquareResizeItem>(batch);
                input = nb.ResizeToSquare("input", Graph.External("images", null), images, Graph.External("resize_items", new TensorShape(batch)),
                    Items.View, inputSize, Normalization(network));
            }
            else
            {
                var shape = TensorShape.Nchw(batch, NetworkBuilder.ImageChannels, inputSize, inputSize);
                var buffer = Input = a.Allocate1D<float>(shape.ElementCount);
                input = Graph.External("input", shape, () => buffer.View);
            }
            Action<NetworkBuilder, GraphTensor, Func<string, TensorShape, GraphTensor>> define = network switch
            {
                FaceNetworkKind.SsdMobilenetV1 => SsdMobilenetV1Network.Define,
                FaceNetworkKind.TinyFaceDetector => TinyFaceDetectorNetwork.Define,
                _ => FaceLandmark68Network.Define,
            };
            define(nb, input, Output);
            Graph.Allocate(a);
            _output = a.Allocate1D<float>(Math.Max(_outputLength, 1));
            Host = new float[_outputLength];
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>How each network normalises its input (face-api).</summary>
    public static FaceNormalization Normalization(FaceNetworkKind network) => network switch
    {
        FaceNetworkKind.SsdMobilenetV1 => FaceNormalization.SsdMobilenetV1,
        FaceNetworkKind.TinyFaceDetector => FaceNormalization.TinyFaceDetector,
        _ => FaceNormalization.FaceLandmark68,
    };

    /// <summary>A region of the one output buffer, as an external tensor of the graph (called by the network definition).</summary>
    private GraphTensor Output(string name, TensorShape shape)
    {
        if (_regions.ContainsKey(name)) throw new GraphException(name, $"output '{name}' defined twice");
        if (shape.Batch != Batch) throw new GraphException(name, $"output {shape} is not batch {Batch}");
        long offset = _outputLength;
        _outputLength += shape.ElementCount;
        _regions[name] = (offset, shape);
        return Graph.External(name, shape, () => _output!.View.SubView(offset, shape.ElementCount));
    }

    /// <summary>The one device buffer holding every output region (tests poison it before a run).</summary>
    public MemoryBuffer1D<float, Stride1D.Dense> OutputBuffer => _output!;

    /// <summary>The shape of an output region (batch leading).</summary>
    public TensorShape OutputShape(string name) => _regions[name].Shape;

    /// <summary>Batch entry <paramref name="item"/>'s part of the output region <paramref name="name"/> after <see cref="Run"/>.</summary>
    public float[] Output(string name, int item)
    {
        var (offset, shape) = _regions[name];
        long per = shape.ElementCount / shape.Batch;
        return Host.AsSpan(checked((int)(offset + item * per)), (int)per).ToArray();
    }

    /// <summary>Every launch on <paramref name="stream"/>, then one download of all outputs (waits for it).</summary>
    public void Run(AcceleratorStream stream)
    {
        foreach (var op in Graph.Ops) op.Launch(stream);
        _output!.View.SubView(0, Host.Length).CopyToCPU(stream, Host);
        stream.Synchronize();
    }

    public void Dispose()
    {
        Graph.Dispose();
        Items?.Dispose();
        Input?.Dispose();
        _output?.Dispose();
    }
}
