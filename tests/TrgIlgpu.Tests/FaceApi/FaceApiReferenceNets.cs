using TrgIlgpu.Faces;
using static TrgIlgpu.Tests.FaceApi.FaceApiReferenceOps;

namespace TrgIlgpu.Tests.FaceApi;

/// <summary>
/// face-api's preprocessing in float64 (NetInput.toBatchTensor): a region of the image padded with zeros to a square
/// (detectors: after the image; landmark net: centred), resized to the input side with TF's legacy bilinear resize
/// (alignCorners = false, halfPixelCenters = false) unless it already has that side, then normalised.
/// </summary>
public static class FaceApiReferencePreprocess
{
    /// <summary>The 0..255 RGB square input (before normalisation) of a region of <paramref name="image"/>.</summary>
    public static Hwc Square(RgbImage image, FaceCrop region, int inputSize, bool centred)
    {
        var (left, _, top, _) = FaceApiGeometry.SquarePadding(region.Width, region.Height, centred);
        int side = Math.Max(region.Width, region.Height);
        var square = new Hwc(side, side, 3);
        for (int y = 0; y < region.Height; y++)
            for (int x = 0; x < region.Width; x++)
                for (int c = 0; c < 3; c++)
                    square[y + top, x + left, c] = image.Pixels[((region.Y + y) * image.Width + region.X + x) * 3 + c];
        return side == inputSize ? square : ResizeBilinearLegacy(square, inputSize, inputSize);
    }

    /// <summary>The whole image as a detector sees it (padding after the image).</summary>
    public static Hwc Square(RgbImage image, int inputSize) => Square(image, new FaceCrop(0, 0, image.Width, image.Height), inputSize, centred: false);

    /// <summary>tf.image.resizeBilinear(alignCorners = false, halfPixelCenters = false) as tfjs's CPU backend computes it.</summary>
    public static Hwc ResizeBilinearLegacy(Hwc x, int outH, int outW)
    {
        var y = new Hwc(outH, outW, x.C);
        double ry = (double)x.H / outH, rx = (double)x.W / outW;
        for (int oy = 0; oy < outH; oy++)
        {
            double sy = ry * oy;
            int y0 = (int)Math.Floor(sy), y1 = Math.Min(x.H - 1, (int)Math.Ceiling(sy));
            double fy = sy - y0;
            for (int ox = 0; ox < outW; ox++)
            {
                double sx = rx * ox;
                int x0 = (int)Math.Floor(sx), x1 = Math.Min(x.W - 1, (int)Math.Ceiling(sx));
                double fx = sx - x0;
                for (int c = 0; c < x.C; c++)
                {
                    double top = x[y0, x0, c] + (x[y0, x1, c] - x[y0, x0, c]) * fx;
                    double bottom = x[y1, x0, c] + (x[y1, x1, c] - x[y1, x0, c]) * fx;
                    y[oy, ox, c] = top + (bottom - top) * fy;
                }
            }
        }
        return y;
    }

    /// <summary>In place: (x - mean[c]) / divisor, then - shift.</summary>
    public static Hwc Normalise(Hwc x, IReadOnlyList<double> mean, double divisor, double shift = 0)
    {
        for (long i = 0; i < x.Data.Length; i++) x.Data[i] = (x.Data[i] - mean[(int)(i % 3)]) / divisor - shift;
        return x;
    }
}

/// <summary>The SSD's outputs and the intermediate maps a device implementation is compared against.</summary>
/// <param name="Conv11">MobileNet pair 11's output (32x32x512 at 512 input).</param>
/// <param name="Features">MobileNet's output (16x16x1024).</param>
/// <param name="Extra">The 8 extra prediction convs' outputs.</param>
/// <param name="BoxEncodings">Per head, HWC [Size, Size, 4 * anchors].</param>
/// <param name="ClassLogits">Per head, HWC [Size, Size, 3 * anchors].</param>
public sealed record SsdReferenceOutput(Hwc Conv11, Hwc Features, IReadOnlyList<Hwc> Extra, IReadOnlyList<Hwc> BoxEncodings, IReadOnlyList<Hwc> ClassLogits);

