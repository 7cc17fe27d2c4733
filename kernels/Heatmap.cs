using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>Fused softmax + 2-D soft-argmax over each landmark heatmap (MODEL_SPEC 5).</summary>
public static class Heatmap
{
    /// <summary>
    /// One thread per (face, landmark): softmax over the h*w cells, expected column and row, normalised by the map
    /// height: lmk = (x, y) / h * 2 - 1. Writes (x, y) at <c>results[b * stride + offset + 2 l]</c>.
    /// </summary>
    public static void SoftArgmax(ArrayView<float> heatmaps, ArrayView<float> results, int batch, int landmarks, int size, int resultStride, int resultOffset)
    {
        int gid = Grid.GlobalIndex.X;
        if (gid >= batch * landmarks) return;
        int cells = size * size;
        int basis = gid * cells;
        float m = float.NegativeInfinity;
        for (int i = 0; i < cells; i++)
        {
            float v = heatmaps[basis + i];
            m = v > m ? v : m;
        }
        float sum = 0f, sx = 0f, sy = 0f;
        for (int row = 0; row < size; row++)
        {
            float rowSum = 0f, rowX = 0f;
            for (int col = 0; col < size; col++)
            {
                float e = MathF.Exp(heatmaps[basis + row * size + col] - m);
                rowSum += e;
                rowX += e * col;
            }
            sum += rowSum;
            sx += rowX;
            sy += rowSum * row;
        }
        int b = gid / landmarks, l = gid % landmarks;
        int o = b * resultStride + resultOffset + 2 * l;
        results[o] = sx / sum / size * 2f - 1f;
        results[o + 1] = sy / sum / size * 2f - 1f;
    }
}
