using System.Reflection;
using TrgIlgpu.Formats;
using TrgIlgpu.Model;

namespace TrgIlgpu.Faces;

/// <summary>A convolution's filters (TF layout HWIO: [kh, kw, in, out]) and bias [out].</summary>
public sealed record ConvWeights(HostTensor Filters, HostTensor Bias);

/// <summary>A separable convolution: depthwise 3x3 filters [3, 3, in, 1], pointwise [1, 1, in, out], bias [out].</summary>
public sealed record SeparableConvWeights(HostTensor Depthwise, HostTensor Pointwise, HostTensor Bias);

/// <summary>A depthwise 3x3 convolution [3, 3, c, 1] followed by batch norm (scale, offset, mean, variance, each [c]; eps 0.001).</summary>
public sealed record DepthwiseBatchNormWeights(HostTensor Filters, HostTensor Scale, HostTensor Offset, HostTensor Mean, HostTensor Variance);

/// <summary>One MobileNet v1 layer pair: depthwise conv + batch norm + relu6, then pointwise conv + offset + relu6.</summary>
public sealed record SsdConvPairWeights(DepthwiseBatchNormWeights Depthwise, ConvWeights Pointwise);

/// <summary>One SSD box predictor: 1x1 convs giving 4 box encodings and 3 class logits per anchor of a cell.</summary>
public sealed record SsdBoxPredictorWeights(ConvWeights BoxEncoding, ConvWeights ClassLogits);

/// <summary>
/// face-api's SSD MobileNet v1 (ssdMobilenetv1/): <see cref="Conv0"/> 3x3 stride 2 (relu6, its bias is the folded
/// batch-norm offset), 13 <see cref="ConvPairs"/> (depthwise strides 2 at pairs 2, 4, 6, 12), 8 extra
/// <see cref="PredictionConvs"/> (kernel 1 or 3, 3x3 ones stride 2, relu6), 6 <see cref="BoxPredictors"/> and the
/// 5118 <see cref="Anchors"/> (<c>Output/extra_dim</c>, [5118, 4] as ymin, xmin, ymax, xmax).
/// </summary>
public sealed record SsdMobilenetV1Weights(
    ConvWeights Conv0,
    IReadOnlyList<SsdConvPairWeights> ConvPairs,
    IReadOnlyList<ConvWeights> PredictionConvs,
    IReadOnlyList<SsdBoxPredictorWeights> BoxPredictors,
    HostTensor Anchors)
{
    /// <summary>Output channels of MobileNet conv 0 and of pairs 1..13.</summary>
    public static readonly int[] MobileNetChannels = [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024];

    /// <summary>The extra prediction convs: (in, out, kernel); kernel 3 ones run with stride 2.</summary>
    public static readonly (int In, int Out, int Kernel)[] PredictionConvShapes =
        [(1024, 256, 1), (256, 512, 3), (512, 128, 1), (128, 256, 3), (256, 128, 1), (128, 256, 3), (256, 64, 1), (64, 128, 3)];

    /// <summary>Input channels of box predictors 0..5 (conv 11, the MobileNet output, prediction convs 1, 3, 5, 7).</summary>
    public static readonly int[] BoxPredictorChannels = [512, 1024, 512, 256, 256, 128];
}

/// <summary>
/// face-api's tiny face detector (tinyYolov2/ with separable convs): <see cref="Conv0"/> 3x3 'valid' 3 -> 16 then
/// leaky 0.1; <see cref="Separable"/> conv1..conv5 (pad 1, separable 3x3, bias, leaky 0.1: 16 -> 32 -> 64 -> 128 ->
/// 256 -> 512), a 2x2 max pool after conv0..conv4 (stride 2) and conv5 (stride 1), all 'same'; <see cref="Conv8"/>
/// 1x1 512 -> 25 (5 anchors x [x, y, w, h, score]).
/// </summary>
public sealed record TinyFaceDetectorWeights(ConvWeights Conv0, IReadOnlyList<SeparableConvWeights> Separable, ConvWeights Conv8)
{
    /// <summary>Channels after conv0 and after each separable conv.</summary>
    public static readonly int[] Channels = [16, 32, 64, 128, 256, 512];
}

/// <summary>
/// One dense block of face-api's landmark net: conv0 (stride 2; a plain 3x3 conv in dense0, separable in the
/// others), conv1..conv3 separable stride 1, with relu over running sums (faceFeatureExtractor/denseBlock.ts).
/// Exactly one of <see cref="Conv0"/> and <see cref="SeparableConv0"/> is set.
/// </summary>
public sealed record DenseBlockWeights(ConvWeights? Conv0, SeparableConvWeights? SeparableConv0, SeparableConvWeights Conv1, SeparableConvWeights Conv2, SeparableConvWeights Conv3);

