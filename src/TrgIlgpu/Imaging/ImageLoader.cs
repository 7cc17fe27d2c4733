using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.Metadata;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace TrgIlgpu.Imaging;

/// <summary>How images are decoded.</summary>
public sealed record ImageLoadOptions
{
    /// <summary>Default pixel-count limit: 100 megapixels (300 MB as RGB24); <see cref="InputLimits.DefaultMaxPixels"/>.</summary>
    public const long DefaultMaxPixels = InputLimits.DefaultMaxPixels;

    /// <summary>
    /// Largest accepted width x height, checked from the file header before any pixel is decoded, so a small file that
    /// claims a huge canvas is refused without allocating it.
    /// </summary>
    public long MaxPixels { get; init; } = DefaultMaxPixels;

    /// <summary>
    /// Rotate/flip the pixels as the EXIF orientation tag says (what a photo viewer shows). The official TRG
    /// preprocessing reads with <c>cv2.IMREAD_IGNORE_ORIENTATION</c>; set false to match it. Boxes are always in the
    /// coordinates of the image as loaded.
    /// </summary>
    public bool ApplyExifOrientation { get; init; } = true;

    public static ImageLoadOptions Default { get; } = new();
}

/// <summary>
/// Decodes PNG, JPEG, BMP, GIF (first frame), TGA, TIFF (first page), WebP and PBM of any pixel format (8/16-bit,
/// grey, palette, with alpha) to 8-bit RGB. Alpha is dropped, not composited, as OpenCV's IMREAD_COLOR does.
/// Errors are <see cref="TrgException"/>: <see cref="ErrorKind.NotFound"/> for a missing/unreadable file,
/// <see cref="ErrorKind.InvalidImage"/> for undecodable data, a truncated PNG or JPEG (refused, never decoded with a
/// black remainder: <see cref="ImageIntegrity"/>) or a broken limit; both name the file. Memory: the header's size
/// is checked against <see cref="ImageLoadOptions.MaxPixels"/> before anything is decoded, and the pixels are decoded
/// once, straight to RGB24 (docs/limits.md has the measured peaks).
/// </summary>
public static class ImageLoader
{
    /// <summary>File extensions a folder scan picks up (lower case, with the dot).</summary>
    public static readonly IReadOnlySet<string> Extensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".gif", ".tga", ".tif", ".tiff", ".webp", ".pbm", ".pgm", ".ppm",
    };

    // Multi-frame formats: decode only the first frame, so an animation cannot multiply the memory the limit allows.
    private static readonly GifDecoder FirstFrameGif = new() { DecodingMode = FrameDecodingMode.First };
    private static readonly TiffDecoder FirstPageTiff = new() { DecodingMode = FrameDecodingMode.First };

    /// <summary>Decodes an image file to packed RGB24; the decoder writes straight into the returned pixels (no copy).</summary>
    public static RgbImage LoadFile(string path, ImageLoadOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var image = LoadFileAsImage(path, options, cancellationToken);
        return Take(image);
    }

    /// <summary>Decodes an encoded image held in memory to packed RGB24 (no copy of the pixels); <paramref name="name"/>
    /// is used in error messages.</summary>
    public static RgbImage Load(byte[] data, string? name = null, ImageLoadOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var image = LoadAsImage(data, name, options, cancellationToken);
        return Take(image);
    }

    /// <summary>The pixels of an image this class decoded, taken over without a copy where its buffer allows.</summary>
    private static RgbImage Take(Image<Rgb24> image)
        => ByteArrayAllocator.TakePixels(image) is { } pixels ? new RgbImage(image.Width, image.Height, pixels) : ToRgbImage(image);

    /// <summary>Like <see cref="LoadFile"/>, but returns the ImageSharp image (caller disposes).</summary>
    public static Image<Rgb24> LoadFileAsImage(string path, ImageLoadOptions? options = null, CancellationToken cancellationToken = default)
    {
        byte[] data;
        try
        {
            if (Directory.Exists(path)) throw new TrgException(ErrorKind.NotFound, "is a folder, not an image file", path);
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            long limit = MaxEncodedBytes(options ?? ImageLoadOptions.Default);
            if (file.Length > limit)
                throw new TrgException(ErrorKind.InvalidImage,
                    $"{file.Length:N0} bytes is more than any image within the pixel limit can take ({limit:N0} bytes; --max-pixels / ImageLoadOptions.MaxPixels)", path);
            data = new byte[file.Length];
            file.ReadExactly(data);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new TrgException(ErrorKind.NotFound, "image file not found", path, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrgException(ErrorKind.NotFound, $"cannot read the image file: {e.Message}", path, e);
        }
        return LoadAsImage(data, path, options, cancellationToken);
    }

    /// <summary>Largest encoded file read for a pixel limit: 8 bytes a pixel (16-bit RGBA, uncompressed) plus 1 MiB of
    /// metadata.</summary>
    private static long MaxEncodedBytes(ImageLoadOptions options)
        => options.MaxPixels > (long.MaxValue >> 4) ? long.MaxValue : options.MaxPixels * 8 + (1 << 20);

    /// <summary>Decodes an encoded image held in memory; <paramref name="name"/> is used in error messages.</summary>
    public static Image<Rgb24> LoadAsImage(byte[] data, string? name = null, ImageLoadOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= ImageLoadOptions.Default;
        if (options.MaxPixels < 1) throw new TrgException(ErrorKind.Usage, $"the pixel limit must be positive (got {options.MaxPixels})");
        cancellationToken.ThrowIfCancellationRequested();
        if (data.Length == 0) throw new TrgException(ErrorKind.InvalidImage, "the file is empty", name);

        var config = Configuration.Default;
        IImageInfo? info;
        IImageFormat? format;
        try
        {
            info = Image.Identify(config, data, out format);
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            throw new TrgException(ErrorKind.InvalidImage, $"cannot read the image header: {e.Message}", name, e);
        }
        if (info is null || format is null)
            throw new TrgException(ErrorKind.InvalidImage,
                "not an image in a supported format (PNG, JPEG, BMP, GIF, TGA, TIFF, WebP, PBM)", name);
        long pixels = (long)info.Width * info.Height;
        if (info.Width < 1 || info.Height < 1)
            throw new TrgException(ErrorKind.InvalidImage, $"the {format.Name} header gives an empty size {info.Width}x{info.Height}", name);
        if (pixels > options.MaxPixels)
            throw new TrgException(ErrorKind.InvalidImage,
                $"{info.Width}x{info.Height} = {pixels:N0} pixels is over the limit of {options.MaxPixels:N0} (raise it with --max-pixels / ImageLoadOptions.MaxPixels)", name);

        if (ImageIntegrity.Problem(data, format) is { } problem)
            throw new TrgException(ErrorKind.InvalidImage,
                problem.StartsWith("truncated", StringComparison.Ordinal) ? $"{problem}; refused rather than decoded with missing pixels" : problem, name);

        IImageDecoder decoder = format switch
        {
            GifFormat => FirstFrameGif,
            TiffFormat => FirstPageTiff,
            _ => config.ImageFormatsManager.FindDecoder(format),
        };
        Image<Rgb24> image;
        try
        {
            // Straight to RGB24 (the smallest format the engine takes), into one managed buffer (ByteArrayAllocator).
            image = Image.Load<Rgb24>(ByteArrayAllocator.Configuration, data, decoder);
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            // Decoders throw InvalidImageContentException / ImageFormatException for damaged data, and occasionally
            // plain runtime exceptions for crafted data: all mean the same to the caller.
            throw new TrgException(ErrorKind.InvalidImage, $"cannot decode the {format.Name} data: {e.Message}", name, e);
        }
        try
        {
            // The header check above guards the decoder; this guards formats whose header and data can disagree.
            if ((long)image.Width * image.Height > options.MaxPixels)
                throw new TrgException(ErrorKind.InvalidImage, $"decoded size {image.Width}x{image.Height} is over the pixel limit", name);
            if (options.ApplyExifOrientation && image.Metadata.ExifProfile is not null)
                image.Mutate(x => x.AutoOrient());
            return image;
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    /// <summary>Copies an ImageSharp image into an <see cref="RgbImage"/> (tightly packed rows).</summary>
    public static RgbImage ToRgbImage(Image<Rgb24> image)
    {
        var pixels = new byte[checked(image.Width * image.Height * 3)];
        image.CopyPixelDataTo(pixels);
        return new RgbImage(image.Width, image.Height, pixels);
    }

    /// <summary>Copies an ImageSharp image into an existing <see cref="RgbImage"/> of the same size (no allocation).</summary>
    public static void CopyTo(Image<Rgb24> image, RgbImage target)
    {
        if (image.Width != target.Width || image.Height != target.Height)
            throw new ArgumentException($"image is {image.Width}x{image.Height}, target {target.Width}x{target.Height}");
        image.CopyPixelDataTo(target.Pixels);
    }

    /// <summary>Wraps a copy of an <see cref="RgbImage"/> as an ImageSharp image (caller disposes).</summary>
    public static Image<Rgb24> ToImage(RgbImage image) => Image.LoadPixelData<Rgb24>(image.Pixels, image.Width, image.Height);
}
