using ILGPU;

namespace TrgIlgpu.Kernels;

public struct PoolParams
{
    public int Batch, Channels, InHeight, InWidth, OutHeight, OutWidth;
    public readonly int ThreadCount => Batch * Channels * OutHeight * OutWidth;
}

/// <summary>MaxPool2d(kernel 3, stride 2, padding 1): the padding never wins (PyTorch pads with -inf).</summary>
public static class Pooling
{
    public static void MaxPool3x3S2(ArrayView<float> input, ArrayView<float> output, PoolParams p)
    {
        int gid = Grid.GlobalIndex.X;
        if (gid >= p.ThreadCount) return;
        int ox = gid % p.OutWidth;
        int oy = (gid / p.OutWidth) % p.OutHeight;
        int plane = gid / (p.OutWidth * p.OutHeight);
        int inBase = plane * p.InHeight * p.InWidth;
        float m = float.NegativeInfinity;
        for (int ky = 0; ky < 3; ky++)
        {
            int iy = oy * 2 - 1 + ky;
            if (iy < 0 || iy >= p.InHeight) continue;
            for (int kx = 0; kx < 3; kx++)
            {
                int ix = ox * 2 - 1 + kx;
                if (ix < 0 || ix >= p.InWidth) continue;
                float v = input[inBase + iy * p.InWidth + ix];
                m = v > m ? v : m;
            }
        }
        output[gid] = m;
    }
}
