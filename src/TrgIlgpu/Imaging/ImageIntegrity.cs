using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using TrgIlgpu.Formats;

namespace TrgIlgpu.Imaging;

/// <summary>
/// Checks that a PNG or JPEG file is complete before it is decoded. ImageSharp, like most decoders, fills whatever a
/// truncated file lacks with black and reports success; TrgIlgpu refuses such files instead
/// (<see cref="ErrorKind.InvalidImage"/>, docs/limits.md), so a half-downloaded photo never gives a plausible pose.
/// PNG: every chunk is inside the file with a matching CRC, IEND is reached, and the compressed image data inflates to
/// at least the bytes the header's size needs (streamed through a small buffer: no pixel is allocated, so a 74-byte
/// file that claims 9000x9000 is refused before the decoder allocates anything). JPEG: the segments and the
/// entropy-coded data of every scan are walked up to the end-of-image marker.
/// </summary>
internal static class ImageIntegrity
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10];

    /// <summary>Null when the file is complete (or not PNG/JPEG), else what is wrong with it.</summary>
    public static string? Problem(byte[] data, IImageFormat format) => format switch
    {
        PngFormat => PngProblem(data),
        JpegFormat => JpegProblem(data),
        _ => null,
    };

    // ---- PNG ----

    private static string? PngProblem(byte[] data)
    {
        if (data.Length < PngSignature.Length || !data.AsSpan(0, PngSignature.Length).SequenceEqual(PngSignature)) return "not a PNG signature";
        long pos = PngSignature.Length;
        long width = 0, height = 0;
        int bitDepth = 0, colourType = 0, interlace = 0;
        bool header = false;
        var idat = new List<(int Offset, int Length)>();
        while (true)
        {
            if (data.Length - pos < 12) return "truncated PNG: the file ends before its IEND chunk";
            long length = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan((int)pos));
            if (length > data.Length - pos - 12) return "truncated PNG: a chunk runs past the end of the file";
            var type = data.AsSpan((int)pos + 4, 4);
            var body = data.AsSpan((int)pos + 8, (int)length);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan((int)(pos + 8 + length)));
            if (Crc32.Compute(data.AsSpan((int)pos + 4, (int)length + 4)) != crc)
                return $"corrupt PNG: chunk '{System.Text.Encoding.ASCII.GetString(type)}' at byte {pos} fails its CRC";
            if (type.SequenceEqual("IHDR"u8) && length == 13)
            {
                width = BinaryPrimitives.ReadUInt32BigEndian(body);
                height = BinaryPrimitives.ReadUInt32BigEndian(body[4..]);
                bitDepth = body[8]; colourType = body[9]; interlace = body[12];
                header = true;
            }
            else if (type.SequenceEqual("IDAT"u8)) idat.Add(((int)pos + 8, (int)length));
            else if (type.SequenceEqual("IEND"u8)) break;
            pos += 12 + length;
        }
        if (!header) return "corrupt PNG: no IHDR chunk";
        int channels = colourType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => 0 };
        if (channels == 0 || bitDepth is not (1 or 2 or 4 or 8 or 16)) return $"corrupt PNG: colour type {colourType} with bit depth {bitDepth}";
        if (idat.Count == 0) return "truncated PNG: no image data (IDAT)";

        long expected = interlace == 0 ? RawBytes(width, height, channels * bitDepth) : Adam7RawBytes(width, height, channels * bitDepth);
        long got = InflatedLength(data, idat, expected);
        if (got < 0) return "corrupt PNG: the compressed image data is damaged";
        if (got < expected) return $"truncated PNG: the image data holds {got:N0} of the {expected:N0} bytes a {width}x{height} image needs";
        return null;
    }

    /// <summary>Bytes of filtered scanlines: per row one filter byte and ceil(width * bits / 8).</summary>
    private static long RawBytes(long width, long height, int bitsPerPixel)
        => width == 0 || height == 0 ? 0 : checked(height * (1 + (width * bitsPerPixel + 7) / 8));

    private static long Adam7RawBytes(long width, long height, int bitsPerPixel)
    {
        // (x start, y start, x step, y step) of the seven passes.
        ReadOnlySpan<int> passes = [0, 0, 8, 8, 4, 0, 8, 8, 0, 4, 4, 8, 2, 0, 4, 4, 0, 2, 2, 4, 1, 0, 2, 2, 0, 1, 1, 2];
        long total = 0;
        for (int p = 0; p < 28; p += 4)
        {
            long cols = (width - passes[p] + passes[p + 2] - 1) / passes[p + 2];
            long rows = (height - passes[p + 1] + passes[p + 3] - 1) / passes[p + 3];
            if (cols > 0 && rows > 0) total = checked(total + RawBytes(cols, rows, bitsPerPixel));
        }
        return total;
    }

    /// <summary>Inflates the IDAT chunks through a small buffer, stopping at <paramref name="enough"/> bytes; -1 when
    /// the zlib stream is damaged.</summary>
    private static long InflatedLength(byte[] data, List<(int Offset, int Length)> idat, long enough)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            using var z = new ZLibStream(new SegmentStream(data, idat), CompressionMode.Decompress);
            long total = 0;
            while (total < enough)
            {
                int n = z.Read(buffer, 0, buffer.Length);
                if (n == 0) break;
                total += n;
            }
            return total;
        }
        catch (InvalidDataException) { return -1; }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    /// <summary>The IDAT payloads read one after the other, without copying them together.</summary>
    private sealed class SegmentStream(byte[] data, List<(int Offset, int Length)> segments) : Stream
    {
        private int _segment, _at;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            while (_segment < segments.Count && _at == segments[_segment].Length) { _segment++; _at = 0; }
            if (_segment == segments.Count || buffer.Length == 0) return 0;
            var (offset, length) = segments[_segment];
            int n = Math.Min(buffer.Length, length - _at);
            data.AsSpan(offset + _at, n).CopyTo(buffer);
            _at += n;
            return n;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    // ---- JPEG ----

    private static string? JpegProblem(byte[] data)
    {
        const string truncated = "truncated JPEG: the data ends before the end-of-image marker";
        if (data.Length < 4 || data[0] != 0xFF || data[1] != 0xD8) return "not a JPEG start-of-image marker";
        int pos = 2;
        bool scan = false;
        while (true)
        {
            // Next marker: 0xFF, any fill bytes 0xFF, then the marker code.
            if (pos >= data.Length) return truncated;
            if (data[pos] != 0xFF) return $"corrupt JPEG: expected a marker at byte {pos}";
            while (pos < data.Length && data[pos] == 0xFF) pos++;
            if (pos >= data.Length) return truncated;
            byte marker = data[pos++];
            if (marker == 0xD9) return scan ? null : "corrupt JPEG: no image scan before the end-of-image marker";
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7)) continue; // standalone markers
            if (data.Length - pos < 2) return truncated;
            int length = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(pos));
            if (length < 2) return $"corrupt JPEG: segment length {length} at byte {pos}";
            if (length > data.Length - pos) return truncated;
            pos += length;
            if (marker != 0xDA) continue;
            // Entropy-coded data of a scan: up to a marker that is not stuffing (FF 00) or a restart (FF D0-D7).
            scan = true;
            while (true)
            {
                int ff = Array.IndexOf(data, (byte)0xFF, pos);
                if (ff < 0 || ff + 1 >= data.Length) return truncated;
                byte next = data[ff + 1];
                if (next == 0x00 || next is >= 0xD0 and <= 0xD7) { pos = ff + 2; continue; }
                if (next == 0xFF) { pos = ff + 1; continue; } // fill byte before a marker
                pos = ff;
                break;
            }
        }
    }
}
