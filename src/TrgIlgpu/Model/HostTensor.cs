namespace TrgIlgpu.Model;

/// <summary>
/// A named tensor in host memory. Floating storages (f16/bf16/f64) are converted to float32 on read;
/// integer tensors keep int64 or int32. Exactly one of the arrays is set.
/// </summary>
public sealed class HostTensor
{
    public string Name { get; }
    public int[] Shape { get; }
    public TensorDType DType { get; }
    public float[]? F32 { get; }
    public long[]? I64 { get; }
    public int[]? I32 { get; }

    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);
    public string ShapeText => "[" + string.Join(",", Shape) + "]";

    public HostTensor(string name, int[] shape, float[] data) { Name = name; Shape = shape; DType = TensorDType.F32; F32 = data; Check(data.Length); }
    public HostTensor(string name, int[] shape, long[] data) { Name = name; Shape = shape; DType = TensorDType.I64; I64 = data; Check(data.Length); }
    public HostTensor(string name, int[] shape, int[] data) { Name = name; Shape = shape; DType = TensorDType.I32; I32 = data; Check(data.Length); }

    private void Check(long n)
    {
        if (n != Elements) throw new ArgumentException($"tensor '{Name}': {n} elements for shape {ShapeText}");
    }

    public HostTensor Rename(string name) => DType switch
    {
        TensorDType.F32 => new HostTensor(name, Shape, F32!),
        TensorDType.I64 => new HostTensor(name, Shape, I64!),
        _ => new HostTensor(name, Shape, I32!),
    };
}
