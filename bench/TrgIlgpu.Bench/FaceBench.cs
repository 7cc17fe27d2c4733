using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using TrgIlgpu.Engine;
using TrgIlgpu.Faces;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Bench;

/// <summary>
/// Latency of the face networks on the engine (<see cref="FaceFinder"/>), next to face-api's own in Node
/// (tools/faceapi/bench.js, TF.js wasm backend) in the same run, written as the "Face networks" section of
/// bench/RESULTS.md (the rest of the file is left as it is).
/// Usage: faces [--image tools/faceapi/samples/sample1.png] [--iters 10] [--device opencl] [--no-node] [--out bench/RESULTS.md]
/// </summary>
internal static class FaceBench
{
    public const string Begin = "<!-- faces: written by `TrgIlgpu.Bench -- faces` -->", End = "<!-- /faces -->";

    private sealed record Row(string Case, string What, double EngineMs, double? NodeMs);

    public static int Run(string[] args)
    {
        string root = Compare.FindRoot();
        string image = Compare.Arg(args, "--image", Path.Combine(root, "tools", "faceapi", "samples", "sample1.png"));
        int iters = int.Parse(Compare.Arg(args, "--iters", "10"), CultureInfo.InvariantCulture);
        var kind = Compare.Arg(args, "--device", "opencl") switch { "cuda" => DeviceKind.Cuda, "cpu" => DeviceKind.Cpu, _ => DeviceKind.OpenCL };
        string outPath = Compare.Arg(args, "--out", Path.Combine(root, "bench", "RESULTS.md"));
        var photo = ImageLoader.LoadFile(image);
        string loadBefore = LoadAverage();

        using var ssd = FaceFinder.Create(new FaceFinderOptions { Device = kind });
        using var tiny = FaceFinder.Create(new FaceFinderOptions { Device = kind, Detector = new DetectorOptions { Detector = DetectorKind.Tiny } });
        var faces = ssd.Find(photo);
        if (faces.Length == 0) throw new InvalidOperationException($"{image}: no face found, nothing to time the landmark net on");
        var one = new[] { faces[0].Detection.Box };
        var eight = Enumerable.Range(0, 8).Select(i => faces[i % faces.Length].Detection.Box).ToArray();

        var node = args.Contains("--no-node") ? null : Node(root, image, iters);
        double? N(string key) => node is { } n && n.TryGetProperty(key, out var v) ? v.GetDouble() : null;
        var rows = new List<Row>
        {
            new("SSD detect (512)", "upload, resize, net, download, decode + NMS", Median(iters, () => ssd.DetectOnly([photo])), N("ssd_detect_ms")),
            new("tiny detect (416)", "the same", Median(iters, () => tiny.DetectOnly([photo])), N("tiny416_detect_ms")),
            new("landmarks, batch 1", "upload, crop resize, net, download, to image", Median(iters, () => ssd.Landmarks(photo, one)), N("landmarks_b1_ms")),
            new("landmarks, batch 8", "the same, 8 faces in one pass", Median(iters, () => ssd.Landmarks(photo, eight)), N("landmarks_b8_ms")),
            new($"Find (SSD + landmarks of {faces.Length})", "the whole call", Median(iters, () => ssd.Find(photo)), N("ssd_find_with_landmarks_ms")),
        };
        string section = Section(ssd.DeviceName, image, photo, faces.Length, iters, rows, node, $"{loadBefore} before, {LoadAverage()} after");
        Write(outPath, section);
        Console.WriteLine(section);
        return 0;
    }

    private static double Median(int iters, Action run)
    {
        run(); // warm-up: plans made, kernels compiled
        var ms = new double[iters];
        for (int i = 0; i < iters; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            ms[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Array.Sort(ms);
        return ms[iters / 2];
    }

    /// <summary>face-api's timing (tools/faceapi/bench.js), or null when Node or its packages are missing.</summary>
    private static JsonElement? Node(string root, string image, int iters)
    {
        try
        {
            var psi = new ProcessStartInfo("node", [Path.Combine(root, "tools", "faceapi", "bench.js"), image, iters.ToString(CultureInfo.InvariantCulture), "wasm"])
            { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            string stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) { Console.Error.WriteLine($"face-api timing failed: {p.StandardError.ReadToEnd()}"); return null; }
            return JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement.Clone();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or JsonException)
        {
            Console.Error.WriteLine($"face-api timing skipped: {e.Message}");
            return null;
        }
    }

    /// <summary>The 1-minute load average (Linux), to tell a quiet machine from a shared busy one.</summary>
    private static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

    private static string Section(string device, string image, RgbImage photo, int faces, int iters, List<Row> rows, JsonElement? node, string load)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine(Begin);
        sb.AppendLine("## Face networks (face-api's detectors and landmark net)");
        sb.AppendLine();
        sb.AppendLine(inv, $"Written by `dotnet run -c Release --project bench/TrgIlgpu.Bench -- faces` on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC. Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}; load average {load} (a shared machine: runs differ by up to 2x).");
        sb.AppendLine(inv, $"Photo: `{Path.GetFileName(image)}` ({photo.Width}x{photo.Height}, {faces} faces). Median of {iters} calls after one warm-up, milliseconds.");
        string nodeName = node is { } n ? $"face-api 1.7.15, TF.js {n.GetProperty("backend").GetString()} backend (Node, `tools/faceapi/bench.js`)" : "face-api (not run)";
        sb.AppendLine();
        sb.AppendLine(inv, $"| case | timed | TrgIlgpu, {device} | {nodeName} |");
        sb.AppendLine("|---|---|---:|---:|");
        foreach (var r in rows)
            sb.AppendLine(inv, $"| {r.Case} | {r.What} | {r.EngineMs:F1} | {(r.NodeMs is { } v ? v.ToString("F1", inv) : "-")} |");
        sb.AppendLine();
        sb.AppendLine("TrgIlgpu's landmark calls upload the whole photo each time; face-api's take ready crop tensors. face-api's detect");
        sb.AppendLine("is `detectAllFaces(img, options)` on an int32 tensor of the photo; its landmarks `faceLandmark68Net.detectLandmarks`.");
        sb.AppendLine(End);
        return sb.ToString();
    }

    /// <summary>Replaces the faces section of <paramref name="path"/> (or appends it), keeping the rest.</summary>
    private static void Write(string path, string section)
    {
        string text = File.Exists(path) ? File.ReadAllText(path) : "";
        File.WriteAllText(path, Replace(text, section));
    }

    /// <summary><paramref name="text"/> with its faces section replaced by <paramref name="section"/> (appended when it has none).</summary>
    public static string Replace(string text, string section)
    {
        int b = text.IndexOf(Begin, StringComparison.Ordinal), e = text.IndexOf(End, StringComparison.Ordinal);
        if (b >= 0 && e > b) return text[..b] + section.TrimEnd('\n') + text[(e + End.Length)..];
        return text.TrimEnd('\n') + "\n\n" + section;
    }
}
