using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using TrgIlgpu.Formats;
using TrgIlgpu.Model;

namespace TrgIlgpu.Fuzz;

/// <summary>
/// The seed corpus (tests/TrgIlgpu.Fuzz/corpus/TARGET/*, a few kB in all): small valid inputs of every layout each
/// parser reads, made here from code (seeded, deterministic) plus the small checkpoint and pickle fixtures that
/// tools/make_checkpoint_fixtures.py made with PyTorch. tools/fuzz/make-seeds.sh rewrites it.
/// </summary>
internal static class SeedCorpus
{
    public static void Write(string outDir, string checkpointFixtures)
    {
        var rng = new Random(9);
        void Put(string target, string name, byte[] data)
        {
            var dir = Path.Combine(outDir, target);
            Directory.CreateDirectory(dir);
            File.WriteAllBytes(Path.Combine(dir, name), data);
        }
        byte[] Fixture(string name) => File.ReadAllBytes(Path.Combine(checkpointFixtures, name));

        // safetensors: the writer's own output, and a hand-written header with the narrow float types.
        var st = Path.Combine(Path.GetTempPath(), $"trg-seed-{Environment.ProcessId}.safetensors");
        SafeTensors.Write(st, [new HostTensor("w", [2, 3], Floats(rng, 6)), new HostTensor("n", [1], [7L]), new HostTensor("i", [2], [3, -4])],
            new Dictionary<string, string> { ["format"] = "trg-ilgpu", ["variant"] = "trgv2" });
        Put("safetensors", "written.safetensors", File.ReadAllBytes(st));
        File.Delete(st);
        Put("safetensors", "narrow.safetensors", SafeTensorsBytes(
            """{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1,1],"data_offsets":[4,6]},"c":{"dtype":"F64","shape":[],"data_offsets":[6,14]}}""",
            14, rng));

        // Checkpoints and pickles: the PyTorch-made fixtures (valid, views, dtypes, nested, and refused ones).
        foreach (var name in new[] { "views.pt", "dtypes.pt", "parameters.pt", "deflated.pt", "nested_state_dict.pt", "hostile_eval.pt" })
            Put("checkpoint", name, Fixture(name));
        // torch-pickle: state dicts over the target's storages 0..3 (whole, offset and strided views, a shared storage),
        // which parse, plus the fixtures' pickles (their storages differ: refused after unpickling).
        Put("torch-pickle", "state-dict.pkl", PickleWriter.StateDict(w => w
            .Tensor("conv.weight", "0", FuzzTargets.TorchStorageElements, 0, [2, 2, 2, 2], [8, 4, 2, 1])
            .Tensor("fc.weight", "1", FuzzTargets.TorchStorageElements, 4, [3, 4], [4, 1])
            .Tensor("fc.weight_t", "1", FuzzTargets.TorchStorageElements, 0, [4, 3], [1, 4])
            .Tensor("bn.bias", "2", FuzzTargets.TorchStorageElements, 15, [1], [1])));
        foreach (var name in new[] { "views.pt", "dtypes.pt", "parameters.pt", "hostile_popen.pt" })
        {
            using var zip = ZipFile.OpenRead(Path.Combine(checkpointFixtures, name));
            var pkl = zip.Entries.First(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal));
            using var s = pkl.Open();
            var m = new MemoryStream();
            s.CopyTo(m);
            Put("torch-pickle", Path.ChangeExtension(name, ".pkl"), m.ToArray());
        }
        foreach (var name in new[] { "plain_p2.pkl", "plain_p5.pkl", "subsample_int32_array.pkl", "subsample_int64_array.pkl", "hostile_os_system.pkl" })
            Put("numpy-pickle", name, Fixture(name));

        // .npy: versions 1-3, C and Fortran order, each supported dtype.
        Put("npy", "f4.npy", NpyBytes(1, "<f4", false, [2, 3], Floats(rng, 6).SelectMany(BitConverter.GetBytes).ToArray()));
        Put("npy", "f8-fortran.npy", NpyBytes(1, "<f8", true, [3, 2], Enumerable.Range(0, 6).SelectMany(_ => BitConverter.GetBytes(rng.NextDouble())).ToArray()));
        Put("npy", "i8-v2.npy", NpyBytes(2, "<i8", false, [4], Enumerable.Range(0, 4).SelectMany(_ => BitConverter.GetBytes(rng.NextInt64())).ToArray()));
        Put("npy", "i4-v3.npy", NpyBytes(3, "<i4", false, [2, 2], Enumerable.Range(0, 4).SelectMany(_ => BitConverter.GetBytes(rng.Next())).ToArray()));

