using TrgIlgpu.Faces;
using TrgIlgpu.Tests.Kernels;

namespace TrgIlgpu.Tests.FaceApi;

/// <summary>
/// The host side of face finding on hand-made and random inputs: decoders in both layouts against plain formulas,
/// both NMS variants' rules, landmark post-processing, the TRG box rule, geometry and option validation.
/// </summary>
public sealed class FaceFindingHostTests
{
    private static float[] ToChw(float[] hwc, int cells, int channels)
    {
        var chw = new float[hwc.Length];
        for (int p = 0; p < cells; p++)
            for (int c = 0; c < channels; c++) chw[c * cells + p] = hwc[p * channels + c];
        return chw;
    }

    [Fact]
    public void SsdDecodeMatchesOutputLayerFormulaInBothLayouts()
    {
        var r = new TestRandom(TestRandom.SeedOf(nameof(SsdDecodeMatchesOutputLayerFormulaInBothLayouts)));
        var anchors = new float[SsdDecoder.AnchorCount * 4];
        for (int i = 0; i < SsdDecoder.AnchorCount; i++)
        {
            float y = (float)r.Uniform(-0.1, 0.9), x = (float)r.Uniform(-0.1, 0.9);
            anchors[i * 4] = y; anchors[i * 4 + 1] = x;
            anchors[i * 4 + 2] = y + (float)r.Uniform(0.01, 0.5); anchors[i * 4 + 3] = x + (float)r.Uniform(0.01, 0.5);
        }
        var boxHwc = SsdDecoder.Heads.Select(h => r.Gaussian(h.Size * h.Size * 4 * h.AnchorsPerCell)).ToList();
        var clsHwc = SsdDecoder.Heads.Select(h => r.Gaussian(h.Size * h.Size * 3 * h.AnchorsPerCell, 3)).ToList();
        var hwc = SsdDecoder.Decode(anchors, boxHwc, clsHwc, TensorLayout.Hwc);
        var chw = SsdDecoder.Decode(anchors,
            boxHwc.Select((b, i) => ToChw(b, SsdDecoder.Heads[i].Size * SsdDecoder.Heads[i].Size, 4 * SsdDecoder.Heads[i].AnchorsPerCell)).ToList(),
            clsHwc.Select((c, i) => ToChw(c, SsdDecoder.Heads[i].Size * SsdDecoder.Heads[i].Size, 3 * SsdDecoder.Heads[i].AnchorsPerCell)).ToList(), TensorLayout.Chw);
        Assert.Equal(hwc.Boxes, chw.Boxes);
        Assert.Equal(hwc.Scores, chw.Scores);

        // TF order: anchor = head offset + (y * S + x) * A + a; encodings are the reshape [-1, 4] of the head.
        foreach (int anchor in new[] { 0, 1, 2, 3071, 3072, 3077, 4608, 5000, 5117 })
        {
            int head = 0, local = anchor;
            while (local >= SsdDecoder.Heads[head].Anchors) local -= SsdDecoder.Heads[head++].Anchors;
            var e = boxHwc[head].AsSpan(local * 4, 4);
            double logit = clsHwc[head][local * 3 + 1];
            var a = anchors.AsSpan(anchor * 4, 4);
            double sy = a[2] - a[0], sx = a[3] - a[1], cy = a[0] + sy / 2, cx = a[1] + sx / 2;
            double y = e[0] / 10.0 * sy + cy, x = e[1] / 10.0 * sx + cx, hh = Math.Exp(e[2] / 5.0) * sy / 2, hw = Math.Exp(e[3] / 5.0) * sx / 2;
            double[] expected = [y - hh, x - hw, y + hh, x + hw];
            for (int k = 0; k < 4; k++) Assert.Equal(expected[k], hwc.Boxes[anchor * 4 + k], 12);
            Assert.Equal(1 / (1 + Math.Exp(-logit)), hwc.Scores[anchor], 12);
        }
    }

    [Fact]
    public void SsdNmsKeepsHighestAndSuppressesAboveThreshold()
    {
        // ymin, xmin, ymax, xmax
        double[] boxes =
        [
            0, 0, 1, 1,        // 0: score 0.9
            0, 0, 1, 1.2,      // 1: IoU with 0 = 1/1.2 = 0.833 -> suppressed
            0, 0.5, 1, 1.5,    // 2: IoU with 0 = 0.5/1.5 = 0.333 -> kept
            2, 2, 3, 3,        // 3: disjoint, score at the threshold -> not a candidate
            2, 2, 3, 3.1,      // 4: disjoint, kept
            0, 0.4, 1, 1.4,    // 5: IoU with 2 = 0.9/1.1 > 0.5 -> suppressed by 2, which scored higher
        ];
        double[] scores = [0.9, 0.8, 0.7, 0.5, 0.6, 0.65];
        Assert.Equal([0, 2, 4], FaceApiNms.Ssd(boxes, scores, 100, 0.5, 0.5));
        Assert.Equal([0, 2], FaceApiNms.Ssd(boxes, scores, 2, 0.5, 0.5));
        // IoU exactly at the threshold is kept (suppression needs IoU > threshold)
        double[] edge = [0, 0, 1, 1, 0, 0, 1, 3];
        Assert.Equal([0, 1], FaceApiNms.Ssd(edge, [0.9, 0.8], 10, 1.0 / 3, 0.1));
    }

