using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.PixelFormats;

namespace TrgIlgpu.Imaging;

/// <summary>
/// An ImageSharp allocator whose every buffer is a plain managed <c>byte[]</c>, with contiguous image buffers, so the
/// decoder writes the RGB24 pixels straight into the array an <see cref="RgbImage"/> then wraps: one full-size buffer
/// per image instead of ImageSharp's pooled copy plus ours. Nothing is pooled (a hostile image cannot leave a large
/// pool behind); the GC reclaims the decoder's temporaries.
/// </summary>
internal sealed class ByteArrayAllocator : MemoryAllocator
{
    /// <summary>A configuration that decodes through this allocator into one contiguous buffer per image.</summary>
    public static Configuration Configuration { get; } = MakeConfiguration();

    private static Configuration MakeConfiguration()
    {
        var c = SixLabors.ImageSharp.Configuration.Default.Clone();
        c.MemoryAllocator = new ByteArrayAllocator();
        c.PreferContiguousImageBuffers = true;
        return c;
    }

    // The last RGB24 buffer this thread allocated: ImageSharp hands out its image memory through a wrapper, so the
    // array behind an image is found by identity (TakePixels). Weak: it never keeps an image alive.
    [ThreadStatic] private static WeakReference<byte[]>? _lastRgb24;

    protected override int GetBufferCapacityInBytes() => Array.MaxLength;

    public override IMemoryOwner<T> Allocate<T>(int length, AllocationOptions options = AllocationOptions.None)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        // Pinned from birth (pinned object heap): Pin() needs no handle, and the pixels never move under a native reader.
        var bytes = GC.AllocateArray<byte>(checked(length * Unsafe.SizeOf<T>()), pinned: true);
        if (typeof(T) == typeof(Rgb24)) _lastRgb24 = new WeakReference<byte[]>(bytes);
        return new Buffer<T>(bytes, length);
    }

    /// <summary>
    /// The pixel bytes of an image this thread just decoded with <see cref="Configuration"/>, without copying: the
    /// array itself when the image is that one buffer of exactly width x height x 3 bytes, else null (the caller copies).
    /// </summary>
    public static byte[]? TakePixels(Image<Rgb24> image)
    {
        if (!image.DangerousTryGetSinglePixelMemory(out var memory) || _lastRgb24 is null || !_lastRgb24.TryGetTarget(out var bytes)) return null;
        var pixels = memory.Span;
        bool same = bytes.Length == (long)pixels.Length * 3 && bytes.Length == (long)image.Width * image.Height * 3
            && Unsafe.AreSame(ref Unsafe.As<Rgb24, byte>(ref MemoryMarshal.GetReference(pixels)), ref MemoryMarshal.GetArrayDataReference(bytes));
        return same ? bytes : null;
    }

    /// <summary>A buffer of <typeparamref name="T"/> over a byte array (the GC owns it; disposing releases nothing).</summary>
    private sealed class Buffer<T>(byte[] bytes, int length) : MemoryManager<T> where T : struct
    {
        public byte[] Bytes { get; } = bytes;

        public override Span<T> GetSpan() => MemoryMarshal.Cast<byte, T>(Bytes.AsSpan())[..length];

        public override unsafe MemoryHandle Pin(int elementIndex = 0)
            => new((byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(Bytes)) + (long)elementIndex * Unsafe.SizeOf<T>());

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }
    }
}
