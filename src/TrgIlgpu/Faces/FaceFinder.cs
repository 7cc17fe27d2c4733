using TrgIlgpu.Backends;
using TrgIlgpu.Engine;

namespace TrgIlgpu.Faces;

/// <summary>Settings of a <see cref="FaceFinder"/>, fixed when it is created.</summary>
public sealed record FaceFinderOptions
{
    /// <summary>Compute device; <see cref="DeviceKind.Auto"/> takes CUDA, then OpenCL, then the CPU.</summary>
    public DeviceKind Device { get; init; } = DeviceKind.Auto;

    /// <summary>Where the finder says which device it took (null: silent).</summary>
    public TextWriter? Log { get; init; }

    /// <summary>Which detector, thresholds, minimum face size, tiny input size, most faces.</summary>
    public DetectorOptions Detector { get; init; } = new();

    /// <summary>Most images in one detector pass and most faces in one landmark pass.</summary>
    public int MaxBatchSize { get; init; } = 16;
}

/// <summary>
/// A face found in a photo: the detector's box and score, the 68 landmarks (iBUG order, image pixels, x0,y0,x1,...)
/// and the TRG face box derived from them by the official demo's rule (<see cref="FaceBoxRule.FromLandmarks"/>).
/// </summary>
public sealed record FoundFace(FaceDetection Detection, float[] Landmarks68, FaceBox TrgBox);

/// <summary>
/// Finds faces and their 68 landmarks on the engine: face-api's pretrained detector (SSD MobileNet v1 or the tiny
/// face detector) and 68-point landmark net, as forward plans on one device, weights embedded in the library.
/// </summary>
public sealed class FaceFinder : IDisposable
{
    /// <summary>Opens a device and loads the embedded networks.</summary>
    public static FaceFinder Create(FaceFinderOptions? options = null) =>
        throw new NotImplementedException("FaceFinder: device networks being assembled (branch facenets)");

    /// <summary>Loads the embedded networks on a device the caller owns (it is not disposed with the finder).</summary>
    public static FaceFinder Create(ComputeDevice device, FaceFinderOptions? options = null) =>
        throw new NotImplementedException("FaceFinder: device networks being assembled (branch facenets)");

    /// <summary>The device in words.</summary>
    public string DeviceName => throw new NotImplementedException();

    /// <summary>The detector settings in use (validated).</summary>
    public DetectorOptions Detector => throw new NotImplementedException();

    /// <summary>Every face in an image, highest score first, with landmarks and TRG box.</summary>
    public FoundFace[] Find(RgbImage image, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <summary>Every face in each image: detector passes of up to MaxBatchSize images, landmarks over all faces.</summary>
    public FoundFace[][] FindBatch(IReadOnlyList<RgbImage> images, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <summary>The landmark net alone on given face boxes (as a detector gives them): 68x2 image pixels each.</summary>
    public float[][] Landmarks(RgbImage image, IReadOnlyList<FaceBox> boxes, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <summary>Releases the device buffers (and the device when the finder opened it).</summary>
    public void Dispose() { }
}
