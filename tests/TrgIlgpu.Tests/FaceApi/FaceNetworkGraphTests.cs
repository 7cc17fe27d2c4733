using TrgIlgpu.Backends;
using TrgIlgpu.Engine;
using TrgIlgpu.Faces;
using TrgIlgpu.Tests.Engine;
using TrgIlgpu.Tests.Kernels;
using Xunit.Abstractions;

namespace TrgIlgpu.Tests.FaceApi;

/// <summary>
/// The face networks' graphs on ILGPU's CPU accelerator: built at batch 1 and 3 they satisfy the allocator's
/// invariants, write their outputs into the one output buffer, run the dense blocks' running sums in place, and
/// reject inputs the architecture does not fit with a <see cref="GraphException"/> naming the op. On the CPU
/// simulator (small work only): the landmark net and the tiny detector at input 160 against their float64 twins, and
/// a whole <see cref="FaceFinder.Find"/> (tiny at 224) against the float64 pipeline.
/// </summary>
public sealed class FaceNetworkGraphTests(ITestOutputHelper output) : IDisposable
{
    private readonly ComputeDevice _device = ComputeDevice.Open(DeviceKind.Cpu);
    private static readonly Lazy<FaceApiModels> Models = new(FaceApiModels.LoadEmbedded);

    private FaceSession Session(params FaceNetworkKind[] networks) => new(_device, ownsDevice: false, Models.Value, networks);

    public static TheoryData<FaceNetworkKind, int> Networks => new()
    {
        { FaceNetworkKind.SsdMobilenetV1, SsdDecoder.InputSize },
        { FaceNetworkKind.TinyFaceDetector, 416 },
        { FaceNetworkKind.TinyFaceDetector, 608 },
        { FaceNetworkKind.FaceLandmark68, FaceApiGeometry.LandmarkInputSize },
    };

    [Theory]
    [MemberData(nameof(Networks))]
    public void Graph_KeepsTheAllocatorInvariants_AndWritesItsOutputsOnce(FaceNetworkKind network, int inputSize)
    {
        using var session = Session(network);
        foreach (int batch in new[] { 1, 3 })
        {
            var plan = session.Plan(network, batch, inputSize);
            var g = plan.Graph;
            GraphInvariants.Check(g, $"{network} batch {batch}");
            Assert.Equal("ResizeToSquare", g.Ops[0].Kernel);
            Assert.Contains(g.Ops[0].Reads, r => r.Tensor.Name == "images");
            // Every output region is written by exactly one op, and nothing reads it (it is downloaded).
            var outputs = g.Tensors.Where(t => t.Kind == TensorKind.External && g.Ops.Any(o => o.Writes.Any(w => w.Tensor == t))).ToList();
            Assert.NotEmpty(outputs);
            Assert.All(outputs, t => Assert.Single(g.Ops, o => o.Writes.Any(w => w.Tensor == t)));
            Assert.All(outputs, t => Assert.DoesNotContain(g.Ops, o => o.Reads.Any(r => r.Tensor == t)));
            Assert.Equal(outputs.Sum(t => t.Length), plan.Host.LongLength);
            Assert.All(outputs, t => Assert.Equal(batch, t.Shape!.Batch));
            output.WriteLine($"{network} {inputSize} batch {batch}: {g.Ops.Count} launches, {g.SlotLengths.Count} slots, {g.SlotBytes / 1048576.0:F1} MiB, {g.Ops.Sum(o => o.Flops) / 1e9:F2} GFLOP");
        }
    }

    [Fact]
    public void Landmarks_DenseBlocksAccumulateInPlace()
    {
        using var session = Session(FaceNetworkKind.FaceLandmark68);
        var g = session.Plan(FaceNetworkKind.FaceLandmark68, 2, FaceApiGeometry.LandmarkInputSize).Graph;
        // resize; dense0: conv0 + 3 x 2; dense1..3: 4 x 2; pool; fc
        Assert.Equal(1 + 7 + 3 * 8 + 2, g.Ops.Count);
        var inPlace = g.Ops.Where(o => o.Kernel == "PointwiseConv" && o.Reads.Any(r => o.Writes.Any(w => w.Tensor == r.Tensor))).ToList();
        Assert.Equal(4 * 3, inPlace.Count);
        Assert.All(g.Ops.Where(o => o.Kernel == "DepthwiseConv3x3"), o => Assert.Contains("Relu(x)", o.Shape));
    }

