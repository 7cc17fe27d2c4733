using System.Security.Cryptography;
using System.Text.Json;
using TrgIlgpu.Faces;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Tests.FaceApi;

/// <summary>
/// One face face-api found (tools/faceapi/reference.js): box l,t,r,b (pixels), score, and unless its clipped box is
/// empty the crop size, landmarks (pixels) and the landmark net's raw outputs.
/// </summary>
public sealed record FixtureFace(double[] Box, double Score, int[]? Crop, double[][]? Landmarks, double[]? LandmarkRaw);

/// <summary>One detector setting's faces.</summary>
public sealed record FixtureDetections(DetectorOptions Options, IReadOnlyList<FixtureFace> Faces);

/// <summary>A raw SSD anchor: index, score, box (ymin, xmin, ymax, xmax).</summary>
public sealed record FixtureSsdAnchor(int Index, double Score, double[] Box);

/// <summary>A face-api reference fixture (tests/TrgIlgpu.Tests/Fixtures/faceapi/NAME.json) and the image it was made from.</summary>
public sealed record FaceApiFixture(
    string Name, string ImageFile, int Width, int Height, string RgbSha256,
    IReadOnlyList<FixtureDetections> Detections, IReadOnlyList<FixtureSsdAnchor> SsdRawTop, int TinyGridInputSize, float[]? TinyGrid)
{
    /// <summary>The fixture images: the sample photo, a face-free pattern, face-api's six demo photos.</summary>
    public static readonly string[] Names = ["astronaut", "no_face", "sample1", "sample2", "sample3", "sample4", "sample5", "sample6"];

    /// <summary>
    /// face-api's demo photos as lossless PNGs decoded by jpeg-js (.ci/setup: npm ci in tools/faceapi, then
    /// tools/faceapi/decode-samples.js; git-ignored, never committed).
    /// </summary>
    public static string SamplesFolder => Path.Combine(TestPaths.RepoRoot, "tools", "faceapi", "samples");

    public static FaceApiFixture Load(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "faceapi", name + ".json")));
        var r = doc.RootElement;
        var detections = new List<FixtureDetections>();
        foreach (var s in r.GetProperty("ssd").EnumerateArray())
            detections.Add(new(new DetectorOptions { Detector = DetectorKind.Ssd, ScoreThreshold = s.GetProperty("minConfidence").GetSingle(), MaxFaces = s.GetProperty("maxResults").GetInt32() }, Faces(s)));
        foreach (var s in r.GetProperty("tiny").EnumerateArray())
            detections.Add(new(new DetectorOptions { Detector = DetectorKind.Tiny, ScoreThreshold = s.GetProperty("scoreThreshold").GetSingle(), TinyInputSize = s.GetProperty("inputSize").GetInt32() }, Faces(s)));
        var raw = r.GetProperty("ssd_raw_top").EnumerateArray()
            .Select(a => new FixtureSsdAnchor(a.GetProperty("index").GetInt32(), a.GetProperty("score").GetDouble(), Doubles(a.GetProperty("box")))).ToList();
        bool grid = r.TryGetProperty("tiny_grid", out var g);
        return new FaceApiFixture(name, r.GetProperty("image").GetString()!, r.GetProperty("width").GetInt32(), r.GetProperty("height").GetInt32(),
            r.GetProperty("rgb_sha256").GetString()!, detections, raw,
            grid ? g.GetProperty("input_size").GetInt32() : 0,
            grid ? g.GetProperty("values").EnumerateArray().Select(v => v.GetSingle()).ToArray() : null);
    }

    /// <summary>The image as the tests decode it, checked to be pixel-identical to what face-api saw (sha256 of RGB).</summary>
    public RgbImage LoadImage()
    {
        string path = Name switch
        {
            "astronaut" => TestPaths.SharedFile("samples", ImageFile),
            "no_face" => Path.Combine(TestPaths.Fixtures, "faceapi", ImageFile),
            _ => Path.Combine(SamplesFolder, Name + ".png"),
        };
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path} is missing: run .ci/setup (npm ci in tools/faceapi installs face-api's demo photos, decode-samples.js writes them as PNG)");
        var image = ImageLoader.LoadFile(path);
        Assert.Equal((Width, Height), (image.Width, image.Height));
        Assert.Equal(RgbSha256, Convert.ToHexStringLower(SHA256.HashData(image.Pixels)));
        return image;
    }

    private static List<FixtureFace> Faces(JsonElement setting) => setting.GetProperty("faces").EnumerateArray().Select(f =>
    {
        bool hasCrop = f.GetProperty("crop").ValueKind == JsonValueKind.Array;
        return new FixtureFace(Doubles(f.GetProperty("box")), f.GetProperty("score").GetDouble(),
            hasCrop ? f.GetProperty("crop").EnumerateArray().Select(v => v.GetInt32()).ToArray() : null,
            hasCrop ? f.GetProperty("landmarks").EnumerateArray().Select(Doubles).ToArray() : null,
            hasCrop ? Doubles(f.GetProperty("landmark_raw")) : null);
    }).ToList();

    private static double[] Doubles(JsonElement a) => a.EnumerateArray().Select(v => v.GetDouble()).ToArray();
}
