using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>Preprocess.CropNormalize against the float64 crop + normalisation of MODEL_SPEC 2.1-2.2.</summary>
[Collection(KernelCollection.Name)]
public sealed class PreprocessKernelTests(KernelDevices devices)
{
    private const int Plane = Preprocess.Size * Preprocess.Size;

    /// <summary>Three small odd-sized images in one buffer, eight faces: boxes reaching outside on each side, wholly outside, exactly the image.</summary>
    [Fact]
    public void CropNormalize_Cpu_BoxesInsideAndOutside_MatchReference()
    {
        var rng = new TestRandom(41);
        RgbBytes a = new(37, 29, rng.Bytes(37 * 29 * 3)), b = new(50, 41, rng.Bytes(50 * 41 * 3)), c = new(9, 9, rng.Bytes(9 * 9 * 3));
        // 9369 + 243 bytes: a whole number of words, so the last pixel's word is the buffer's last (no word after it).
        Run(devices.Cpu, [a, b, c],
        [
            (0, -6.3f, 3.7f, 30.2f, 40.1f),    // past the left and bottom edges, not square
            (1, 10.5f, -8.25f, 60.75f, 42f),   // past the top and right edges
            (0, 5f, 4f, 25f, 24f),             // inside: upscaled
            (1, 100f, 100f, 140f, 140f),       // wholly outside: every pixel black
            (1, 0f, 0f, 49f, 40f),             // exactly the image: last samples on the last pixel
            (0, -4f, -3f, 20f, 30f),           // integral negative corner: floor at whole numbers below zero
            (1, 12.7f, 9.1f, 15.2f, 11.3f),    // a few source pixels: many outputs per tap
            (2, 0f, 0f, 8f, 8f),               // exactly the last image: its last pixel ends the buffer
        ]);
    }

    [OpenCLFact]
    public void CropNormalize_OpenCL_PhotoSizes_MatchReference()
    {
        var rng = new TestRandom(42);
        RgbBytes photo = new(640, 480, rng.Bytes(640 * 480 * 3)), small = new(97, 133, rng.Bytes(97 * 133 * 3));
        Run(devices.OpenCL, [photo, small],
        [
            (0, 153f, 49f, 295f, 191f),           // the sample photo's face box
            (1, -20.5f, 60.25f, 110.5f, 191.25f), // past three edges of the small image
            (0, 560.75f, 400.5f, 700.25f, 540f),  // past the photo's bottom-right corner
        ]);
    }

    private static void Run(DeviceUnderTest device, RgbBytes[] images, (int Image, float L, float T, float R, float B)[] boxes)
    {
        var offsets = new int[images.Length];
        for (int i = 1; i < images.Length; i++) offsets[i] = offsets[i - 1] + images[i - 1].Pixels.Length;
        var pixels = images.SelectMany(im => im.Pixels).ToArray();
        // The buffer the engine allocates: whole 32-bit words, the bytes after the pixels random (never used).
        var bytes = new TestRandom(pixels.Length).Bytes((int)Preprocess.ImageBufferBytes(pixels.Length));
        pixels.CopyTo(bytes, 0);
        var faces = boxes.Select(bx => new FaceParams
        {
            ImageOffset = offsets[bx.Image], Width = images[bx.Image].Width, Height = images[bx.Image].Height,
            Left = bx.L, Top = bx.T, Right = bx.R, Bottom = bx.B, Focal = 1000f,
        }).ToArray();

        using var d = device.Begin();
        int n = faces.Length;
        const int guard = 11;
        var output = d.Poisoned((long)n * 3 * Plane + guard);
        d.Kernels.CropNormalize(d.Stream, d.Config(Preprocess.ThreadCount(n)), d.Upload(bytes).View, d.Upload(faces).View, output.View, n);
        var got = d.Download(output);

        for (int f = 0; f < n; f++)
        {
            var bx = boxes[f];
            var expected = RefPreprocess.CropNormalize(images[bx.Image], bx.L, bx.T, bx.R, bx.B);
            int basis = f * 3 * Plane;
            Expect.Close($"CropNormalize face {f} box ({bx.L}, {bx.T}, {bx.R}, {bx.B}) on {device.Description}", got, expected, 1e-5,
                at: i => basis + i, name: i => $"[c{i / Plane}, y{i / Preprocess.Size % Preprocess.Size}, x{i % Preprocess.Size}]");
        }
        Expect.Untouched("CropNormalize: past the output", got, i => i < n * 3 * Plane);
    }
}
