using TrgIlgpu.Kernels;

namespace TrgIlgpu.Tests.Kernels.References;

public static class RefActivation
{
    /// <summary>ReLU / LeakyReLU(0.01) (torch.nn defaults as the model uses them). The error scale is kept:
    /// |act(a) - act(b)| &lt;= |a - b| for both.</summary>
    public static RefTensor Apply(RefTensor x, Activation act)
    {
        var y = new RefTensor(x.Length);
        for (int i = 0; i < x.Length; i++)
        {
            double v = x.Value[i];
            double a = act switch
            {
                Activation.Relu => Math.Max(v, 0),
                Activation.LeakyRelu => v >= 0 ? v : 0.01 * v,
                _ => v,
            };
            y.Set(i, a, x.Scale[i], x.Slack[i]);
        }
        return y;
    }
}
