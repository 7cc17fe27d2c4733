using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>
/// A thread's 4 x 16 accumulator tile (4 batch rows or points x 16 output channels: channels 0-7 in A, 8-15 in D),
/// the shape of <see cref="Linear"/> and <see cref="PointFeatures.PointMlp"/>.
/// </summary>
internal struct Tile4x16
{
    public Acc8 A0, A1, A2, A3, D0, D1, D2, D3;

    /// <summary>The accumulator of row (or point) <paramref name="row"/>, channel <paramref name="c"/> (0-15).</summary>
    public readonly float Get(int row, int c)
    {
        var a = row == 0 ? (c < 8 ? A0 : D0) : row == 1 ? (c < 8 ? A1 : D1) : row == 2 ? (c < 8 ? A2 : D2) : (c < 8 ? A3 : D3);
        return a.Get(c & 7);
    }

    /// <summary>Adds the 16 weights from <paramref name="w"/> times each of the four values, one per row.</summary>
    public void Add(ArrayView<float> weight, int w, float v0, float v1, float v2, float v3)
    {
        int w8 = w + 8;
        A0.Fma(weight, w, v0); D0.Fma(weight, w8, v0); A1.Fma(weight, w, v1); D1.Fma(weight, w8, v1);
        A2.Fma(weight, w, v2); D2.Fma(weight, w8, v2); A3.Fma(weight, w, v3); D3.Fma(weight, w8, v3);
    }
}

/// <summary>Loads shared by those kernels.</summary>
internal static class FusedLoads
{
    /// <summary><c>input[channelBase + offset]</c>, or 0 for a tap outside the map (<paramref name="offset"/> &lt; 0); the load stays in bounds.</summary>
    public static float Masked(ArrayView<float> input, int channelBase, int offset)
    {
        float v = input[channelBase + (offset >= 0 ? offset : 0)];
        return offset >= 0 ? v : 0f;
    }
}
