using TrgIlgpu.Faces;
using TrgIlgpu.Tests.Kernels;
using Xunit.Abstractions;

namespace TrgIlgpu.Tests.FaceApi;

/// <summary>
/// <see cref="FaceFinder"/> end to end on PoCL against face-api itself (the committed fixtures of
/// tools/faceapi/reference.js) at each fixture setting (SSD 0.5; tiny 416 and 608 at 0.5), all 8 fixture images in one
/// <see cref="FaceFinder.FindBatch"/>: every face-api detection found exactly once with IoU >= 0.95 and score within
/// 0.02, no extra detection, landmarks within 1 pixel, no face in the face-free image. Then batching: FindBatch equals
/// Find per image, a landmark batch of N faces equals N single calls.
/// </summary>
[Collection(FaceFinderCollection.Name)]
public sealed class FaceFinderTests(FaceFinderDevices devices, ITestOutputHelper output)
{
    public static TheoryData<string> Settings => new("ssd", "tiny416", "tiny608");

    private static DetectorOptions Options(string setting) => setting switch
    {
        "ssd" => new DetectorOptions(),
        "tiny416" => new DetectorOptions { Detector = DetectorKind.Tiny, TinyInputSize = 416 },
        _ => new DetectorOptions { Detector = DetectorKind.Tiny, TinyInputSize = 608 },
    };

    [OpenCLTheory]
    [MemberData(nameof(Settings))]
    public void FindBatch_MatchesFaceApi_OnEveryFixtureImage(string setting)
    {
        var options = Options(setting);
        var finder = devices.Finder(options);
        var fixtures = FaceApiFixture.Names.Select(FaceApiFixture.Load).ToList();
        var found = finder.FindBatch(fixtures.Select(f => FaceTestImages.Fixture(f.Name)).ToList());
        double minIou = 1, maxScore = 0, maxLandmark = 0;
        int faces = 0;
        for (int i = 0; i < fixtures.Count; i++)
        {
            var fx = fixtures[i];
            var expectedSetting = fx.Detections.Single(d => d.Options.Detector == options.Detector && (options.Detector == DetectorKind.Ssd || d.Options.TinyInputSize == options.TinyInputSize));
            Assert.Equal(options.ScoreThreshold, expectedSetting.Options.ScoreThreshold);
            // face-api gives no landmarks to a face whose clipped box is empty; the finder leaves such a face out.
            var expected = expectedSetting.Faces.Where(f => f.Crop is not null).ToList();
            var got = found[i];
            Assert.True(got.Length == expected.Count, $"{fx.Name} {setting}: found {got.Length} faces, face-api {expected.Count}");
            var used = new HashSet<int>();
            foreach (var e in expected)
            {
                var box = new FaceBox((float)e.Box[0], (float)e.Box[1], (float)e.Box[2], (float)e.Box[3]);
                int m = Enumerable.Range(0, got.Length).MaxBy(k => FaceTestImages.Iou(got[k].Detection.Box, box));
                Assert.True(used.Add(m), $"{fx.Name} {setting}: two face-api faces match found face {m}");
                var match = got[m];
                minIou = Math.Min(minIou, FaceTestImages.Iou(match.Detection.Box, box));
                maxScore = Math.Max(maxScore, Math.Abs(match.Detection.Score - e.Score));
                Assert.Equal(136, match.Landmarks68.Length);
                for (int p = 0; p < 68; p++)
                    maxLandmark = Math.Max(maxLandmark, Math.Max(Math.Abs(match.Landmarks68[2 * p] - e.Landmarks![p][0]), Math.Abs(match.Landmarks68[2 * p + 1] - e.Landmarks[p][1])));
                Assert.Equal(FaceBoxRule.FromLandmarks(match.Landmarks68), match.TrgBox);
                faces++;
            }
            for (int k = 1; k < got.Length; k++) Assert.True(got[k - 1].Detection.Score >= got[k].Detection.Score, $"{fx.Name}: not highest score first");
        }
        Assert.Empty(found[Array.IndexOf(FaceApiFixture.Names, "no_face")]);
        output.WriteLine($"{setting}: {faces} faces in {fixtures.Count} images; min IoU {minIou:F4}, max |score diff| {maxScore:G3}, max landmark diff {maxLandmark:F3} px");
        Assert.True(minIou >= 0.95, $"{setting}: a box has IoU {minIou} with face-api's");
        Assert.True(maxScore <= 0.02, $"{setting}: a score differs by {maxScore}");
        Assert.True(maxLandmark <= 1, $"{setting}: a landmark is {maxLandmark} px from face-api's");
    }

