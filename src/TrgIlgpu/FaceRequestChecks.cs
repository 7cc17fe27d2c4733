using System.Globalization;

namespace TrgIlgpu;

/// <summary>
/// The one validation of a face request that every entry point shares (the library API, <c>trg estimate</c>,
/// <c>trg eval</c>, <c>trg serve</c>): the box and the camera against the image they belong to, before anything runs,
/// and the network's outputs after it ran, before anything is reported.
/// </summary>
/// <remarks>
/// A request inside these rules keeps every number the engine derives from it (crop warp, box information, Tz = 0.2 s f
/// / bsize) finite and far from float overflow. The rules are wide: a box up to <see cref="MaxBoxSideInImageSides"/>
/// image sides, a focal length from <see cref="MinFocalInImageSides"/> (a 179.4-degree field of view) to
/// <see cref="MaxFocalInImageSides"/> image sides (0.06 degrees), a principal point up to
/// <see cref="MaxPrincipalOffsetInImageSides"/> image sides from the centre. An image side is max(W, H).
/// </remarks>
public static class FaceRequestChecks
{
    /// <summary>Largest box side (width or height), in image sides: a box may reach past the edges, not be absurd.</summary>
    public const double MaxBoxSideInImageSides = 8;

    /// <summary>Smallest focal length, in image sides (f = 0.01 max(W, H): a field of view of about 179.4 degrees).</summary>
    public const double MinFocalInImageSides = 0.01;

    /// <summary>Largest focal length, in image sides (f = 1000 max(W, H): a field of view of about 0.06 degrees).</summary>
    public const double MaxFocalInImageSides = 1000;

    /// <summary>Farthest principal point from the image centre, in image sides, on either axis (a cropped frame's may lie outside).</summary>
    public const double MaxPrincipalOffsetInImageSides = 8;

    /// <summary>
    /// Why <paramref name="box"/> cannot be estimated in a <paramref name="width"/> x <paramref name="height"/> image, or
    /// null: coordinates finite, at least one pixel wide and high, overlapping the image (a box wholly outside reads only
    /// black), each side at most <see cref="MaxBoxSideInImageSides"/> image sides (so that its crop warp is finite).
    /// Kind when refused: <see cref="ErrorKind.InvalidBox"/>.
    /// </summary>
    public static string? BoxProblem(FaceBox box, int width, int height)
    {
        if (!float.IsFinite(box.Left) || !float.IsFinite(box.Top) || !float.IsFinite(box.Right) || !float.IsFinite(box.Bottom))
            return $"box {box}: coordinates must be finite numbers";
        // In double: a float difference of two huge coordinates overflows to infinity.
        double w = (double)box.Right - box.Left, h = (double)box.Bottom - box.Top;
        if (w < 1 || h < 1)
            return $"box {box} is empty or inverted: need right > left and bottom > top by at least one pixel";
        if (box.Right <= 0 || box.Bottom <= 0 || box.Left >= width || box.Top >= height)
            return $"box {box} lies wholly outside the {width}x{height} image";
        double limit = MaxBoxSideInImageSides * Math.Max(width, height);
        if (w > limit || h > limit)
            return $"box {box} is {Text(w)}x{Text(h)} pixels, more than {MaxBoxSideInImageSides} times the {width}x{height} image's side";
        return null;
    }

    /// <summary>
    /// Why <paramref name="camera"/> is not a sane camera for a <paramref name="width"/> x <paramref name="height"/>
    /// image, or null: focal length within [<see cref="MinFocalInImageSides"/>, <see cref="MaxFocalInImageSides"/>]
    /// image sides, principal point within <see cref="MaxPrincipalOffsetInImageSides"/> image sides of the centre
    /// (finiteness and square pixels are <see cref="CameraIntrinsics"/>' own checks). Kind when refused:
    /// <see cref="ErrorKind.Usage"/>.
    /// </summary>
    public static string? CameraProblem(CameraIntrinsics camera, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(camera);
        double side = Math.Max(width, height);
        double min = MinFocalInImageSides * side, max = MaxFocalInImageSides * side;
        if (camera.Focal < min || camera.Focal > max)
            return $"focal length {Text(camera.Focal)} px is outside the sane range [{Text(min)}, {Text(max)}] px for a {width}x{height} image "
                + $"({MinFocalInImageSides} to {MaxFocalInImageSides} times its larger side)";
        double reach = MaxPrincipalOffsetInImageSides * side;
        if (Math.Abs(camera.Cx - width / 2.0) > reach || Math.Abs(camera.Cy - height / 2.0) > reach)
            return $"principal point ({Text(camera.Cx)}, {Text(camera.Cy)}) lies more than {MaxPrincipalOffsetInImageSides} image sides "
                + $"from the centre of the {width}x{height} image";
        return null;
    }

