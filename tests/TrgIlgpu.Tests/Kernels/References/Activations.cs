using TrgIlgpu.Kernels;

namespace TrgIlgpu.Tests.Kernels.References;

public static class RefActivation
{
    /// <summary>ReLU / LeakyReLU(0.01) (torch.nn defaults as the model uses them), TF's relu6 (clip to [0, 6]) and
    /// face-api's leaky ReLU with slope 0.1. The error scale is kept: |act(a) - act(b)| &lt;= |a - b| for all.</summary>
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
                Activation.Relu6 => Math.Clamp(v, 0, 6),
                Activation.LeakyRelu01 => v >= 0 ? v : 0.1 * v,
                _ => v,
            };
            y.Set(i, a, x.Scale[i], x.Slack[i]);
        }
        return y;
    }
}
