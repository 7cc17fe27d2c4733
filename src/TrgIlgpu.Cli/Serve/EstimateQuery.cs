using Microsoft.AspNetCore.Http;
using TrgIlgpu.Cli.Estimate;

namespace TrgIlgpu.Cli.Serve;

/// <summary>
/// The options of one <c>POST /v1/estimate</c>, from its query string: <c>bbox=l,t,r,b</c> (repeatable; none: find the
/// faces), <c>focal=F</c> or <c>camera=fx,fy,cx,cy</c>, and <c>name</c> (the image's name in the answer and in error
/// messages, as `trg estimate` uses the file path). Parsed by the same code as `trg estimate`'s options, so a mistake gets
/// the same error kind and message.
/// </summary>
internal sealed record EstimateQuery(string Name, IReadOnlyList<FaceBox>? Boxes, float? Focal, CameraIntrinsics? Camera)
{
    /// <summary>The name an unnamed request's image gets.</summary>
    public const string DefaultName = "request";

    private static readonly string[] Known = ["bbox", "focal", "camera", "name"];

    /// <summary>Throws <see cref="TrgException"/> (<see cref="ErrorKind.Usage"/>) for an unknown, repeated or malformed parameter.</summary>
    public static EstimateQuery Parse(IQueryCollection query)
    {
        foreach (var key in query.Keys)
            if (!Known.Contains(key, StringComparer.Ordinal))
                throw new TrgException(ErrorKind.Usage, $"unknown query parameter '{key}' (use {string.Join(", ", Known)})");
        foreach (var key in Known.Where(k => k != "bbox"))
            if (query[key].Count > 1) throw new TrgException(ErrorKind.Usage, $"query parameter '{key}' is given {query[key].Count} times; give it once");

        var boxes = query["bbox"].Count == 0 ? null : query["bbox"].Select(b => EstimateSettings.ParseBox(b ?? "")).ToArray();
        float? focal = null;
        if (query["focal"].Count == 1)
        {
            focal = EstimateSettings.ParseFocal(query["focal"].ToString());
        }
        var camera = query["camera"].Count == 1 ? EstimateSettings.ParseCamera(query["camera"].ToString()) : null;
        if (focal is not null && camera is not null)
            throw new TrgException(ErrorKind.Usage, "focal and camera cannot be combined: give one description of the camera");
        var name = query["name"].Count == 1 ? query["name"].ToString() : DefaultName;
        if (name.Length == 0) throw new TrgException(ErrorKind.Usage, "query parameter 'name' is empty");
        return new EstimateQuery(name, boxes, focal, camera);
    }

    /// <summary>The image's camera: <c>camera</c>, else <c>focal</c>, else the W + H default (as `trg estimate`).</summary>
    public CameraIntrinsics CameraFor(int width, int height) => Camera ?? CameraIntrinsics.FromFocalOrDefault(Focal, width, height);
}
