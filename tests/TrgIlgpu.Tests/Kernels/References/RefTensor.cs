namespace TrgIlgpu.Tests.Kernels.References;

/// <summary>
/// A float64 reference result: each element's value, the sum of |terms| that formed it (float32 rounding error
/// grows with this, not with a possibly cancelled result), and an absolute slack for inputs that float32 can only
/// approximate (sampling coordinates: the slope of the sampled function times the coordinate's rounding error).
/// </summary>
public sealed class RefTensor
{
    public RefTensor(int length)
    {
        Value = new double[length];
        Scale = new double[length];
        Slack = new double[length];
    }

    public double[] Value { get; }
    public double[] Scale { get; }
    public double[] Slack { get; }
    public int Length => Value.Length;

    public void Set(int i, double value, double scale, double slack = 0)
    {
        Value[i] = value;
        Scale[i] = scale;
        Slack[i] = slack;
    }

    /// <summary>Elementwise sum (a residual add): values and error scales add.</summary>
    public static RefTensor operator +(RefTensor a, RefTensor b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"length {a.Length} vs {b.Length}");
        var r = new RefTensor(a.Length);
        for (int i = 0; i < a.Length; i++) r.Set(i, a.Value[i] + b.Value[i], a.Scale[i] + b.Scale[i], a.Slack[i] + b.Slack[i]);
        return r;
    }
}

/// <summary>BatchNorm2d (eval) parameters of MODEL_SPEC 3: y = (x - mean) / sqrt(var + 1e-5) * weight + bias.</summary>
public sealed record BatchNorm(float[] Weight, float[] Bias, float[] Mean, float[] Var)
{
    public const double Eps = 1e-5;
    public int Channels => Weight.Length;
}
