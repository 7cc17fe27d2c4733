using System.Globalization;
using System.IO.Compression;
using TrgIlgpu.Formats;

namespace TrgIlgpu.Evaluation;

/// <summary>The datasets <see cref="Datasets.Read"/> knows, in their published layouts (docs/evaluation.md).</summary>
public enum DatasetKind
{
    /// <summary>BIWI Kinect Head Pose: <c>hpdb/NN/frame_XXXXX_rgb.png</c>, <c>frame_XXXXX_pose.txt</c>, <c>NN/rgb.cal</c>.</summary>
    Biwi,
    /// <summary>ARKitFace test split: <c>ARKitFace_list/list/ARKitFace_test.csv</c>, images and <c>_info.npz</c> per frame.</summary>
    ArkitFace,
}

/// <summary>How a dataset frame's camera intrinsics follow from its image size.</summary>
public abstract record DatasetCamera
{
    /// <summary>The intrinsics for an image of <paramref name="width"/> x <paramref name="height"/> pixels.</summary>
    public abstract CameraIntrinsics For(int width, int height);

    /// <summary>
    /// TRG's one focal length from a calibration: <c>K[0,0]</c>, as the official loaders put into the box info, with the
    /// calibrated principal point (fy is not used by the network).
    /// </summary>
    private protected static CameraIntrinsics FromK(double fx, double cx, double cy) => new((float)fx, (float)fx, (float)cx, (float)cy);
}

/// <summary>A calibrated camera (BIWI's <c>rgb.cal</c>): the same intrinsics whatever the image size.</summary>
public sealed record CalibratedCamera(double Fx, double Fy, double Cx, double Cy) : DatasetCamera
{
    /// <inheritdoc/>
    public override CameraIntrinsics For(int width, int height) => FromK(Fx, Cx, Cy);
}

/// <summary>
/// ARKitFace's camera: the official loader's fixed OpenGL projection matrix (<c>npy/projection_matrix.txt</c>) scaled to
/// the image: fx = P00 W/2, fy = P11 H/2, principal point at the image centre.
/// </summary>
public sealed record ArkitCamera : DatasetCamera
{
    /// <summary>P00 = P11 of the official <c>npy/projection_matrix.txt</c>.</summary>
    public const double ProjectionScale = 1.57443701;

    /// <inheritdoc/>
    public override CameraIntrinsics For(int width, int height) => FromK(ProjectionScale * width / 2, width / 2.0, height / 2.0);
}

/// <summary>One frame of a dataset: its id (the join key of the predictions), image, camera and ground truth.</summary>
public sealed record DatasetFrame(string Id, string ImagePath, DatasetCamera Camera, PoseSample Truth);

/// <summary>A frame that cannot be evaluated (missing or malformed files): reported, skipped, and counted.</summary>
public sealed record SkippedFrame(string Id, TrgException Error);

/// <summary>A dataset as read: the usable frames and the skipped ones.</summary>
public sealed record Dataset(DatasetKind Kind, string Root, IReadOnlyList<DatasetFrame> Frames, IReadOnlyList<SkippedFrame> Skipped);

/// <summary>Dataset readers for the published layouts of BIWI and ARKitFace (conventions of the official loaders).</summary>
public static class Datasets
{
    /// <summary>The ARKitFace test list, relative to the dataset root.</summary>
    public static readonly string ArkitTestList = Path.Combine("ARKitFace_list", "list", "ARKitFace_test.csv");