    [Fact]
    public void Builder_RejectsInputsTheArchitectureDoesNotFit_NamingTheOp()
    {
        using var session = Session(FaceNetworkKind.SsdMobilenetV1, FaceNetworkKind.FaceLandmark68, FaceNetworkKind.TinyFaceDetector);
        // SSD at 256: its heads no longer have the decoder's grid sizes.
        var e = Assert.Throws<GraphException>(() => session.Plan(FaceNetworkKind.SsdMobilenetV1, 1, 256));
        Assert.Equal("box_encodings0", e.Op);
        // The landmark net at 96: the last map is 6x6, not the pool's 7x7 window.
        e = Assert.Throws<GraphException>(() => session.Plan(FaceNetworkKind.FaceLandmark68, 1, 96));
        Assert.Equal("avgpool", e.Op);
        // The tiny detector at 2: smaller than conv0's 'valid' 3x3 window.
        e = Assert.Throws<GraphException>(() => session.Plan(FaceNetworkKind.TinyFaceDetector, 1, 2));
        Assert.Equal("conv0", e.Op);
    }

    [Fact]
    public void Landmarks_OnTheCpuAccelerator_MatchTheFloat64Net()
    {
        using var session = Session(FaceNetworkKind.FaceLandmark68);
        var reference = new LandmarkReferenceNet(Models.Value.Landmarks);
        var (rel, abs, n) = LandmarkParity.Run(session, reference, LandmarkParity.Crops(includeGroupPhoto: false));
        output.WriteLine($"landmark net on the CPU accelerator, batch {n}: max |diff| {abs:G3}, max |diff| / (1 + |ref|) {rel:G3}");
        Assert.True(rel <= FaceNetworkParityTests.LandmarkTolerance, $"landmark outputs differ from the float64 net by {rel} (relative)");
    }

    [Fact]
    public void Tiny_OnTheCpuAccelerator_MatchesTheFloat64Net()
    {
        // A small input (160: a 5x5 grid) keeps the CPU simulator quick; two photo-like images of odd sizes, one batch.
        const int inputSize = 160;
        using var session = Session(FaceNetworkKind.TinyFaceDetector);
        var reference = new TinyReferenceNet(Models.Value.Tiny);
        var inputs = new[] { FaceTestImages.Random(203, 151, 21), FaceTestImages.Random(97, 131, 22) }.Select(i => TinyReferenceNet.Input(i, inputSize)).ToList();
        var plan = FaceTestImages.RunOnTensor(session, FaceNetworkKind.TinyFaceDetector, inputSize, inputs);
        double rel = 0;
        for (int b = 0; b < inputs.Count; b++)
            rel = Math.Max(rel, FaceTestImages.Compare(plan.Output(TinyFaceDetectorNetwork.GridOutput, b), reference.Run(inputs[b]).Grid.ToChwFloat()).Relative);
        output.WriteLine($"tiny {inputSize} on the CPU accelerator, batch {inputs.Count}: max |diff| / (1 + |ref|) {rel:G3}");
        Assert.True(rel <= FaceNetworkParityTests.TinyTolerance, $"tiny grid differs from the float64 net by {rel} (relative)");
    }

    [Fact]
    public void FaceFinder_OnTheCpuAccelerator_FindsWhatTheFloat64PipelineFinds()
    {
        // The whole path (upload, ResizeToSquare, tiny net, host decoding, landmark crops, landmark net) on the CPU
        // simulator, at a small tiny input to stay quick.
        var options = new DetectorOptions { Detector = DetectorKind.Tiny, TinyInputSize = 224 };
        var image = FaceTestImages.Fixture("astronaut");
        using var finder = FaceFinder.Create(_device, new FaceFinderOptions { Detector = options });
        var found = finder.Find(image);
        var expected = new FaceApiReferencePipeline(Models.Value).DetectWithLandmarks(image, options);
        Assert.NotEmpty(expected);
        Assert.Equal(expected.Count, found.Length);
        for (int i = 0; i < found.Length; i++)
        {
            Assert.True(FaceTestImages.Iou(found[i].Detection.Box, expected[i].Detection.Box) >= 0.99);
            Assert.True(Math.Abs(found[i].Detection.Score - expected[i].Detection.Score) <= 1e-3);
            Assert.True(found[i].Landmarks68.Zip(expected[i].Landmarks!, (a, e) => Math.Abs(a - e)).Max() <= 1, $"face {i}: landmarks differ by more than a pixel");
        }
        Assert.Contains("CPU", finder.DeviceName);
    }

    [Fact]
    public void SessionsAndFinders_DisposeOnlyTheDevicesTheyOpened()
    {
        var weights = TrgIlgpu.Model.ModelWeights.Load("synthetic:trgv2:3");
        var owning = new InferenceSession(weights, DeviceKind.Cpu);
        var opened = owning.Accelerator;
        owning.Dispose();
        Assert.True(opened.IsDisposed);
        using (new InferenceSession(weights, _device)) { }
        using (var estimator = new TrgEstimator(weights, _device)) Assert.Equal(_device.Description, estimator.DeviceName);
        using (FaceFinder.Create(_device, new FaceFinderOptions { Detector = new DetectorOptions { Detector = DetectorKind.Tiny } })) { }
        Assert.False(_device.Accelerator.IsDisposed);
    }

    public void Dispose() => _device.Dispose();
}
