using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>Activation applied in a kernel's epilogue.</summary>
public enum Activation
{
    None = 0,
    Relu = 1,
    /// <summary>LeakyReLU with slope 0.01 (PyTorch's default, TRG's only slope).</summary>
    LeakyRelu = 2,
    /// <summary>clip(x, 0, 6) (TF's relu6 / <c>clipByValue(x, 0, 6)</c>: SSD MobileNet v1).</summary>
    Relu6 = 3,
    /// <summary>
    /// face-api's leaky ReLU with slope 0.1, in its float32 form <c>relu(x - m) + m</c> with <c>m = 0.1f x</c>
    /// (tinyYolov2/leaky.ts): the Tiny Face Detector.
    /// </summary>
    LeakyRelu01 = 4,
}

/// <summary>
/// Per-face inputs shared by the preprocessing, sampling and geometry kernels:
/// where the face's image sits in the uploaded byte buffer, its size, the box and the camera
/// (one focal length and the principal point, in image pixels; docs/camera.md).
/// </summary>
public struct FaceParams
{
    public int ImageOffset;
    public int Width;
    public int Height;
    public int Padding;
    public float Left;
    public float Top;
    public float Right;
    public float Bottom;
    public float Focal;
    /// <summary>Principal point x in image pixels (TRG's default: Width / 2).</summary>
    public float PrincipalX;
    /// <summary>Principal point y in image pixels (TRG's default: Height / 2).</summary>
    public float PrincipalY;
}

/// <summary>
/// Register tiling shared by the GEMM-like kernels: each thread owns a tile of output channels x 4 output positions.
/// The positions of a thread are strided by the number of position threads (not adjacent), so that neighbouring
/// threads read neighbouring input elements: coalesced on GPUs, contiguous vector lanes on PoCL.
/// </summary>
public static class Tiling
{
    public const int Channels = 4;
    public const int Positions = 4;
    /// <summary>Threads per group where the device allows it (ILGPU's CPU accelerator allows 16).</summary>
    public const int GroupSize = 64;

    public static int CeilDiv(int a, int b) => (a + b - 1) / b;
    public static int PadChannels(int c, int tile = Channels) => CeilDiv(c, tile) * tile;

    /// <summary>
    /// 1-D launch over (batch, channel block, position thread), positions fastest: only the last group has spare
    /// threads. (A 2-D launch with positions on X padded small maps to whole groups for every channel block,
    /// e.g. 9 position threads to 16: slower on PoCL for those layers, bench/RESULTS.md "Kernel design measurements".)
    /// </summary>
    public static KernelConfig Flat(long threads, int group) => new((int)((threads + group - 1) / group), group);
}
