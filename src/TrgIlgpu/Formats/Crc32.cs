using System.Buffers.Binary;

namespace TrgIlgpu.Formats;

/// <summary>CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) as zip and PNG use it; slicing-by-8.</summary>
internal static class Crc32
{
    private static readonly uint[] Table = MakeTable();

    /// <summary>Table k (k = 0..7) at [256 k]: the CRC of a byte followed by k zero bytes.</summary>
    private static uint[] MakeTable()
    {
        var t = new uint[8 * 256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        for (int n = 0; n < 256; n++)
            for (int k = 1; k < 8; k++) t[k * 256 + n] = (t[(k - 1) * 256 + n] >> 8) ^ t[t[(k - 1) * 256 + n] & 0xff];
        return t;
    }

    /// <summary>Continues a running CRC (start with 0) over <paramref name="data"/>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        var t = Table;
        uint c = ~crc;
        while (data.Length >= 8)
        {
            uint lo = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ c, hi = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            c = t[7 * 256 + (lo & 0xff)] ^ t[6 * 256 + ((lo >> 8) & 0xff)] ^ t[5 * 256 + ((lo >> 16) & 0xff)] ^ t[4 * 256 + (lo >> 24)]
              ^ t[3 * 256 + (hi & 0xff)] ^ t[2 * 256 + ((hi >> 8) & 0xff)] ^ t[256 + ((hi >> 16) & 0xff)] ^ t[hi >> 24];
            data = data[8..];
        }
        foreach (byte b in data) c = t[(c ^ b) & 0xff] ^ (c >> 8);
        return ~c;
    }

    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);
}
