using TrgIlgpu.Faces;
using Xunit.Abstractions;

namespace TrgIlgpu.Tests.FaceApi;

/// <summary>
/// The float64 reference nets + the library's host-side decoding against face-api itself (fixtures from
/// tools/faceapi/reference.js) on every fixture image: raw SSD anchors, the tiny output grid, detections (same count,
/// IoU >= 0.95, score within 0.02), the landmark net's outputs and the landmarks (within 1 pixel).
/// </summary>
public sealed class FaceApiReferenceParityTests(ITestOutputHelper output)
{
    private static readonly Lazy<FaceApiReferencePipeline> Pipeline = new(() => new FaceApiReferencePipeline(FaceApiModels.LoadEmbedded()));

    public static TheoryData<string> Images => new(FaceApiFixture.Names);

    [Theory]
    [MemberData(nameof(Images))]
    public void ReferencePipelineMatchesFaceApi(string name)
    {
        var fixture = FaceApiFixture.Load(name);
        var image = fixture.LoadImage();
        var p = Pipeline.Value;

        var ssdOut = p.Ssd.Run(SsdReferenceNet.Input(image));
        var ssdRaw = p.Ssd.Decode(ssdOut);
        // the device hands the heads over as CHW: the same decoding from that layout
        var ssdChw = SsdDecoder.Decode(p.Ssd.Weights.Anchors.F32!, ssdOut.BoxEncodings.Select(h => h.ToChwFloat()).ToList(),
            ssdOut.ClassLogits.Select(h => h.ToChwFloat()).ToList(), TensorLayout.Chw);
        Assert.Equal(ssdRaw.Boxes, ssdChw.Boxes);
        Assert.Equal(ssdRaw.Scores, ssdChw.Scores);
        double scoreErr = 0, boxErr = 0;
        foreach (var a in fixture.SsdRawTop)
        {
            scoreErr = Math.Max(scoreErr, Math.Abs(ssdRaw.Scores[a.Index] - a.Score));
            for (int k = 0; k < 4; k++) boxErr = Math.Max(boxErr, Math.Abs(ssdRaw.Boxes[a.Index * 4 + k] - a.Box[k]));
        }
        output.WriteLine($"{name}: SSD top-{fixture.SsdRawTop.Count} anchors: max |score diff| {scoreErr:G3}, max |box diff| {boxErr:G3} (relative units)");
        Assert.True(scoreErr < 2e-3 && boxErr < 2e-3, $"SSD raw outputs differ from face-api: score {scoreErr}, box {boxErr}");

        var grids = new Dictionary<int, Hwc>();
        Hwc GridOf(int inputSize)
        {
            if (!grids.TryGetValue(inputSize, out var g))
                grids[inputSize] = g = p.Tiny.Run(TinyReferenceNet.Input(image, inputSize)).Grid;
            return g;
        }
        float[] Grid(int inputSize) => GridOf(inputSize).ToFloat();
        if (fixture.TinyGrid is { } expectedGrid)
        {
            var grid = Grid(fixture.TinyGridInputSize);
            Assert.Equal(expectedGrid.Length, grid.Length);
            double gridErr = expectedGrid.Zip(grid, (e, a) => Math.Abs(e - a) / (1 + Math.Abs(e))).Max();
            output.WriteLine($"{name}: tiny {fixture.TinyGridInputSize} grid ({grid.Length} values): max relative diff {gridErr:G3}");
            Assert.True(gridErr < 2e-3, $"tiny output grid differs from face-api by {gridErr}");
        }

        foreach (var setting in fixture.Detections)
        {
            var o = setting.Options;
            var found = o.Detector == DetectorKind.Ssd
                ? SsdDecoder.Faces(ssdRaw, image.Width, image.Height, o)
                : TinyYoloDecoder.Faces(Grid(o.TinyInputSize), TensorLayout.Hwc, image.Width, image.Height, o);
            if (o.Detector == DetectorKind.Tiny)
                Assert.Equal(found, TinyYoloDecoder.Faces(GridOf(o.TinyInputSize).ToChwFloat(), TensorLayout.Chw, image.Width, image.Height, o));
            string label = o.Detector == DetectorKind.Ssd ? $"ssd@{o.ScoreThreshold}" : $"tiny{o.TinyInputSize}@{o.ScoreThreshold}";
            Assert.True(found.Count == setting.Faces.Count, $"{name} {label}: found {found.Count} faces, face-api {setting.Faces.Count}");
            double minIou = 1, maxScore = 0, maxLandmark = 0, maxRaw = 0;
            foreach (var expected in setting.Faces)
            {
                var box = new FaceBox((float)expected.Box[0], (float)expected.Box[1], (float)expected.Box[2], (float)expected.Box[3]);
                var match = found.MaxBy(f => Iou(f.Box, box));
                minIou = Math.Min(minIou, Iou(match.Box, box));
                maxScore = Math.Max(maxScore, Math.Abs(match.Score - expected.Score));

                var crop = FaceApiGeometry.LandmarkCrop(match.Box, image.Width, image.Height);
                if (expected.Crop is null)
                {
                    Assert.Null(crop);
                    continue;
                }
                Assert.NotNull(crop);
                var raw = p.Landmarks.Run(LandmarkReferenceNet.Input(image, crop.Value)).Outputs;
                var landmarks = LandmarkDecoder.ToImage(Array.ConvertAll(raw, v => (float)v), crop.Value, match.Box);
                for (int i = 0; i < 68; i++)
                    maxLandmark = Math.Max(maxLandmark, Math.Max(Math.Abs(landmarks[2 * i] - expected.Landmarks![i][0]), Math.Abs(landmarks[2 * i + 1] - expected.Landmarks[i][1])));
                if (crop.Value.Width == expected.Crop[0] && crop.Value.Height == expected.Crop[1])
                    maxRaw = Math.Max(maxRaw, raw.Zip(expected.LandmarkRaw!, (a, e) => Math.Abs(a - e)).Max());
            }
            output.WriteLine($"{name} {label}: {found.Count} faces; min IoU {minIou:F4}, max |score diff| {maxScore:G3}, " +
                             $"max landmark diff {maxLandmark:F3} px, max landmark-net output diff {maxRaw:G3}");
            Assert.True(minIou >= 0.95, $"{name} {label}: a box has IoU {minIou} with face-api's");
            Assert.True(maxScore <= 0.02, $"{name} {label}: a score differs by {maxScore}");
            Assert.True(maxLandmark <= 1, $"{name} {label}: a landmark is {maxLandmark} px from face-api's");
        }
    }

    private static double Iou(FaceBox a, FaceBox b) => FaceApiNms.Iou((a.Left, a.Top, a.Right, a.Bottom), (b.Left, b.Top, b.Right, b.Bottom));
}
