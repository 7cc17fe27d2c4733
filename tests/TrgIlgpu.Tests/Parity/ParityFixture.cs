using System.Text.Json;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.Parity;

/// <summary>What the PyTorch reference (tools/trg_reference.py) computed for one face. Arrays are row-major float32.</summary>
public sealed class ExpectedFace
{
    public required string ImageName { get; init; }
    public required FaceBox Box { get; init; }
    public required float Focal { get; init; }
    /// <summary>Principal point (px, py) in image pixels; null: the image centre (the official camera).</summary>
    public float[]? Principal { get; init; }
    /// <summary>3x3 row-major.</summary>
    public required float[] Rotation { get; init; }
    public required float[] Translation { get; init; }
    /// <summary>1220 x 3, vertex-major.</summary>
    public required float[] VerticesCam { get; init; }
    public required float[] VerticesHead { get; init; }
    /// <summary>68 x 2, normalised crop coordinates.</summary>
    public required float[] Landmarks68Norm { get; init; }
    /// <summary>68 x 2, full-image pixels.</summary>
    public required float[] Landmarks68 { get; init; }
    public required IterationResult[] Iterations { get; init; }
    /// <summary>Crop-pixel sampling points (305 x 2) of every iteration after the first.</summary>
    public required float[][] SamplingPoints { get; init; }
    /// <summary>Largest |float32 - float64| of the reference itself per output (translation, rotation, vertices_cam, ...): a floor for the engine's error.</summary>
    public required IReadOnlyDictionary<string, double> ReferenceFloat64Deviation { get; init; }
}

/// <summary>One batch of faces run together: the requests (images rebuilt) and what each must give.</summary>
public sealed record ParityCase(string Name, List<(FaceRequest Request, ExpectedFace Expected)> Faces);

/// <summary>
/// An end-to-end parity fixture (tests/TrgIlgpu.Tests/Fixtures/parity/*.json, written by tools/make_parity_fixtures.py;
/// format in docs/parity-fixtures.md): synthetic-weight seed, inputs and the PyTorch reference outputs. The weights
/// are <c>SyntheticWeights.Create(Variant, Seed)</c>.
/// </summary>
public sealed class ParityFixture
{
    public required string Path { get; init; }
    public required VariantInfo Variant { get; init; }
    public required ulong Seed { get; init; }
    public required List<ParityCase> Cases { get; init; }

    /// <summary>Every parity fixture file.</summary>
    public static IReadOnlyList<string> Files()
        => Directory.GetFiles(System.IO.Path.Combine(TestPaths.Fixtures, "parity"), "*.json").OrderBy(p => p).ToList();

    /// <summary>The fixture of one variant ("trg" or "trgv2").</summary>
    public static ParityFixture ForVariant(string variant)
        => Load(System.IO.Path.Combine(TestPaths.Fixtures, "parity", variant + ".json"));

    public static ParityFixture Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        var variant = VariantInfo.FromName(root.GetProperty("variant").GetString()!)
            ?? throw new InvalidDataException($"{path}: unknown variant");
        var images = new Dictionary<string, RgbImage>();
        foreach (var image in root.GetProperty("images").EnumerateObject())
        {
            var rgb = LoadImage(image.Name);
            var checksum = ulong.Parse(image.Value.GetProperty("checksum").GetString()!);
            if (rgb.Width != image.Value.GetProperty("width").GetInt32() || rgb.Height != image.Value.GetProperty("height").GetInt32()
                || PixelChecksum(rgb) != checksum)
                throw new InvalidDataException($"{path}: image '{image.Name}' decodes to other pixels than the reference saw");
            images[image.Name] = rgb;
        }

