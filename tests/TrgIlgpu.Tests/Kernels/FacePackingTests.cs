using TrgIlgpu.Engine;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>FacePacking's layouts (element by element from the TF layouts), its shape errors, ResizeItem's padding, and TfPadding.</summary>
public sealed class FacePackingTests
{
    [Fact]
    public void Conv_HwioToTapMajorPaddedTo8()
    {
        var rng = new TestRandom(2000);
        int k = 3, cin = 5, cout = 11;
        var hwio = rng.Gaussian(k * k * cin * cout);
        var bias = rng.Gaussian(cout);
        var p = FacePacking.Conv("c", hwio, k, cin, cout, bias);
        Assert.Equal(k * k * cin * 16, p.Weight.Length);
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
                for (int ci = 0; ci < cin; ci++)
                    for (int co = 0; co < 16; co++)
                        Assert.Equal(co < cout ? hwio[((ky * k + kx) * cin + ci) * cout + co] : 0f, p.Weight[((co / 8 * k * k + ky * k + kx) * cin + ci) * 8 + co % 8]);
        Assert.Equal(bias.Concat(new float[5]), p.Bias);
    }

    [Fact]
    public void Depthwise_FoldsBatchNormInFloat64()
    {
        var rng = new TestRandom(2001);
        int c = 7;
        var f = rng.Gaussian(9 * c);
        var bn = new TfBatchNorm(rng.Gaussian(c), rng.Uniform(c, 0.3, 2), rng.Gaussian(c), rng.Uniform(c, 0.5, 1.5));
        var p = FacePacking.Depthwise("d", f, c, bn);
        for (int ch = 0; ch < c; ch++)
        {
            double s = bn.Scale[ch] / Math.Sqrt(bn.Variance[ch] + 0.0010000000474974513);
            for (int t = 0; t < 9; t++) Assert.Equal((float)(f[t * c + ch] * s), p.Weight[ch * 9 + t]);
            Assert.Equal((float)(bn.Offset[ch] - bn.Mean[ch] * s), p.Bias[ch]);
        }
        var plain = FacePacking.Depthwise("d", f, c);
        Assert.All(plain.Bias, v => Assert.Equal(0f, v));
        Assert.Equal(f[4 * c + 3], plain.Weight[3 * 9 + 4]);
    }

    [Fact]
    public void PointwiseAndDense_PadOutputs()
    {
        var rng = new TestRandom(2002);
        var io = rng.Gaussian(6 * 18);
        var pw = FacePacking.Pointwise("p", io, 6, 18);
        Assert.Equal(6 * 32, pw.Weight.Length);
        Assert.Equal(io[4 * 18 + 17], pw.Weight[4 * 32 + 17]);
        Assert.Equal(0f, pw.Weight[4 * 32 + 18]);
        Assert.Equal(32, pw.Bias.Length);
        var fc = FacePacking.Dense("fc", io, 6, 18, rng.Gaussian(18));
        Assert.Equal(6 * 32, fc.Weight.Length);
        Assert.Equal(io[5 * 18 + 2], fc.Weight[5 * 16 + 2]);        // block 0 (outputs 0-15), input 5
        Assert.Equal(io[5 * 18 + 17], fc.Weight[(6 + 5) * 16 + 1]); // block 1 (outputs 16-31), input 5
        Assert.Equal(0f, fc.Weight[(6 + 5) * 16 + 2]);              // padding output 18
    }

    [Fact]
    public void WrongShapes_ThrowInvalidModelNamingTheLayer()
    {
        var e = Assert.Throws<TrgException>(() => FacePacking.Conv("MobilenetV1/Conv2d_0", new float[26], 3, 3, 1));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Contains("MobilenetV1/Conv2d_0", e.Message);
        Assert.Contains("[3, 3, 3, 1]", e.Message);
        var bn = new TfBatchNorm(new float[4], new float[3], new float[4], new float[4]);
        e = Assert.Throws<TrgException>(() => FacePacking.Depthwise("dw", new float[36], 4, bn));
        Assert.Contains("variance", e.Message);
        Assert.Throws<TrgException>(() => FacePacking.Pointwise("pw", new float[12], 3, 4, new float[3]));
        Assert.Throws<TrgException>(() => FacePacking.Dense("fc", new float[11], 3, 4, new float[4]));
    }

    [Theory]
    [InlineData(9, 14, SquarePadding.Centred, 2, 0)]      // diff 5: Math.round(2.5) = 3 after, 2 before
    [InlineData(14, 9, SquarePadding.Centred, 0, 2)]
    [InlineData(10, 14, SquarePadding.Centred, 2, 0)]     // diff 4: 2 and 2
    [InlineData(77, 91, SquarePadding.Centred, 7, 0)]     // diff 14
    [InlineData(9, 14, SquarePadding.BottomRight, 0, 0)]
    public void ResizeItem_PadsLikePadToSquare(int w, int h, SquarePadding padding, int offsetX, int offsetY)
    {
        var it = FacePacking.ResizeItem(300, 200, 100, 5, 6, w, h, padding, 112);
        Assert.Equal((Math.Max(w, h), offsetX, offsetY), (it.Side, it.OffsetX, it.OffsetY));
        Assert.Equal((300, 200, 5, 6, w, h), (it.ImageOffset, it.ImageWidth, it.X, it.Y, it.Width, it.Height));
        Assert.Equal((float)Math.Max(w, h) / 112f, it.Scale);
    }

    [Theory]
    [InlineData(-1, 0, 10, 10)]
    [InlineData(0, 0, 0, 10)]
    [InlineData(195, 0, 6, 10)]
    [InlineData(0, 91, 10, 10)]
    public void ResizeItem_RectangleOutsideTheImage_ThrowsInvalidBox(int x, int y, int w, int h)
    {
        var e = Assert.Throws<TrgException>(() => FacePacking.ResizeItem(0, 200, 100, x, y, w, h, SquarePadding.Centred, 112));
        Assert.Equal(ErrorKind.InvalidBox, e.Kind);
        Assert.Contains("200x100", e.Message);
    }

    [Theory]
    [InlineData(512, 3, 2, TfPaddingMode.Same, 256, 0)]
    [InlineData(7, 3, 2, TfPaddingMode.Same, 4, 1)]
    [InlineData(32, 3, 1, TfPaddingMode.Same, 32, 1)]
    [InlineData(207, 2, 2, TfPaddingMode.Same, 104, 0)]
    [InlineData(13, 2, 1, TfPaddingMode.Same, 13, 0)]
    [InlineData(416, 3, 1, TfPaddingMode.Valid, 414, 0)]
    [InlineData(7, 7, 2, TfPaddingMode.Valid, 1, 0)]
    public void TfPadding_OutputAndBefore(int size, int k, int s, TfPaddingMode mode, int output, int before)
    {
        Assert.Equal(output, TfPadding.Output(size, k, s, mode));
        Assert.Equal(before, TfPadding.Before(size, k, s, mode));
    }
}
