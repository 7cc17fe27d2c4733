using System.Text.Json;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Cli.Estimate;

/// <summary>One image to process, or an input that already failed (a missing list file, an empty folder).</summary>
internal sealed record InputItem(string Path, TrgException? Error = null);

/// <summary>Turns INPUT arguments (image files, folders, @list files) into the ordered list of images.</summary>
internal static class Inputs
{
    /// <summary>
    /// Files keep their place; a folder gives its image files (by extension, not recursive) in ordinal name order;
    /// <c>@list.txt</c> gives one path per line (relative to the list's folder; blank lines and # comments skipped;
    /// folders allowed). Missing files are kept: they fail, with their name, when read.
    /// </summary>
    public static List<InputItem> Expand(IEnumerable<string> inputs)
    {
        var items = new List<InputItem>();
        foreach (var input in inputs)
        {
            if (input.StartsWith('@') && input.Length > 1) ExpandList(input[1..], items);
            else ExpandPath(input, items);
        }
        return items;
    }

    /// <summary>True when the inputs name a folder, a list or several images: the output is then a multi-image document.</summary>
    public static bool IsMulti(IReadOnlyList<string> inputs) =>
        inputs.Count != 1 || inputs[0].StartsWith('@') || Directory.Exists(inputs[0]);

    private static void ExpandPath(string path, List<InputItem> items)
    {
        if (!Directory.Exists(path))
        {
            items.Add(new InputItem(path));
            return;
        }
        List<string> files;
        try
        {
            files = Directory.EnumerateFiles(path)
                .Where(f => ImageLoader.Extensions.Contains(System.IO.Path.GetExtension(f)))
                .Order(StringComparer.Ordinal).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            items.Add(new InputItem(path, new TrgException(ErrorKind.NotFound, $"cannot list the folder: {e.Message}", path)));
            return;
        }
        if (files.Count == 0)
            items.Add(new InputItem(path, new TrgException(ErrorKind.NotFound,
                $"the folder holds no image files ({string.Join(", ", ImageLoader.Extensions.Order())})", path)));
        items.AddRange(files.Select(f => new InputItem(f)));
    }

    private static void ExpandList(string listPath, List<InputItem> items)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(listPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var reason = e is FileNotFoundException or DirectoryNotFoundException ? "list file not found" : $"cannot read the list file: {e.Message}";
            items.Add(new InputItem("@" + listPath, new TrgException(ErrorKind.NotFound, reason, listPath)));
            return;
        }
        var baseDir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(listPath))!;
        int before = items.Count;
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            ExpandPath(System.IO.Path.IsPathRooted(line) ? line : System.IO.Path.Combine(baseDir, line), items);
        }
        if (items.Count == before)
            items.Add(new InputItem("@" + listPath, new TrgException(ErrorKind.NotFound, "the list file names no images", listPath)));
    }
}

/// <summary>
/// A --boxes file: a JSON object mapping an image to its boxes, e.g.
/// <c>{"photos/a.jpg": [[153,49,295,191]], "b.png": [{"bbox": [10,10,90,90]}]}</c>.
/// A key with a folder part is a path relative to the boxes file's folder (or absolute); a bare file name matches an
/// image of that name in any folder. A path key wins over a name key.
/// </summary>
internal sealed class BoxesFile
{
    private readonly Dictionary<string, FaceBox[]> _byFullPath = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FaceBox[]> _byName = new(StringComparer.Ordinal);
    public string Path { get; }

    private BoxesFile(string path) => Path = path;