    /// <summary>
    /// The request's problem as the error it raises (<see cref="ErrorKind.InvalidBox"/> for the box,
    /// <see cref="ErrorKind.Usage"/> for the camera), or null. <paramref name="what"/> prefixes the message (e.g. "face 2").
    /// </summary>
    public static TrgException? Check(FaceRequest request, string? what = null, string? filePath = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var prefix = what is null ? "" : what + ": ";
        if (BoxProblem(request.Box, request.Image.Width, request.Image.Height) is { } box)
            return new TrgException(ErrorKind.InvalidBox, prefix + box, filePath);
        if (CameraProblem(request.Camera, request.Image.Width, request.Image.Height) is { } camera)
            return new TrgException(ErrorKind.Usage, prefix + camera, filePath);
        return null;
    }

    /// <summary>
    /// Splits given boxes into those that can run and the refused ones (each with its InvalidBox error, "face i: ...",
    /// naming <paramref name="filePath"/>): how `trg estimate` and `trg serve` report a bad box and still run the others.
    /// </summary>
    public static (FaceBox[] Usable, FaceFailure[] Refused) SplitBoxes(IReadOnlyList<FaceBox> boxes, int width, int height, string? filePath = null)
    {
        ArgumentNullException.ThrowIfNull(boxes);
        var usable = new List<FaceBox>();
        var refused = new List<FaceFailure>();
        for (int i = 0; i < boxes.Count; i++)
        {
            if (BoxProblem(boxes[i], width, height) is { } problem)
                refused.Add(new FaceFailure(boxes[i], new TrgException(ErrorKind.InvalidBox, $"face {i}: {problem}", filePath)));
            else
                usable.Add(boxes[i]);
        }
        return ([.. usable], [.. refused]);
    }

    /// <summary>
    /// The first output of <paramref name="result"/> that is not finite (rotation, translation, camera or head vertices,
    /// landmarks, an iteration's R or T), or null when all are finite. A face with a non-finite output is a failure,
    /// never a success: its numbers mean nothing.
    /// </summary>
    public static string? OutputProblem(FaceResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (!AllFinite(result.Rotation)) return "rotation";
        if (!AllFinite(result.Translation)) return "translation";
        if (!AllFinite(result.VerticesCam)) return "camera-space vertices";
        if (!AllFinite(result.VerticesHead)) return "head-space vertices";
        if (!AllFinite(result.Landmarks68Norm) || !AllFinite(result.Landmarks68)) return "landmarks";
        foreach (var it in result.Iterations)
            if (!AllFinite(it.Rotation) || !AllFinite(it.Translation)) return "an iteration's rotation or translation";
        return null;
    }

    /// <summary>
    /// The error for a face whose outputs are not finite although its request passed <see cref="Check"/>: kind
    /// <see cref="ErrorKind.InvalidModel"/> (the weights, not the request, produce the non-finite numbers).
    /// </summary>
    public static TrgException NonFiniteOutput(FaceResult result, string output, string? what = null, string? filePath = null) =>
        new(ErrorKind.InvalidModel, $"{(what is null ? "" : what + ": ")}the network's {output} is not finite for box {result.Box} "
            + $"(focal {Text(result.Camera.Focal)} px): the model's weights give no usable numbers for this face", filePath);

    private static bool AllFinite(float[]? values)
    {
        if (values is null) return false;
        foreach (var v in values)
            if (!float.IsFinite(v)) return false;
        return true;
    }

    private static string Text(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