    [Fact]
    public void TinyNmsPicksHighestThenDropsOverlapsAndPrefersLaterOnTies()
    {
        var boxes = new List<(double, double, double, double)> { (0, 0, 10, 10), (1, 1, 11, 11), (20, 20, 30, 30), (0, 0, 10, 10) };
        // 0 and 3 tie at 0.8: the later index (3) is picked first, then 0 and 1 overlap it above 0.4
        Assert.Equal([3, 2], FaceApiNms.Tiny(boxes, [0.8, 0.7, 0.6, 0.8], 0.4));
        Assert.Equal([3, 1, 2], FaceApiNms.Tiny(boxes, [0.8, 0.7, 0.6, 0.8], 0.7)); // IoU(0..10, 1..11) = 81/119 = 0.68
    }

    [Fact]
    public void TinyDecodeMatchesExtractBoxesInBothLayouts()
    {
        var r = new TestRandom(TestRandom.SeedOf(nameof(TinyDecodeMatchesExtractBoxesInBothLayouts)));
        const int input = 224, s = 7, w = 300, h = 500; // portrait: reshaped 134 x 224, correction x = 224 / 134
        var grid = r.Gaussian(s * s * TinyYoloDecoder.Channels, 2);
        var hwc = TinyYoloDecoder.Candidates(grid, s, TensorLayout.Hwc, w, h, input, 0.3);
        var chw = TinyYoloDecoder.Candidates(ToChw(grid, s * s, TinyYoloDecoder.Channels), s, TensorLayout.Chw, w, h, input, 0.3);
        Assert.Equal(hwc, chw);
        Assert.NotEmpty(hwc);

        double fx = 224.0 / 134, fy = 1;
        var expected = new List<(RelativeBox, double)>();
        for (int row = 0; row < s; row++)
            for (int col = 0; col < s; col++)
                for (int a = 0; a < 5; a++)
                {
                    var v = grid.AsSpan(((row * s + col) * 5 + a) * 5, 5);
                    double score = 1 / (1 + Math.Exp(-v[4]));
                    if (score <= 0.3) continue;
                    double cx = (col + 1 / (1 + Math.Exp(-v[0]))) / s * fx, cy = (row + 1 / (1 + Math.Exp(-v[1]))) / s * fy;
                    double bw = Math.Exp(v[2]) * TinyYoloDecoder.Anchors[a].X / s * fx, bh = Math.Exp(v[3]) * TinyYoloDecoder.Anchors[a].Y / s * fy;
                    expected.Add((new RelativeBox(cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2), score));
                }
        Assert.Equal(expected.Count, hwc.Count);
        for (int i = 0; i < hwc.Count; i++)
        {
            Assert.Equal(expected[i].Item2, hwc[i].Score, 12);
            Assert.Equal(expected[i].Item1.Left, hwc[i].Box.Left, 12);
            Assert.Equal(expected[i].Item1.Bottom, hwc[i].Box.Bottom, 12);
        }

        var faces = TinyYoloDecoder.Faces(grid, TensorLayout.Hwc, w, h, new DetectorOptions { Detector = DetectorKind.Tiny, TinyInputSize = input, ScoreThreshold = 0.3f, MaxFaces = 2 });
        Assert.InRange(faces.Count, 1, 2);
        Assert.True(faces.Zip(faces.Skip(1), (a, b) => a.Score >= b.Score).All(x => x));
    }

    [Fact]
    public void SsdFacesClampAndScaleByPadding()
    {
        var boxes = new double[SsdDecoder.AnchorCount * 4];
        var scores = new double[SsdDecoder.AnchorCount];
        // anchor 7: ymin -0.1 (clamped to 0), xmin 0.2, ymax 0.5, xmax 1.3 (clamped to 1); image 400 x 200 -> reshaped 512 x 256, padY 2
        boxes[28] = -0.1; boxes[29] = 0.2; boxes[30] = 0.5; boxes[31] = 1.3;
        scores[7] = 0.75;
        var faces = SsdDecoder.Faces(new SsdRawOutput(boxes, scores), 400, 200, new DetectorOptions());
        var f = Assert.Single(faces);
        Assert.Equal(0.75f, f.Score);
        Assert.Equal(new FaceBox(80, 0, 400, 200), f.Box);
        Assert.Empty(SsdDecoder.Faces(new SsdRawOutput(boxes, scores), 400, 200, new DetectorOptions { MinFaceSize = 201 }));
    }

