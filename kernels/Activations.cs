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
    /// <see cref="Apply(float, Activation)"/> with every candidate computed and the result selected, bit-identical to it:
    /// no branch, so a loop-free kernel stays loop-free for PoCL's work-item vectoriser, where LLVM turns
    /// <see cref="Apply(float, Activation)"/>'s chain of branches into a switch ("loop not vectorized: loop contains a
    /// switch statement").
    /// </summary>
    public static float Select(float v, Activation activation)
    {
        float relu = v > 0f ? v : 0f;
        float leaky = v > 0f ? v : v * 0.01f;
        float relu6 = relu < 6f ? relu : 6f;
        float tenth = LeakyTenth(v);
        float r = activation == Activation.Relu ? relu : v;
        r = activation == Activation.LeakyRelu ? leaky : r;
        r = activation == Activation.Relu6 ? relu6 : r;
        return activation == Activation.LeakyRelu01 ? tenth : r;
    }

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
        C0 = FusedMultiplyAdd.Mad(w[at], x, C0); C1 = FusedMultiplyAdd.Mad(w[at + 1], x, C1);
        C2 = FusedMultiplyAdd.Mad(w[at + 2], x, C2); C3 = FusedMultiplyAdd.Mad(w[at + 3], x, C3);
    }

    public float Get(int c) => c == 0 ? C0 : c == 1 ? C1 : c == 2 ? C2 : C3;
}

/// <summary>Eight floats: one accumulator per output channel of a thread's 8-channel tile.</summary>
internal struct Acc8
{
    public float C0, C1, C2, C3, C4, C5, C6, C7;

    public void Fma(ArrayView<float> w, int at, float x)
    {
        C0 = FusedMultiplyAdd.Mad(w[at], x, C0); C1 = FusedMultiplyAdd.Mad(w[at + 1], x, C1);
        C2 = FusedMultiplyAdd.Mad(w[at + 2], x, C2); C3 = FusedMultiplyAdd.Mad(w[at + 3], x, C3);
        C4 = FusedMultiplyAdd.Mad(w[at + 4], x, C4); C5 = FusedMultiplyAdd.Mad(w[at + 5], x, C5);
        C6 = FusedMultiplyAdd.Mad(w[at + 6], x, C6); C7 = FusedMultiplyAdd.Mad(w[at + 7], x, C7);
    }

    public float Get(int c) => c switch { 0 => C0, 1 => C1, 2 => C2, 3 => C3, 4 => C4, 5 => C5, 6 => C6, _ => C7 };
}

/// <summary>
/// Sixteen floats: one accumulator per tile of a product thread's 16 consecutive tiles, for one output channel. Its
/// <see cref="Fma"/> (a row of 16 values times one weight) is the shape LLVM's SLP vectoriser packs into one AVX-512
/// fused multiply-add.
/// </summary>
internal struct Acc16
{
    public float T0, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15;

    /// <summary>x[at..at+16].</summary>
    public static Acc16 Load(ArrayView<float> x, int at) => new()
    {
        T0 = x[at], T1 = x[at + 1], T2 = x[at + 2], T3 = x[at + 3], T4 = x[at + 4], T5 = x[at + 5], T6 = x[at + 6],
        T7 = x[at + 7], T8 = x[at + 8], T9 = x[at + 9], T10 = x[at + 10], T11 = x[at + 11], T12 = x[at + 12],
        T13 = x[at + 13], T14 = x[at + 14], T15 = x[at + 15],
    };

    /// <summary>this += row * w.</summary>
    public void Fma(Acc16 row, float w)
    {
        T0 = FusedMultiplyAdd.Mad(row.T0, w, T0); T1 = FusedMultiplyAdd.Mad(row.T1, w, T1);
        T2 = FusedMultiplyAdd.Mad(row.T2, w, T2); T3 = FusedMultiplyAdd.Mad(row.T3, w, T3);
        T4 = FusedMultiplyAdd.Mad(row.T4, w, T4); T5 = FusedMultiplyAdd.Mad(row.T5, w, T5);
        T6 = FusedMultiplyAdd.Mad(row.T6, w, T6); T7 = FusedMultiplyAdd.Mad(row.T7, w, T7);
        T8 = FusedMultiplyAdd.Mad(row.T8, w, T8); T9 = FusedMultiplyAdd.Mad(row.T9, w, T9);
        T10 = FusedMultiplyAdd.Mad(row.T10, w, T10); T11 = FusedMultiplyAdd.Mad(row.T11, w, T11);
        T12 = FusedMultiplyAdd.Mad(row.T12, w, T12); T13 = FusedMultiplyAdd.Mad(row.T13, w, T13);
        T14 = FusedMultiplyAdd.Mad(row.T14, w, T14); T15 = FusedMultiplyAdd.Mad(row.T15, w, T15);
    }

    /// <summary>Entry <paramref name="i"/> (0..15).</summary>
    public readonly float Get(int i) => i switch
    {
        0 => T0, 1 => T1, 2 => T2, 3 => T3, 4 => T4, 5 => T5, 6 => T6, 7 => T7,
        8 => T8, 9 => T9, 10 => T10, 11 => T11, 12 => T12, 13 => T13, 14 => T14, _ => T15,
    };

    /// <summary>
    /// x[at..at+16] = this, as one vector store (<see cref="VectorStore"/>: with 16 scalar stores LLVM vectorises the
    /// loop that computed the row only 8 lanes wide).
    /// </summary>
    public readonly void Store(ArrayView<float> x, int at)
    {
        var row = x.SubView(at, VectorStore.Width);
        VectorStore.Store16(ref row[0], T0, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15);
    }
}
