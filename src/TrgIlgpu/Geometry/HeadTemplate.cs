using System.Text.Json;

namespace TrgIlgpu.Geometry;

/// <summary>
/// The TRG mean head (official TRG-Release <c>t_vtx_1220</c>, MIT; provenance in weights/trg-template/README.md),
/// embedded in the library: 1220 vertices in metres in the TRG head frame (+x towards the subject's left, +y down,
/// +z towards the back of the head; with R = I the face looks into an OpenCV camera upright), its triangles, and the
/// 68 landmark vertices in iBUG 68 order.
/// </summary>
public sealed class HeadTemplate
{
    /// <summary>Vertices of the TRG mesh.</summary>
    public const int VertexCount = 1220;
    /// <summary>Triangles of the TRG mesh.</summary>
    public const int TriangleCount = 2304;
    /// <summary>Sparse landmarks (iBUG 68 order: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67).</summary>
    public const int LandmarkCount = 68;

    /// <summary>Name of the embedded resource (weights/trg-template/trg_template.json).</summary>
    public const string ResourceName = "TrgIlgpu.trg_template.json";

    private static readonly Lazy<HeadTemplate> TrgLazy = new(LoadEmbedded);

    /// <summary>The embedded official template (read once, on first use).</summary>
    public static HeadTemplate Trg => TrgLazy.Value;

    private readonly float[] _vertices, _landmarks;
    private readonly int[] _triangles, _landmarkIndex;

    /// <summary>1220 x 3 head-space vertices in metres, vertex-major (x0, y0, z0, x1, ...), as <see cref="FaceResult.VerticesHead"/>.</summary>
    public ReadOnlyMemory<float> Vertices => _vertices;
    /// <summary>2304 x 3 vertex indices, as the overlay's <c>triangles</c> argument takes them (<c>.ToArray()</c>).</summary>
    public ReadOnlyMemory<int> Triangles => _triangles;
    /// <summary>The mesh vertex of each of the 68 landmarks (official <c>npy/kpt_ind.npy</c>).</summary>
    public ReadOnlyMemory<int> LandmarkVertexIndex => _landmarkIndex;
    /// <summary>68 x 3 landmark points in metres, head frame: <c>Vertices[LandmarkVertexIndex[i]]</c>.</summary>
    public ReadOnlyMemory<float> Landmarks68 => _landmarks;

    private HeadTemplate(float[] vertices, int[] triangles, int[] landmarkIndex)
    {
        _vertices = vertices;
        _triangles = triangles;
        _landmarkIndex = landmarkIndex;
        _landmarks = new float[LandmarkCount * 3];
        for (int i = 0; i < LandmarkCount; i++)
            for (int c = 0; c < 3; c++)
                _landmarks[i * 3 + c] = vertices[landmarkIndex[i] * 3 + c];
    }

    private static HeadTemplate LoadEmbedded()
    {
        using var stream = typeof(HeadTemplate).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new TrgException(ErrorKind.InvalidModel, "the embedded head template is missing from the library", ResourceName);
        return Read(stream, ResourceName);
    }

    /// <summary>Reads a template in the format of weights/trg-template/trg_template.json; <paramref name="source"/> names it in errors.</summary>
    internal static HeadTemplate Read(Stream json, string source)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            var vertices = Rows(root, "vertices", VertexCount, 3, e => e.GetSingle(), source);
            var triangles = Rows(root, "triangles", TriangleCount, 3, e => e.GetInt32(), source);
            var index = Rows(root, "landmark68_vertex_index", LandmarkCount, 1, e => e.GetInt32(), source);
            if (vertices.Any(v => !float.IsFinite(v)))
                throw Invalid("'vertices' holds a non-finite value", source);
            if (triangles.Concat(index).Any(i => i < 0 || i >= VertexCount))
                throw Invalid($"'triangles' or 'landmark68_vertex_index' holds an index outside 0..{VertexCount - 1}", source);
            return new HeadTemplate(vertices, triangles, index);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw Invalid(e.Message, source, e);
        }
    }

    /// <summary>A rows x cols array (cols 1: a flat list) read as a flat row-major array.</summary>
    private static T[] Rows<T>(JsonElement root, string key, int rows, int cols, Func<JsonElement, T> read, string source)
    {
        var array = root.GetProperty(key);
        if (array.GetArrayLength() != rows)
            throw Invalid($"'{key}' has {array.GetArrayLength()} entries, expected {rows}", source);
        var flat = new T[rows * cols];
        int r = 0;
        foreach (var row in array.EnumerateArray())
        {
            if (cols == 1) { flat[r++] = read(row); continue; }
            if (row.GetArrayLength() != cols) throw Invalid($"'{key}' row {r} has {row.GetArrayLength()} values, expected {cols}", source);
            int c = 0;
            foreach (var v in row.EnumerateArray()) flat[r * cols + c++] = read(v);
            r++;
        }
        return flat;
    }

    private static TrgException Invalid(string problem, string source, Exception? inner = null) =>
        new(ErrorKind.InvalidModel, $"head template: {problem}", source, inner);
}
