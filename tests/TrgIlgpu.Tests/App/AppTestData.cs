using TrgIlgpu.Formats;
using TrgIlgpu.Model;

namespace TrgIlgpu.Tests.App;

/// <summary>
/// Data the app tests share: the official mesh files from <c>../shared/trg-data</c> (read in place, never copied), the
/// sample photo, and a stand-in engine that places the official template mesh in each box with a pose derived from
/// the box, so the API, CLI and overlay can be tested without the real network.
/// </summary>
internal static class AppTestData
{
    public static string RepoRoot => TestPaths.RepoRoot;

    /// <summary>Runs the `trg` command line in process: exit code, stdout, stderr.</summary>
    public static (int Code, string Out, string Err) Trg(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = TrgIlgpu.Cli.CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Every number of a JSON value (nested arrays flattened), as float32.</summary>
    public static float[] Floats(System.Text.Json.JsonElement e) => e.ValueKind == System.Text.Json.JsonValueKind.Array
        ? e.EnumerateArray().SelectMany(Floats).ToArray()
        : [e.GetSingle()];

    public static string Shared(params string[] parts) => TestPaths.SharedFile(parts);

    public static string AstronautPath => Shared("samples", "astronaut.png");
    public static readonly FaceBox AstronautBox = new(153, 49, 295, 191);

    private static readonly Lazy<float[]> TemplateLazy = new(() => ReadNpyF32(Shared("trg-data", "template_1220.npy")));
    private static readonly Lazy<int[]> TrianglesLazy = new(() => ReadNpyInt(Shared("trg-data", "triangles_1220.npy")));
    private static readonly Lazy<int[]> LandmarkIndexLazy = new(() => ReadNpyInt(Shared("trg-data", "landmark68_vertex_index.npy")));

    /// <summary>1220 x 3 head-space template (metres).</summary>
    public static float[] Template => TemplateLazy.Value;
    public static int[] Triangles => TrianglesLazy.Value;
    public static int[] LandmarkVertices => LandmarkIndexLazy.Value;

    /// <summary>Weights object for the fake engine: metadata only (no tensors are read by anything but the engine).</summary>
    public static ModelWeights FakeWeights(bool withTriangles = true) => new()
    {
        Variant = VariantInfo.TrgV2,
        Tensors = new Dictionary<string, HostTensor>(),
        Subsample = new long[VariantInfo.SubsampledVertices],
        Triangles = withTriangles ? Triangles : null,
        Metadata = new Dictionary<string, string> { ["format"] = "trg-ilgpu", ["variant"] = "trgv2" },
        Source = "fake:test",
    };

    /// <summary>Row-major R = Rz(roll) Rx(pitch) Ry(yaw), angles in degrees (EVAL_SPEC's extrinsic yxz).</summary>
    public static float[] Rotation(double yawDeg, double pitchDeg, double rollDeg)
    {
        var ry = RotY(yawDeg); var rx = RotX(pitchDeg); var rz = RotZ(rollDeg);
        var m = Mul(rz, Mul(rx, ry));
        return m.Select(x => (float)x).ToArray();
    }

    public static double[] RotX(double deg) { double a = deg * Math.PI / 180, c = Math.Cos(a), s = Math.Sin(a); return [1, 0, 0, 0, c, -s, 0, s, c]; }
    public static double[] RotY(double deg) { double a = deg * Math.PI / 180, c = Math.Cos(a), s = Math.Sin(a); return [c, 0, s, 0, 1, 0, -s, 0, c]; }
    public static double[] RotZ(double deg) { double a = deg * Math.PI / 180, c = Math.Cos(a), s = Math.Sin(a); return [c, -s, 0, s, c, 0, 0, 0, 1]; }

    public static double[] Mul(double[] a, double[] b)
    {
        var m = new double[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 3; k++) m[3 * i + j] += a[3 * i + k] * b[3 * k + j];
        return m;
    }

    /// <summary>
    /// A plausible result: the template turned by (yaw, pitch, roll) on top of the official initial pose (which makes
    /// the template upright in a y-down camera), placed with MODEL_SPEC 4f's translation for s = 1, no offset; the
    /// landmarks are the projections of the landmark vertices.
    /// </summary>
    public static FaceResult Place(FaceBox box, CameraIntrinsics camera, double yaw = 0, double pitch = 0, double roll = 0)
    {
        float bsize = box.Width, cx = (box.Left + box.Right) / 2, cy = (box.Top + box.Bottom) / 2;
        float focal = camera.Focal;
        float tz = 0.2f * focal / bsize;
        float[] t = [0.2f * (cx - camera.Cx) / bsize, 0.2f * (cy - camera.Cy) / bsize, tz];
        var r = Mul(Mul(RotZ(roll), Mul(RotX(pitch), RotY(yaw))), InitialRotation).Select(x => (float)x).ToArray();
        var head = Template;
        var cam = new float[head.Length];
        for (int i = 0; i < head.Length / 3; i++)
            for (int k = 0; k < 3; k++)
                cam[3 * i + k] = r[3 * k] * head[3 * i] + r[3 * k + 1] * head[3 * i + 1] + r[3 * k + 2] * head[3 * i + 2] + t[k];
        var lmk = new float[136];
        var lmkNorm = new float[136];
        for (int j = 0; j < 68; j++)
        {
            int v = LandmarkVertices[j];
            float z = cam[3 * v + 2];
            lmk[2 * j] = focal * cam[3 * v] / z + camera.Cx;
            lmk[2 * j + 1] = focal * cam[3 * v + 1] / z + camera.Cy;
            lmkNorm[2 * j] = (lmk[2 * j] - box.Left) / bsize * 2 - 1;
            lmkNorm[2 * j + 1] = (lmk[2 * j + 1] - box.Top) / box.Height * 2 - 1;
        }
        return new FaceResult
        {
            Box = box, Camera = camera, Rotation = r, Translation = t, VerticesCam = cam, VerticesHead = (float[])head.Clone(),
            Landmarks68 = lmk, Landmarks68Norm = lmkNorm,
            Iterations = [new IterationResult((float[])r.Clone(), (float[])t.Clone()), new IterationResult(r, t)],
            SamplingPoints = [new float[305 * 2]],
        };
    }

    // The official init_head_pose: R_t[:3,:3] transposed (trg-data/init_pose_Rt.npy), about 7.5 degrees from identity.
    private static readonly Lazy<double[]> InitialRotationLazy = new(() =>
    {
        var rt = ReadNpyF32(Shared("trg-data", "init_pose_Rt.npy"));
        var r = new double[9];
        for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) r[3 * i + j] = rt[4 * j + i];
        return r;
    });
    private static double[] InitialRotation => InitialRotationLazy.Value;

