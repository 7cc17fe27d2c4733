using ILGPU;
using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;
using static TrgIlgpu.Tests.Kernels.ConvolutionKernelTests;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// The producers that write a stride-2 convolution's phase planes in place of PhaseSplit (round nine):
/// CropNormalizePlanes, WinogradOutputF2Planes and WinogradOutputF4Planes, against their float64 outputs laid out as
/// planes from the planes' definition (plane (r, s)[a][x] = output[2a + r - P][2x + s - P]). The planes are poisoned
/// with NaN first, with a guard past their end: every padding cell, every row past PH and the tail must come back an
/// exact zero (tolerance 0), the values within the kernels' usual tolerance, nothing written past the planes.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class PlaneProducerKernelTests(KernelDevices devices)
{
    private const int Guard = 37;

    /// <summary>The 3x3 (or K x K) stride-2 convolution that reads a [batch, channels, h, w] map through its planes.</summary>
    private static ConvParams Split(int batch, int channels, int h, int w, int kernel = 3) => new()
    {
        Batch = batch, InChannels = channels, InHeight = h, InWidth = w, OutChannels = 8,
        OutHeight = (h + 2 * (kernel / 2) - kernel) / 2 + 1, OutWidth = (w + 2 * (kernel / 2) - kernel) / 2 + 1,
        Kernel = kernel, Stride = 2, Pad = kernel / 2, Activation = (int)Activation.Relu,
    };

    /// <summary>An NCHW reference laid out as <paramref name="split"/>'s planes: its values and scales in place, exact zeros elsewhere.</summary>
    private static RefTensor AsPlanes(RefTensor nchw, ConvParams split, int basis = 0)
    {
        int stride = PhaseConvolution.PlaneStride(split), pw = PhaseConvolution.PlaneWidth(split), ph = PhaseConvolution.PlaneHeight(split);
        int pad = PhaseConvolution.PlanePad(split), h = split.InHeight, w = split.InWidth;
        var planes = new RefTensor(checked((int)PhaseConvolution.PlanesLength(split)));
        for (int bc = 0; bc < split.Batch * split.InChannels; bc++)
            for (int phase = 0; phase < 4; phase++)
                for (int a = 0; a < ph; a++)
                    for (int x = 0; x < pw; x++)
                    {
                        int iy = 2 * a + (phase >> 1) - pad, ix = 2 * x + (phase & 1) - pad;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                        int from = basis + (bc * h + iy) * w + ix;
                        planes.Set((bc * 4 + phase) * stride + a * pw + x, nchw.Value[from], nchw.Scale[from], nchw.Slack[from]);
                    }
        return planes;
    }

    private static void ExpectPlanes(string what, float[] got, RefTensor expected, ConvParams split, double rtol)
    {
        int stride = PhaseConvolution.PlaneStride(split);
        Expect.Close(what, got, expected, rtol, name: i => $"[bc{i / stride / 4}, phase{i / stride % 4}, {i % stride}]");
        Expect.Untouched($"{what}: past the planes", got, i => i < expected.Length);
        // The padding, the rows past PH and the tails: zeros (Close with a zero scale), none of them left as the poison.
        Assert.DoesNotContain(got.Take(expected.Length), Poison.Is);
    }

    public static TheoryData<string> WinogradCases => new(WinogradCaseTable.Keys);

    /// <summary>Even maps (the planes' rule), square and not, batch > 1, channel counts below and between multiples of 8 and 16, identity shortcuts.</summary>
    private static readonly Dictionary<string, Case> WinogradCaseTable = new()
    {
        ["6x10 map, batch 2, Cout 11, identity shortcut"] = new(2, 5, 6, 10, 11, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity),
        ["8x4 map, batch 3, Cout 9, leaky + conv bias"] = new(3, 4, 8, 4, 9, 3, 1, 1, Activation.LeakyRelu, ConvBias: true),
        ["12x12 map, Cout 16, no activation, no bn"] = new(1, 3, 12, 12, 16, 3, 1, 1, Activation.None, Bn: false, ConvBias: true),
        ["10x14 map, batch 2, Cout 13, identity shortcut, leaky"] = new(2, 6, 10, 14, 13, 3, 1, 1, Activation.LeakyRelu, Shortcut: Shortcut.Identity),
    };

    [Theory]
    [MemberData(nameof(WinogradCases))]
    public void WinogradOutputF2Planes_Cpu_MatchesReferencePlanes(string name) => RunF2(devices.Cpu, WinogradCaseTable[name], TestRandom.SeedOf(name));

    [Theory]
    [MemberData(nameof(WinogradCases))]
    public void WinogradOutputF4Planes_Cpu_MatchesReferencePlanes(string name) => RunF4(devices.Cpu, WinogradCaseTable[name], TestRandom.SeedOf(name));

    /// <summary>TRGv2's producers of planes (layer1.1.conv2 and layer2.1.conv2 in F4, layer3.1.conv2 in F2), batch 2, and an odd-channel one.</summary>
    [OpenCLFact]
    public void WinogradOutputPlanes_OpenCL_ModelShapes_MatchReferencePlanes()
    {
        var cl = devices.OpenCL;
        RunF4(cl, new(2, 64, 48, 48, 64, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity), seed: 901);   // layer1.1.conv2
        RunF4(cl, new(1, 128, 24, 24, 128, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity), seed: 902); // layer2.1.conv2
        RunF2(cl, new(2, 256, 12, 12, 256, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity), seed: 903); // layer3.1.conv2
        RunF2(cl, new(3, 20, 10, 6, 27, 3, 1, 1, Activation.LeakyRelu, Shortcut: Shortcut.Identity), seed: 904);
        RunF4(cl, new(3, 20, 10, 6, 27, 3, 1, 1, Activation.LeakyRelu, Shortcut: Shortcut.Identity), seed: 905);
    }

    [Fact]
    public void SupportsPlanes_EvenMapsOfTheSameTensorWithATileForEachTailBlock()
    {
        var p = new ConvParams
        {
            Batch = 2, InChannels = 64, InHeight = 48, InWidth = 48, OutChannels = 64, OutHeight = 48, OutWidth = 48,
            Kernel = 3, Stride = 1, Pad = 1, Activation = (int)Activation.Relu, ShortcutMode = Convolution.ShortcutIdentity,
        };
        var split = Split(2, 64, 48, 48);
        Assert.True(WinogradConvolution.SupportsPlanes(p, split));
        Assert.False(WinogradConvolution.SupportsPlanes(p, split with { Batch = 1 }));
        Assert.False(WinogradConvolution.SupportsPlanes(p, Split(2, 64, 48, 48, kernel: 5)));               // plane padding 2
        Assert.False(WinogradConvolution.SupportsPlanes(p, split with { Stride = 1, OutHeight = 48, OutWidth = 48 }));
        var odd = p with { InHeight = 47, OutHeight = 47 };
        Assert.False(WinogradConvolution.SupportsPlanes(odd, Split(2, 64, 47, 48)));                          // an odd map
        // A 2x2 map: one tile, a 16-float tail (4 blocks).
        var tiny = p with { InHeight = 2, InWidth = 2, OutHeight = 2, OutWidth = 2 };
        Assert.False(WinogradConvolution.SupportsPlanes(tiny, Split(2, 64, 2, 2)));
        Assert.True(Preprocess.SupportsPlanes(Split(3, 3, Preprocess.Size, Preprocess.Size, kernel: 7), 3));
        Assert.False(Preprocess.SupportsPlanes(Split(3, 3, Preprocess.Size, Preprocess.Size, kernel: 7), 2));
        Assert.False(Preprocess.SupportsPlanes(Split(3, 4, Preprocess.Size, Preprocess.Size, kernel: 7), 3));
    }

    private static void RunF2(DeviceUnderTest device, Case c, int seed)
    {
        var t = Prepare(c, seed);
        var p = t.Params;
        var split = Split(c.Batch, c.Cout, c.H, c.W);
        Assert.True(WinogradConvolution.SupportsPlanes(p, split), $"{c}: the output transform cannot write the planes");
        var packed = Pack.Winograd(t.Weight, c.Cout, c.Cin, t.Bn, t.ConvBias, t.ProjWeight, c.Cs, t.ProjBn);
        using var d = device.Begin();
        var v = d.Poisoned(WinogradConvolution.TransformLength(p) + Guard);
        var m = d.Poisoned(WinogradConvolution.ProductLength(p) + Guard);
        var expected = AsPlanes(t.Expected, split);
        var planes = d.Poisoned(expected.Length + Guard);
        d.Kernels.WinogradInputF2(d.Stream, d.Config(WinogradConvolution.InputThreadCount(p)), d.Upload(t.Input).View, v.View, p);
        d.Kernels.WinogradGemmF2(d.Stream, d.Config(WinogradConvolution.GemmThreadCount(p)), v.View, d.Upload(packed.Weight).View, m.View, p);
        ArrayView<float> shortcut = t.Shortcut is null ? d.Unused : d.Upload(t.Shortcut).View;
        d.Kernels.WinogradOutputF2Planes(d.Stream, d.Config(WinogradConvolution.OutputThreadCount(p)), m.View, d.Upload(packed.Bias).View,
            shortcut, planes.View, p, split);
        ExpectPlanes($"WinogradOutputF2Planes {c} on {device.Description}", d.Download(planes), expected, split, 1e-5);
    }

    private static void RunF4(DeviceUnderTest device, Case c, int seed)
    {
        var t = Prepare(c, seed);
        var p = t.Params;
        var split = Split(c.Batch, c.Cout, c.H, c.W);
        Assert.True(WinogradConvolution.SupportsF4(p), $"{c}: not an F4 shape");
        Assert.True(WinogradConvolution.SupportsPlanes(p, split), $"{c}: the output transform cannot write the planes");
        var packed = Pack.WinogradF4(t.Weight, c.Cout, c.Cin, t.Bn, t.ConvBias, t.ProjWeight, c.Cs, t.ProjBn);
        using var d = device.Begin();
        var v = d.Poisoned(WinogradConvolution.TransformLengthF4(p) + Guard);
        var m = d.Poisoned(WinogradConvolution.ProductLengthF4(p) + Guard);
        var expected = AsPlanes(t.Expected, split);
        var planes = d.Poisoned(expected.Length + Guard);
        d.Kernels.WinogradInputF4(d.Stream, d.Config(WinogradConvolution.InputThreadCountF4(p)), d.Upload(t.Input).View, v.View, p);
        d.Kernels.WinogradGemmF4x16(d.Stream, d.Config(WinogradConvolution.Gemm16ThreadCountF4(p)), v.View, d.Upload(packed.Weight).View, m.View, p);
        ArrayView<float> shortcut = t.Shortcut is null ? d.Unused : d.Upload(t.Shortcut).View;
        d.Kernels.WinogradOutputF4Planes(d.Stream, d.Config(WinogradConvolution.OutputThreadCountF4(p)), m.View, d.Upload(packed.Bias).View,
            shortcut, planes.View, p, split);
        ExpectPlanes($"WinogradOutputF4Planes {c} on {device.Description}", d.Download(planes), expected, split, 1e-5);
    }

    private const int Plane = Preprocess.Size * Preprocess.Size;

    /// <summary>The stem's planes (7x7, padding 3) and a 3x3's (padding 1), boxes inside and past every edge, batch 3.</summary>
    [Fact]
    public void CropNormalizePlanes_Cpu_BoxesInsideAndOutside_MatchReferencePlanes()
    {
        var rng = new TestRandom(941);
        RgbBytes a = new(37, 29, rng.Bytes(37 * 29 * 3)), b = new(50, 41, rng.Bytes(50 * 41 * 3));
        (int, float, float, float, float)[] boxes =
        [
            (0, -6.3f, 3.7f, 30.2f, 40.1f),   // past the left and bottom edges, not square
            (1, 10.5f, -8.25f, 60.75f, 42f),  // past the top and right edges
            (1, 0f, 0f, 49f, 40f),            // exactly the image
        ];
        RunCrop(devices.Cpu, [a, b], boxes, kernel: 7);
        RunCrop(devices.Cpu, [a, b], boxes, kernel: 3);
    }

    [OpenCLFact]
    public void CropNormalizePlanes_OpenCL_PhotoSizes_MatchReferencePlanes()
    {
        var rng = new TestRandom(942);
        RgbBytes photo = new(640, 480, rng.Bytes(640 * 480 * 3)), small = new(97, 133, rng.Bytes(97 * 133 * 3));
        (int, float, float, float, float)[] boxes =
        [
            (0, 153f, 49f, 295f, 191f),
            (1, -20.5f, 60.25f, 110.5f, 191.25f),
            (0, 560.75f, 400.5f, 700.25f, 540f),
        ];
        RunCrop(devices.OpenCL, [photo, small], boxes, kernel: 7);
        RunCrop(devices.OpenCL, [photo, small], boxes[..2], kernel: 3);
    }

    private static void RunCrop(DeviceUnderTest device, RgbBytes[] images, (int Image, float L, float T, float R, float B)[] boxes, int kernel)
    {
        var offsets = new int[images.Length];
        for (int i = 1; i < images.Length; i++) offsets[i] = offsets[i - 1] + images[i - 1].Pixels.Length;
        var pixels = images.SelectMany(im => im.Pixels).ToArray();
        var bytes = new TestRandom(pixels.Length).Bytes((int)Preprocess.ImageBufferBytes(pixels.Length));
        pixels.CopyTo(bytes, 0);
        var faces = boxes.Select(bx => new FaceParams
        {
            ImageOffset = offsets[bx.Image], Width = images[bx.Image].Width, Height = images[bx.Image].Height,
            Left = bx.L, Top = bx.T, Right = bx.R, Bottom = bx.B, Focal = 1000f,
        }).ToArray();
        int n = faces.Length;
        var crop = new RefTensor(n * 3 * Plane);
        for (int f = 0; f < n; f++)
        {
            var bx = boxes[f];
            var one = RefPreprocess.CropNormalize(images[bx.Image], bx.L, bx.T, bx.R, bx.B);
            for (int i = 0; i < one.Length; i++) crop.Set(f * 3 * Plane + i, one.Value[i], one.Scale[i], one.Slack[i]);
        }
        var split = Split(n, 3, Preprocess.Size, Preprocess.Size, kernel);
        Assert.True(Preprocess.SupportsPlanes(split, n));
        var expected = AsPlanes(crop, split);

        using var d = device.Begin();
        var planes = d.Poisoned(expected.Length + Guard);
        d.Kernels.CropNormalizePlanes(d.Stream, d.Config(Preprocess.PlanesThreadCount(split)), d.Upload(bytes).View, d.Upload(faces).View,
            planes.View, split);
        ExpectPlanes($"CropNormalizePlanes k{kernel}, {n} faces on {device.Description}", d.Download(planes), expected, split, 1e-5);
    }
}
