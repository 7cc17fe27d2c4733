using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>
/// A thread's 16 consecutive positions x 8 output channels: one <see cref="Acc16"/> row per channel. The register
/// tile of <see cref="WinogradConvolution.WinogradGemmF2"/> (16 tiles), <see cref="PointFeatures.PointMlp"/> (16
/// points), <see cref="TransposedConvolution.Deconv4x4S2"/> and <see cref="PhaseConvolution.Conv2DPhase"/> (16 wide-grid
/// positions) and <see cref="Convolution.Conv2DStrip"/> (16 output positions), and with the roles swapped of
/// <see cref="Linear"/> (16 outputs x 8 batch rows: a row of weights times each row's input); per reduction step one
/// 16-float load, eight broadcast weights, eight 16-wide multiply-adds.
/// </summary>
internal struct Tile16x8
{
    public Acc16 A0, A1, A2, A3, A4, A5, A6, A7;

    /// <summary>Adds <paramref name="row"/> (16 positions of one input channel) times each of the 8 weights from <paramref name="w"/>.</summary>
    public void Add(Acc16 row, ArrayView<float> weight, int w)
    {
        A0.Fma(row, weight[w]); A1.Fma(row, weight[w + 1]); A2.Fma(row, weight[w + 2]); A3.Fma(row, weight[w + 3]);
        A4.Fma(row, weight[w + 4]); A5.Fma(row, weight[w + 5]); A6.Fma(row, weight[w + 6]); A7.Fma(row, weight[w + 7]);
    }

    /// <summary>
    /// Adds <paramref name="row"/> times each of eight separate values (the dense layers: 16 contiguous weights times
    /// the input of each of 8 batch rows).
    /// </summary>
    public void Add(Acc16 row, float v0, float v1, float v2, float v3, float v4, float v5, float v6, float v7)
    {
        A0.Fma(row, v0); A1.Fma(row, v1); A2.Fma(row, v2); A3.Fma(row, v3);
        A4.Fma(row, v4); A5.Fma(row, v5); A6.Fma(row, v6); A7.Fma(row, v7);
    }

    /// <summary>Point <paramref name="point"/> (0-15) of channel <paramref name="channel"/> (0-7).</summary>
    public readonly float Get(int channel, int point) => (channel switch
    {
        0 => A0, 1 => A1, 2 => A2, 3 => A3, 4 => A4, 5 => A5, 6 => A6, _ => A7,
    }).Get(point);

    /// <summary>x[at + min(i, last)] for i = 0..15: a row of a map shorter than 16 points.</summary>
    public static Acc16 LoadClamped(ArrayView<float> x, int at, int last) => new()
    {
        T0 = x[at], T1 = x[at + Min(1, last)], T2 = x[at + Min(2, last)], T3 = x[at + Min(3, last)],
        T4 = x[at + Min(4, last)], T5 = x[at + Min(5, last)], T6 = x[at + Min(6, last)], T7 = x[at + Min(7, last)],
        T8 = x[at + Min(8, last)], T9 = x[at + Min(9, last)], T10 = x[at + Min(10, last)], T11 = x[at + Min(11, last)],
        T12 = x[at + Min(12, last)], T13 = x[at + Min(13, last)], T14 = x[at + Min(14, last)], T15 = x[at + Min(15, last)],
    };

    /// <summary>act(row[i] + bias) for each of the 16 entries (<see cref="Act.Select"/>: branch-free).</summary>
    public static Acc16 Activated(Acc16 row, float bias, Activation act) => new()
    {
        T0 = Act.Select(row.T0 + bias, act), T1 = Act.Select(row.T1 + bias, act), T2 = Act.Select(row.T2 + bias, act),
        T3 = Act.Select(row.T3 + bias, act), T4 = Act.Select(row.T4 + bias, act), T5 = Act.Select(row.T5 + bias, act),
        T6 = Act.Select(row.T6 + bias, act), T7 = Act.Select(row.T7 + bias, act), T8 = Act.Select(row.T8 + bias, act),
        T9 = Act.Select(row.T9 + bias, act), T10 = Act.Select(row.T10 + bias, act), T11 = Act.Select(row.T11 + bias, act),
        T12 = Act.Select(row.T12 + bias, act), T13 = Act.Select(row.T13 + bias, act), T14 = Act.Select(row.T14 + bias, act),
        T15 = Act.Select(row.T15 + bias, act),
    };

    private static int Min(int a, int b) => a < b ? a : b;
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