/// <summary>
/// face-api's FaceLandmark68Net: 4 dense blocks (3 -> 32 -> 64 -> 128 -> 256 channels, 112 -> 7 pixels), a 7x7
/// stride 2 'valid' average pool, and the fully connected layer <see cref="FcWeights"/> [256, 136] + <see cref="FcBias"/>.
/// </summary>
public sealed record FaceLandmark68Weights(IReadOnlyList<DenseBlockWeights> DenseBlocks, HostTensor FcWeights, HostTensor FcBias)
{
    /// <summary>Output channels of dense blocks 0..3.</summary>
    public static readonly int[] Channels = [32, 64, 128, 256];
}

/// <summary>The three face-api networks the engine runs, with their tensors by role, shapes checked.</summary>
public sealed record FaceApiModels(SsdMobilenetV1Weights Ssd, TinyFaceDetectorWeights Tiny, FaceLandmark68Weights Landmarks)
{
    /// <summary>Model names (file stems in weights/faceapi and resource names <c>faceapi/NAME...</c>).</summary>
    public const string SsdModel = "ssd_mobilenetv1_model", TinyModel = "tiny_face_detector_model", LandmarkModel = "face_landmark_68_model";

    /// <summary>The three models as embedded in this assembly (vendored from @vladmandic/face-api 1.7.15).</summary>
    public static FaceApiModels LoadEmbedded() => new(
        ReadSsd(DecodeEmbedded(SsdModel), SsdModel),
        ReadTiny(DecodeEmbedded(TinyModel), TinyModel),
        ReadLandmarks(DecodeEmbedded(LandmarkModel), LandmarkModel));

    /// <summary>The three models from a folder holding each one's <c>NAME-weights_manifest.json</c> and <c>NAME.bin</c>.</summary>
    public static FaceApiModels Load(string folder)
    {
        string Manifest(string model) => Path.Combine(folder, $"{model}-weights_manifest.json");
        return new(
            ReadSsd(TfjsWeights.Read(Manifest(SsdModel)), Manifest(SsdModel)),
            ReadTiny(TfjsWeights.Read(Manifest(TinyModel)), Manifest(TinyModel)),
            ReadLandmarks(TfjsWeights.Read(Manifest(LandmarkModel)), Manifest(LandmarkModel)));
    }

