namespace TrgIlgpu.Tests.Kernels.References;

/// <summary>torch.nn.functional.linear in float64, weight [Out, In].</summary>
public static class RefLinear
{
    /// <summary>y[b, o] = bias[o] + sum_k w[o, k] x[b, k]; row b of x starts at b * <paramref name="xStride"/>.</summary>
    public static RefTensor Linear(float[] x, int batch, int ins, int xStride, float[] w, float[] bias, int outs)
    {
        var y = new RefTensor(batch * outs);
        Parallel.For(0, batch * outs, i =>
        {
            int b = i / outs, o = i % outs;
            double sum = bias[o], mag = Math.Abs(sum);
            for (int k = 0; k < ins; k++)
            {
                double t = (double)w[o * ins + k] * x[b * xStride + k];
                sum += t;
                mag += Math.Abs(t);
            }
            y.Set(i, sum, mag);
        });
        return y;
    }
}