    /// <summary>Reads and checks a boxes file within <paramref name="limits"/> (default: <see cref="InputLimits.Default"/>:
    /// at most <see cref="InputLimits.MaxDataFileBytes"/> bytes and <see cref="InputLimits.MaxFacesPerImage"/> boxes an image).</summary>
    public static BoxesFile Load(string path, InputLimits? limits = null)
    {
        limits ??= InputLimits.Default;
        byte[] data;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (stream.Length > limits.MaxDataFileBytes)
                throw Bad(path, $"{stream.Length:N0} bytes is over the {limits.MaxDataFileBytes:N0}-byte limit for a boxes file (InputLimits.MaxDataFileBytes)");
            data = new byte[stream.Length];
            stream.ReadExactly(data);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new TrgException(ErrorKind.NotFound, "boxes file not found", path, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrgException(ErrorKind.NotFound, $"cannot read the boxes file: {e.Message}", path, e);
        }
        // JsonDocument checks UTF-8 only where a string is read; a bad byte in a key would escape as InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(data)) throw Bad(path, "not valid JSON: the text is not valid UTF-8");
        var file = new BoxesFile(path);
        var baseDir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        try
        {
            using var doc = JsonDocument.Parse(data, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = 8 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw Bad(path, "expected a JSON object mapping image paths or file names to lists of boxes");
            foreach (var entry in doc.RootElement.EnumerateObject())
            {
                var boxes = ReadBoxes(entry.Value, entry.Name, path, limits);
                var key = entry.Name;
                if (key.Length == 0 || key.Contains('\0')) throw Bad(path, $"entry '{Shorten(key)}': not a file name");
                if (key.Contains('/') || key.Contains('\\') || System.IO.Path.IsPathRooted(key))
                    file._byFullPath[FullPath(System.IO.Path.Combine(baseDir, key), key, path)] = boxes;
                else
                    file._byName[key] = boxes;
            }
        }
        catch (JsonException e)
        {
            throw Bad(path, $"not valid JSON: {e.Message}");
        }
        return file;
    }

    /// <summary>The boxes for an image, or null when the file has no entry for it.</summary>
    public FaceBox[]? Find(string imagePath)
    {
        if (_byFullPath.TryGetValue(System.IO.Path.GetFullPath(imagePath), out var boxes)) return boxes;
        return _byName.TryGetValue(System.IO.Path.GetFileName(imagePath), out boxes) ? boxes : null;
    }

    private static FaceBox[] ReadBoxes(JsonElement value, string key, string path, InputLimits limits)
    {
        if (value.ValueKind != JsonValueKind.Array) throw Bad(path, $"entry '{Shorten(key)}': expected a list of boxes");
        if (value.GetArrayLength() > limits.MaxFacesPerImage)
            throw Bad(path, $"entry '{Shorten(key)}': {value.GetArrayLength()} boxes, over the limit of {limits.MaxFacesPerImage} faces an image (InputLimits.MaxFacesPerImage)");
        var boxes = new List<FaceBox>();
        int i = 0;
        foreach (var item in value.EnumerateArray())
        {
            var numbers = item.ValueKind == JsonValueKind.Object && item.TryGetProperty("bbox", out var b) ? b : item;
            if (numbers.ValueKind != JsonValueKind.Array || numbers.GetArrayLength() != 4
                || numbers.EnumerateArray().Any(n => n.ValueKind != JsonValueKind.Number))
                throw Bad(path, $"entry '{Shorten(key)}', box {i}: expected [l,t,r,b] or {{\"bbox\": [l,t,r,b]}}");
            var v = new float[4];
            int j = 0;
            foreach (var n in numbers.EnumerateArray())
            {
                // A literal beyond float32 (1e39) would become infinity: refused here, by name, like any bad number.
                if (!n.TryGetDouble(out double d) || !float.IsFinite((float)d))
                    throw Bad(path, $"entry '{Shorten(key)}', box {i}: {Shorten(n.GetRawText())} is not a finite coordinate");
                v[j++] = (float)d;
            }
            boxes.Add(new FaceBox(v[0], v[1], v[2], v[3]));
            i++;
        }
        return boxes.ToArray();
    }

    private static string FullPath(string combined, string key, string path)
    {
        try { return System.IO.Path.GetFullPath(combined); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw Bad(path, $"entry '{Shorten(key)}': not a usable path ({e.Message})");
        }
    }

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..60] + "...";

    private static TrgException Bad(string path, string message) => new(ErrorKind.InvalidBox, message, path);
}
