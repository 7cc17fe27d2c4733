using System.Runtime.InteropServices;
using TrgIlgpu.Model;

namespace TrgIlgpu.Formats;

/// <summary>Raw little-endian tensor bytes to host arrays: floating types become float32, integers keep their width.</summary>
internal static class TensorData
{
    public static int ElementSize(TensorDType dt) => dt switch
    {
        TensorDType.F32 or TensorDType.I32 => 4,
        TensorDType.F16 or TensorDType.BF16 => 2,
        TensorDType.F64 or TensorDType.I64 => 8,
        _ => 1,
    };

    /// <summary><paramref name="numel"/> elements of <paramref name="dt"/> in bytes, or null when that overflows 64 bits.</summary>
    public static long? ByteCount(long numel, TensorDType dt)
    {
        if (numel < 0) return null;
        try { return checked(numel * ElementSize(dt)); }
        catch (OverflowException) { return null; }
    }

    public static bool IsFloating(TensorDType dt) => dt is TensorDType.F32 or TensorDType.F16 or TensorDType.BF16 or TensorDType.F64;

    public static string Name(TensorDType dt) => dt switch
    {
        TensorDType.F32 => "float32",
        TensorDType.F16 => "float16",
        TensorDType.BF16 => "bfloat16",
        TensorDType.F64 => "float64",
        TensorDType.I64 => "int64",
        TensorDType.I32 => "int32",
        _ => "uint8",
    };

    /// <summary>Builds a tensor from contiguous bytes of <paramref name="dt"/> (length = elements * size).</summary>
    public static HostTensor FromBytes(string name, int[] shape, TensorDType dt, ReadOnlySpan<byte> raw)
    {
        switch (dt)
        {
            case TensorDType.I64: return new HostTensor(name, shape, MemoryMarshal.Cast<byte, long>(raw).ToArray());
            case TensorDType.I32: return new HostTensor(name, shape, MemoryMarshal.Cast<byte, int>(raw).ToArray());
            default:
                var f = new float[raw.Length / ElementSize(dt)];
                ToFloat(raw, dt, f);
                return new HostTensor(name, shape, f);
        }
    }

    /// <summary>Converts contiguous floating-point bytes to float32 (f16/bf16 exactly, f64 rounded to nearest).</summary>
    public static void ToFloat(ReadOnlySpan<byte> raw, TensorDType dt, Span<float> dst)
    {
        switch (dt)
        {
            case TensorDType.F32:
                MemoryMarshal.Cast<byte, float>(raw).CopyTo(dst);
                break;
            case TensorDType.F16:
            {
                var src = MemoryMarshal.Cast<byte, Half>(raw);
                for (int i = 0; i < src.Length; i++) dst[i] = (float)src[i];
                break;
            }
            case TensorDType.BF16:
            {
                // bfloat16 is the top half of a float32.
                var src = MemoryMarshal.Cast<byte, ushort>(raw);
                var bits = MemoryMarshal.Cast<float, uint>(dst);
                for (int i = 0; i < src.Length; i++) bits[i] = (uint)src[i] << 16;
                break;
            }
            case TensorDType.F64:
            {
                var src = MemoryMarshal.Cast<byte, double>(raw);
                for (int i = 0; i < src.Length; i++) dst[i] = (float)src[i];
                break;
            }
            default:
                throw new ArgumentException($"{Name(dt)} is not a floating type");
        }
    }

    /// <summary>
    /// Copies a strided view (offset, size, stride in elements) out of a storage's raw bytes into contiguous bytes.
    /// The caller checks the view against its storage; every index is checked here again (64-bit, no truncating casts),
    /// so a view that does not fit throws instead of reading the wrong bytes.
    /// </summary>
    public static byte[] Gather(ReadOnlySpan<byte> storage, int elementSize, long offset, long[] size, long[] stride, long numel)
    {
        long storageElements = storage.Length / elementSize;
        var dst = new byte[checked(numel * elementSize)];
        if (numel == 0) return dst;
        if (offset < 0 || offset > storageElements) throw new ArgumentOutOfRangeException(nameof(offset), "view offset outside its storage");
        if (IsRowMajor(size, stride))
        {
            if (numel > storageElements - offset) throw new ArgumentOutOfRangeException(nameof(size), "view runs past its storage");
            storage.Slice(checked((int)(offset * elementSize)), dst.Length).CopyTo(dst);
            return dst;
        }
        int rank = size.Length;
        var index = new long[rank];
        long src = offset;
        for (long n = 0; n < numel; n++)
        {
            if (src < 0 || src >= storageElements) throw new ArgumentOutOfRangeException(nameof(stride), "view runs past its storage");
            storage.Slice((int)(src * elementSize), elementSize).CopyTo(dst.AsSpan((int)(n * elementSize), elementSize));
            // Odometer step over the dimensions, last one fastest.
            for (int d = rank - 1; d >= 0; d--)
            {
                if (++index[d] < size[d]) { src = checked(src + stride[d]); break; }
                src = checked(src - (size[d] - 1) * stride[d]);
                index[d] = 0;
            }
        }
        return dst;
    }

    /// <summary>True when the strides are the row-major ones for the size (dimensions of length 1 may have any stride).</summary>
    public static bool IsRowMajor(long[] size, long[] stride)
    {
        long expected = 1;
        for (int d = size.Length - 1; d >= 0; d--)
        {
            if (size[d] != 1 && stride[d] != expected) return false;
            expected *= size[d];
        }
        return true;
    }
}