/// <summary>face-api's SSD MobileNet v1 in float64 (ssdMobilenetv1/mobileNetV1.ts, predictionLayer.ts).</summary>
public sealed class SsdReferenceNet(SsdMobilenetV1Weights w)
{
    public SsdMobilenetV1Weights Weights => w;

    /// <summary>The normalised 512x512 input (x / 127.5 - 1).</summary>
    public static Hwc Input(RgbImage image) =>
        FaceApiReferencePreprocess.Normalise(FaceApiReferencePreprocess.Square(image, SsdDecoder.InputSize), [0, 0, 0], 127.5, 1);

    public SsdReferenceOutput Run(Hwc input)
    {
        var x = Relu6(Conv(input, w.Conv0.Filters, w.Conv0.Bias, 2, Padding.Same));
        Hwc? conv11 = null;
        for (int i = 1; i <= 13; i++)
        {
            var p = w.ConvPairs[i - 1];
            int stride = i is 2 or 4 or 6 or 12 ? 2 : 1;
            var d = p.Depthwise;
            x = Relu6(BatchNorm(Depthwise(x, d.Filters, stride, Padding.Same), d.Scale, d.Offset, d.Mean, d.Variance, 0.0010000000474974513));
            x = Relu6(Conv(x, p.Pointwise.Filters, p.Pointwise.Bias, 1, Padding.Same));
            if (i == 11) conv11 = x;
        }
        var extra = new List<Hwc>();
        var e = x;
        for (int i = 0; i < 8; i++)
        {
            var c = w.PredictionConvs[i];
            e = Relu6(Conv(e, c.Filters, c.Bias, i % 2 == 1 ? 2 : 1, Padding.Same));
            extra.Add(e);
        }
        Hwc[] heads = [conv11!, x, extra[1], extra[3], extra[5], extra[7]];
        var boxes = heads.Select((h, i) => Conv(h, w.BoxPredictors[i].BoxEncoding.Filters, w.BoxPredictors[i].BoxEncoding.Bias, 1, Padding.Same)).ToList();
        var classes = heads.Select((h, i) => Conv(h, w.BoxPredictors[i].ClassLogits.Filters, w.BoxPredictors[i].ClassLogits.Bias, 1, Padding.Same)).ToList();
        return new SsdReferenceOutput(conv11!, x, extra, boxes, classes);
    }

    /// <summary>The decoded boxes and scores of all 5118 anchors (float64 heads through the library's decoder).</summary>
    public SsdRawOutput Decode(SsdReferenceOutput o) =>
        SsdDecoder.Decode(w.Anchors.F32!, o.BoxEncodings.Select(h => h.ToFloat()).ToList(), o.ClassLogits.Select(h => h.ToFloat()).ToList(), TensorLayout.Hwc);
}

/// <summary>The tiny detector's output grid and its intermediate maps.</summary>
/// <param name="Layers">After conv0 (+ leaky) and after each separable conv (+ leaky), before pooling.</param>
/// <param name="Grid">HWC [S, S, 25].</param>
public sealed record TinyReferenceOutput(IReadOnlyList<Hwc> Layers, Hwc Grid);

/// <summary>face-api's tiny face detector in float64 (TinyYolov2Base.runMobilenet with the tiny face config).</summary>
public sealed class TinyReferenceNet(TinyFaceDetectorWeights w)
{
    public TinyFaceDetectorWeights Weights => w;

    /// <summary>The normalised input ((x - mean) / 255).</summary>
    public static Hwc Input(RgbImage image, int inputSize) =>
        FaceApiReferencePreprocess.Normalise(FaceApiReferencePreprocess.Square(image, inputSize), TinyYoloDecoder.MeanRgb, 255);

    public TinyReferenceOutput Run(Hwc input)
    {
        var layers = new List<Hwc>();
        var x = Leaky(Conv(input, w.Conv0.Filters, w.Conv0.Bias, 1, Padding.Valid));
        layers.Add(x);
        for (int i = 0; i < 5; i++)
        {
            x = MaxPool2Same(x, 2);
            var s = w.Separable[i];
            x = Leaky(Separable(Pad1(x), s.Depthwise, s.Pointwise, s.Bias, 1, Padding.Valid));
            layers.Add(x);
        }
        x = MaxPool2Same(x, 1);
        return new TinyReferenceOutput(layers, Conv(x, w.Conv8.Filters, w.Conv8.Bias, 1, Padding.Valid));
    }
}

