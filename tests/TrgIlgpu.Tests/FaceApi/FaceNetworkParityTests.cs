using TrgIlgpu.Engine;
using TrgIlgpu.Faces;
using TrgIlgpu.Tests.Kernels;
using Xunit.Abstractions;

namespace TrgIlgpu.Tests.FaceApi;

/// <summary>
/// Each face network's device forward (PoCL) against its float64 reference net on the same preprocessed input: a
/// batch of a real photo and a photo-like random image of an odd size. SSD: the 6 heads' box encodings and class
/// logits; tiny: the output grid; landmarks: the 136 outputs of faces from several photos and a random crop, batched.
/// Tolerance: |device - reference| &lt;= tol (1 + |reference|). The device computes in float32 through 30 (SSD),
/// 8 (tiny) and 34 (landmarks) launches with sums of up to 2304 products (SSD's 3x3 convs over 256 channels), float32
/// rounding growing through the layers. Measured maxima (PoCL, 2026-12-03): SSD 2.3e-5, tiny 416 / 608 2.7e-6 /
/// 3.2e-6, landmarks 1.1e-7 (printed by each test); each tol is about 10x its maximum.
/// </summary>
[Collection(FaceFinderCollection.Name)]
public sealed class FaceNetworkParityTests(FaceFinderDevices devices, ITestOutputHelper output)
{
    /// <summary>See the class summary: about 10x the measured maxima.</summary>
    internal const double SsdTolerance = 2e-4, TinyTolerance = 3e-5, LandmarkTolerance = 1e-6;

    private static RgbImage[] Images => [FaceTestImages.Fixture("astronaut"), FaceTestImages.Random(301, 217, 7)];

    [OpenCLFact]
    public void Ssd_DeviceHeadsMatchTheFloat64Net()
    {
        var reference = devices.Reference.Ssd;
        var images = Images;
        var inputs = images.Select(SsdReferenceNet.Input).ToList();
        var session = devices.Finder(new DetectorOptions()).Session;
        var plan = FaceTestImages.RunOnTensor(session, FaceNetworkKind.SsdMobilenetV1, SsdDecoder.InputSize, inputs);
        double rel = 0, abs = 0;
        for (int b = 0; b < images.Length; b++)
        {
            var r = reference.Run(inputs[b]);
            for (int h = 0; h < SsdDecoder.Heads.Count; h++)
            {
                var box = FaceTestImages.Compare(plan.Output(SsdMobilenetV1Network.BoxOutput(h), b), r.BoxEncodings[h].ToChwFloat());
                var cls = FaceTestImages.Compare(plan.Output(SsdMobilenetV1Network.ClassOutput(h), b), r.ClassLogits[h].ToChwFloat());
                rel = Math.Max(rel, Math.Max(box.Relative, cls.Relative));
                abs = Math.Max(abs, Math.Max(box.Absolute, cls.Absolute));
            }
        }
        output.WriteLine($"SSD heads, batch {images.Length}: max |diff| {abs:G3}, max |diff| / (1 + |ref|) {rel:G3}");
        Assert.True(rel <= SsdTolerance, $"SSD heads differ from the float64 net by {rel} (relative)");
    }

    [OpenCLTheory]
    [InlineData(416)]
    [InlineData(608)]
    public void Tiny_DeviceGridMatchesTheFloat64Net(int inputSize)
    {
        var reference = devices.Reference.Tiny;
        var images = Images;
        var inputs = images.Select(i => TinyReferenceNet.Input(i, inputSize)).ToList();
        var session = devices.Finder(new DetectorOptions { Detector = DetectorKind.Tiny, TinyInputSize = inputSize }).Session;
        var plan = FaceTestImages.RunOnTensor(session, FaceNetworkKind.TinyFaceDetector, inputSize, inputs);
        double rel = 0, abs = 0;
        for (int b = 0; b < images.Length; b++)
        {
            var (r, a) = FaceTestImages.Compare(plan.Output(TinyFaceDetectorNetwork.GridOutput, b), reference.Run(inputs[b]).Grid.ToChwFloat());
            rel = Math.Max(rel, r);
            abs = Math.Max(abs, a);
        }
        output.WriteLine($"tiny {inputSize} grid, batch {images.Length}: max |diff| {abs:G3}, max |diff| / (1 + |ref|) {rel:G3}");
        Assert.True(rel <= TinyTolerance, $"tiny grid differs from the float64 net by {rel} (relative)");
    }

    [OpenCLFact]
    public void Landmarks_DeviceOutputsMatchTheFloat64Net_Batched()
    {
        var session = devices.Finder(new DetectorOptions()).Session;
        var (rel, abs, n) = LandmarkParity.Run(session, devices.Reference.Landmarks, LandmarkParity.Crops(includeGroupPhoto: true));
        output.WriteLine($"landmark net, batch {n}: max |diff| {abs:G3}, max |diff| / (1 + |ref|) {rel:G3}");
        Assert.True(rel <= LandmarkTolerance, $"landmark outputs differ from the float64 net by {rel} (relative)");
    }
}

/// <summary>The landmark net's device/reference comparison, shared by the PoCL and CPU-accelerator tests.</summary>
internal static class LandmarkParity
{
    /// <summary>Face crops of real photos (face-api's detections) and a random crop of a photo-like random image.</summary>
    public static List<(RgbImage Image, FaceCrop Crop)> Crops(bool includeGroupPhoto)
    {
        var list = new List<(RgbImage, FaceCrop)>();
        var names = includeGroupPhoto ? new[] { "astronaut", "sample1" } : ["astronaut"];
        foreach (var name in names)
        {
            var fixture = FaceApiFixture.Load(name);
            var image = FaceTestImages.Fixture(name);
            foreach (var f in fixture.Detections[0].Faces)
                if (FaceApiGeometry.LandmarkCrop(new FaceBox((float)f.Box[0], (float)f.Box[1], (float)f.Box[2], (float)f.Box[3]), image.Width, image.Height) is { } c)
                    list.Add((image, c));
        }
        var random = FaceTestImages.Random(211, 163, 11);
        list.Add((random, new FaceCrop(17, 9, 121, 97)));
        return list;
    }

    public static (double Relative, double Absolute, int Count) Run(FaceSession session, LandmarkReferenceNet reference, List<(RgbImage Image, FaceCrop Crop)> crops)
    {
        var inputs = crops.Select(c => LandmarkReferenceNet.Input(c.Image, c.Crop)).ToList();
        var plan = FaceTestImages.RunOnTensor(session, FaceNetworkKind.FaceLandmark68, FaceApiGeometry.LandmarkInputSize, inputs);
        double rel = 0, abs = 0;
        for (int b = 0; b < crops.Count; b++)
        {
            var (r, a) = FaceTestImages.Compare(plan.Output(FaceLandmark68Network.LandmarkOutput, b),
                Array.ConvertAll(reference.Run(inputs[b]).Outputs, v => (float)v));
            rel = Math.Max(rel, r);
            abs = Math.Max(abs, a);
        }
        return (rel, abs, crops.Count);
    }
}
