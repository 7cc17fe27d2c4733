using ILGPU;
using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;
using static TrgIlgpu.Tests.Kernels.ConvolutionKernelTests;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// Winograd F(4x4, 3x3): WinogradInputF4, WinogradGemmF4x16 and WinogradOutputF4 as the engine launches them, against
/// the float64 direct convolution (conv2d 3x3/1/1 + BatchNorm (+ identity shortcut) + activation, written from the
/// definition) with the direct and F2 kernels' tolerance (rtol 1e-5 of the sum of |terms|; F4's float32 error
/// measured 0.75-0.9e-6 of it on TRGv2's shapes: docs/devices.md, "Winograd F(4x4, 3x3) (round seven)"); the input
/// transform alone against B^T d B in float64; the weights from <see cref="Pack.WinogradF4"/> (U = G g G^T from the
/// interpolation points' definition). V, M and the output are poisoned, with guards past their ends.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class WinogradF4KernelTests(KernelDevices devices)
{
    public static TheoryData<string> CpuCases => new(CpuCaseTable.Keys);

    /// <summary>
    /// Maps not a multiple of 4 (the last tile row or column partly outside), smaller than one tile, batch > 1,
    /// 16 and 32 padded output channels (some padding), every activation, identity and projection shortcuts (the projection
    /// as the plan runs it: its own 1x1 stride-2 launch first).
    /// </summary>
    private static readonly Dictionary<string, Case> CpuCaseTable = new()
    {
        ["9x7 map, batch 3, Cout 16, leaky + conv bias + bn"] = new(3, 5, 9, 7, 16, 3, 1, 1, Activation.LeakyRelu, ConvBias: true),
        ["6x5 map, batch 2, Cout 11, relu"] = new(2, 4, 6, 5, 11, 3, 1, 1, Activation.Relu),
        ["8x8 map, Cout 16, no activation, no bn"] = new(2, 3, 8, 8, 16, 3, 1, 1, Activation.None, Bn: false),
        ["1x1 map (one tile, 15 of 16 outputs outside)"] = new(2, 6, 1, 1, 9, 3, 1, 1, Activation.Relu),
        ["3x2 map"] = new(1, 3, 3, 2, 14, 3, 1, 1, Activation.LeakyRelu),
        ["identity shortcut, 7x10, Cout 10, leaky"] = new(3, 4, 7, 10, 10, 3, 1, 1, Activation.LeakyRelu, Shortcut: Shortcut.Identity),
        ["identity shortcut, 5x5, relu6"] = new(2, 3, 5, 5, 16, 3, 1, 1, Activation.Relu6, Shortcut: Shortcut.Identity),
        ["13x11 map, batch 2, Cout 29 (two 16-channel pairs), face-api leaky"] = new(2, 5, 13, 11, 29, 3, 1, 1, Activation.LeakyRelu01),
        ["projection shortcut, 7x5 from 13x9, batch 2, Cout 16, relu"] = new(2, 6, 7, 5, 16, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Projection, Cs: 3, Hs: 13, Ws: 9, Ss: 2),
        ["projection shortcut, 5x3 from 9x5, Cout 13, no activation"] = new(1, 4, 5, 3, 13, 3, 1, 1, Activation.None, Shortcut: Shortcut.Projection, Cs: 6, Hs: 9, Ws: 5, Ss: 2),
    };

    [Theory]
    [MemberData(nameof(CpuCases))]
    public void Conv3x3F4_Cpu_MatchesReference(string name) => Run(devices.Cpu, CpuCaseTable[name], TestRandom.SeedOf(name));

    /// <summary>TRGv2's shapes the F4 rule can choose (layers 1-3 with and without projection, layer 4, the heatmap 3x3), and odd ones.</summary>
    [OpenCLFact]
    public void Conv3x3F4_OpenCL_ModelShapes_MatchReference()
    {
        var cl = devices.OpenCL;
        Run(cl, new(2, 64, 48, 48, 64, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity), seed: 301);           // layer1.*.conv2, batch 2
        Run(cl, new(1, 128, 24, 24, 128, 3, 1, 1, Activation.Relu), seed: 302);                                     // layer2.1.conv1
        Run(cl, new(2, 128, 24, 24, 128, 3, 1, 1, Activation.Relu,
            Shortcut: Shortcut.Projection, Cs: 64, Hs: 48, Ws: 48, Ss: 2), seed: 307);                               // layer2.0.conv2, batch 2
        Run(cl, new(1, 256, 12, 12, 256, 3, 1, 1, Activation.Relu,
            Shortcut: Shortcut.Projection, Cs: 128, Hs: 24, Ws: 24, Ss: 2), seed: 308);                              // layer3.0.conv2
        Run(cl, new(1, 256, 12, 12, 256, 3, 1, 1, Activation.Relu, Shortcut: Shortcut.Identity), seed: 303);        // layer3.1.conv2
        Run(cl, new(1, 512, 6, 6, 512, 3, 1, 1, Activation.Relu), seed: 304);                                       // layer4.1.conv1
        Run(cl, new(1, 256, 24, 24, 256, 3, 1, 1, Activation.LeakyRelu, ConvBias: true), seed: 305);                // heatmap.conv3x3
        Run(cl, new(3, 20, 13, 7, 27, 3, 1, 1, Activation.LeakyRelu, Shortcut: Shortcut.Identity), seed: 306);      // odd everything
    }

    /// <summary>WinogradInputF4 alone: V = B^T d B in float64 for every tile, channel and component, zeros past the last tile.</summary>
    [Fact]
    public void InputF4_Cpu_MatchesBtDB() => RunInput(devices.Cpu, new(3, 5, 9, 7, 16, 3, 1, 1, Activation.None), seed: 311);

    [OpenCLFact]
    public void InputF4_OpenCL_MatchesBtDB()
    {
        RunInput(devices.OpenCL, new(3, 5, 9, 7, 16, 3, 1, 1, Activation.None), seed: 312);
        RunInput(devices.OpenCL, new(1, 64, 48, 48, 64, 3, 1, 1, Activation.None), seed: 313);
    }

    /// <summary>
    /// B^T of Toom-Cook F(4, 3) for <see cref="Pack.WinogradF4Points"/>, with <see cref="Pack.WinogradF4G"/> and
    /// <see cref="AT"/>: <see cref="Transforms_AreAnF4x3Algorithm"/> checks the three against the correlation itself.
    /// </summary>
    private static readonly double[,] BT =
    {
        { 1, -1.5, -2, 1.5, 1, 0 },
        { 0, -1, 0.5, 2.5, 1, 0 },
        { 0, 1, -2.5, 0.5, 1, 0 },
        { 0, -2, -1, 2, 1, 0 },
        { 0, 0.5, -1, -0.5, 1, 0 },
        { 0, 1, -1.5, -2, 1.5, 1 },
    };

    /// <summary>A^T: row i of a finite point a is a^i, the infinity column (0, 0, 0, 1).</summary>
    private static readonly double[,] AT =
    {
        { 1, 1, 1, 1, 1, 0 },
        { 0, 1, -1, 0.5, -2, 0 },
        { 0, 1, 1, 0.25, 4, 0 },
        { 0, 1, -1, 0.125, -8, 1 },
    };

    /// <summary>y_i = sum_k g_k d_{i+k} = sum_j A^T[i, j] (G g)_j (B^T d)_j for every basis g and d, in float64.</summary>
    [Fact]
    public void Transforms_AreAnF4x3Algorithm()
    {
        var g = Pack.WinogradF4G();
        for (int i = 0; i < 4; i++)
            for (int k = 0; k < 3; k++)
                for (int l = 0; l < 6; l++)
                {
                    double y = 0;
                    for (int j = 0; j < 6; j++) y += AT[i, j] * g[j, k] * BT[j, l];
                    Assert.True(Math.Abs(y - (l == i + k ? 1 : 0)) < 1e-12, $"A^T G B^T at (i {i}, k {k}, l {l}) = {y}");
                }
    }

    private static void Run(DeviceUnderTest device, Case c, int seed)
    {
        var t = Prepare(c, seed);
        var p = t.Params;
        Assert.True(WinogradConvolution.SupportsF4(p), $"{c}: not an F4 shape");
        var packed = Pack.WinogradF4(t.Weight, c.Cout, c.Cin, t.Bn, t.ConvBias, t.ProjWeight, c.Cs, t.ProjBn);
        using var d = device.Begin();
        const int guard = 37;
        long vLength = WinogradConvolution.TransformLengthF4(p), mLength = WinogradConvolution.ProductLengthF4(p);
        var v = d.Poisoned(vLength + guard);
        var m = d.Poisoned(mLength + guard);
        var output = d.Poisoned(t.OutShape.Length + guard);
        d.Kernels.WinogradInputF4(d.Stream, d.Config(WinogradConvolution.InputThreadCountF4(p)), d.Upload(t.Input).View, v.View, p);
        d.Kernels.WinogradGemmF4x16(d.Stream, d.Config(WinogradConvolution.Gemm16ThreadCountF4(p)), v.View, d.Upload(packed.Weight).View, m.View, p);
        ArrayView<float> shortcut = t.Shortcut is null ? d.Unused : d.Upload(t.Shortcut).View;
        var q = p;
        if (p.ShortcutMode == Convolution.ShortcutProjection)
            // As the plan runs it (KernelPolicy.SeparateProjection): the projection as its own 1x1 convolution, added by
            // the output transform as an identity shortcut.
            (shortcut, q) = (WinogradKernelTests.Projection(d, shortcut, packed.ShortcutWeight!, p, guard), p with
            {
                ShortcutMode = Convolution.ShortcutIdentity, ShortcutChannels = p.OutChannels, ShortcutHeight = p.OutHeight,
                ShortcutWidth = p.OutWidth, ShortcutStride = 1,
            });
        d.Kernels.WinogradOutputF4(d.Stream, d.Config(WinogradConvolution.OutputThreadCountF4(q)), m.View, d.Upload(packed.Bias).View,
            shortcut, d.Unused, output.View, q);
        var got = d.Download(output);

        Expect.Close($"Winograd F4 (3 launches) {c} on {device.Description}", got, t.Expected, 1e-5, name: i => Where(t.OutShape, i));
        Expect.Untouched($"Winograd F4 {c}: past the output", got, i => i < t.OutShape.Length);
        var transformed = d.Download(v);
        Expect.Untouched($"Winograd F4 {c}: past V", transformed, i => i < vLength);
        Assert.DoesNotContain(transformed.Take((int)vLength), Poison.Is);
        var result = d.Download(m);
        Expect.Untouched($"Winograd F4 {c}: past M", result, i => i < mLength);
        Assert.DoesNotContain(result.Take((int)mLength), Poison.Is);
    }

    private static void RunInput(DeviceUnderTest device, Case c, int seed)
    {
        var t = Prepare(c, seed);
        var p = t.Params;
        using var d = device.Begin();
        const int guard = 37;
        long vLength = WinogradConvolution.TransformLengthF4(p);
        var v = d.Poisoned(vLength + guard);
        d.Kernels.WinogradInputF4(d.Stream, d.Config(WinogradConvolution.InputThreadCountF4(p)), d.Upload(t.Input).View, v.View, p);
        var got = d.Download(v);
        Expect.Untouched($"WinogradInputF4 {c}: past V", got, i => i < vLength);

        // Float64 B^T d B per (tile, channel); scale: sum over the patch of |B^T| |d| |B| (float32 rounding grows with it).
        int stride = WinogradConvolution.TileStrideF4(p), tiles = WinogradConvolution.TilesF4(p), tilesX = WinogradConvolution.TilesXF4(p);
        int count = WinogradConvolution.TileCountF4(p), cin = c.Cin;
        var expected = new RefTensor((int)vLength);
        var d64 = new double[6, 6];
        for (int tile = 0; tile < stride; tile++)
            for (int ci = 0; ci < cin; ci++)
            {
                int b = tile / tiles, ty = tile % tiles / tilesX, tx = tile % tiles % tilesX;
                for (int y = 0; y < 6; y++)
                    for (int x = 0; x < 6; x++)
                    {
                        int iy = 4 * ty - 1 + y, ix = 4 * tx - 1 + x;
                        d64[y, x] = tile < count && iy >= 0 && iy < c.H && ix >= 0 && ix < c.W ? t.Input[((b * cin + ci) * c.H + iy) * c.W + ix] : 0;
                    }
                for (int i = 0; i < 6; i++)
                    for (int j = 0; j < 6; j++)
                    {
                        double value = 0, scale = 0;
                        for (int y = 0; y < 6; y++)
                            for (int x = 0; x < 6; x++)
                            {
                                value += BT[i, y] * d64[y, x] * BT[j, x];
                                scale += Math.Abs(BT[i, y] * d64[y, x] * BT[j, x]);
                            }
                        int at = (6 * i + j) * cin * stride + (tile / 16 * cin + ci) * 16 + tile % 16;
                        expected.Set(at, value, scale);
                    }
            }
        Expect.Close($"WinogradInputF4 {c} on {device.Description}", got, expected, 1e-6);
    }
}
