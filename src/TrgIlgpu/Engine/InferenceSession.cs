using TrgIlgpu.Model;

namespace TrgIlgpu.Engine;

/// <summary>Which compute device to run on. Auto picks CUDA, then OpenCL, then the CPU accelerator.</summary>
public enum DeviceKind { Auto, Cuda, OpenCL, Cpu }

/// <summary>
/// Weights uploaded to one device, with forward plans made once per batch size. Run() takes a batch of faces (from one
/// or many images) and returns one FaceResult per face, in order.
/// </summary>
public sealed class InferenceSession : IDisposable
{
    public InferenceSession(ModelWeights weights, DeviceKind device = DeviceKind.Auto, TextWriter? log = null)
        => throw new NotImplementedException("engine");

    /// <summary>Human-readable device, e.g. "OpenCL: pthread-skylake (Portable Computing Language)".</summary>
    public string DeviceName => throw new NotImplementedException("engine");

    public ModelWeights Weights => throw new NotImplementedException("engine");

    public FaceResult[] Run(IReadOnlyList<FaceRequest> faces, CancellationToken cancellationToken = default)
        => throw new NotImplementedException("engine");

    public void Dispose() { }
}
