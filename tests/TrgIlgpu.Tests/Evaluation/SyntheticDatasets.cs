using System.Globalization;
using System.IO.Compression;
using System.Text;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using TrgIlgpu.Tests.App;

namespace TrgIlgpu.Tests.Evaluation;

/// <summary>
/// Writes tiny datasets in the exact published layouts (BIWI's hpdb tree, ARKitFace's list / image / info tree), with
/// random poses and deliberate faults, and keeps what was written so tests can check the readers against it.
/// </summary>
internal static class SyntheticDatasets
{
    /// <summary>A BIWI frame as written: head pose (R, T in mm), the subject's extrinsics and intrinsics.</summary>
    public sealed record BiwiFrame(string Id, double[] RHead, double[] THeadMm, double[] RExt, double[] TExtMm, double[] K, int Width, int Height);

    /// <summary>An ARKitFace frame as written: the info file's verts and R_t (row-vector, OpenGL camera).</summary>
    public sealed record ArkitFrame(string Id, float[] Verts, float[] Rt, int Width, int Height);

    public const int Width = 160, Height = 120;

    /// <summary>Vertices of an ARKitFace mesh.</summary>
    public const int ArkitVertices = 1220;

    /// <summary>
    /// hpdb/01 (frames 1..<paramref name="frames"/>, frame 3's pose file missing when frames ≥ 3), hpdb/01.obj (a
    /// small template, mm), hpdb/02 (one frame, a malformed rgb.cal). Returns the frames that should read.
    /// </summary>
    public static List<BiwiFrame> WriteBiwi(string root, int frames, int seed)
    {
        var rng = new Random(seed);
        var hpdb = Path.Combine(root, "hpdb");
        var good = new List<BiwiFrame>();
        var k = new[] { 517.679, 0, Width / 2.0 + 0.5, 0, 517.679, Height / 2.0 - 0.25, 0, 0, 1 };
        var rExt = RandomRotation(rng, 3);
        var tExt = new[] { -24.0198, 5.8896, -13.2308 };
        var dir = Path.Combine(hpdb, "01");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "rgb.cal"), Calibration(k, rExt, tExt));
        File.WriteAllText(Path.Combine(hpdb, "01.obj"), "# template\n" + string.Join("", Enumerable.Range(0, 10).Select(_ =>
            $"v {N(rng.NextDouble() * 160 - 80)} {N(rng.NextDouble() * 200 - 100)} {N(rng.NextDouble() * 100 - 50)}\n")) + "f 1 2 3\n");
        for (int f = 1; f <= frames; f++)
        {
            var name = $"frame_{f:00000}";
            WritePng(Path.Combine(dir, name + "_rgb.png"), seed + f);
            var rHead = RandomRotation(rng, 40);
            var tHead = new[] { rng.NextDouble() * 100 - 50, rng.NextDouble() * 80 - 40, 800 + rng.NextDouble() * 300 };
            if (f == 3) continue; // the pose file is missing
            File.WriteAllText(Path.Combine(dir, name + "_pose.txt"), Rows(rHead, 3) + "\n" + Rows(tHead, 3));
            good.Add(new BiwiFrame($"01/{name}_rgb.png", rHead, tHead, rExt, tExt, k, Width, Height));
        }
        var bad = Path.Combine(hpdb, "02");
        Directory.CreateDirectory(bad);
        File.WriteAllText(Path.Combine(bad, "rgb.cal"), Calibration(k, rExt, tExt).Replace("517.679 0", "517.679 zero"));
        WritePng(Path.Combine(bad, "frame_00001_rgb.png"), seed + 100);
        File.WriteAllText(Path.Combine(bad, "frame_00001_pose.txt"), Rows(RandomRotation(rng, 10), 3) + "\n" + Rows([0, 0, 900], 3));
        return good;
    }

    /// <summary>
    /// ARKitFace_list/list/ARKitFace_test.csv with <paramref name="frames"/> good rows, one row whose info file is missing
    /// and one whose info file lacks R_t; images and info files in the official folders. Returns the good frames.
    /// </summary>
    public static List<ArkitFrame> WriteArkit(string root, int frames, int seed)
    {
        var rng = new Random(seed);
        var list = new StringBuilder("index,subject_id,facial_action,img_id\n");
        var good = new List<ArkitFrame>();
        for (int i = 0; i < frames + 2; i++)
        {
            string subject = $"2255{i % 2}", action = "09_LeftToRight_Frown", img = $"16162122335{i:00}";
            list.Append($"{i},{subject},{action},{img}\n");
            var imageDir = Path.Combine(root, "ARKitFace_image_test", "image", subject, action);
            var infoDir = Path.Combine(root, "ARKitFace_info_test", "info", subject, action);
            Directory.CreateDirectory(imageDir);
            Directory.CreateDirectory(infoDir);
            using (var image = ImageLoaderTests.RandomImage(Height, Width, seed + i)) image.Save(Path.Combine(imageDir, img + "_ar.jpg"), new JpegEncoder());
            var verts = Enumerable.Range(0, ArkitVertices * 3).Select(_ => (float)(rng.NextDouble() * 0.16 - 0.08)).ToArray();
            // ARKit: OpenGL camera (y up, z backward): the head lies at negative z. Row-vector R_t: rows 0-2 are R^T, row 3 is T.
            var r = RandomRotation(rng, 30);
            var rt = new float[16];
            for (int a = 0; a < 3; a++) for (int b = 0; b < 3; b++) rt[a * 4 + b] = (float)r[b * 3 + a];
            rt[12] = (float)(rng.NextDouble() * 0.1 - 0.05); rt[13] = (float)(rng.NextDouble() * 0.1 - 0.05); rt[14] = (float)(-0.3 - rng.NextDouble() * 0.3); rt[15] = 1;
            var info = Path.Combine(infoDir, img + "_info.npz");
            if (i == frames) continue; // the info file is missing
            WriteNpz(info, i == frames + 1 ? [("verts", [ArkitVertices, 3], verts)] : [("verts", [ArkitVertices, 3], verts), ("R_t", [4, 4], rt)]);
            if (i < frames) good.Add(new ArkitFrame($"{subject}/{action}/{img}", verts, rt, Height, Width));
        }
        var listDir = Path.Combine(root, "ARKitFace_list", "list");
        Directory.CreateDirectory(listDir);
        File.WriteAllText(Path.Combine(listDir, "ARKitFace_test.csv"), list.ToString());
        return good;
    }

    /// <summary>A random rotation of at most <paramref name="maxDegrees"/> about a random axis, row-major.</summary>
    public static double[] RandomRotation(Random rng, double maxDegrees)
    {
        double x = rng.NextDouble() * 2 - 1, y = rng.NextDouble() * 2 - 1, z = rng.NextDouble() * 2 - 1;
        double n = Math.Sqrt(x * x + y * y + z * z), angle = (0.2 + 0.8 * rng.NextDouble()) * maxDegrees * Math.PI / 180;
        x /= n; y /= n; z /= n;
        double c = Math.Cos(angle), s = Math.Sin(angle), t = 1 - c;
        return [t * x * x + c, t * x * y - s * z, t * x * z + s * y, t * x * y + s * z, t * y * y + c, t * y * z - s * x, t * x * z - s * y, t * y * z + s * x, t * z * z + c];
    }

    private static string Calibration(double[] k, double[] r, double[] t) =>
        Rows(k, 3) + "\n" + Rows([0, 0, 0, 0], 4) + "\n" + Rows(r, 3) + "\n" + Rows(t, 3) + "\n" + $"{Width} {Height} \n";

    private static string Rows(double[] v, int perRow) =>
        string.Join("", v.Chunk(perRow).Select(row => string.Join(" ", row.Select(N)) + " \n"));

    private static string N(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static void WritePng(string path, int seed)
    {
        using var image = ImageLoaderTests.RandomImage(Width, Height, seed);
        image.Save(path, new PngEncoder());
    }

    /// <summary>An .npz as numpy.savez writes it: a zip of NAME.npy members (format 1.0, little-endian float32, C order).</summary>
    public static void WriteNpz(string path, (string Name, int[] Shape, float[] Data)[] arrays)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (name, shape, data) in arrays)
        {
            using var s = zip.CreateEntry(name + ".npy").Open();
            var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({string.Join(", ", shape)}{(shape.Length == 1 ? "," : "")}), }}";
            int total = 10 + header.Length + 1;
            header += new string(' ', (64 - total % 64) % 64) + "\n";
            s.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
            s.Write(BitConverter.GetBytes((ushort)header.Length));
            s.Write(Encoding.ASCII.GetBytes(header));
            foreach (var v in data) s.Write(BitConverter.GetBytes(v));
        }
    }
}
