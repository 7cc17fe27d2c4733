using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Model;

namespace TrgIlgpu.Engine;

/// <summary>A packed layer on the device (<see cref="Winograd"/>: which Winograd form its weights are, if any).</summary>
internal sealed class DeviceLayer(MemoryBuffer1D<float, Stride1D.Dense> weight, MemoryBuffer1D<float, Stride1D.Dense> bias,
    MemoryBuffer1D<float, Stride1D.Dense>? shortcutWeight, int outChannels, WinogradForm winograd)
{
    public MemoryBuffer1D<float, Stride1D.Dense> Weight { get; } = weight;
    public MemoryBuffer1D<float, Stride1D.Dense> Bias { get; } = bias;
    public MemoryBuffer1D<float, Stride1D.Dense>? ShortcutWeight { get; } = shortcutWeight;
    public bool HasShortcutWeight => ShortcutWeight is not null;
    public int OutChannels { get; } = outChannels;
    public WinogradForm Winograd { get; } = winograd;
}

/// <summary>
/// Named packed layers uploaded once to one accelerator (what <see cref="NetworkBuilder.Layer"/> looks up), plus the
/// buffers a network binds to arguments it does not use. <see cref="DeviceWeights"/> adds TRG's model constants; the
/// face networks use it as it is (<see cref="FaceNetworkWeights"/>).
/// </summary>
internal class DeviceLayers : IDisposable
{
    private readonly Dictionary<string, DeviceLayer> _layers = new();
    private readonly List<MemoryBuffer> _buffers = new();

    /// <summary>A tiny buffer bound to kernel arguments a launch does not use.</summary>
    public ArrayView<float> Dummy { get; }
    public long AllocatedBytes => _buffers.Sum(b => b.LengthInBytes);
    /// <summary>The layers' names, in upload order.</summary>
    public IEnumerable<string> LayerNames => _layers.Keys;

    private readonly Accelerator _accelerator;
    private readonly Dictionary<int, MemoryBuffer1D<float, Stride1D.Dense>> _zeros = new();

    public DeviceLayers(Accelerator a)
    {
        _accelerator = a;
        Dummy = Upload(a, new float[4]).View;
    }

    /// <summary>A buffer of <paramref name="length"/> zeros (uploaded once a length): the bias of a launch that has none.</summary>
    public MemoryBuffer1D<float, Stride1D.Dense> Zeros(int length)
    {
        lock (_zeros)
        {
            if (!_zeros.TryGetValue(length, out var zeros)) _zeros[length] = zeros = Upload(_accelerator, new float[length]);
            return zeros;
        }
    }

    public DeviceLayer this[string name] => _layers.TryGetValue(name, out var layer)
        ? layer
        : throw new GraphException(name, $"the model has no layer '{name}'");

    /// <summary>Uploads one layer under <paramref name="name"/> (once).</summary>
    protected void Add(Accelerator a, string name, float[] weight, float[] bias, float[]? shortcutWeight, int outChannels, WinogradForm winograd) =>
        Add(name, new DeviceLayer(Upload(a, weight), Upload(a, bias), shortcutWeight is null ? null : Upload(a, shortcutWeight), outChannels, winograd));

    /// <summary>Adds a layer whose buffers are already on the device and tracked (<see cref="Track{T}"/>).</summary>
    internal void Add(string name, DeviceLayer layer)
    {
        if (!_layers.TryAdd(name, layer)) throw new InvalidOperationException($"layer '{name}' uploaded twice");
    }

    protected MemoryBuffer1D<float, Stride1D.Dense> Upload(Accelerator a, float[] data) => Track(a.Allocate1D(data));

    /// <summary>Takes ownership of a device buffer: disposed with these weights.</summary>
    internal T Track<T>(T buffer) where T : MemoryBuffer
    {
        _buffers.Add(buffer);
        return buffer;
    }

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
        _buffers.Clear();
    }
}

/// <summary>
/// The packed TRG model uploaded once to one accelerator: from a <see cref="PackedModel"/> in memory, or streamed
/// layer by layer from a packed-weights cache entry (<see cref="PackCache"/>) with no host copy of the model.
/// </summary>
internal sealed class DeviceWeights : DeviceLayers
{
    public VariantInfo Variant { get; }
    public MemoryBuffer1D<float, Stride1D.Dense> InitFace { get; private set; } = null!;
    public MemoryBuffer1D<float, Stride1D.Dense> InitPose { get; private set; } = null!;
    public MemoryBuffer1D<float, Stride1D.Dense> PointsGrid { get; private set; } = null!;
    public MemoryBuffer1D<int, Stride1D.Dense> Subsample { get; private set; } = null!;

    public DeviceWeights(Accelerator a, PackedModel packed) : base(a)
    {
        Variant = packed.Variant;
        try
        {
            foreach (var (name, layer) in packed.Layers)
                Add(a, name, layer.Weight, layer.Bias, layer.ShortcutWeight, layer.OutChannels, layer.Winograd);
            SetConstants(Upload(a, packed.InitFace), Upload(a, packed.InitPose), Upload(a, packed.PointsGrid), Track(a.Allocate1D(packed.Subsample)));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Empty weights to fill with <see cref="DeviceLayers.Add(string, DeviceLayer)"/> and <see cref="SetConstants"/> (a cache entry being read).</summary>
    internal DeviceWeights(Accelerator a, VariantInfo variant) : base(a)
    {
        Variant = variant;
    }

    /// <summary>The model constants, already on the device and tracked.</summary>
    internal void SetConstants(MemoryBuffer1D<float, Stride1D.Dense> initFace, MemoryBuffer1D<float, Stride1D.Dense> initPose,
        MemoryBuffer1D<float, Stride1D.Dense> pointsGrid, MemoryBuffer1D<int, Stride1D.Dense> subsample)
    {
        InitFace = initFace;
        InitPose = initPose;
        PointsGrid = pointsGrid;
        Subsample = subsample;
    }
}
