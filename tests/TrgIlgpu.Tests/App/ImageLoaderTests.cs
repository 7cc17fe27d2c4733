using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tga;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing.Processors.Quantization;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Tests.App;

/// <summary>Generated images of every supported format and odd shapes, decoded by <see cref="ImageLoader"/>.</summary>
public class ImageLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trg-imgload-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static Image<Rgb24> RandomImage(int width, int height, int seed)
    {
        var rng = new Random(seed);
        var img = new Image<Rgb24>(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                img[x, y] = new Rgb24((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256));
        return img;
    }

    private static byte[] Pixels(Image<Rgb24> img)
    {
        var p = new byte[img.Width * img.Height * 3];
        img.CopyPixelDataTo(p);
        return p;
    }

    private string Save(Image img, string name, IImageEncoder encoder)
    {
        var path = Path.Combine(_dir, name);
        img.Save(path, encoder);
        return path;
    }

    public static TheoryData<string> LosslessFormats => new() { "png", "bmp", "tga", "tiff", "webp" };

    [Theory]
    [MemberData(nameof(LosslessFormats))]
    public void Lossless_formats_decode_to_the_exact_pixels(string format)
    {
        using var img = RandomImage(37, 23, seed: format.GetHashCode(StringComparison.Ordinal) & 0xffff);
        IImageEncoder encoder = format switch
        {
            "png" => new PngEncoder(),
            "bmp" => new BmpEncoder { BitsPerPixel = BmpBitsPerPixel.Pixel24 },
            "tga" => new TgaEncoder { BitsPerPixel = TgaBitsPerPixel.Pixel24, Compression = TgaCompression.RunLength },
            "tiff" => new TiffEncoder { BitsPerPixel = TiffBitsPerPixel.Bit24 },
            _ => new WebpEncoder { FileFormat = WebpFileFormatType.Lossless },
        };
        var path = Save(img, "img." + format, encoder);
        var loaded = ImageLoader.LoadFile(path);
        Assert.Equal((37, 23), (loaded.Width, loaded.Height));
        Assert.Equal(Pixels(img), loaded.Pixels);
    }

    [Fact]
    public void Jpeg_decodes_close_to_the_source()
    {
        // A smooth image, so JPEG's error is small and a wrong channel order or offset would show.
        using var img = new Image<Rgb24>(64, 48);
        for (int y = 0; y < 48; y++)
            for (int x = 0; x < 64; x++)
                img[x, y] = new Rgb24((byte)(x * 4), (byte)(y * 5), (byte)(255 - x * 2));
        var loaded = ImageLoader.LoadFile(Save(img, "img.jpg", new JpegEncoder { Quality = 95 }));
        var expected = Pixels(img);
        double mae = expected.Zip(loaded.Pixels, (a, b) => Math.Abs(a - b)).Average();
        Assert.True(mae < 2.0, $"mean abs error {mae}");
    }

    [Fact]
    public void Gif_gives_the_first_frame()
    {
        // A 4-colour palette survives GIF exactly; the second frame differs everywhere.
        var palette = new[] { new Rgb24(0, 51, 102), new Rgb24(255, 204, 0), new Rgb24(153, 0, 255), new Rgb24(0, 255, 51) };
        using var gif = new Image<Rgb24>(9, 7);
        for (int y = 0; y < 7; y++) for (int x = 0; x < 9; x++) gif[x, y] = palette[(x + 2 * y) % 4];
        using (var second = new Image<Rgb24>(9, 7))
        {
            for (int y = 0; y < 7; y++) for (int x = 0; x < 9; x++) second[x, y] = palette[(x + 2 * y + 1) % 4];
            gif.Frames.AddFrame(second.Frames.RootFrame);
        }
        Assert.Equal(2, gif.Frames.Count);
        var path = Save(gif, "anim.gif", new GifEncoder
        {
            Quantizer = new PaletteQuantizer(palette.Select(c => (Color)c).ToArray(), new QuantizerOptions { Dither = null }),
            ColorTableMode = GifColorTableMode.Global,
        });
        var loaded = ImageLoader.LoadFile(path);
        using var first = gif.Frames.CloneFrame(0);
        Assert.Equal(Pixels(first), loaded.Pixels);
    }

    [Fact]
    public void Sixteen_bit_colour_is_scaled_to_eight_bits()
    {
        var rng = new Random(16);
        using var img = new Image<Rgb48>(11, 5);
        var expected = new byte[11 * 5 * 3];
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 11; x++)
            {
                var px = new Rgb48((ushort)rng.Next(65536), (ushort)rng.Next(65536), (ushort)rng.Next(65536));
                img[x, y] = px;
                int i = (y * 11 + x) * 3;
                expected[i] = Scale16(px.R); expected[i + 1] = Scale16(px.G); expected[i + 2] = Scale16(px.B);
            }
        var path = Save(img, "deep.png", new PngEncoder { BitDepth = PngBitDepth.Bit16, ColorType = PngColorType.Rgb });
        var loaded = ImageLoader.LoadFile(path);
        // ImageSharp rounds v/257; allow one level for its float path.
        Assert.All(expected.Zip(loaded.Pixels), p => Assert.InRange(p.Second - p.First, -1, 1));
    }

    private static byte Scale16(ushort v) => (byte)Math.Round(v / 257.0);

    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    public void Grey_images_become_equal_rgb(int bits)
    {
        var rng = new Random(bits);
        var values = Enumerable.Range(0, 13 * 4).Select(_ => (byte)rng.Next(256)).ToArray();
        using var img = new Image<L16>(13, 4);
        for (int i = 0; i < values.Length; i++) img[i % 13, i / 13] = new L16((ushort)(values[i] * 257));
        var path = Save(img, $"grey{bits}.png", new PngEncoder
        {
            ColorType = PngColorType.Grayscale, BitDepth = bits == 8 ? PngBitDepth.Bit8 : PngBitDepth.Bit16,
        });
        var loaded = ImageLoader.LoadFile(path);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.Equal(values[i], loaded.Pixels[3 * i]);
            Assert.Equal(values[i], loaded.Pixels[3 * i + 1]);
            Assert.Equal(values[i], loaded.Pixels[3 * i + 2]);
        }
    }

    [Fact]
    public void Alpha_is_dropped_not_composited()
    {
        var rng = new Random(32);
        using var img = new Image<Rgba32>(10, 6);
        var expected = new byte[10 * 6 * 3];
        for (int i = 0; i < 60; i++)
        {
            var px = new Rgba32((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256));
            img[i % 10, i / 10] = px;
            expected[3 * i] = px.R; expected[3 * i + 1] = px.G; expected[3 * i + 2] = px.B;
        }
        var loaded = ImageLoader.LoadFile(Save(img, "alpha.png", new PngEncoder { ColorType = PngColorType.RgbWithAlpha }));
        Assert.Equal(expected, loaded.Pixels);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(4000, 1)]
    [InlineData(1, 3000)]
    [InlineData(2001, 3)]
    public void Odd_shapes(int width, int height)
    {
        using var img = RandomImage(width, height, seed: width * 7 + height);
        var loaded = ImageLoader.LoadFile(Save(img, $"odd{width}x{height}.png", new PngEncoder()));
        Assert.Equal((width, height), (loaded.Width, loaded.Height));
        Assert.Equal(Pixels(img), loaded.Pixels);
    }

    [Fact]
    public void Exif_orientation_is_applied_by_default_and_can_be_ignored()
    {
        // 40x20 with a distinct colour per 10x10 block; orientation 6 = "rotate 90 degrees clockwise to display".
        var colors = new[] { new Rgb24(250, 10, 10), new Rgb24(10, 250, 10), new Rgb24(10, 10, 250), new Rgb24(250, 250, 10),
                             new Rgb24(10, 250, 250), new Rgb24(250, 10, 250), new Rgb24(128, 128, 128), new Rgb24(255, 255, 255) };
        using var img = new Image<Rgb24>(40, 20);
        for (int y = 0; y < 20; y++) for (int x = 0; x < 40; x++) img[x, y] = colors[(y / 10) * 4 + x / 10];
        img.Metadata.ExifProfile = new ExifProfile();
        img.Metadata.ExifProfile.SetValue(ExifTag.Orientation, (ushort)6);
        var path = Save(img, "rotated.jpg", new JpegEncoder { Quality = 100 });

        var raw = ImageLoader.LoadFile(path, new ImageLoadOptions { ApplyExifOrientation = false });
        Assert.Equal((40, 20), (raw.Width, raw.Height));
        AssertNear(colors[0], At(raw, 5, 5));
        AssertNear(colors[3], At(raw, 35, 5));

        var upright = ImageLoader.LoadFile(path);
        Assert.Equal((20, 40), (upright.Width, upright.Height));
        // Rotating 90 degrees clockwise puts the stored top-left block at the top right, the top-right block at the bottom right.
        AssertNear(colors[0], At(upright, 15, 5));
        AssertNear(colors[3], At(upright, 15, 35));
        AssertNear(colors[4], At(upright, 5, 5));
    }

    private static Rgb24 At(RgbImage img, int x, int y)
    {
        int i = (y * img.Width + x) * 3;
        return new Rgb24(img.Pixels[i], img.Pixels[i + 1], img.Pixels[i + 2]);
    }

    private static void AssertNear(Rgb24 expected, Rgb24 actual)
    {
        Assert.True(Math.Abs(expected.R - actual.R) < 12 && Math.Abs(expected.G - actual.G) < 12 && Math.Abs(expected.B - actual.B) < 12,
            $"expected {expected}, got {actual}");
    }

    [Fact]
    public void Pixel_limit_is_enforced()
    {
        using var img = RandomImage(100, 100, 3);
        var path = Save(img, "big.png", new PngEncoder());
        var e = Assert.Throws<TrgException>(() => ImageLoader.LoadFile(path, new ImageLoadOptions { MaxPixels = 9_999 }));
        Assert.Equal(ErrorKind.InvalidImage, e.Kind);
        Assert.Equal(path, e.FilePath);
        Assert.Contains("10,000 pixels is over the limit of 9,999", e.Message);
        Assert.Equal(100, ImageLoader.LoadFile(path, new ImageLoadOptions { MaxPixels = 10_000 }).Width);
    }

    [Fact]
    public void Pixel_limit_is_checked_from_the_header_before_decoding()
    {
        // A valid PNG header claiming 200000 x 200000 pixels and no image data: decoding would need 120 GB.
        var path = Path.Combine(_dir, "bomb.png");
        File.WriteAllBytes(path, PngWithHeaderOnly(200_000, 200_000));
        var e = Assert.Throws<TrgException>(() => ImageLoader.LoadFile(path));
        Assert.Equal(ErrorKind.InvalidImage, e.Kind);
        Assert.Contains("200000x200000", e.Message);
        Assert.Contains("over the limit", e.Message);
    }

    internal static byte[] PngWithHeaderOnly(int width, int height)
    {
        var ihdr = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
        var ms = new MemoryStream();
        ms.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10]);
        WriteChunk(ms, "IHDR", ihdr);
        WriteChunk(ms, "IEND", []);
        return ms.ToArray();
    }

    private static void WriteChunk(Stream s, string type, byte[] data)
    {
        var len = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len);
        var typeBytes = System.Text.Encoding.ASCII.GetBytes(type);
        s.Write(typeBytes);
        s.Write(data);
        var crc = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32([.. typeBytes, .. data]));
        s.Write(crc);
    }

    private static uint Crc32(byte[] data)
    {
        uint c = 0xffffffff;
        foreach (var b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xedb88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }

    [Fact]
    public void Corrupt_truncated_and_empty_files_are_invalid_images_naming_the_file()
    {
        using var img = RandomImage(30, 30, 5);
        var good = Save(img, "good.png", new PngEncoder());
        var bytes = File.ReadAllBytes(good);
        var cases = new Dictionary<string, byte[]>
        {
            ["noise.png"] = Enumerable.Range(0, 500).Select(i => (byte)(i * 7919 % 251)).ToArray(),
            ["truncated.png"] = bytes[..(bytes.Length / 2)],
            ["empty.jpg"] = [],
            ["text.png"] = "this is not an image"u8.ToArray(),
        };
        foreach (var (name, data) in cases)
        {
            var path = Path.Combine(_dir, name);
            File.WriteAllBytes(path, data);
            var e = Assert.Throws<TrgException>(() => ImageLoader.LoadFile(path));
            Assert.Equal(ErrorKind.InvalidImage, e.Kind);
            Assert.StartsWith(path + ": ", e.Message);
        }
    }

    [Fact]
    public void Missing_file_and_folder_are_not_found()
    {
        var missing = Path.Combine(_dir, "nope.png");
        var e = Assert.Throws<TrgException>(() => ImageLoader.LoadFile(missing));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Contains("nope.png", e.Message);
        var folder = Assert.Throws<TrgException>(() => ImageLoader.LoadFile(_dir));
        Assert.Equal(ErrorKind.NotFound, folder.Kind);
        Assert.Contains("is a folder", folder.Message);
    }

    [Fact]
    public void Real_photo_loads()
    {
        var img = ImageLoader.LoadFile(AppTestData.AstronautPath);
        Assert.Equal((512, 512), (img.Width, img.Height));
        // Not blank: the photo has a wide range of values.
        Assert.True(img.Pixels.Max() - img.Pixels.Min() > 200);
    }
}