    /// <summary>The bytes of an embedded face-api file (e.g. <c>ssd_mobilenetv1_model.bin</c>).</summary>
    public static byte[] ReadEmbeddedFile(string fileName)
    {
        using var stream = typeof(FaceApiModels).Assembly.GetManifestResourceStream("faceapi/" + fileName)
            ?? throw new TrgException(ErrorKind.NotFound, "not embedded in the TrgIlgpu assembly (weights/faceapi)", "faceapi/" + fileName);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static IReadOnlyDictionary<string, HostTensor> DecodeEmbedded(string model) =>
        TfjsWeights.Decode(ReadEmbeddedFile($"{model}-weights_manifest.json"), ReadEmbeddedFile, $"faceapi/{model}-weights_manifest.json");

    /// <summary>Typed SSD MobileNet v1 tensors from a decoded manifest; <paramref name="source"/> names it in errors.</summary>
    public static SsdMobilenetV1Weights ReadSsd(IReadOnlyDictionary<string, HostTensor> t, string source)
    {
        var take = new Taker(t, source);
        var ch = SsdMobilenetV1Weights.MobileNetChannels;
        var conv0 = new ConvWeights(take.F32("MobilenetV1/Conv2d_0_pointwise/weights", 3, 3, 3, ch[0]),
                                    take.F32("MobilenetV1/Conv2d_0_pointwise/convolution_bn_offset", ch[0]));
        var pairs = new List<SsdConvPairWeights>();
        for (int i = 1; i <= 13; i++)
        {
            int cin = ch[i - 1], cout = ch[i];
            string dw = $"MobilenetV1/Conv2d_{i}_depthwise", pw = $"MobilenetV1/Conv2d_{i}_pointwise";
            pairs.Add(new SsdConvPairWeights(
                new DepthwiseBatchNormWeights(take.F32($"{dw}/depthwise_weights", 3, 3, cin, 1),
                    take.F32($"{dw}/BatchNorm/gamma", cin), take.F32($"{dw}/BatchNorm/beta", cin),
                    take.F32($"{dw}/BatchNorm/moving_mean", cin), take.F32($"{dw}/BatchNorm/moving_variance", cin)),
                new ConvWeights(take.F32($"{pw}/weights", 1, 1, cin, cout), take.F32($"{pw}/convolution_bn_offset", cout))));
        }
        var extra = SsdMobilenetV1Weights.PredictionConvShapes.Select((s, i) => new ConvWeights(
            take.F32($"Prediction/Conv2d_{i}_pointwise/weights", s.Kernel, s.Kernel, s.In, s.Out),
            take.F32($"Prediction/Conv2d_{i}_pointwise/convolution_bn_offset", s.Out))).ToList();
        var predictors = SsdMobilenetV1Weights.BoxPredictorChannels.Select((cin, i) =>
        {
            int anchors = SsdDecoder.Heads[i].AnchorsPerCell;
            string p = $"Prediction/BoxPredictor_{i}";
            return new SsdBoxPredictorWeights(
                new ConvWeights(take.F32($"{p}/BoxEncodingPredictor/weights", 1, 1, cin, 4 * anchors), take.F32($"{p}/BoxEncodingPredictor/biases", 4 * anchors)),
                new ConvWeights(take.F32($"{p}/ClassPredictor/weights", 1, 1, cin, 3 * anchors), take.F32($"{p}/ClassPredictor/biases", 3 * anchors)));
        }).ToList();
        var anchorsTensor = take.F32("Output/extra_dim", 1, SsdDecoder.AnchorCount, 4);
        return new SsdMobilenetV1Weights(conv0, pairs, extra, predictors,
            new HostTensor(anchorsTensor.Name, [SsdDecoder.AnchorCount, 4], anchorsTensor.F32!));
    }

    /// <summary>Typed tiny face detector tensors from a decoded manifest; <paramref name="source"/> names it in errors.</summary>
    public static TinyFaceDetectorWeights ReadTiny(IReadOnlyDictionary<string, HostTensor> t, string source)
    {
        var take = new Taker(t, source);
        var ch = TinyFaceDetectorWeights.Channels;
        var conv0 = new ConvWeights(take.F32("conv0/filters", 3, 3, 3, ch[0]), take.F32("conv0/bias", ch[0]));
        var separable = Enumerable.Range(1, 5).Select(i => take.Separable($"conv{i}", ch[i - 1], ch[i])).ToList();
        var conv8 = new ConvWeights(take.F32("conv8/filters", 1, 1, ch[5], TinyYoloDecoder.Channels), take.F32("conv8/bias", TinyYoloDecoder.Channels));
        take.RequireAllUsed();
        return new TinyFaceDetectorWeights(conv0, separable, conv8);
    }

    /// <summary>Typed FaceLandmark68Net tensors from a decoded manifest; <paramref name="source"/> names it in errors.</summary>
    public static FaceLandmark68Weights ReadLandmarks(IReadOnlyDictionary<string, HostTensor> t, string source)
    {
        var take = new Taker(t, source);
        var ch = FaceLandmark68Weights.Channels;
        var blocks = new List<DenseBlockWeights>();
        for (int b = 0; b < 4; b++)
        {
            int cin = b == 0 ? 3 : ch[b - 1], c = ch[b];
            string p = $"dense{b}";
            blocks.Add(new DenseBlockWeights(
                b == 0 ? new ConvWeights(take.F32($"{p}/conv0/filters", 3, 3, cin, c), take.F32($"{p}/conv0/bias", c)) : null,
                b == 0 ? null : take.Separable($"{p}/conv0", cin, c),
                take.Separable($"{p}/conv1", c, c), take.Separable($"{p}/conv2", c, c), take.Separable($"{p}/conv3", c, c)));
        }
        var fcW = take.F32("fc/weights", ch[3], LandmarkDecoder.Outputs);
        var fcB = take.F32("fc/bias", LandmarkDecoder.Outputs);
        take.RequireAllUsed();
        return new FaceLandmark68Weights(blocks, fcW, fcB);
    }

    /// <summary>Looks tensors up by name, checks float32 and shape, and tracks which were used.</summary>
    private sealed class Taker(IReadOnlyDictionary<string, HostTensor> tensors, string source)
    {
        private readonly HashSet<string> _used = [];

        public HostTensor F32(string name, params int[] shape)
        {
            if (!tensors.TryGetValue(name, out var t))
                throw new TrgException(ErrorKind.InvalidModel, $"missing tensor '{name}'", source);
            if (t.DType != TensorDType.F32 || !t.Shape.SequenceEqual(shape))
                throw new TrgException(ErrorKind.InvalidModel,
                    $"tensor '{name}' is {t.DType} {t.ShapeText}, expected F32 [{string.Join(",", shape)}]", source);
            _used.Add(name);
            return t;
        }

        public SeparableConvWeights Separable(string prefix, int cin, int cout) => new(
            F32($"{prefix}/depthwise_filter", 3, 3, cin, 1), F32($"{prefix}/pointwise_filter", 1, 1, cin, cout), F32($"{prefix}/bias", cout));

        public void RequireAllUsed()
        {
            var extra = tensors.Keys.Where(k => !_used.Contains(k)).ToList();
            if (extra.Count > 0)
                throw new TrgException(ErrorKind.InvalidModel, $"unexpected tensors {string.Join(", ", extra.Take(5))} (not this architecture)", source);
        }
    }
}