        var cases = new List<ParityCase>();
        foreach (var c in root.GetProperty("cases").EnumerateArray())
        {
            var faces = new List<(FaceRequest, ExpectedFace)>();
            foreach (var f in c.GetProperty("faces").EnumerateArray())
            {
                var expected = ReadFace(f);
                var image = images[expected.ImageName];
                var camera = expected.Principal is { } p
                    ? new CameraIntrinsics(expected.Focal, expected.Focal, p[0], p[1])
                    : CameraIntrinsics.FromFocal(expected.Focal, image.Width, image.Height);
                faces.Add((new FaceRequest(image, expected.Box, camera), expected));
            }
            cases.Add(new ParityCase(c.GetProperty("name").GetString()!, faces));
        }
        return new ParityFixture { Path = path, Variant = variant, Seed = ulong.Parse(root.GetProperty("seed").GetString()!), Cases = cases };
    }

    /// <summary>"astronaut" = ../shared/samples/astronaut.png (lossless PNG); "pattern320x240" = the procedural image.</summary>
    public static RgbImage LoadImage(string name) => name switch
    {
        "astronaut" => LoadPng(TestPaths.SharedFile("samples", "astronaut.png")),
        "pattern320x240" => Pattern(320, 240),
        _ => throw new ArgumentException($"unknown fixture image '{name}'"),
    };

    /// <summary>R = (7x + 13y) % 256, G = (x*x + 3y) % 256, B = (x ^ y) &amp; 255.</summary>
    public static RgbImage Pattern(int width, int height)
    {
        var px = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int i = (y * width + x) * 3;
                px[i] = (byte)((x * 7 + y * 13) % 256);
                px[i + 1] = (byte)((x * x + 3 * y) % 256);
                px[i + 2] = (byte)((x ^ y) & 255);
            }
        return new RgbImage(width, height, px);
    }

    private static RgbImage LoadPng(string path)
    {
        using var image = Image.Load<Rgb24>(path);
        var px = new byte[image.Width * image.Height * 3];
        image.CopyPixelDataTo(px);
        return new RgbImage(image.Width, image.Height, px);
    }

    /// <summary>sum_j byte_j * (2j + 1) mod 2^64 (as tools/make_parity_fixtures.py).</summary>
    public static ulong PixelChecksum(RgbImage image)
    {
        ulong acc = 0;
        for (int j = 0; j < image.Pixels.Length; j++) acc += image.Pixels[j] * (2UL * (ulong)j + 1);
        return acc;
    }

    private static ExpectedFace ReadFace(JsonElement f)
    {
        var box = Flat(f.GetProperty("bbox"));
        return new ExpectedFace
        {
            ImageName = f.GetProperty("image").GetString()!,
            Box = new FaceBox(box[0], box[1], box[2], box[3]),
            Focal = f.GetProperty("focal").GetSingle(),
            Principal = f.TryGetProperty("principal", out var principal) ? Flat(principal) : null,
            Rotation = Flat(f.GetProperty("rotation")),
            Translation = Flat(f.GetProperty("translation")),
            VerticesCam = Flat(f.GetProperty("vertices_cam")),
            VerticesHead = Flat(f.GetProperty("vertices_head")),
            Landmarks68Norm = Flat(f.GetProperty("landmarks68_norm")),
            Landmarks68 = Flat(f.GetProperty("landmarks68")),
            Iterations = f.GetProperty("iterations").EnumerateArray()
                .Select(it => new IterationResult(Flat(it.GetProperty("rotation")), Flat(it.GetProperty("translation")))).ToArray(),
            SamplingPoints = f.GetProperty("sampling_points").EnumerateArray().Select(Flat).ToArray(),
            ReferenceFloat64Deviation = f.GetProperty("reference_float64_deviation").EnumerateObject()
                .ToDictionary(p => p.Name, p => p.Value.GetDouble()),
        };
    }

    /// <summary>A nested JSON array of numbers flattened row-major; GetSingle parses the decimal straight to the float32 the reference wrote.</summary>
    private static float[] Flat(JsonElement e)
    {
        var list = new List<float>();
        void Walk(JsonElement x)
        {
            if (x.ValueKind == JsonValueKind.Array) foreach (var y in x.EnumerateArray()) Walk(y);
            else list.Add(x.GetSingle());
        }
        Walk(e);
        return list.ToArray();
    }
}
