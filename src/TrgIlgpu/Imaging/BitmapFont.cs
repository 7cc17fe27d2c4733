namespace TrgIlgpu.Imaging;

/// <summary>
/// A 5x7 pixel font (digits, upper-case letters, a little punctuation) for labels on overlays, because ImageSharp
/// 2.1 has no text rendering without ImageSharp.Drawing. Lower case is drawn as upper case; unknown characters as a box.
/// </summary>
internal static class BitmapFont
{
    public const int GlyphWidth = 5, GlyphHeight = 7, Advance = 6, LineHeight = 9;

    // Each glyph: 7 rows, top to bottom; bit 4 is the leftmost column.
    private static readonly Dictionary<char, byte[]> Glyphs = Build(new Dictionary<char, string>
    {
        ['0'] = ".###. #...# #..## #.#.# ##..# #...# .###.",
        ['1'] = "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
        ['2'] = ".###. #...# ....# ...#. ..#.. .#... #####",
        ['3'] = "##### ...#. ..#.. ...#. ....# #...# .###.",
        ['4'] = "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
        ['5'] = "##### #.... ####. ....# ....# #...# .###.",
        ['6'] = "..##. .#... #.... ####. #...# #...# .###.",
        ['7'] = "##### ....# ...#. ..#.. .#... .#... .#...",
        ['8'] = ".###. #...# #...# .###. #...# #...# .###.",
        ['9'] = ".###. #...# #...# .#### ....# ...#. .##..",
        ['A'] = ".###. #...# #...# ##### #...# #...# #...#",
        ['B'] = "####. #...# #...# ####. #...# #...# ####.",
        ['C'] = ".###. #...# #.... #.... #.... #...# .###.",
        ['D'] = "###.. #..#. #...# #...# #...# #..#. ###..",
        ['E'] = "##### #.... #.... ####. #.... #.... #####",
        ['F'] = "##### #.... #.... ####. #.... #.... #....",
        ['G'] = ".###. #...# #.... #.### #...# #...# .####",
        ['H'] = "#...# #...# #...# ##### #...# #...# #...#",
        ['I'] = ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
        ['J'] = "..### ...#. ...#. ...#. ...#. #..#. .##..",
        ['K'] = "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
        ['L'] = "#.... #.... #.... #.... #.... #.... #####",
        ['M'] = "#...# ##.## #.#.# #.#.# #...# #...# #...#",
        ['N'] = "#...# #...# ##..# #.#.# #..## #...# #...#",
        ['O'] = ".###. #...# #...# #...# #...# #...# .###.",
        ['P'] = "####. #...# #...# ####. #.... #.... #....",
        ['Q'] = ".###. #...# #...# #...# #.#.# #..#. .##.#",
        ['R'] = "####. #...# #...# ####. #.#.. #..#. #...#",
        ['S'] = ".#### #.... #.... .###. ....# ....# ####.",
        ['T'] = "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
        ['U'] = "#...# #...# #...# #...# #...# #...# .###.",
        ['V'] = "#...# #...# #...# #...# #...# .#.#. ..#..",
        ['W'] = "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
        ['X'] = "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
        ['Y'] = "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
        ['Z'] = "##### ....# ...#. ..#.. .#... #.... #####",
        [' '] = "..... ..... ..... ..... ..... ..... .....",
        ['.'] = "..... ..... ..... ..... ..... .##.. .##..",
        [','] = "..... ..... ..... ..... .##.. ..#.. .#...",
        ['-'] = "..... ..... ..... .###. ..... ..... .....",
        ['+'] = "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
        [':'] = "..... .##.. .##.. ..... .##.. .##.. .....",
        ['='] = "..... ..... ##### ..... ##### ..... .....",
        ['('] = "...#. ..#.. .#... .#... .#... ..#.. ...#.",
        [')'] = ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
        ['/'] = "..... ....# ...#. ..#.. .#... #.... .....",
        ['%'] = "##... ##..# ...#. ..#.. .#... #..## ...##",
        ['_'] = "..... ..... ..... ..... ..... ..... #####",
        ['['] = ".###. .#... .#... .#... .#... .#... .###.",
        [']'] = ".###. ...#. ...#. ...#. ...#. ...#. .###.",
        ['\''] = "..#.. ..#.. .#... ..... ..... ..... .....",
        ['?'] = ".###. #...# ....# ...#. ..#.. ..... ..#..",
        ['#'] = ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",
    });

    private static readonly byte[] Unknown = Build(new() { ['?'] = "##### #...# #...# #...# #...# #...# #####" })['?'];

    private static Dictionary<char, byte[]> Build(Dictionary<char, string> source)
    {
        var glyphs = new Dictionary<char, byte[]>();
        foreach (var (ch, pattern) in source)
        {
            var rows = pattern.Split(' ');
            if (rows.Length != GlyphHeight || rows.Any(r => r.Length != GlyphWidth))
                throw new InvalidOperationException($"glyph '{ch}' is not 5x7");
            glyphs[ch] = rows.Select(r => (byte)r.Aggregate(0, (bits, c) => (bits << 1) | (c == '#' ? 1 : 0))).ToArray();
        }
        return glyphs;
    }

    /// <summary>The 7 row bitmasks of a character (bit 4 = leftmost column).</summary>
    public static ReadOnlySpan<byte> Glyph(char c) =>
        Glyphs.TryGetValue(char.ToUpperInvariant(c), out var g) ? g : Unknown;

    public static bool Has(char c) => Glyphs.ContainsKey(char.ToUpperInvariant(c));

    /// <summary>Pixel size of a single line of text at an integer scale.</summary>
    public static (int Width, int Height) Measure(string text, int scale) =>
        (text.Length == 0 ? 0 : (text.Length * Advance - 1) * scale, GlyphHeight * scale);
}