    [Fact]
    public void LandmarkCropClipsAndFloors()
    {
        Assert.Equal(new FaceCrop(0, 3, 7, 5), FaceApiGeometry.LandmarkCrop(new FaceBox(-2.5f, 3.7f, 7.9f, 8.9f), 100, 100));
        Assert.Equal(new FaceCrop(90, 95, 9, 4), FaceApiGeometry.LandmarkCrop(new FaceBox(90.2f, 95.5f, 130f, 120f), 100, 100));
        Assert.Null(FaceApiGeometry.LandmarkCrop(new FaceBox(100.5f, 10, 120, 30), 100, 100));
        Assert.Equal(new ReshapedSize(416, 277), FaceApiGeometry.Reshaped(1920, 1280, 416));
        Assert.Equal(new ReshapedSize(341, 512), FaceApiGeometry.Reshaped(2, 3, 512)); // 341.33
        Assert.Equal((0, 0, 0, 5), FaceApiGeometry.SquarePadding(10, 5, centred: false));
        Assert.Equal((0, 0, 2, 3), FaceApiGeometry.SquarePadding(10, 5, centred: true));
        Assert.Equal((1, 2, 0, 0), FaceApiGeometry.SquarePadding(7, 10, centred: true));
    }

    [Fact]
    public void LandmarksUndoCentredPaddingAndShiftByDetection()
    {
        var crop = new FaceCrop(10, 20, 50, 100); // taller than wide: scale 1.12, width 56 in a 112 square, padX 28
        var detection = new FaceBox(10.6f, 20.3f, 60.5f, 121f);
        var outputs = new float[136];
        var r = new TestRandom(TestRandom.SeedOf(nameof(LandmarksUndoCentredPaddingAndShiftByDetection)));
        for (int i = 0; i < 136; i++) outputs[i] = (float)r.Uniform(0.2, 0.8);
        var points = LandmarkDecoder.ToImage(outputs, crop, detection);
        for (int i = 0; i < 68; i++)
        {
            Assert.Equal((outputs[2 * i] * 112.0 - 28) / 56 * 50 + 10.6f, points[2 * i], 3);
            Assert.Equal(outputs[2 * i + 1] * 112.0 / 112 * 100 + 20.3f, points[2 * i + 1], 3);
        }
    }

    [Fact]
    public void TrgBoxFollowsTheDemoRule()
    {
        var r = new TestRandom(TestRandom.SeedOf(nameof(TrgBoxFollowsTheDemoRule)));
        var lm = new float[136];
        for (int i = 0; i < 68; i++) { lm[2 * i] = (float)r.Uniform(-40, 20); lm[2 * i + 1] = (float)r.Uniform(100, 130); }
        lm[0] = -40; lm[2] = 20; lm[3] = 100; lm[5] = 130; // x extent [-40, 20] (60), y extent [100, 130]
        double minY = Enumerable.Range(0, 68).Min(i => lm[2 * i + 1]), maxY = Enumerable.Range(0, 68).Max(i => lm[2 * i + 1]);
        double minX = Enumerable.Range(0, 68).Min(i => lm[2 * i]), maxX = Enumerable.Range(0, 68).Max(i => lm[2 * i]);
        double cx = (minX + maxX) / 2, cy = (minY + maxY) / 2, half = 0.75 * Math.Max(maxX - minX, maxY - minY);
        var box = FaceBoxRule.FromLandmarks(lm);
        Assert.Equal(new FaceBox((float)Math.Truncate(cx - half), (float)Math.Truncate(cy - half), (float)Math.Truncate(cx + half), (float)Math.Truncate(cy + half)), box);
        Assert.Equal(-55, box.Left); // -10 - 45, truncated toward zero
        lm[7] = float.NaN;
        Assert.Equal(ErrorKind.InvalidBox, Assert.Throws<TrgException>(() => FaceBoxRule.FromLandmarks(lm)).Kind);
    }

    public static TheoryData<DetectorOptions, string> BadOptions => new()
    {
        { new DetectorOptions { ScoreThreshold = 0 }, "score threshold" },
        { new DetectorOptions { ScoreThreshold = 1 }, "score threshold" },
        { new DetectorOptions { ScoreThreshold = float.NaN }, "score threshold" },
        { new DetectorOptions { MinFaceSize = -1 }, "minimum face size" },
        { new DetectorOptions { MinFaceSize = float.PositiveInfinity }, "minimum face size" },
        { new DetectorOptions { TinyInputSize = 400 }, "multiple of 32" },
        { new DetectorOptions { TinyInputSize = 0 }, "multiple of 32" },
        { new DetectorOptions { MaxFaces = 0 }, "maximum faces" },
        { new DetectorOptions { Detector = (DetectorKind)7 }, "unknown detector" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void BadOptionsAreUsageErrors(DetectorOptions options, string expected)
    {
        var e = Assert.Throws<TrgException>(() => options.Validate());
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void DefaultsAreFaceApis()
    {
        var o = new DetectorOptions().Validate();
        Assert.Equal((DetectorKind.Ssd, 0.5f, 416, 100, 0f, 512), (o.Detector, o.ScoreThreshold, o.TinyInputSize, o.MaxFaces, o.MinFaceSize, o.InputSize));
        Assert.Equal(5118, SsdDecoder.AnchorCount);
    }
}