        // TF.js: manifest, NUL, weight bytes (plain float32, uint8 and float16 quantisation, int32).
        var tfjsWeights = Floats(rng, 4).SelectMany(BitConverter.GetBytes).Concat(new byte[] { 3, 200, 17, 0x00, 0x3c, 0x00, 0xc0 })
            .Concat(BitConverter.GetBytes(-5)).ToArray();
        Put("tfjs", "groups.bin", [.. Encoding.UTF8.GetBytes(
            """[{"paths":["w.bin"],"weights":[{"name":"a","shape":[2,2],"dtype":"float32"},{"name":"q","shape":[3],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.5,"min":-1}},{"name":"h","shape":[2],"dtype":"float32","quantization":{"dtype":"float16"}},{"name":"i","shape":[1],"dtype":"int32"}]}]"""),
            0, .. tfjsWeights]);

        // Images: tiny PNGs (RGB, interlaced, 16-bit grey, palette), a JPEG, a GIF and a BMP.
        using (var image = new Image<Rgb24>(7, 5))
        {
            for (int y = 0; y < 5; y++)
                for (int x = 0; x < 7; x++) image[x, y] = new Rgb24((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256));
            Put("image", "rgb.png", Encode(image, new PngEncoder { ColorType = PngColorType.Rgb }));
            Put("image", "interlaced.png", Encode(image, new PngEncoder { ColorType = PngColorType.Rgb, InterlaceMethod = PngInterlaceMode.Adam7 }));
            Put("image", "grey16.png", Encode(image, new PngEncoder { ColorType = PngColorType.Grayscale, BitDepth = PngBitDepth.Bit16 }));
            Put("image", "palette.png", Encode(image, new PngEncoder { ColorType = PngColorType.Palette }));
            Put("image", "photo.jpg", Encode(image, new JpegEncoder { Quality = 80 }));
            Put("image", "frame.gif", Encode(image, new GifEncoder()));
            Put("image", "plain.bmp", Encode(image, new BmpEncoder()));
        }

        // Calibration files: the three layouts, with image size and distortion.
        Put("calibration", "opencv.json", Encoding.UTF8.GetBytes(
            """{"image_width":640,"image_height":480,"camera_matrix":{"type_id":"opencv-matrix","rows":3,"cols":3,"dt":"d","data":[600,0,320,0,600,240,0,0,1]},"distortion_coefficients":{"type_id":"opencv-matrix","rows":1,"cols":5,"dt":"d","data":[0.1,-0.2,0,0,0.01]}}"""));
        Put("calibration", "k.json", Encoding.UTF8.GetBytes("""{"K":[[800,0,400],[0,800,300],[0,0,1]],"D":[0,0,0,0]}"""));
        Put("calibration", "plain.json", Encoding.UTF8.GetBytes("""{"fx":500.5,"fy":501,"cx":320,"cy":240} // comment"""));

        // Boxes files: both box forms, a path key and a name key.
        Put("boxes", "boxes.json", Encoding.UTF8.GetBytes(
            """{"photos/a.jpg": [[153,49,295,191]], "b.png": [{"bbox": [10.5,10,90,90]}, [1,2,3,4],], /* c */ "c.png": []}"""));
    }

    private static float[] Floats(Random rng, int n) => Enumerable.Range(0, n).Select(_ => rng.NextSingle() * 2 - 1).ToArray();

    private static byte[] Encode(Image<Rgb24> image, SixLabors.ImageSharp.Formats.IImageEncoder encoder)
    {
        var m = new MemoryStream();
        image.Save(m, encoder);
        return m.ToArray();
    }

    private static byte[] SafeTensorsBytes(string header, int dataBytes, Random rng)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var data = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(data, (ulong)json.Length);
        json.CopyTo(data, 8);
        rng.NextBytes(data.AsSpan(8 + json.Length));
        return data;
    }

    /// <summary>A .npy file: magic, version, header length (2 bytes in v1, 4 after), the dict header, the data.</summary>
    private static byte[] NpyBytes(int version, string descr, bool fortran, int[] shape, byte[] payload)
    {
        var dims = shape.Length == 1 ? $"{shape[0]}," : string.Join(", ", shape);
        var header = $"{{'descr': '{descr}', 'fortran_order': {(fortran ? "True" : "False")}, 'shape': ({dims}), }}";
        int prefix = version == 1 ? 10 : 12;
        int total = (prefix + header.Length + 1 + 63) / 64 * 64;
        header = header.PadRight(total - prefix - 1) + "\n";
        var m = new MemoryStream();
        m.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)version, 0]);
        var len = new byte[version == 1 ? 2 : 4];
        if (version == 1) BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length);
        else BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)header.Length);
        m.Write(len);
        m.Write(Encoding.Latin1.GetBytes(header));
        m.Write(payload);
        return m.ToArray();
    }
}
