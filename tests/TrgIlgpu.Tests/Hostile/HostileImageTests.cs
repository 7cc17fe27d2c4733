using System.Buffers.Binary;
using System.IO.Compression;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using TrgIlgpu.Formats;
using TrgIlgpu.Imaging;
using TrgIlgpu.Tests.App;
using TrgIlgpu.Tests.Formats;
using static TrgIlgpu.Tests.Hostile.HostileGeneratorKit;

namespace TrgIlgpu.Tests.Hostile;

/// <summary>
/// Hostile images (issue 9 items 5 and 6): a 74-byte PNG that claims 9000x9000, a header over the pixel limit,
/// half-truncated PNG and JPEG files, a PNG chunk that fails its CRC, a JPEG with a frame header and no scan. Each is
/// refused (exit 6, the file named) by `trg estimate` in process and by <see cref="ImageLoader"/>, before any pixel
/// buffer is allocated where the header already tells.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class HostileImageTests : IDisposable
{
    private readonly TempFolder _tmp = new();
    public void Dispose() => _tmp.Dispose();

    /// <summary>A PNG of the given size whose image data is a few bytes of zlib: a complete chunk list, under 80 bytes.</summary>
    public static byte[] TinyPngClaiming(int width, int height)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
        var z = new MemoryStream();
        using (var zlib = new ZLibStream(z, CompressionLevel.SmallestSize, leaveOpen: true)) zlib.Write(new byte[64]);
        var m = new MemoryStream();
        m.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10]);
        Chunk(m, "IHDR", ihdr);
        Chunk(m, "IDAT", z.ToArray());
        Chunk(m, "IEND", []);
        return m.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        s.Write(word);
        byte[] typed = [.. System.Text.Encoding.ASCII.GetBytes(type), .. data];
        s.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32.Compute(typed));
        s.Write(word);
    }

    private static byte[] Encoded(SixLabors.ImageSharp.Formats.IImageEncoder encoder, int seed)
    {
        using var image = ImageLoaderTests.RandomImage(300, 200, seed);
        var m = new MemoryStream();
        image.Save(m, encoder);
        return m.ToArray();
    }

    /// <summary>Hostile images by name, with the words the refusal must contain.</summary>
    public static TheoryData<string, string> Cases => new()
    {
        { "claims-9000x9000.png", "truncated PNG" },
        { "over-limit.png", "over the limit" },
        { "half.png", "truncated PNG" },
        { "half.jpg", "truncated JPEG" },
        { "bad-crc.png", "CRC" }, // ImageSharp checks the chunk CRCs while reading the header; ImageIntegrity checks them too
        { "no-scan.jpg", "no image scan" },
    };

    private string Make(string name)
    {
        byte[] data = name switch
        {
            "claims-9000x9000.png" => TinyPngClaiming(9000, 9000),
            "over-limit.png" => TinyPngClaiming(20000, 20000),
            "half.png" => Encoded(new PngEncoder(), 1) is var png ? png[..(png.Length / 2)] : [],
            "half.jpg" => Encoded(new JpegEncoder { Quality = 90 }, 2) is var jpg ? jpg[..(jpg.Length / 2)] : [],
            "bad-crc.png" => Encoded(new PngEncoder(), 3) is var bad ? Flip(bad, IndexOf(bad, "IDAT"u8.ToArray()) + 40) : [],
            "no-scan.jpg" => [0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0x23, 0x28, 0x23, 0x28, 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 0xFF, 0xD9],
            _ => throw new ArgumentException(name),
        };
        var path = _tmp.File(name);
        File.WriteAllBytes(path, data);
        return path;
    }

    private static byte[] Flip(byte[] data, int at)
    {
        data[at] ^= 0x10;
        return data;
    }

    [Fact]
    public void The_9000x9000_claim_is_a_few_dozen_bytes()
    {
        Assert.InRange(TinyPngClaiming(9000, 9000).Length, 60, 80);
        var info = Image.Identify(TinyPngClaiming(9000, 9000));
        Assert.Equal((9000, 9000), (info.Width, info.Height));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Estimate_refuses_with_exit_6_naming_the_file(string name, string says)
    {
        var path = Make(name);
        var r = Trg("estimate", path, "--model", "fake", "--bbox", "1,1,20,20");
        AssertRefused(r, ErrorKind.InvalidImage, path, says);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Library_refuses_before_allocating_the_claimed_pixels(string name, string says)
    {
        var path = Make(name);
        GC.Collect();
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var e = Assert.Throws<TrgException>(() => ImageLoader.LoadFile(path));
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Equal(ErrorKind.InvalidImage, e.Kind);
        Assert.Equal(path, e.FilePath);
        Assert.Contains(says, e.Message);
        // 9000x9000 RGB would be 243 MB; a refusal from the header allocates almost nothing.
        Assert.True(allocated < 8 << 20, $"allocated {allocated >> 20} MiB");
    }

    [Fact]
    public void Complete_files_of_the_same_kinds_still_load()
    {
        foreach (var (encoder, seed) in new (SixLabors.ImageSharp.Formats.IImageEncoder, int)[]
                 { (new PngEncoder(), 1), (new PngEncoder { InterlaceMethod = PngInterlaceMode.Adam7 }, 4), (new JpegEncoder { Quality = 90 }, 2) })
        {
            var image = ImageLoader.Load(Encoded(encoder, seed), "whole");
            Assert.Equal((300, 200), (image.Width, image.Height));
        }
        Assert.Equal(512, ImageLoader.LoadFile(AppTestData.AstronautPath).Width);
    }

    [Fact]
    public void A_png_decodes_into_one_full_size_buffer_that_the_result_keeps()
    {
        // A compressible 3000x2000 PNG: the decoder's own allocations are small, so any second full-size copy shows.
        const int w = 3000, h = 2000;
        using (var image = new Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(w, h))
        {
            image.ProcessPixelRows(a =>
            {
                for (int y = 0; y < h; y++)
                {
                    var row = a.GetRowSpan(y);
                    for (int x = 0; x < w; x++) row[x] = new((byte)(x + y), (byte)(3 * y), (byte)(x ^ y));
                }
            });
            image.SaveAsPng(_tmp.File("big.png"));
        }
        ImageLoader.LoadFile(_tmp.File("big.png")); // warm-up
        GC.Collect();
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var loaded = ImageLoader.LoadFile(_tmp.File("big.png"));
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Equal(new SixLabors.ImageSharp.PixelFormats.Rgb24(7, 15, 2 ^ 5),
            new SixLabors.ImageSharp.PixelFormats.Rgb24(loaded.Pixels[(5 * w + 2) * 3], loaded.Pixels[(5 * w + 2) * 3 + 1], loaded.Pixels[(5 * w + 2) * 3 + 2]));
        Assert.InRange(allocated, (long)w * h * 3, (long)w * h * 3 * 13 / 10);
    }

    [Fact]
    public void Oversized_file_is_refused_from_its_length_before_it_is_read()
    {
        var path = _tmp.File("huge.png");
        using (var f = File.Create(path)) f.SetLength(2_000_000); // sparse
        var e = Assert.Throws<TrgException>(() => ImageLoader.LoadFile(path, new ImageLoadOptions { MaxPixels = 10_000 }));
        Assert.Equal(ErrorKind.InvalidImage, e.Kind);
        Assert.Contains("more than any image within the pixel limit", e.Message);
    }
}
