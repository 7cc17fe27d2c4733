using System.Globalization;
using System.Text.Json;

namespace TrgIlgpu;

/// <summary>
/// A camera calibration read from a JSON file (docs/cli.md, "Calibration files"): the intrinsics, optionally the image
/// size they were calibrated at, and the distortion coefficients (reported, never applied: TRG takes a pinhole camera).
/// </summary>
/// <remarks>
/// Layouts: OpenCV FileStorage JSON (<c>camera_matrix</c> as an <c>opencv-matrix</c> object, optional
/// <c>distortion_coefficients</c>), a plain 3x3 matrix (<c>K</c> or <c>camera_matrix</c> as [[..],[..],[..]] or 9
/// numbers row-major), or plain <c>fx</c>, <c>fy</c>, <c>cx</c>, <c>cy</c>. Optional <c>image_width</c> and
/// <c>image_height</c> (together); distortion also as <c>dist_coeffs</c> or <c>D</c>. Any problem is a
/// <see cref="TrgException"/> of kind <see cref="ErrorKind.Usage"/> (a missing file: <see cref="ErrorKind.NotFound"/>)
/// naming the file.
/// </remarks>
public sealed class CameraCalibration
{
    /// <summary>Largest calibration file read (a calibration is a few hundred bytes).</summary>
    public const int MaxFileBytes = 1 << 20;

    /// <summary>Most distortion coefficients (OpenCV's largest model has 14).</summary>
    public const int MaxDistortionCoefficients = 14;

    /// <summary>Largest image side accepted for <c>image_width</c> / <c>image_height</c>.</summary>
    public const int MaxImageSide = 1 << 20;

    private static readonly string[] MatrixKeys = ["camera_matrix", "K"];
    private static readonly string[] DistortionKeys = ["distortion_coefficients", "dist_coeffs", "D"];

    /// <summary>The intrinsics as calibrated (pixels of an image of <see cref="ImageWidth"/> x <see cref="ImageHeight"/> when given).</summary>
    public CameraIntrinsics Intrinsics { get; }
    /// <summary>Width of the calibrated image, pixels; null when the file does not say.</summary>
    public int? ImageWidth { get; }
    /// <summary>Height of the calibrated image, pixels; null when the file does not say.</summary>
    public int? ImageHeight { get; }
    /// <summary>Distortion coefficients as in the file (OpenCV order k1, k2, p1, p2, k3, ...); empty when absent.</summary>
    public IReadOnlyList<double> Distortion { get; }
    /// <summary>Where the calibration came from (a file path), for messages; null for text.</summary>
    public string? Source { get; }

    /// <summary>True when a distortion coefficient is not zero: the engine does not undistort (docs/camera.md).</summary>
    public bool HasDistortion => Distortion.Any(d => d != 0);

    private CameraCalibration(CameraIntrinsics intrinsics, int? width, int? height, double[] distortion, string? source)
    {
        Intrinsics = intrinsics; ImageWidth = width; ImageHeight = height; Distortion = distortion; Source = source;
    }

