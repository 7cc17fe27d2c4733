using TrgIlgpu.Engine;
using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// FacePreprocess.ResizeToSquare (items from FacePacking.ResizeItem) against face-api's padToSquare + TF's legacy
/// resizeBilinear + each network's normalisation in float64, several items from different images in one launch.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class FacePreprocessKernelTests(KernelDevices devices)
{
    private sealed record Item(int Image, int X, int Y, int W, int H, SquarePadding Padding);

    [Theory]
    [InlineData(FaceNormalization.SsdMobilenetV1)]
    [InlineData(FaceNormalization.TinyFaceDetector)]
    [InlineData(FaceNormalization.FaceLandmark68)]
    public void ResizeToSquare_Cpu_MatchesReference(FaceNormalization norm)
    {
        var rng = new TestRandom(1900 + (int)norm);
        RgbBytes a = new(23, 17, rng.Bytes(23 * 17 * 3)), b = new(13, 29, rng.Bytes(13 * 29 * 3));
        Run(devices.Cpu, [a, b], 16, norm,
        [
            new(0, 0, 0, 23, 17, SquarePadding.BottomRight), // the whole wide image: padding below, downscaled 23 -> 16
            new(1, 0, 0, 13, 29, SquarePadding.BottomRight), // the whole tall image: padding on the right
            new(0, 3, 2, 9, 14, SquarePadding.Centred),      // tall box, odd difference 5: 2 before, 3 after (JS Math.round)
            new(1, 1, 5, 12, 7, SquarePadding.Centred),      // wide box, upscaled
            new(0, 4, 1, 16, 16, SquarePadding.Centred),     // already 16x16: copied unchanged
            new(1, 2, 3, 6, 6, SquarePadding.BottomRight),   // square, upscaled 6 -> 16
        ]);
    }

    /// <summary>A 333x517 image to 512 (SSD) and 416 (tiny); a 77x91 face box and a 112x112 box to 112 (landmark net).</summary>
    [OpenCLFact]
    public void ResizeToSquare_OpenCL_NetworkSizes_MatchReference()
    {
        var rng = new TestRandom(1950);
        RgbBytes photo = new(333, 517, rng.Bytes(333 * 517 * 3)), other = new(640, 480, rng.Bytes(640 * 480 * 3));
        Item[] whole = [new(0, 0, 0, 333, 517, SquarePadding.BottomRight), new(1, 0, 0, 640, 480, SquarePadding.BottomRight)];
        Run(devices.OpenCL, [photo, other], 512, FaceNormalization.SsdMobilenetV1, whole);
        Run(devices.OpenCL, [photo, other], 416, FaceNormalization.TinyFaceDetector, whole);
        Run(devices.OpenCL, [photo, other], 112, FaceNormalization.FaceLandmark68,
        [
            new(1, 153, 49, 77, 91, SquarePadding.Centred),
            new(0, 200, 400, 112, 112, SquarePadding.Centred),
            new(0, 0, 0, 91, 77, SquarePadding.Centred),
        ]);
    }

    private static void Run(DeviceUnderTest device, RgbBytes[] images, int size, FaceNormalization norm, Item[] items)
    {
        var offsets = new int[images.Length];
        for (int i = 1; i < images.Length; i++) offsets[i] = offsets[i - 1] + images[i - 1].Pixels.Length;
        var bytes = images.SelectMany(im => im.Pixels).ToArray();
        var launch = items.Select(it => FacePacking.ResizeItem(offsets[it.Image], images[it.Image].Width, images[it.Image].Height,
            it.X, it.Y, it.W, it.H, it.Padding, size)).ToArray();

        using var d = device.Begin();
        int n = items.Length, plane = size * size;
        const int guard = 11;
        var output = d.Poisoned((long)n * 3 * plane + guard);
        d.Kernels.ResizeToSquare(d.Stream, d.Config((long)n * plane), d.Upload(bytes).View, d.Upload(launch).View, output.View, n, size, norm);
        var got = d.Download(output);

        for (int f = 0; f < n; f++)
        {
            var it = items[f];
            var expected = RefFaceInput.ResizeToSquare(images[it.Image], it.X, it.Y, it.W, it.H, it.Padding == SquarePadding.Centred, size, norm);
            int basis = f * 3 * plane;
            Expect.Close($"ResizeToSquare {norm} item {f} {it} to {size} on {device.Description}", got, expected, 1e-5,
                at: i => basis + i, name: i => $"[c{i / plane}, y{i / size % size}, x{i % size}]");
        }
        Expect.Untouched("ResizeToSquare: past the output", got, i => i < n * 3 * plane);
    }
}