    /// <summary>
    /// An engine stand-in: each face gets the template placed in its box, with a yaw taken from the box position (so
    /// different faces give different results). It records the batches it saw, so tests can check the chunking.
    /// </summary>
    public sealed class FakeEngine
    {
        public List<int> BatchSizes { get; } = [];
        public List<FaceRequest> Seen { get; } = [];

        public FaceResult[] Run(IReadOnlyList<FaceRequest> faces, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            lock (BatchSizes)
            {
                BatchSizes.Add(faces.Count);
                Seen.AddRange(faces);
            }
            return faces.Select(f => Place(f.Box, f.Camera, yaw: YawFor(f.Box))).ToArray();
        }

        public static double YawFor(FaceBox box) => (box.Left % 60) - 30;
    }

    public static TrgEstimator FakeEstimator(FakeEngine? engine = null, EstimatorOptions? options = null, bool withTriangles = true)
    {
        engine ??= new FakeEngine();
        return new TrgEstimator(FakeWeights(withTriangles), "Fake: test engine", engine.Run, options);
    }

    private static float[] ReadNpyF32(string path) => Npy.Read(path).F32 ?? throw new InvalidDataException($"{path}: not float32");

    private static int[] ReadNpyInt(string path)
    {
        var t = Npy.Read(path);
        return t.I32 ?? t.I64?.Select(v => checked((int)v)).ToArray() ?? throw new InvalidDataException($"{path}: not an integer array");
    }
}
