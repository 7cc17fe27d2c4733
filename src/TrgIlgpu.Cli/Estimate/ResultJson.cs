using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using TrgIlgpu.Faces;
using TrgIlgpu.Model;

namespace TrgIlgpu.Cli.Estimate;

/// <summary>Everything known about one input image after the run.</summary>
internal sealed class ImageOutcome
{
    public required string Path { get; init; }
    public int Width { get; init; }
    public int Height { get; init; }
    /// <summary>The intrinsics the image's faces were estimated with (null when the image failed before that).</summary>
    public CameraIntrinsics? Camera { get; init; }
    /// <summary>Set when the image as a whole failed (not found, not decodable, over the limit, no boxes).</summary>
    public TrgException? Error { get; init; }
    public List<FaceResult> Faces { get; } = [];
    public List<(FaceBox? Box, TrgException Error)> FaceErrors { get; } = [];
    public double DecodeMs { get; init; }
    /// <summary>Time of the forward pass(es) this image's faces were part of (shared with the other images in them).</summary>
    public double InferenceMs { get; set; }
    public bool Failed => Error is not null || FaceErrors.Count > 0;
}

/// <summary>
/// The JSON of `trg estimate` (docs/cli.md): per image <c>image</c>, <c>focal</c>, <c>camera</c>, <c>faces</c> (bbox, rotation, translation,
/// euler, vertices_cam, vertices_head, landmarks68_norm, landmarks68, iterations), <c>errors</c>, <c>timing_ms</c>.
/// Floats are written in shortest round-trip form, so parsing them as float32 gives back the engine's exact values;
/// a non-finite value is written as null.
/// </summary>
internal static class ResultJson
{
    public static readonly JsonWriterOptions Indented = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    public static readonly JsonWriterOptions Compact = new() { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The run's pose method ("trg" or "landmarks"), the TRG model (null without one) and the face finding settings.</summary>
    public static void WriteModel(Utf8JsonWriter w, ModelWeights? weights, PoseMethod method, DetectorOptions detector)
    {
        w.WriteString("method", MethodName(method));
        w.WriteStartObject("face_finding");
        w.WriteString("detector", detector.Detector == DetectorKind.Ssd ? "ssd" : "tiny");
        w.WriteNumber("input_size", detector.InputSize);
        w.WriteNumber("score_threshold", detector.ScoreThreshold);
        w.WriteNumber("min_face", detector.MinFaceSize);
        w.WriteNumber("max_faces", detector.MaxFaces);
        w.WriteEndObject();
        if (weights is null)
        {
            w.WriteNull("model");
            return;
        }
        w.WriteStartObject("model");
        w.WriteString("variant", weights.Variant.Name);
        w.WriteString("source", weights.Source);
        w.WriteNumber("iterations", weights.Variant.Iterations);
        w.WriteBoolean("triangles", weights.Triangles is not null);
        w.WriteEndObject();
    }

    /// <summary>
    /// One image's whole document: `trg estimate` with one image, and each answer of `trg serve` (the same JSON).
    /// </summary>
    public static void WriteImageDocument(Utf8JsonWriter w, ImageOutcome o, string device, ModelWeights? weights, PoseMethod method,
        DetectorOptions detector, IEnumerable<(string Name, double Ms)> timing)
    {
        w.WriteStartObject();
        WriteImageFields(w, o);
        w.WriteString("device", device);
        WriteModel(w, weights, method, detector);
        WriteTiming(w, timing);
        w.WriteEndObject();
    }

    /// <summary>The fields of one image's object (the caller opens and closes it).</summary>
    public static void WriteImageFields(Utf8JsonWriter w, ImageOutcome o)
    {
        w.WriteStartObject("image");
        w.WriteString("path", o.Path);
        if (o.Error is null)
        {
            w.WriteNumber("width", o.Width);
            w.WriteNumber("height", o.Height);
        }
        w.WriteEndObject();
        if (o.Error is not null)
        {
            w.WritePropertyName("error");
            WriteError(w, o.Error, null);
            return;
        }
        var camera = o.Camera!;
        w.WritePropertyName("focal");
        Number(w, camera.Focal);
        w.WriteStartObject("camera");
        foreach (var (name, value) in new[] { ("fx", camera.Fx), ("fy", camera.Fy), ("cx", camera.Cx), ("cy", camera.Cy) })
        {
            w.WritePropertyName(name);
            Number(w, value);
        }
        w.WriteEndObject();
        w.WriteStartArray("faces");
        foreach (var face in o.Faces) WriteFace(w, face);
        w.WriteEndArray();
        if (o.FaceErrors.Count > 0)
        {
            w.WriteStartArray("errors");
            foreach (var (box, error) in o.FaceErrors) WriteError(w, error, box);
            w.WriteEndArray();
        }
    }

    public static void WriteError(Utf8JsonWriter w, TrgException error, FaceBox? box)
    {
        w.WriteStartObject();
        if (box is { } b) WriteBox(w, b);
        w.WriteString("kind", error.Kind.ToString());
        w.WriteNumber("exit_code", (int)error.Kind);
        w.WriteString("message", error.Message);
        w.WriteEndObject();
    }

    public static string MethodName(PoseMethod method) => method == PoseMethod.Trg ? "trg" : "landmarks";

    public static void WriteFace(Utf8JsonWriter w, FaceResult f)
    {
        w.WriteStartObject();
        WriteFaceFields(w, f);
        w.WriteEndObject();
    }

    /// <summary>The fields of one face's object (the caller opens and closes it; `trg track` adds its own).</summary>
    public static void WriteFaceFields(Utf8JsonWriter w, FaceResult f)
    {
        w.WriteString("method", MethodName(f.Method));
        if (f.Detection is { } d)
        {
            w.WriteStartObject("detection");
            w.WritePropertyName("box");
            Row(w, [d.Detection.Box.Left, d.Detection.Box.Top, d.Detection.Box.Right, d.Detection.Box.Bottom], 0, 4);
            w.WritePropertyName("score");
            Number(w, d.Detection.Score);
            w.WritePropertyName("landmarks68");
            Rows(w, d.Landmarks68, 2);
            w.WriteEndObject();
        }
        if (f.FitRmsPixels is { } rms) Number(w, "fit_rms_px", rms);
        WriteBox(w, f.Box);
        w.WritePropertyName("rotation");
        Matrix3(w, f.Rotation);
        w.WritePropertyName("translation");
        Row(w, f.Translation, 0, 3);
        var e = f.Euler;
        w.WriteStartObject("euler");
        Number(w, "yaw", e.Yaw);
        Number(w, "pitch", e.Pitch);
        Number(w, "roll", e.Roll);
        w.WriteString("convention", EulerAngles.Convention);
        w.WriteEndObject();
        w.WritePropertyName("vertices_cam");
        Rows(w, f.VerticesCam, 3);
        w.WritePropertyName("vertices_head");
        Rows(w, f.VerticesHead, 3);
        w.WritePropertyName("landmarks68_norm");
        Rows(w, f.Landmarks68Norm, 2);
        w.WritePropertyName("landmarks68");
        Rows(w, f.Landmarks68, 2);
        w.WriteStartArray("iterations");
        foreach (var it in f.Iterations)
        {
            w.WriteStartObject();
            w.WritePropertyName("rotation");
            Matrix3(w, it.Rotation);
            w.WritePropertyName("translation");
            Row(w, it.Translation, 0, 3);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    public static void WriteTiming(Utf8JsonWriter w, IEnumerable<(string Name, double Ms)> items)
    {
        w.WriteStartObject("timing_ms");
        foreach (var (name, ms) in items) w.WriteNumber(name, Math.Round(ms, 3));
        w.WriteEndObject();
    }

    private static void WriteBox(Utf8JsonWriter w, FaceBox b)
    {
        w.WritePropertyName("bbox");
        Row(w, [b.Left, b.Top, b.Right, b.Bottom], 0, 4);
    }

    public static void Matrix3(Utf8JsonWriter w, float[] m)
    {
        w.WriteStartArray();
        for (int r = 0; r < 3; r++) Row(w, m, 3 * r, 3);
        w.WriteEndArray();
    }

    private static void Rows(Utf8JsonWriter w, float[] data, int width)
    {
        w.WriteStartArray();
        for (int i = 0; i + width <= data.Length; i += width) Row(w, data, i, width);
        w.WriteEndArray();
    }

    // Number rows are written compactly ("[x,y,z]"): indenting every number would make a face 13,000 lines long.
    public static void Row(Utf8JsonWriter w, float[] data, int start, int count)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < count; i++)
        {
            if (i > 0) sb.Append(',');
            float v = data[start + i];
            // Shortest text that parses back to the same float32.
            sb.Append(float.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "null");
        }
        w.WriteRawValue(sb.Append(']').ToString(), skipInputValidation: true);
    }

    private static void Number(Utf8JsonWriter w, float v)
    {
        if (float.IsFinite(v)) w.WriteNumberValue(v); else w.WriteNullValue();
    }

    public static void Number(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v); else w.WriteNull(name);
    }
}