    [OpenCLFact]
    public void FindBatch_EqualsFindPerImage_AcrossPasses()
    {
        var images = new[] { FaceTestImages.Fixture("astronaut"), FaceTestImages.Fixture("no_face"), FaceTestImages.Random(257, 193, 5), FaceTestImages.Fixture("astronaut") };
        // Passes of 3 images: the batch splits 3 + 1, and the landmark batch holds faces of different images.
        using var finder = FaceFinder.Create(devices.OpenCL, new FaceFinderOptions { MaxBatchSize = 3 });
        var batch = finder.FindBatch(images);
        Assert.Equal(images.Length, batch.Length);
        Assert.NotEmpty(batch[0]);
        for (int i = 0; i < images.Length; i++)
        {
            var single = finder.Find(images[i]);
            Assert.Equal(single.Length, batch[i].Length);
            for (int k = 0; k < single.Length; k++)
            {
                Assert.Equal(single[k].Detection, batch[i][k].Detection);
                Assert.Equal(single[k].Landmarks68, batch[i][k].Landmarks68);
                Assert.Equal(single[k].TrgBox, batch[i][k].TrgBox);
            }
        }
        Assert.Equal(batch[0].Select(f => f.Landmarks68), batch[3].Select(f => f.Landmarks68));
    }

    [OpenCLFact]
    public void Landmarks_BatchOfFacesEqualsSingleCalls()
    {
        var image = FaceTestImages.Fixture("sample1");
        var finder = devices.Finder(new DetectorOptions());
        var fixture = FaceApiFixture.Load("sample1");
        // face-api's boxes, one past the left edge and a shifted copy: N faces of one image in one landmark pass.
        var boxes = fixture.Detections[0].Faces.Select(f => new FaceBox((float)f.Box[0], (float)f.Box[1], (float)f.Box[2], (float)f.Box[3])).ToList();
        boxes.Add(new FaceBox(-20.5f, 300.25f, 160.75f, 470.5f));
        boxes.Add(new FaceBox(boxes[0].Left + 7.3f, boxes[0].Top - 5.1f, boxes[0].Right + 11.7f, boxes[0].Bottom + 2.9f));
        var all = finder.Landmarks(image, boxes);
        Assert.Equal(boxes.Count, all.Length);
        for (int i = 0; i < boxes.Count; i++)
        {
            var one = finder.Landmarks(image, [boxes[i]]);
            Assert.Equal(one[0], all[i]);
            Assert.All(all[i], v => Assert.True(float.IsFinite(v)));
        }
        // Against face-api: the landmarks of its own boxes.
        for (int i = 0; i < fixture.Detections[0].Faces.Count; i++)
        {
            var e = fixture.Detections[0].Faces[i].Landmarks!;
            for (int p = 0; p < 68; p++)
                Assert.True(Math.Abs(all[i][2 * p] - e[p][0]) <= 1 && Math.Abs(all[i][2 * p + 1] - e[p][1]) <= 1, $"face {i} landmark {p}");
        }
    }

    [OpenCLFact]
    public void TrgEstimator_BorrowsTheFindersDevice_AndLeavesItOpen()
    {
        var image = FaceTestImages.Fixture("astronaut");
        var finder = devices.Finder(new DetectorOptions());
        var faces = finder.Find(image);
        Assert.Single(faces);
        FaceResult[] results;
        using (var estimator = new TrgEstimator(TrgIlgpu.Model.ModelWeights.Load("synthetic:trgv2:1"), devices.OpenCL))
        {
            Assert.Equal(finder.DeviceName, estimator.DeviceName);
            results = estimator.Estimate(image, faces.Select(f => f.TrgBox).ToList());
        }
        Assert.Single(results);
        Assert.Equal(faces[0].TrgBox, results[0].Box);
        Assert.All(results[0].Rotation, v => Assert.True(float.IsFinite(v)));
        // Disposing the estimator did not close the shared device: the finder still runs and finds the same face.
        var again = finder.Find(image);
        Assert.Equal(faces[0].Landmarks68, again[0].Landmarks68);
    }

    [OpenCLFact]
    public void BadInput_GivesTypedErrors()
    {
        var finder = devices.Finder(new DetectorOptions());
        var image = FaceTestImages.Random(64, 48, 3);
        var e = Assert.Throws<TrgException>(() => finder.Landmarks(image, [new FaceBox(70, 10, 90, 30)]));
        Assert.Equal(ErrorKind.InvalidBox, e.Kind);
        Assert.Contains("face 0", e.Message);
        e = Assert.Throws<TrgException>(() => finder.Landmarks(image, [new FaceBox(1, 1, 20, 20), new FaceBox(float.NaN, 1, 20, 20)]));
        Assert.Contains("face 1", e.Message);
        Assert.Empty(finder.Landmarks(image, []));
        Assert.Empty(finder.FindBatch([]));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => finder.FindBatch([image], cancelled.Token));
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => FaceFinder.Create(devices.OpenCL, new FaceFinderOptions { MaxBatchSize = 0 })).Kind);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => FaceFinder.Create(devices.OpenCL, new FaceFinderOptions { Detector = new DetectorOptions { TinyInputSize = 100 } })).Kind);
    }
}