/// <summary>The landmark net's 136 outputs and its dense blocks' outputs.</summary>
public sealed record LandmarkReferenceOutput(IReadOnlyList<Hwc> DenseBlocks, double[] Outputs);

/// <summary>face-api's FaceLandmark68Net in float64 (faceFeatureExtractor/denseBlock.ts, FaceProcessor.runNet).</summary>
public sealed class LandmarkReferenceNet(FaceLandmark68Weights w)
{
    public FaceLandmark68Weights Weights => w;

    /// <summary>The normalised 112x112 input of a face crop ((x - mean) / 255, padding centred).</summary>
    public static Hwc Input(RgbImage image, FaceCrop crop) =>
        FaceApiReferencePreprocess.Normalise(FaceApiReferencePreprocess.Square(image, crop, FaceApiGeometry.LandmarkInputSize, centred: true), LandmarkDecoder.MeanRgb, 255);

    public LandmarkReferenceOutput Run(Hwc input)
    {
        var blocks = new List<Hwc>();
        var x = input;
        for (int b = 0; b < 4; b++)
        {
            var d = w.DenseBlocks[b];
            var out1 = Relu(d.Conv0 is { } c0
                ? Conv(x, c0.Filters, c0.Bias, 2, Padding.Same)
                : Separable(x, d.SeparableConv0!.Depthwise, d.SeparableConv0.Pointwise, d.SeparableConv0.Bias, 2, Padding.Same));
            var out2 = Sep(out1, d.Conv1);
            var out3 = Sep(Relu(Add(out1, out2)), d.Conv2);
            var out4 = Sep(Relu(Add(out1, out2, out3)), d.Conv3);
            x = Relu(Add(out1, out2, out3, out4));
            blocks.Add(x);
        }
        return new LandmarkReferenceOutput(blocks, Dense(AvgPoolValid(x, 7, 2), w.FcWeights, w.FcBias));
    }

    private static Hwc Sep(Hwc x, SeparableConvWeights s) => Separable(x, s.Depthwise, s.Pointwise, s.Bias, 1, Padding.Same);
}

/// <summary>A face found by the reference pipeline: detection, landmark crop, raw landmark outputs, landmarks (pixels).</summary>
public sealed record ReferenceFace(FaceDetection Detection, FaceCrop? Crop, double[]? LandmarkOutputs, float[]? Landmarks);

/// <summary>
/// face-api's detectAllFaces(...).withFaceLandmarks() in float64: the reference nets composed with the library's
/// host-side decoding, NMS and landmark post-processing.
/// </summary>
public sealed class FaceApiReferencePipeline(FaceApiModels models)
{
    public SsdReferenceNet Ssd { get; } = new(models.Ssd);
    public TinyReferenceNet Tiny { get; } = new(models.Tiny);
    public LandmarkReferenceNet Landmarks { get; } = new(models.Landmarks);

    public IReadOnlyList<FaceDetection> Detect(RgbImage image, DetectorOptions options) => options.Detector == DetectorKind.Ssd
        ? SsdDecoder.Faces(Ssd.Decode(Ssd.Run(SsdReferenceNet.Input(image))), image.Width, image.Height, options)
        : TinyYoloDecoder.Faces(Tiny.Run(TinyReferenceNet.Input(image, options.TinyInputSize)).Grid.ToFloat(), TensorLayout.Hwc, image.Width, image.Height, options);

    public IReadOnlyList<ReferenceFace> DetectWithLandmarks(RgbImage image, DetectorOptions options) =>
        Detect(image, options).Select(d =>
        {
            var crop = FaceApiGeometry.LandmarkCrop(d.Box, image.Width, image.Height);
            if (crop is not { } c) return new ReferenceFace(d, null, null, null);
            var outputs = Landmarks.Run(LandmarkReferenceNet.Input(image, c)).Outputs;
            return new ReferenceFace(d, c, outputs, LandmarkDecoder.ToImage(Array.ConvertAll(outputs, v => (float)v), c, d.Box));
        }).ToList();
}
