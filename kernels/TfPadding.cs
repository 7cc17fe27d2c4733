namespace TrgIlgpu.Kernels;

/// <summary>TensorFlow's padding modes.</summary>
public enum TfPaddingMode
{
    /// <summary>No padding: <c>out = (in - k) / s + 1</c>.</summary>
    Valid,
    /// <summary><c>out = ceil(in / s)</c>, zero padding split with the smaller half before (TF 'same').</summary>
    Same,
}

/// <summary>
/// Output size and padding of TF's 'same' / 'valid' convolutions and pools, the one place the face networks' kernels
/// get them from. TF 'same': <c>pad_total = max((out - 1) s + k - in, 0)</c>, <c>before = pad_total / 2</c>, the rest
/// after; the kernels take <c>before</c> and the output size, and treat taps past the input's far edge as padding, so
/// the "after" part needs no parameter. Example: stride 2 on an even size pads 0 before and 1 after.
/// </summary>
public static class TfPadding
{
    public static int Output(int input, int kernel, int stride, TfPaddingMode mode) => mode == TfPaddingMode.Same
        ? (input + stride - 1) / stride
        : (input - kernel) / stride + 1;

    public static int Before(int input, int kernel, int stride, TfPaddingMode mode) => mode == TfPaddingMode.Same
        ? Math.Max((Output(input, kernel, stride, mode) - 1) * stride + kernel - input, 0) / 2
        : 0;
}
