namespace TrgIlgpu.Tests.Kernels.References;

/// <summary>MODEL_SPEC 5: softmax over each heatmap's cells, expected column and row, (x, y) / h * 2 - 1.</summary>
public static class RefHeatmap
{
    /// <summary>Heatmaps [B, L, size, size] -> [B, L, 2] (x, y). Error scale: the magnitudes in x / h * 2 - 1.</summary>
    public static RefTensor SoftArgmax(float[] heat, int batch, int landmarks, int size)
    {
        var y = new RefTensor(batch * landmarks * 2);
        int cells = size * size;
        for (int m = 0; m < batch * landmarks; m++)
        {
            var map = heat.AsSpan(m * cells, cells);
            double max = double.NegativeInfinity;
            foreach (var v in map) max = Math.Max(max, v);
            double z = 0, ex = 0, ey = 0;
            for (int i = 0; i < cells; i++)
            {
                double e = Math.Exp(map[i] - max);
                z += e;
                ex += e * (i % size);
                ey += e * (i / size);
            }
            double x = ex / z / size * 2 - 1, yy = ey / z / size * 2 - 1;
            y.Set(2 * m, x, Math.Abs(x + 1) + 1);
            y.Set(2 * m + 1, yy, Math.Abs(yy + 1) + 1);
        }
        return y;
    }
}
