using ILGPU;

namespace TrgIlgpu.Kernels;

internal static class Act
{
    public static float Apply(float v, int activation) => Apply(v, (Activation)activation);

    public static float Apply(float v, Activation activation) =>
        activation == Activation.Relu ? (v > 0f ? v : 0f)
        : activation == Activation.LeakyRelu ? (v > 0f ? v : v * 0.01f)
        : activation == Activation.Relu6 ? (v > 0f ? (v < 6f ? v : 6f) : 0f)
        : activation == Activation.LeakyRelu01 ? LeakyTenth(v)
        : v;

    /// <summary>
    /// face-api's <c>leaky</c>: <c>m = x * 0.1f; relu(x - m) + m</c>, computed in that form rather than as
    /// <c>x &gt; 0 ? x : 0.1 x</c>. For x &gt; 0, (x - m) + m is rounded twice in float32 and can differ from x by an ulp;
    /// keeping TF's three operations makes the result bit-identical to the TF graph for the same input, which the
    /// end-to-end parity checks rely on. Two extra operations per output are negligible next to the convolution.
    /// </summary>
    private static float LeakyTenth(float v)
    {
        float m = v * 0.1f;
        float d = v - m;
        return (d > 0f ? d : 0f) + m;
    }
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
