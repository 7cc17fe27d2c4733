using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Backends;
using TrgIlgpu.Diagnostics;
using TrgIlgpu.Faces;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Engine;

/// <summary>
/// The face networks on one device: a detector's and the landmark net's weights packed and uploaded once, plans made
/// once per (network, batch size), and the upload buffer of the images of a call. Not thread-safe by itself
/// (<see cref="FaceFinder"/> serialises calls); everything runs on the device's default stream, the stream a
/// <see cref="InferenceSession"/> on the same <see cref="ComputeDevice"/> uses.
/// </summary>
internal sealed class FaceSession : IDisposable
{
    private readonly ComputeDevice _device;
    private readonly bool _ownsDevice;
    private readonly DeviceKernels _kernels;
    private readonly Dictionary<FaceNetworkKind, FaceNetworkWeights> _weights = new();
    private readonly Dictionary<(FaceNetworkKind, int Batch, int InputSize, FacePlanInput), FaceNetworkPlan> _plans = new();
    private MemoryBuffer1D<byte, Stride1D.Dense>? _images;
    private byte[] _staging = [];

    /// <summary>Packs and uploads <paramref name="networks"/>' weights from <paramref name="models"/>; owns the device when <paramref name="ownsDevice"/>.</summary>
    public FaceSession(ComputeDevice device, bool ownsDevice, FaceApiModels models, IEnumerable<FaceNetworkKind> networks)
    {
        _device = device;
        _ownsDevice = ownsDevice;
        try
        {
            _kernels = DeviceFailures.LoadKernels(device, () => device.Kernels(KernelPolicy.For(device.Kind)));
            foreach (var n in networks.Distinct())
            {
                List<NamedFaceLayer> packed;
                using (device.Timings.Time(StartupPhase.Packing))
                    packed = (n switch
                    {
                        FaceNetworkKind.SsdMobilenetV1 => SsdMobilenetV1Network.Pack(models.Ssd),
                        FaceNetworkKind.TinyFaceDetector => TinyFaceDetectorNetwork.Pack(models.Tiny),
                        _ => FaceLandmark68Network.Pack(models.Landmarks),
                    }).ToList();
                using (device.Timings.Time(StartupPhase.Upload)) _weights[n] = new FaceNetworkWeights(device.Accelerator, packed);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public ComputeDevice Device => _device;
    /// <summary>The device's kernel set (shared with a TRG session on the same device).</summary>
    public DeviceKernels Kernels => _kernels;
    public AcceleratorStream Stream => _device.Accelerator.DefaultStream;

    /// <summary>Device bytes: weights, plans, image buffer.</summary>
    public long AllocatedBytes => _weights.Values.Sum(w => w.AllocatedBytes) + _plans.Values.Sum(p => p.AllocatedBytes) + (_images?.LengthInBytes ?? 0);

    /// <summary>The plan of a network for a batch size and input side (made on first use, then reused).</summary>
    public FaceNetworkPlan Plan(FaceNetworkKind network, int batch, int inputSize, FacePlanInput source = FacePlanInput.Images)
    {
        if (!_weights.TryGetValue(network, out var weights)) throw new InvalidOperationException($"{network} is not loaded in this session");
        var key = (network, batch, inputSize, source);
        if (_plans.TryGetValue(key, out var plan)) return plan;
        using var _ = _device.Timings.Time(StartupPhase.PlanBuild);
        plan = new FaceNetworkPlan(_device.Accelerator, _kernels, weights, network, batch, inputSize, source, () => _images!.View);
        _plans[key] = plan;
        return plan;
    }

    /// <summary>Uploads the images (each once) in one copy; returns each one's byte offset in the device buffer.</summary>
    public int[] Upload(IReadOnlyList<RgbImage> images)
    {
        long total = images.Sum(i => (long)i.Pixels.Length);
        if (total > int.MaxValue) throw new TrgException(ErrorKind.InvalidImage, "the images of one batch exceed 2 GiB; use a smaller MaxBatchSize");
        var offsets = new int[images.Count];
        for (int i = 1; i < images.Count; i++) offsets[i] = offsets[i - 1] + images[i - 1].Pixels.Length;
        if (_images is null || _images.Length < total)
        {
            _images?.Dispose();
            _images = _device.Accelerator.Allocate1D<byte>(Math.Max(total, 1));
            Array.Resize(ref _staging, (int)_images.Length);
        }
        for (int i = 0; i < images.Count; i++) images[i].Pixels.CopyTo(_staging, offsets[i]);
        _images.View.SubView(0, total).CopyFromCPU(Stream, _staging.AsSpan(0, (int)total));
        return offsets;
    }

    /// <summary>Runs a plan whose input comes from the uploaded images: one resize item a batch entry, then one download.</summary>
    public FaceNetworkPlan Run(FaceNetworkKind network, int inputSize, IReadOnlyList<SquareResizeItem> items)
    {
        var plan = Plan(network, items.Count, inputSize);
        plan.Items!.View.CopyFromCPU(Stream, items.ToArray());
        plan.Run(Stream);
        return plan;
    }

    public void Dispose()
    {
        foreach (var p in _plans.Values) p.Dispose();
        _plans.Clear();
        foreach (var w in _weights.Values) w.Dispose();
        _weights.Clear();
        _images?.Dispose();
        _images = null;
        if (_ownsDevice) _device.Dispose();
    }
}