    /// <summary>Reads a calibration JSON file (at most <see cref="MaxFileBytes"/> bytes).</summary>
    public static CameraCalibration Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] data;
        try
        {
            using var stream = File.OpenRead(path);
            // Refuse a huge file before reading it; a pipe or device (no length) is read up to the limit.
            if (stream.CanSeek && stream.Length > MaxFileBytes) throw TooLarge(path);
            var buffer = new MemoryStream();
            var chunk = new byte[1 << 16];
            for (int n; (n = stream.Read(chunk)) > 0;)
            {
                buffer.Write(chunk, 0, n);
                if (buffer.Length > MaxFileBytes) throw TooLarge(path);
            }
            data = buffer.ToArray();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new TrgException(ErrorKind.NotFound, "calibration file not found", path, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrgException(ErrorKind.NotFound, $"cannot read the calibration file: {e.Message}", path, e);
        }
        return Parse(data, path);
    }

    /// <summary>Parses calibration JSON; <paramref name="source"/> names it in errors.</summary>
    public static CameraCalibration Parse(ReadOnlySpan<byte> json, string? source = null)
    {
        if (json.Length > MaxFileBytes) throw Bad(source, $"calibration is {json.Length} bytes, more than {MaxFileBytes}");
        // JsonDocument checks UTF-8 only where a string is read; a bad byte in a name would escape as InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(json)) throw Bad(source, "not valid JSON: the text is not valid UTF-8");
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, MaxDepth = 16 });
            return Read(doc.RootElement, source);
        }
        catch (JsonException e)
        {
            throw Bad(source, $"not valid JSON: {e.Message}");
        }
    }

    /// <summary>
    /// The intrinsics for a <paramref name="width"/> x <paramref name="height"/> image. Without a calibrated size, or
    /// at that size, they are used as they are. An image of the same shape at another resolution (width scaled by
    /// s = W / image_width, and height within one pixel of image_height s) gets fx, fy, cx, cy all multiplied by s.
    /// Any other size (another aspect ratio: a crop, a rotated frame) is refused (<see cref="ErrorKind.Usage"/>).
    /// </summary>
    public CameraIntrinsics For(int width, int height)
    {
        if (ImageWidth is not { } w0 || ImageHeight is not { } h0 || (width == w0 && height == h0)) return Intrinsics;
        double s = (double)width / w0;
        if (Math.Abs(h0 * s - height) > 1)
            throw Bad(Source, $"calibrated for {w0}x{h0} images, but this image is {width}x{height}: another aspect ratio "
                + "(cropped or rotated?) cannot be scaled; calibrate at this size or give --camera");
        return Intrinsics.Scaled(s);
    }

    private static CameraCalibration Read(JsonElement root, string? source)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw Bad(source, "expected a JSON object with camera_matrix, K, or fx, fy, cx, cy");
        var matrixKeys = MatrixKeys.Where(k => root.TryGetProperty(k, out _)).ToList();
        bool plain = root.TryGetProperty("fx", out _);
        if (matrixKeys.Count + (plain ? 1 : 0) > 1)
            throw Bad(source, $"several camera descriptions ({string.Join(", ", matrixKeys.Concat(plain ? ["fx.."] : []))}): give exactly one");

        double fx, fy, cx, cy;
        if (plain)
        {
            fx = Number(root, "fx", source); fy = Number(root, "fy", source);
            cx = Number(root, "cx", source); cy = Number(root, "cy", source);
        }
        else if (matrixKeys.Count == 1)
        {
            var k = Matrix(root.GetProperty(matrixKeys[0]), matrixKeys[0], source);
            if (k.Length != 9) throw Bad(source, $"{matrixKeys[0]}: expected a 3x3 matrix, got {k.Length} numbers");
            CheckPinhole(k, matrixKeys[0], source);
            (fx, fy, cx, cy) = (k[0], k[4], k[2], k[5]);
        }
        else throw Bad(source, "no camera: expected camera_matrix (OpenCV FileStorage or 3x3), K (3x3), or fx, fy, cx, cy");

        var distortionKeys = DistortionKeys.Where(k => root.TryGetProperty(k, out _)).ToList();
        if (distortionKeys.Count > 1) throw Bad(source, $"several distortion entries ({string.Join(", ", distortionKeys)}): give one");
        var distortion = distortionKeys.Count == 0 ? [] : Matrix(root.GetProperty(distortionKeys[0]), distortionKeys[0], source);
        if (distortion.Length > MaxDistortionCoefficients)
            throw Bad(source, $"{distortionKeys[0]}: {distortion.Length} coefficients, at most {MaxDistortionCoefficients} exist");

        bool hasW = root.TryGetProperty("image_width", out var wEl), hasH = root.TryGetProperty("image_height", out var hEl);
        if (hasW != hasH) throw Bad(source, "image_width and image_height go together: give both or neither");
        int? width = hasW ? Side(wEl, "image_width", source) : null;
        int? height = hasH ? Side(hEl, "image_height", source) : null;

        if (CameraIntrinsics.Problem(fx, fy, cx, cy) is { } problem) throw Bad(source, problem);
        try
        {
            return new CameraCalibration(new CameraIntrinsics((float)fx, (float)fy, (float)cx, (float)cy), width, height, distortion, source);
        }
        catch (TrgException e)
        {
            // Finite as float64 but not as float32 (e.g. 1e300).
            throw Bad(source, e.Message);
        }
    }

    /// <summary>Numbers of an opencv-matrix object, a nested array (rows of equal length) or a flat array, row-major.</summary>
    private static double[] Matrix(JsonElement value, string key, string? source)
    {
        if (value.ValueKind == JsonValueKind.Object)
        {
            if (!value.TryGetProperty("type_id", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "opencv-matrix")
                throw Bad(source, $"{key}: an object must be an OpenCV FileStorage matrix (\"type_id\": \"opencv-matrix\")");
            int rows = Side(Property(value, "rows", key, source), $"{key}.rows", source);
            int cols = Side(Property(value, "cols", key, source), $"{key}.cols", source);
            var data = Property(value, "data", key, source);
            if (data.ValueKind != JsonValueKind.Array) throw Bad(source, $"{key}.data: expected an array of numbers");
            if ((long)rows * cols != data.GetArrayLength())
                throw Bad(source, $"{key}: rows x cols = {rows}x{cols} but data holds {data.GetArrayLength()} numbers");
            return Numbers(data, $"{key}.data", source);
        }
        if (value.ValueKind != JsonValueKind.Array) throw Bad(source, $"{key}: expected a matrix (array or opencv-matrix object)");
        if (value.GetArrayLength() > 0 && value[0].ValueKind == JsonValueKind.Array)
        {
            var rows = value.EnumerateArray().ToList();
            int cols = rows[0].GetArrayLength();
            if (rows.Any(r => r.ValueKind != JsonValueKind.Array || r.GetArrayLength() != cols))
                throw Bad(source, $"{key}: rows must be arrays of equal length");
            return rows.SelectMany((r, i) => Numbers(r, $"{key}[{i}]", source)).ToArray();
        }
        return Numbers(value, key, source);
    }

    private static JsonElement Property(JsonElement obj, string name, string key, string? source) =>
        obj.TryGetProperty(name, out var v) ? v : throw Bad(source, $"{key}: the opencv-matrix has no '{name}'");

    private static double[] Numbers(JsonElement array, string key, string? source)
    {
        if (array.GetArrayLength() > 64) throw Bad(source, $"{key}: {array.GetArrayLength()} numbers, far more than a camera has");
        var values = new double[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            values[i] = Finite(item, $"{key}[{i}]", source);
            i++;
        }
        return values;
    }

    private static double Number(JsonElement root, string name, string? source) =>
        root.TryGetProperty(name, out var v) ? Finite(v, name, source) : throw Bad(source, $"'{name}' is missing (fx, fy, cx, cy go together)");

    private static double Finite(JsonElement item, string key, string? source)
    {
        // JSON has no NaN or infinity; strings such as "nan" and overflowing literals (1e999) end here too.
        if (item.ValueKind != JsonValueKind.Number || !item.TryGetDouble(out double v) || !double.IsFinite(v))
            throw Bad(source, $"{key}: expected a finite number, got {Shorten(item.GetRawText())}");
        return v;
    }

    private static int Side(JsonElement item, string key, string? source)
    {
        if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int v) || v < 1 || v > MaxImageSide)
            throw Bad(source, $"{key}: expected a whole number from 1 to {MaxImageSide}, got {Shorten(item.GetRawText())}");
        return v;
    }

    /// <summary>K must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]: no skew (up to round-off), projective last row.</summary>
    private static void CheckPinhole(double[] k, string key, string? source)
    {
        if (Math.Abs(k[1]) > 1e-6 * Math.Abs(k[0]))
            throw Bad(source, $"{key}: skew K[0][1] = {k[1].ToString("G9", CultureInfo.InvariantCulture)} is not supported (TRG's camera has none)");
        if (k[3] != 0 || k[6] != 0 || k[7] != 0 || Math.Abs(k[8] - 1) > 1e-9)
            throw Bad(source, $"{key}: not a camera matrix: expected [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]");
    }

    private static TrgException TooLarge(string path) =>
        new(ErrorKind.Usage, $"calibration file is larger than the {MaxFileBytes} bytes a calibration can need", path);

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "...";

    private static TrgException Bad(string? source, string message) => new(ErrorKind.Usage, message, source);
}
