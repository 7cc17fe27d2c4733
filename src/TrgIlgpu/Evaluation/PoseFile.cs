using System.Globalization;
using System.Text;
using System.Text.Json;

namespace TrgIlgpu.Evaluation;

/// <summary>What a pose file holds: its samples, and the images a <c>trg estimate --jsonl</c> file reports as failed.</summary>
public sealed record PoseFileContents(IReadOnlyList<PoseSample> Samples, IReadOnlyList<string> FailedImages);

/// <summary>
/// Pose files in JSON Lines (docs/evaluation.md): one sample a line, <c>{"id", "rotation": [[3x3]], "translation":
/// [x,y,z], "vertices_head"?, "vertices_cam"?}</c>, or the lines <c>trg estimate --jsonl</c> writes (one image a line:
/// the id of a face is the image path, or <c>PATH#K</c> (K from 0, in the order of <c>faces</c>) when the image has
/// several faces).
/// </summary>
public static class PoseFile
{
    /// <summary>Largest pose file read (a dataset's predictions with 1220-vertex meshes are ~100 kB a line).</summary>
    public const long MaxBytes = 4L << 30;

    /// <summary>Reads a pose file; a malformed line or a repeated id is a <see cref="ErrorKind.InvalidData"/> error naming the line.</summary>
    public static PoseFileContents Read(string path)
    {
        if (!File.Exists(path)) throw new TrgException(ErrorKind.NotFound, "file not found", path);
        if (new FileInfo(path).Length > MaxBytes) throw new TrgException(ErrorKind.InvalidData, $"larger than {MaxBytes} bytes", path);
        var samples = new List<PoseSample>();
        var failed = new List<string>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            string where = $"line {lineNumber}";
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line, new JsonDocumentOptions { MaxDepth = 16 }); }
            catch (JsonException e) { throw Bad(path, $"{where}: not JSON ({e.Message})"); }
            using (doc)
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw Bad(path, $"{where}: a line must be a JSON object");
                var lineSamples = root.TryGetProperty("image", out var image)
                    ? EstimateLine(root, image, path, where, failed)
                    : [Sample(root, IdOf(root, path, where), path, where)];
                foreach (var s in lineSamples)
                {
                    if (!ids.Add(s.Id)) throw Bad(path, $"{where}: id '{s.Id}' appears twice");
                    samples.Add(s);
                }
            }
        }
        return new PoseFileContents(samples, failed);
    }

    /// <summary>Writes samples as pose-file JSON Lines (numbers in shortest round-trip form), replacing the file when complete.</summary>
    public static void Write(string path, IEnumerable<PoseSample> samples)
    {
        AtomicFile.Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new UTF8Encoding(false), leaveOpen: true);
            foreach (var s in samples) writer.Write(ToLine(s) + "\n");
        });
    }

    /// <summary>One sample as a pose-file line (no line break).</summary>
    public static string ToLine(PoseSample s)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("id", s.Id);
            w.WritePropertyName("rotation");
            w.WriteRawValue(Rows(s.Rotation), skipInputValidation: true);
            w.WritePropertyName("translation");
            w.WriteRawValue(Row(s.Translation, 0, 3), skipInputValidation: true);
            if (s.VerticesHead is { } head) { w.WritePropertyName("vertices_head"); w.WriteRawValue(Rows(head), skipInputValidation: true); }
            if (s.VerticesCam is { } cam) { w.WritePropertyName("vertices_cam"); w.WriteRawValue(Rows(cam), skipInputValidation: true); }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string Rows(double[] values)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < values.Length; i += 3) sb.Append(i == 0 ? "" : ",").Append(Row(values, i, 3));
        return sb.Append(']').ToString();
    }

    private static string Row(double[] values, int start, int count) =>
        "[" + string.Join(",", values.Skip(start).Take(count).Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "]";

    private static IEnumerable<PoseSample> EstimateLine(JsonElement root, JsonElement image, string path, string where, List<string> failed)
    {
        if (image.ValueKind != JsonValueKind.Object || !image.TryGetProperty("path", out var p) || p.ValueKind != JsonValueKind.String)
            throw Bad(path, $"{where}: \"image\" must be an object with a string \"path\"");
        string imagePath = p.GetString()!;
        if (root.TryGetProperty("error", out _))
        {
            failed.Add(imagePath);
            return [];
        }
        if (!root.TryGetProperty("faces", out var faces) || faces.ValueKind != JsonValueKind.Array)
            throw Bad(path, $"{where}: an estimate line needs \"faces\" (an array) or \"error\"");
        int count = faces.GetArrayLength();
        return faces.EnumerateArray()
            .Select((face, k) => Sample(face, count == 1 ? imagePath : $"{imagePath}#{k}", path, $"{where}, face {k}"))
            .ToList();
    }

    private static string IdOf(JsonElement root, string path, string where)
    {
        if (!root.TryGetProperty("id", out var id)) throw Bad(path, $"{where}: no \"id\"");
        return id.ValueKind switch
        {
            JsonValueKind.String => id.GetString()!,
            JsonValueKind.Number => id.GetRawText(),
            _ => throw Bad(path, $"{where}: \"id\" must be a string or a number"),
        };
    }

    private static PoseSample Sample(JsonElement o, string id, string path, string where)
    {
        if (o.ValueKind != JsonValueKind.Object) throw Bad(path, $"{where}: a sample must be a JSON object");
        var rotation = Matrix(o, "rotation", path, where, required: true)!;
        if (rotation.Length != 9) throw Bad(path, $"{where}: \"rotation\" must be 3x3");
        if (!o.TryGetProperty("translation", out var t)) throw Bad(path, $"{where}: no \"translation\"");
        var translation = Numbers(t, path, $"{where}: \"translation\"");
        if (translation.Length != 3) throw Bad(path, $"{where}: \"translation\" must be [x, y, z]");
        return new PoseSample(id, rotation, translation)
        {
            VerticesHead = Matrix(o, "vertices_head", path, where, required: false),
            VerticesCam = Matrix(o, "vertices_cam", path, where, required: false),
        };
    }

    /// <summary>An array of [x, y, z] rows (rotation: 3 rows), flattened; null when absent and not required.</summary>
    private static double[]? Matrix(JsonElement o, string key, string path, string where, bool required)
    {
        if (!o.TryGetProperty(key, out var rows) || rows.ValueKind == JsonValueKind.Null)
            return required ? throw Bad(path, $"{where}: no \"{key}\"") : null;
        if (rows.ValueKind != JsonValueKind.Array || rows.GetArrayLength() == 0)
            throw Bad(path, $"{where}: \"{key}\" must be a non-empty array of [x, y, z] rows");
        var values = new List<double>(rows.GetArrayLength() * 3);
        int r = 0;
        foreach (var row in rows.EnumerateArray())
        {
            var v = Numbers(row, path, $"{where}: \"{key}\" row {r}");
            if (v.Length != 3) throw Bad(path, $"{where}: \"{key}\" row {r} has {v.Length} numbers, not 3");
            values.AddRange(v);
            r++;
        }
        return values.ToArray();
    }

    private static double[] Numbers(JsonElement a, string path, string what)
    {
        if (a.ValueKind != JsonValueKind.Array) throw Bad(path, $"{what} must be an array of numbers");
        var v = new double[a.GetArrayLength()];
        int i = 0;
        foreach (var e in a.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out v[i]) || !double.IsFinite(v[i]))
                throw Bad(path, $"{what}: element {i} is not a finite number");
            i++;
        }
        return v;
    }

    private static TrgException Bad(string path, string message) => new(ErrorKind.InvalidData, message, path);
}