    /// <summary>
    /// Reads the frames of a dataset. A missing root or list is a <see cref="ErrorKind.NotFound"/> error; a missing or
    /// malformed per-frame file (pose, calibration, info) skips that frame with the reason.
    /// </summary>
    public static Dataset Read(DatasetKind kind, string root)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (!Directory.Exists(root)) throw new TrgException(ErrorKind.NotFound, "dataset folder not found", root);
        var frames = new List<DatasetFrame>();
        var skipped = new List<SkippedFrame>();
        if (kind == DatasetKind.Biwi) ReadBiwi(root, frames, skipped);
        else ReadArkit(root, frames, skipped);
        return new Dataset(kind, root, frames, skipped);
    }

    // ---- BIWI ----

    private static void ReadBiwi(string root, List<DatasetFrame> frames, List<SkippedFrame> skipped)
    {
        var hpdb = Directory.Exists(Path.Combine(root, "hpdb")) ? Path.Combine(root, "hpdb") : root;
        var subjects = Directory.GetDirectories(hpdb).Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit)).Order(StringComparer.Ordinal).ToList();
        if (subjects.Count == 0) throw new TrgException(ErrorKind.NotFound, "no BIWI subject folders (hpdb/01, hpdb/02, ...)", hpdb);
        foreach (var subject in subjects)
        {
            var dir = Path.Combine(hpdb, subject!);
            var images = Directory.GetFiles(dir, "frame_*_rgb.png").Order(StringComparer.Ordinal).ToList();
            (double[] K, double[] R, double[] T)? calibration = null;
            TrgException? calibrationError = null;
            try { calibration = ReadBiwiCalibration(Path.Combine(dir, "rgb.cal")); }
            catch (TrgException e) { calibrationError = e; }
            var mesh = Path.Combine(hpdb, subject + ".obj");
            double[]? vertices = null;
            TrgException? meshError = null;
            if (File.Exists(mesh))
            {
                try { vertices = ReadObjVertices(mesh); }
                catch (TrgException e) { meshError = e; }
            }
            foreach (var image in images)
            {
                var id = $"{subject}/{Path.GetFileName(image)}";
                if (calibrationError is not null) { skipped.Add(new SkippedFrame(id, calibrationError)); continue; }
                if (meshError is not null) { skipped.Add(new SkippedFrame(id, meshError)); continue; }
                var posePath = image[..^"rgb.png".Length] + "pose.txt";
                try
                {
                    var (rh, th) = ReadBiwiPose(posePath);
                    var (k, re, te) = calibration!.Value;
                    // x_cam = R_ext (R_head v + T_head) + T_ext; translations are millimetres in the files.
                    var r = Geometry.SmallLinearAlgebra.Multiply3(re, rh);
                    var t = new double[3];
                    for (int i = 0; i < 3; i++) t[i] = (re[i * 3] * th[0] + re[i * 3 + 1] * th[1] + re[i * 3 + 2] * th[2] + te[i]) / 1000;
                    frames.Add(new DatasetFrame(id, image, new CalibratedCamera(k[0], k[4], k[2], k[5]), new PoseSample(id, r, t) { VerticesHead = vertices }));
                }
                catch (TrgException e) { skipped.Add(new SkippedFrame(id, e)); }
            }
        }
    }

    /// <summary>rgb.cal: 3x3 intrinsics, distortion (4), R (3x3), T (3, mm), size (2), sections separated by blank lines.</summary>
    private static (double[] K, double[] R, double[] T) ReadBiwiCalibration(string path)
    {
        var rows = NumberRows(path, "BIWI calibration");
        int[] expected = [3, 3, 3, 4, 3, 3, 3, 3, 2];
        CheckRows(rows, expected, path, "3 rows of intrinsics, 4 distortion coefficients, 3 rows of R, T, width height");
        var k = rows.Take(3).SelectMany(r => r).ToArray();
        if (k[1] != 0 || k[3] != 0 || k[6] != 0 || k[7] != 0 || k[8] != 1)
            throw new TrgException(ErrorKind.InvalidData, "the intrinsics must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]", path);
        if (CameraIntrinsics.Problem(k[0], k[0], k[2], k[5]) is { } problem) throw new TrgException(ErrorKind.InvalidData, problem, path);
        return (k, rows.Skip(4).Take(3).SelectMany(r => r).ToArray(), rows[7]);
    }

    /// <summary>frame_XXXXX_pose.txt: 3 rows of R, a blank line, T in millimetres.</summary>
    private static (double[] R, double[] T) ReadBiwiPose(string path)
    {
        if (!File.Exists(path)) throw new TrgException(ErrorKind.NotFound, "pose file missing", path);
        var rows = NumberRows(path, "BIWI pose");
        CheckRows(rows, [3, 3, 3, 3], path, "3 rows of R and a row of T");
        return (rows.Take(3).SelectMany(r => r).ToArray(), rows[3]);
    }

    private static void CheckRows(List<double[]> rows, int[] expected, string path, string layout)
    {
        if (rows.Count != expected.Length || rows.Where((r, i) => r.Length != expected[i]).Any())
            throw new TrgException(ErrorKind.InvalidData,
                $"expected {expected.Length} rows of {string.Join(",", expected)} numbers ({layout}), found {rows.Count} rows of {string.Join(",", rows.Select(r => r.Length))}", path);
    }

    /// <summary>The non-blank lines of a small text file as rows of finite numbers.</summary>
    private static List<double[]> NumberRows(string path, string what)
    {
        if (!File.Exists(path)) throw new TrgException(ErrorKind.NotFound, $"{what} file missing", path);
        if (new FileInfo(path).Length > 1 << 16) throw new TrgException(ErrorKind.InvalidData, $"too large for a {what} file", path);
        var rows = new List<double[]>();
        int n = 0;
        foreach (var line in File.ReadLines(path))
        {
            n++;
            var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0) continue;
            var row = new double[parts.Length];
            for (int i = 0; i < parts.Length; i++)
                if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out row[i]) || !double.IsFinite(row[i]))
                    throw new TrgException(ErrorKind.InvalidData, $"line {n}: '{parts[i]}' is not a finite number", path);
            rows.Add(row);
        }
        return rows;
    }

    /// <summary>The vertices of a Wavefront OBJ (the BIWI subject templates, millimetres), in metres.</summary>
    private static double[] ReadObjVertices(string path)
    {
        var values = new List<double>();
        int n = 0;
        foreach (var line in File.ReadLines(path))
        {
            n++;
            if (!line.StartsWith("v ", StringComparison.Ordinal)) continue;
            var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 4) throw new TrgException(ErrorKind.InvalidData, $"line {n}: a vertex needs x y z", path);
            for (int i = 1; i <= 3; i++)
            {
                if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
                    throw new TrgException(ErrorKind.InvalidData, $"line {n}: '{parts[i]}' is not a finite number", path);
                values.Add(v / 1000);
            }
        }
        if (values.Count == 0) throw new TrgException(ErrorKind.InvalidData, "no vertices", path);
        return values.ToArray();
    }

    // ---- ARKitFace ----

    private static void ReadArkit(string root, List<DatasetFrame> frames, List<SkippedFrame> skipped)
    {
        var list = Path.Combine(root, ArkitTestList);
        if (!File.Exists(list)) throw new TrgException(ErrorKind.NotFound, "ARKitFace test list not found", list);
        using var reader = new StreamReader(list);
        var header = reader.ReadLine()?.Split(',').Select(h => h.Trim()).ToList()
            ?? throw new TrgException(ErrorKind.InvalidData, "empty list", list);
        int subjectCol = header.IndexOf("subject_id"), actionCol = header.IndexOf("facial_action"), imageCol = header.IndexOf("img_id");
        if (subjectCol < 0 || actionCol < 0 || imageCol < 0)
            throw new TrgException(ErrorKind.InvalidData, "the header must name the columns subject_id, facial_action and img_id", list);
        int lineNumber = 1;
        var camera = new ArkitCamera();
        for (var line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var cells = line.Split(',').Select(c => c.Trim()).ToArray();
            if (cells.Length < header.Count)
                throw new TrgException(ErrorKind.InvalidData, $"line {lineNumber}: {cells.Length} cells, the header has {header.Count}", list);
            string subject = cells[subjectCol], action = cells[actionCol], imageId = cells[imageCol];
            if (new[] { subject, action, imageId }.Any(c => c.Length == 0 || c.Contains('/') || c.Contains('\\') || c == ".."))
                throw new TrgException(ErrorKind.InvalidData, $"line {lineNumber}: subject_id, facial_action and img_id must be plain names", list);
            var id = $"{subject}/{action}/{imageId}";
            var image = Path.Combine(root, "ARKitFace_image_test", "image", subject, action, imageId + "_ar.jpg");
            var info = Path.Combine(root, "ARKitFace_info_test", "info", subject, action, imageId + "_info.npz");
            try { frames.Add(new DatasetFrame(id, image, camera, ReadArkitInfo(info, id))); }
            catch (TrgException e) { skipped.Add(new SkippedFrame(id, e)); }
        }
    }

    /// <summary>Largest _info.npz read.</summary>
    private const long MaxInfoBytes = 16 << 20;

    /// <summary>
    /// An ARKitFace info file: <c>verts</c> (1220 x 3, metres, ARKit's head frame) and <c>R_t</c> (4x4, row-vector
    /// convention, OpenGL camera: y up, z backward). As the official loader, the pose is turned into the OpenCV camera
    /// (y down, z forward) with the head frame turned 180 degrees about x: with F = diag(1, -1, -1),
    /// R = F R_gl F, T = F T_gl, head vertices F v.
    /// </summary>
    private static PoseSample ReadArkitInfo(string path, string id)
    {
        if (!File.Exists(path)) throw new TrgException(ErrorKind.NotFound, "info file missing", path);
        if (new FileInfo(path).Length > MaxInfoBytes) throw new TrgException(ErrorKind.InvalidData, $"larger than {MaxInfoBytes} bytes", path);
        float[] verts, rt;
        try
        {
            using var zip = ZipFile.OpenRead(path);
            verts = Member(zip, "verts", path, shape => shape.Length == 2 && shape[1] == 3 && shape[0] > 0, "(N, 3)");
            rt = Member(zip, "R_t", path, shape => shape.SequenceEqual([4, 4]), "(4, 4)");
        }
        catch (InvalidDataException e) { throw new TrgException(ErrorKind.InvalidData, $"not an .npz archive ({e.Message})", path); }
        double[] f = [1, -1, -1];
        var r = new double[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) r[i * 3 + j] = f[i] * rt[j * 4 + i] * f[j]; // R_gl = R_t[:3,:3]^T
        double[] t = [rt[12], -rt[13], -rt[14]];
        var head = verts.Select((v, k) => f[k % 3] * v).ToArray();
        if (r.Concat(t).Concat(head).Any(v => !double.IsFinite(v))) throw new TrgException(ErrorKind.InvalidData, "non-finite values", path);
        var cam = new double[head.Length];
        for (int k = 0; k < head.Length; k += 3)
            for (int i = 0; i < 3; i++) cam[k + i] = r[i * 3] * head[k] + r[i * 3 + 1] * head[k + 1] + r[i * 3 + 2] * head[k + 2] + t[i];
        return new PoseSample(id, r, t) { VerticesHead = head, VerticesCam = cam };
    }

    private static float[] Member(ZipArchive zip, string name, string path, Func<int[], bool> shapeOk, string shapeText)
    {
        var entry = zip.GetEntry(name + ".npy") ?? throw new TrgException(ErrorKind.InvalidData, $"no '{name}' array", path);
        if (entry.Length > MaxInfoBytes) throw new TrgException(ErrorKind.InvalidData, $"'{name}' is too large", path);
        using var stream = entry.Open();
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        Model.HostTensor tensor;
        try { tensor = Npy.Parse(buffer.ToArray(), name, $"{path}:{name}.npy"); }
        catch (TrgException e) { throw new TrgException(ErrorKind.InvalidData, e.Message, null, e); }
        if (tensor.F32 is null || !shapeOk(tensor.Shape))
            throw new TrgException(ErrorKind.InvalidData, $"'{name}' must be a float array of shape {shapeText}, not {tensor.DType} {tensor.ShapeText}", path);
        return tensor.F32;
    }
}
