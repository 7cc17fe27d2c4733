using ILGPU;

namespace TrgIlgpu.Kernels;

internal static class Act
{
    public static float Apply(float v, int activation) =>
        activation == (int)Activation.Relu ? (v > 0f ? v : 0f)
        : activation == (int)Activation.LeakyRelu ? (v > 0f ? v : v * 0.01f)
        : v;
}

/// <summary>Four floats: one accumulator per output channel of a thread's tile.</summary>
internal struct Acc4
{
    public float C0, C1, C2, C3;

    public void Fma(ArrayView<float> w, int at, float x)
    {
        C0 += w[at] * x; C1 += w[at + 1] * x; C2 += w[at + 2] * x; C3 += w[at + 3] * x;
    }

    public float Get(int c) => c == 0 ? C0 : c == 1 ? C1 : c == 2 ? C2 : C3;
}

/// <summary>Eight floats: one accumulator per output channel of a thread's 8-channel tile.</summary>
internal struct Acc8
{
    public float C0, C1, C2, C3, C4, C5, C6, C7;

    public void Fma(ArrayView<float> w, int at, float x)
    {
        C0 += w[at] * x; C1 += w[at + 1] * x; C2 += w[at + 2] * x; C3 += w[at + 3] * x;
        C4 += w[at + 4] * x; C5 += w[at + 5] * x; C6 += w[at + 6] * x; C7 += w[at + 7] * x;
    }

    public float Get(int c) => c switch { 0 => C0, 1 => C1, 2 => C2, 3 => C3, 4 => C4, 5 => C5, 6 => C6, _ => C7 };
}
