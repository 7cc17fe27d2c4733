using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>
/// Eight accumulators (one per output channel of a thread's 8-channel tile) updated with fused multiply-adds:
/// <see cref="FusedMath.MultiplyAdd"/> becomes OpenCL C's <c>fma</c> and PTX's <c>fma.rn.f32</c>
/// (<c>Backends/FusedMultiplyAdd</c>), which LLVM's SLP vectoriser packs into one vector FMA on PoCL, where
/// <c>acc += w * x</c> stayed a separate multiply and add. The transposed convolution, dense and point-MLP kernels use it.
/// </summary>
internal struct FmaAcc8
{
    public float C0, C1, C2, C3, C4, C5, C6, C7;

    /// <summary>C[c] += w[at + c] * x for the 8 channels.</summary>
    public void Add(ArrayView<float> w, int at, float x)
    {
        C0 = FusedMath.MultiplyAdd(w[at], x, C0); C1 = FusedMath.MultiplyAdd(w[at + 1], x, C1);
        C2 = FusedMath.MultiplyAdd(w[at + 2], x, C2); C3 = FusedMath.MultiplyAdd(w[at + 3], x, C3);
        C4 = FusedMath.MultiplyAdd(w[at + 4], x, C4); C5 = FusedMath.MultiplyAdd(w[at + 5], x, C5);
        C6 = FusedMath.MultiplyAdd(w[at + 6], x, C6); C7 = FusedMath.MultiplyAdd(w[at + 7], x, C7);
    }

    public readonly float Get(int c) => c switch { 0 => C0, 1 => C1, 2 => C2, 3 => C3, 4 => C4, 5 => C5, 6 => C6, _ => C7 };
}

/// <summary>
/// A thread's 4 x 16 accumulator tile (4 batch rows or points x 16 output channels: channels 0-7 in A, 8-15 in D),
/// the shape of <see cref="Linear"/> and <see cref="PointFeatures.PointMlp"/>.
/// </summary>
internal struct Tile4x16
{
    public FmaAcc8 A0, A1, A2, A3, D0, D1, D2, D3;

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
        A0.Add(weight, w, v0); D0.Add(weight, w8, v0); A1.Add(weight, w, v1); D1.Add(weight, w8, v1);
        A2.Add(weight, w, v2); D2.Add(weight, w8, v2); A3.Add(weight, w, v3); D3.Add(weight, w8, v3);
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
