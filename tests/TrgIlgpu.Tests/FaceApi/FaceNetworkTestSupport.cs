using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Backends;
using TrgIlgpu.Engine;
using TrgIlgpu.Faces;
using TrgIlgpu.Tests.Kernels;

namespace TrgIlgpu.Tests.FaceApi;

/// <summary>
/// The face finders the device tests share, opened once per test run on one PoCL device (OpenCL): SSD, tiny 416 and
/// tiny 608, all borrowing that device. Also the images they run on.
/// </summary>
public sealed class FaceFinderDevices : IDisposable
{
    private readonly Lazy<ComputeDevice> _openCL = new(() =>
    {
        if (OpenCLAvailability.Missing is { } why) throw new InvalidOperationException(why);
        return ComputeDevice.Open(DeviceKind.OpenCL);
    });
    private readonly Dictionary<DetectorOptions, FaceFinder> _finders = new();
    private readonly Lazy<FaceApiReferencePipeline> _reference = new(() => new FaceApiReferencePipeline(FaceApiModels.LoadEmbedded()));

    public ComputeDevice OpenCL => _openCL.Value;

    /// <summary>The float64 reference nets (shared: loading them decodes the weights).</summary>
    public FaceApiReferencePipeline Reference => _reference.Value;

    /// <summary>A finder with <paramref name="detector"/> on the OpenCL device (made once per setting).</summary>
    public FaceFinder Finder(DetectorOptions detector)
    {
        lock (_finders)
        {
            if (!_finders.TryGetValue(detector, out var f))
                _finders[detector] = f = FaceFinder.Create(OpenCL, new FaceFinderOptions { Detector = detector });
            return f;
        }
    }

    public void Dispose()
    {
        foreach (var f in _finders.Values) f.Dispose();
        if (_openCL.IsValueCreated) _openCL.Value.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class FaceFinderCollection : ICollectionFixture<FaceFinderDevices>
{
    public const string Name = "FaceFinder";
}

/// <summary>Test images and comparisons of the face network tests.</summary>
internal static class FaceTestImages
{
    private static readonly Dictionary<string, RgbImage> Cache = new();

    /// <summary>A fixture image (checked pixel-identical to face-api's), loaded once.</summary>
    public static RgbImage Fixture(string name)
    {
        lock (Cache)
        {
            if (!Cache.TryGetValue(name, out var image)) Cache[name] = image = FaceApiFixture.Load(name).LoadImage();
            return image;
        }
    }

    /// <summary>
    /// A photo-like random image of an odd size: smooth random colour waves (edges and gradients like a photo's)
    /// plus pixel noise, from <paramref name="seed"/>.
    /// </summary>
    public static RgbImage Random(int width, int height, int seed)
    {
        var rng = new Random(seed);
        var waves = Enumerable.Range(0, 3 * 4).Select(_ => (Fx: rng.NextDouble() * 0.08, Fy: rng.NextDouble() * 0.08, Phase: rng.NextDouble() * 6.3, Amp: 20 + rng.NextDouble() * 30)).ToArray();
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++)
                {
                    double v = 128 + rng.NextDouble() * 24 - 12;
                    for (int k = 0; k < 4; k++)
                    {
                        var w = waves[c * 4 + k];
                        v += w.Amp * Math.Sin(w.Fx * x + w.Fy * y + w.Phase);
                    }
                    pixels[(y * width + x) * 3 + c] = (byte)Math.Clamp(Math.Round(v), 0, 255);
                }
        return new RgbImage(width, height, pixels);
    }

    /// <summary>max |device - reference| / (1 + |reference|) and max |device - reference| over two arrays; NaN anywhere fails.</summary>
    public static (double Relative, double Absolute) Compare(float[] device, float[] reference)
    {
        Assert.Equal(reference.Length, device.Length);
        double rel = 0, abs = 0;
        for (int i = 0; i < device.Length; i++)
        {
            Assert.False(float.IsNaN(device[i]), $"device output {i} is NaN (not written?)");
            double d = Math.Abs(device[i] - (double)reference[i]);
            abs = Math.Max(abs, d);
            rel = Math.Max(rel, d / (1 + Math.Abs(reference[i])));
        }
        return (rel, abs);
    }

    public static double Iou(FaceBox a, FaceBox b) => FaceApiNms.Iou((a.Left, a.Top, a.Right, a.Bottom), (b.Left, b.Top, b.Right, b.Bottom));

    /// <summary>Runs a plan fed a normalised tensor: the images' reference inputs (HWC) uploaded as one CHW batch.</summary>
    internal static FaceNetworkPlan RunOnTensor(FaceSession session, FaceNetworkKind network, int inputSize, IReadOnlyList<Hwc> inputs)
    {
        var plan = session.Plan(network, inputs.Count, inputSize, FacePlanInput.Tensor);
        var chw = inputs.SelectMany(i => i.ToChwFloat()).ToArray();
        Assert.Equal(plan.Input!.Length, chw.LongLength);
        plan.Input.View.CopyFromCPU(session.Stream, chw);
        plan.OutputBuffer.View.CopyFromCPU(session.Stream, Poison.Array(plan.OutputBuffer.Length));
        plan.Run(session.Stream);
        return plan;
    }
}
