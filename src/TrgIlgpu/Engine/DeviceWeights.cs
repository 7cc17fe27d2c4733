using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Model;

namespace TrgIlgpu.Engine;

/// <summary>A packed layer on the device (<see cref="Winograd"/>: its weights are for WinogradConvolution).</summary>
internal sealed class DeviceLayer(MemoryBuffer1D<float, Stride1D.Dense> weight, MemoryBuffer1D<float, Stride1D.Dense> bias,
    MemoryBuffer1D<float, Stride1D.Dense>? shortcutWeight, int outChannels, bool winograd)
{
    public MemoryBuffer1D<float, Stride1D.Dense> Weight { get; } = weight;
    public MemoryBuffer1D<float, Stride1D.Dense> Bias { get; } = bias;
    public MemoryBuffer1D<float, Stride1D.Dense>? ShortcutWeight { get; } = shortcutWeight;
    public bool HasShortcutWeight => ShortcutWeight is not null;
    public int OutChannels { get; } = outChannels;
    public bool Winograd { get; } = winograd;
}

/// <summary>The packed model uploaded once to one accelerator.</summary>
internal sealed class DeviceWeights : IDisposable
{
    private readonly Dictionary<string, DeviceLayer> _layers = new();
    private readonly List<MemoryBuffer> _buffers = new();

    public VariantInfo Variant { get; }
    public MemoryBuffer1D<float, Stride1D.Dense> InitFace { get; }
    public MemoryBuffer1D<float, Stride1D.Dense> InitPose { get; }
    public MemoryBuffer1D<float, Stride1D.Dense> PointsGrid { get; }
    public MemoryBuffer1D<int, Stride1D.Dense> Subsample { get; }
    /// <summary>A tiny buffer bound to kernel arguments a launch does not use.</summary>
    public ArrayView<float> Dummy { get; }
    public long AllocatedBytes => _buffers.Sum(b => b.LengthInBytes);

    public DeviceWeights(Accelerator a, PackedModel packed)
    {
        Variant = packed.Variant;
        foreach (var (name, layer) in packed.Layers)
        {
            _layers[name] = new DeviceLayer(Upload(a, layer.Weight), Upload(a, layer.Bias),
                layer.ShortcutWeight is null ? null : Upload(a, layer.ShortcutWeight), layer.OutChannels, layer.Winograd);
        }
        InitFace = Upload(a, packed.InitFace);
        InitPose = Upload(a, packed.InitPose);
        PointsGrid = Upload(a, packed.PointsGrid);
        Subsample = a.Allocate1D(packed.Subsample);
        _buffers.Add(Subsample);
        Dummy = Upload(a, new float[4]).View;
    }

    public DeviceLayer this[string name] => _layers[name];

    private MemoryBuffer1D<float, Stride1D.Dense> Upload(Accelerator a, float[] data)
    {
        var buffer = a.Allocate1D(data);
        _buffers.Add(buffer);
        return buffer;
    }

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
    }
}
