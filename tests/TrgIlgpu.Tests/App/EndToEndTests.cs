using System.Text.Json;
using SixLabors.ImageSharp;
using TrgIlgpu.Cli;
using TrgIlgpu.Engine;
using TrgIlgpu.Formats;
using TrgIlgpu.Imaging;
using TrgIlgpu.Model;

using static TrgIlgpu.Tests.App.AppTestData;

namespace TrgIlgpu.Tests.App;

/// <summary>
/// The real engine on OpenCL (PoCL on a machine without a GPU) with synthetic weights: `trg estimate`'s JSON equals the
/// engine's own results for the same crops, the documented C# example runs, and bad models give their exit codes.
/// </summary>
public class EndToEndTests : IDisposable
{
    private const string Model = "synthetic:trgv2:3";
    private readonly string _dir = Directory.CreateTempSubdirectory("trg-e2e-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Cli_json_for_the_real_photo_equals_the_engine_for_the_same_crops()
    {
        // The sample's face, and a box reaching past the left edge (black padding).
        FaceBox[] boxes = [AppTestData.AstronautBox, new FaceBox(-40, 280, 120, 440)];
        var json = Path.Combine(_dir, "astronaut.json");
        var overlay = Path.Combine(_dir, "astronaut.png");
        var (code, _, err) = Trg("estimate", AppTestData.AstronautPath, "--model", Model, "--device", "opencl",
            "--bbox", boxes[0].ToString(), "--bbox", boxes[1].ToString(), "--json", json, "--overlay", overlay, "--side-panel");
        Assert.True(code == 0, err);

        var weights = ModelWeights.Load(Model);
        using var session = new InferenceSession(weights, DeviceKind.OpenCL);
        var image = ImageLoader.LoadFile(AppTestData.AstronautPath);
        var expected = session.Run(boxes.Select(b => new FaceRequest(image, b, 1024f)).ToArray());

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal("trgv2", root.GetProperty("model").GetProperty("variant").GetString());
        Assert.StartsWith("OpenCL", root.GetProperty("device").GetString());
        var faces = root.GetProperty("faces").EnumerateArray().ToArray();
        Assert.Equal(2, faces.Length);
        for (int i = 0; i < 2; i++)
        {
            var f = faces[i];
            var e = expected[i];
            // Bit for bit: the JSON's round-trip floats are the engine's values.
            Assert.Equal(e.Rotation, Floats(f.GetProperty("rotation")));
            Assert.Equal(e.Translation, Floats(f.GetProperty("translation")));
            Assert.Equal(e.VerticesCam, Floats(f.GetProperty("vertices_cam")));
            Assert.Equal(e.VerticesHead, Floats(f.GetProperty("vertices_head")));
            Assert.Equal(e.Landmarks68Norm, Floats(f.GetProperty("landmarks68_norm")));
            Assert.Equal(e.Landmarks68, Floats(f.GetProperty("landmarks68")));
            var its = f.GetProperty("iterations").EnumerateArray().ToArray();
            Assert.Equal(weights.Variant.Iterations, its.Length);
            for (int k = 0; k < its.Length; k++)
            {
                Assert.Equal(e.Iterations[k].Rotation, Floats(its[k].GetProperty("rotation")));
                Assert.Equal(e.Iterations[k].Translation, Floats(its[k].GetProperty("translation")));
            }
            Assert.Equal(e.Euler.Yaw, f.GetProperty("euler").GetProperty("yaw").GetDouble(), 9);
            Assert.True(e.Translation[2] > 0, "the face should be in front of the camera");
        }
        using var picture = Image.Load(overlay);
        Assert.Equal((1024, 512), (picture.Width, picture.Height));
    }

    [Fact]
    public void Model_file_with_triangles_gives_the_same_numbers_and_a_wireframe_overlay()
    {
        // The synthetic weights written as a model file with the official triangles: loading from the file must not
        // change a single number, and the overlay gets its wireframe from the file's triangles.
        var file = Path.Combine(_dir, "synthetic-trgv2-3.safetensors");
        var tensors = SyntheticWeights.Create(VariantInfo.TrgV2, 3);
        tensors.Add(ModelExport.ReadTriangles(AppTestData.Shared("trg-data", "triangles_1220.npy")));
        SafeTensors.Write(file, tensors, new Dictionary<string, string> { ["format"] = "trg-ilgpu", ["variant"] = "trgv2" });

        string[] common = [AppTestData.AstronautPath, "--device", "opencl", "--bbox", AppTestData.AstronautBox.ToString(), "-q"];
        var fromFile = Trg(["estimate", .. common, "--model", file, "--overlay", Path.Combine(_dir, "wire.png")]);
        var fromMemory = Trg(["estimate", .. common, "--model", Model, "--overlay", Path.Combine(_dir, "dots.png")]);
        Assert.True(fromFile.Code == 0, fromFile.Err);
        Assert.True(fromMemory.Code == 0, fromMemory.Err);
        using var a = JsonDocument.Parse(fromFile.Out);
        using var b = JsonDocument.Parse(fromMemory.Out);
        Assert.True(a.RootElement.GetProperty("model").GetProperty("triangles").GetBoolean());
        Assert.False(b.RootElement.GetProperty("model").GetProperty("triangles").GetBoolean());
        Assert.Equal(b.RootElement.GetProperty("faces").GetRawText(), a.RootElement.GetProperty("faces").GetRawText());

        // A model without triangles is drawn with the embedded template's (the official 1220-vertex topology, the same
        // triangles as the file's): both overlays are the same wireframe.
        using var wire = Image.Load<SixLabors.ImageSharp.PixelFormats.Rgb24>(Path.Combine(_dir, "wire.png"));
        using var dots = Image.Load<SixLabors.ImageSharp.PixelFormats.Rgb24>(Path.Combine(_dir, "dots.png"));
        var photo = ImageLoader.LoadFile(AppTestData.AstronautPath);
        int Changed(Image<SixLabors.ImageSharp.PixelFormats.Rgb24> img)
        {
            int n = 0;
            for (int y = 0; y < 512; y++)
                for (int x = 0; x < 512; x++)
                {
                    int i = (y * 512 + x) * 3;
                    var p = img[x, y];
                    if (p.R != photo.Pixels[i] || p.G != photo.Pixels[i + 1] || p.B != photo.Pixels[i + 2]) n++;
                }
            return n;
        }
        int wirePixels = Changed(wire), dotPixels = Changed(dots);
        Assert.True(wirePixels > 5000, $"wireframe changed {wirePixels} pixels");
        Assert.Equal(wirePixels, dotPixels);
    }

    [Fact]
    public void Documented_csharp_example_runs()
    {
        var output = new StringWriter();
        var overlay = Path.Combine(_dir, "example.png");
        ApiExample.Run(Model, AppTestData.AstronautPath, overlay, output);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("trgv2 on ", lines[0]);
        Assert.Matches(@"^yaw -?\d+\.\d pitch -?\d+\.\d roll -?\d+\.\d  T = \(-?\d\.\d{3}, -?\d\.\d{3}, \d+\.\d{3}\) m", lines[1]);
        using var picture = Image.Load(overlay);
        Assert.Equal((512, 512), (picture.Width, picture.Height));
    }

    [Fact]
    public void Bad_models_give_a_clear_message_and_their_exit_code()
    {
        var missing = Path.Combine(_dir, "absent.safetensors");
        var (code, _, err) = Trg("estimate", AppTestData.AstronautPath, "--model", missing, "--bbox", "153,49,295,191");
        Assert.Equal((int)ErrorKind.NotFound, code);
        Assert.Contains("absent.safetensors", err);

        var garbage = Path.Combine(_dir, "garbage.safetensors");
        File.WriteAllBytes(garbage, Enumerable.Range(0, 4096).Select(i => (byte)(i * 31 % 256)).ToArray());
        (code, _, err) = Trg("estimate", AppTestData.AstronautPath, "--model", garbage, "--bbox", "153,49,295,191");
        Assert.Equal((int)ErrorKind.InvalidModel, code);
        Assert.Contains("garbage.safetensors", err);

        (code, _, err) = Trg("estimate", AppTestData.AstronautPath, "--model", "synthetic:trgv9", "--bbox", "153,49,295,191");
        Assert.Equal((int)ErrorKind.Usage, code);
        Assert.Contains("synthetic:trgv9", err);
    }
}
