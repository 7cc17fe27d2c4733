using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>
/// Crop + normalise (MODEL_SPEC 2.1-2.2): output pixel (x, y) samples the source at
/// (l + x (r - l) / 191, t + y (b - t) / 191) bilinearly, taps outside the image count as 0,
/// then (rgb / 255 - mean) / std, NCHW.
/// </summary>
public static class Preprocess
{
    /// <summary>Output rows and columns of the crop.</summary>
    public const int Size = 192;

    /// <summary>
    /// Bytes of the image buffer <see cref="CropNormalize"/> reads for <paramref name="bytes"/> bytes of pixels: rounded
    /// up to whole 32-bit words (it reads the pixels a word at a time; the bytes past the pixels are never used).
    /// </summary>
    public static long ImageBufferBytes(long bytes) => (Math.Max(bytes, 1) + 3) & ~3L;

    /// <summary>Adjacent output pixels of one row a thread (<see cref="Size"/> is a multiple of it: 12 runs a row).</summary>
    public const int RowRun = VectorStore.Width;

    /// <summary>Threads of a <see cref="CropNormalize"/> launch: one per (face, output row, run of <see cref="RowRun"/> columns).</summary>
    public static long ThreadCount(int batch) => (long)batch * Size * (Size / RowRun);

    /// <summary>
    /// Launch with <see cref="ThreadCount"/> threads. A thread owns <see cref="RowRun"/> consecutive pixels of one output
    /// row: the source row pair, its weights and which of its rows lie inside the image are found once; the 16 pixels
    /// are written out as 16 independent chains and stored as one 16-float run a channel (<see cref="VectorStore.Store16"/>),
    /// which LLVM's SLP vectoriser takes 16 lanes wide (32-bit gathers for the pixels). Branch-free: a tap outside the
    /// image reads a clamped pixel with weight 0, which adds +0 exactly where the guarded form skipped it (the same sums,
    /// bit for bit), and floor is a truncation and a select.
    /// <paramref name="images"/>: RGB8 rows, its length <see cref="ImageBufferBytes"/> (a whole number of 32-bit words).
    /// </summary>
    public static void CropNormalize(ArrayView<byte> images, ArrayView<FaceParams> faces, ArrayView<float> output, int batch)
    {
        const int runs = Size / RowRun;
        int gid = Grid.GlobalIndex.X;
        if (gid >= batch * Size * runs) return;
        int x0 = gid % runs * RowRun;
        int y = gid / runs % Size;
        int b = gid / (runs * Size);
        // By reference: a struct-typed load (`var f = faces[b]`) stops PoCL's vectoriser ("instruction return type cannot be
        // vectorized"); the fields are loaded one by one.
        ref var f = ref faces[b];
        float sy = f.Top + y * ((f.Bottom - f.Top) / (Size - 1));
        int iy = Floor(sy, out float fy);
        var row = new SourceRow
        {
            Words = images.Cast<uint>(),
            Width = f.Width,
            Upper = f.ImageOffset + ClampTo(iy, f.Height) * f.Width * 3,
            Lower = f.ImageOffset + ClampTo(iy + 1, f.Height) * f.Width * 3,
            UpperInside = iy >= 0 && iy < f.Height,
            LowerInside = iy + 1 >= 0 && iy + 1 < f.Height,
            Ay = sy - fy,
            Left = f.Left,
            StepX = (f.Right - f.Left) / (Size - 1),
        };
        var p0 = row.Pixel(x0); var p1 = row.Pixel(x0 + 1); var p2 = row.Pixel(x0 + 2); var p3 = row.Pixel(x0 + 3);
        var p4 = row.Pixel(x0 + 4); var p5 = row.Pixel(x0 + 5); var p6 = row.Pixel(x0 + 6); var p7 = row.Pixel(x0 + 7);
        var p8 = row.Pixel(x0 + 8); var p9 = row.Pixel(x0 + 9); var p10 = row.Pixel(x0 + 10); var p11 = row.Pixel(x0 + 11);
        var p12 = row.Pixel(x0 + 12); var p13 = row.Pixel(x0 + 13); var p14 = row.Pixel(x0 + 14); var p15 = row.Pixel(x0 + 15);
        const int plane = Size * Size;
        int o = b * 3 * plane + y * Size + x0;
        var red = output.SubView(o, RowRun);
        VectorStore.Store16(ref red[0], p0.R, p1.R, p2.R, p3.R, p4.R, p5.R, p6.R, p7.R, p8.R, p9.R, p10.R, p11.R, p12.R, p13.R, p14.R, p15.R);
        var green = output.SubView(o + plane, RowRun);
        VectorStore.Store16(ref green[0], p0.G, p1.G, p2.G, p3.G, p4.G, p5.G, p6.G, p7.G, p8.G, p9.G, p10.G, p11.G, p12.G, p13.G, p14.G, p15.G);
        var blue = output.SubView(o + 2 * plane, RowRun);
        VectorStore.Store16(ref blue[0], p0.B, p1.B, p2.B, p3.B, p4.B, p5.B, p6.B, p7.B, p8.B, p9.B, p10.B, p11.B, p12.B, p13.B, p14.B, p15.B);
    }

    /// <summary>
    /// Whether <see cref="CropNormalizePlanes"/> can write <paramref name="split"/>'s planes: a stride-2 convolution of the
    /// whole [B, 3, <see cref="Size"/>, <see cref="Size"/>] crop (<see cref="PhaseConvolution.PaddedPlanes"/>).
    /// </summary>
    public static bool SupportsPlanes(in ConvParams split, int batch) =>
        PhaseConvolution.PaddedPlanes(split) && split.Batch == batch && split.InChannels == 3 && split.InHeight == Size && split.InWidth == Size
        && PlanesThreadCount(split) <= int.MaxValue;

    /// <summary>Rows of a plane a <see cref="CropNormalizePlanes"/> thread row covers: PH, then zero rows up to the tail's end.</summary>
    public static int PlaneRows(in ConvParams split) => Tiling.CeilDiv(PhaseConvolution.PlaneStride(split), PhaseConvolution.PlaneWidth(split));

    /// <summary>Runs of <see cref="RowRun"/> columns a plane row: PW / 16, rounded up.</summary>
    public static int PlaneRuns(in ConvParams split) => Tiling.CeilDiv(PhaseConvolution.PlaneWidth(split), RowRun);

    /// <summary>Threads of a <see cref="CropNormalizePlanes"/> launch: one per (face, phase, <see cref="PlaneRows"/> row, <see cref="PlaneRuns"/> run).</summary>
    public static long PlanesThreadCount(in ConvParams split) => (long)split.Batch * 4 * PlaneRows(split) * PlaneRuns(split);

    /// <summary>
    /// <see cref="CropNormalize"/> writing, instead of the NCHW crop, the phase planes of <paramref name="split"/> (the stem's
    /// stride-2 convolution, the crop's only reader; <see cref="SupportsPlanes"/>), as <see cref="PhaseConvolution.PhaseSplit"/>
    /// would from the crop. A thread owns <see cref="RowRun"/> consecutive columns of one row of one plane (phase) of a face:
    /// one source row pair for all of them, as in <see cref="CropNormalize"/> (the same arithmetic, every other crop column),
    /// 16 independent chains stored as one 16-float run a channel where the run lies inside the plane row; the padding, the
    /// rows past PH and the tail get zeros, so every float of the planes is written each forward. Launch with
    /// <see cref="PlanesThreadCount"/> threads.
    /// </summary>
    public static void CropNormalizePlanes(ArrayView<byte> images, ArrayView<FaceParams> faces, ArrayView<float> planes, ConvParams split)
    {
        int stride = PhaseConvolution.PlaneStride(split), pw = PhaseConvolution.PlaneWidth(split), pad = PhaseConvolution.PlanePad(split);
        int runs = PlaneRuns(split), rows = PlaneRows(split);
        int gid = Grid.GlobalIndex.X;
        if (gid >= split.Batch * 4 * rows * runs) return;
        int x0 = gid % runs * RowRun;
        int a = gid / runs % rows;
        int phase = gid / (runs * rows) % 4;
        int b = gid / (runs * rows * 4);
        int iy = 2 * a + (phase >> 1) - pad, column = (phase & 1) - pad;
        float rowFactor = a < PhaseConvolution.PlaneHeight(split) && iy >= 0 && iy < Size ? 1f : 0f;
        ref var f = ref faces[b];
        float sy = f.Top + ClampTo(iy, Size) * ((f.Bottom - f.Top) / (Size - 1));
        int sourceRow = Floor(sy, out float fy);
        var row = new SourceRow
        {
            Words = images.Cast<uint>(),
            Width = f.Width,
            Upper = f.ImageOffset + ClampTo(sourceRow, f.Height) * f.Width * 3,
            Lower = f.ImageOffset + ClampTo(sourceRow + 1, f.Height) * f.Width * 3,
            UpperInside = sourceRow >= 0 && sourceRow < f.Height,
            LowerInside = sourceRow + 1 >= 0 && sourceRow + 1 < f.Height,
            Ay = sy - fy,
            Left = f.Left,
            StepX = (f.Right - f.Left) / (Size - 1),
        };
        var p0 = row.PlanePixel(x0, column, pw, rowFactor); var p1 = row.PlanePixel(x0 + 1, column, pw, rowFactor);
        var p2 = row.PlanePixel(x0 + 2, column, pw, rowFactor); var p3 = row.PlanePixel(x0 + 3, column, pw, rowFactor);
        var p4 = row.PlanePixel(x0 + 4, column, pw, rowFactor); var p5 = row.PlanePixel(x0 + 5, column, pw, rowFactor);
        var p6 = row.PlanePixel(x0 + 6, column, pw, rowFactor); var p7 = row.PlanePixel(x0 + 7, column, pw, rowFactor);
        var p8 = row.PlanePixel(x0 + 8, column, pw, rowFactor); var p9 = row.PlanePixel(x0 + 9, column, pw, rowFactor);
        var p10 = row.PlanePixel(x0 + 10, column, pw, rowFactor); var p11 = row.PlanePixel(x0 + 11, column, pw, rowFactor);
        var p12 = row.PlanePixel(x0 + 12, column, pw, rowFactor); var p13 = row.PlanePixel(x0 + 13, column, pw, rowFactor);
        var p14 = row.PlanePixel(x0 + 14, column, pw, rowFactor); var p15 = row.PlanePixel(x0 + 15, column, pw, rowFactor);
        int at = a * pw + x0;
        int count = Math.Min(pw - x0, stride - at);
        int o = (b * 3 * 4 + phase) * stride + at;
        StoreRun(planes, o, count, p0.R, p1.R, p2.R, p3.R, p4.R, p5.R, p6.R, p7.R, p8.R, p9.R, p10.R, p11.R, p12.R, p13.R, p14.R, p15.R);
        StoreRun(planes, o + 4 * stride, count, p0.G, p1.G, p2.G, p3.G, p4.G, p5.G, p6.G, p7.G, p8.G, p9.G, p10.G, p11.G, p12.G, p13.G, p14.G, p15.G);
        StoreRun(planes, o + 8 * stride, count, p0.B, p1.B, p2.B, p3.B, p4.B, p5.B, p6.B, p7.B, p8.B, p9.B, p10.B, p11.B, p12.B, p13.B, p14.B, p15.B);
    }

    /// <summary>The first <paramref name="count"/> (all 16 as one run when at least 16) of 16 values to planes[o..].</summary>
    private static void StoreRun(ArrayView<float> planes, int o, int count,
        float v0, float v1, float v2, float v3, float v4, float v5, float v6, float v7,
        float v8, float v9, float v10, float v11, float v12, float v13, float v14, float v15)
    {
        if (count >= RowRun)
        {
            var run = planes.SubView(o, RowRun);
            VectorStore.Store16(ref run[0], v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15);
            return;
        }
        if (count > 0) planes[o] = v0;
        if (count > 1) planes[o + 1] = v1;
        if (count > 2) planes[o + 2] = v2;
        if (count > 3) planes[o + 3] = v3;
        if (count > 4) planes[o + 4] = v4;
        if (count > 5) planes[o + 5] = v5;
        if (count > 6) planes[o + 6] = v6;
        if (count > 7) planes[o + 7] = v7;
        if (count > 8) planes[o + 8] = v8;
        if (count > 9) planes[o + 9] = v9;
        if (count > 10) planes[o + 10] = v10;
        if (count > 11) planes[o + 11] = v11;
        if (count > 12) planes[o + 12] = v12;
        if (count > 13) planes[o + 13] = v13;
        if (count > 14) planes[o + 14] = v14;
    }

    /// <summary>One normalised output pixel.</summary>
    private struct Normalised
    {
        public float R, G, B;
    }

    /// <summary>What the pixels of one output row share: the two source rows (clamped into the image) and their weight.</summary>
    private struct SourceRow
    {
        public ArrayView<uint> Words;
        public int Width, Upper, Lower;
        public bool UpperInside, LowerInside;
        public float Ay, Left, StepX;

        /// <summary>
        /// Column <paramref name="x"/> of a plane row: crop column 2x + <paramref name="column"/> (the phase's column less the
        /// padding) times <paramref name="row"/> (1, or 0 on a padding row), or zero outside the crop and past the plane's
        /// <paramref name="pw"/> columns. The mask is a factor from integer minima (finite pixels times 0 are zeros, of
        /// either sign): per-lane selects on booleans kept LLVM's SLP vectoriser from packing the 16 chains (2x the time).
        /// </summary>
        public readonly Normalised PlanePixel(int x, int column, int pw, float row)
        {
            int ix = 2 * x + column, clamped = ClampTo(ix, Size);
            int outside = Math.Abs(ix - clamped) + Math.Max(x - pw + 1, 0);
            float f = row * (1 - Math.Min(outside, 1));
            var v = Pixel(clamped);
            return new Normalised { R = v.R * f, G = v.G * f, B = v.B * f };
        }

        /// <summary>Output column <paramref name="x"/>: bilinear taps (weight 0 outside the image), then (rgb / 255 - mean) / std.</summary>
        public readonly Normalised Pixel(int x)
        {
            float sx = Left + x * StepX;
            int ix = Floor(sx, out float fx);
            float ax = sx - fx, wx0 = 1f - ax, wy0 = 1f - Ay;
            bool left = ix >= 0 && ix < Width, right = ix + 1 >= 0 && ix + 1 < Width;
            int c0 = ClampTo(ix, Width) * 3, c1 = ClampTo(ix + 1, Width) * 3;
            float r = 0f, g = 0f, bl = 0f;
            Tap(Words, Upper + c0, UpperInside && left ? wx0 * wy0 : 0f, ref r, ref g, ref bl);
            Tap(Words, Upper + c1, UpperInside && right ? ax * wy0 : 0f, ref r, ref g, ref bl);
            Tap(Words, Lower + c0, LowerInside && left ? wx0 * Ay : 0f, ref r, ref g, ref bl);
            Tap(Words, Lower + c1, LowerInside && right ? ax * Ay : 0f, ref r, ref g, ref bl);
            return new Normalised
            {
                R = (r / 255f - 0.485f) / 0.229f,
                G = (g / 255f - 0.456f) / 0.224f,
                B = (bl / 255f - 0.406f) / 0.225f,
            };
        }
    }

    /// <summary>
    /// Adds <paramref name="w"/> times the pixel at byte <paramref name="i"/> (R, G, B at i, i + 1, i + 2) to the sums.
    /// The three bytes are read as the two 32-bit words that hold them (the second clamped to the last word: when it is
    /// past the end the bytes all lie in the first), joined and shifted: 32-bit gathers vectorise on PoCL, byte
    /// gathers do not (LLVM's cost model keeps the loop scalar). The byte values, and so the sums, are unchanged.
    /// </summary>
    private static void Tap(ArrayView<uint> words, int i, float w, ref float r, ref float g, ref float b)
    {
        int at = i >> 2;
        int next = at + 1 < words.IntLength ? at + 1 : at;
        uint rgb = (uint)((words[at] | ((ulong)words[next] << 32)) >> (8 * (i & 3)));
        r += w * (int)(rgb & 0xFF);
        g += w * (int)((rgb >> 8) & 0xFF);
        b += w * (int)((rgb >> 16) & 0xFF);
    }

    /// <summary>
    /// floor(<paramref name="v"/>) as an int and a float, by truncation and a select (no library call or branch, so the
    /// kernel vectorises); exact for |v| &lt; 2^31.
    /// </summary>
    private static int Floor(float v, out float floor)
    {
        int i = (int)v;
        float t = i;
        bool down = t > v;
        floor = down ? t - 1f : t;
        return down ? i - 1 : i;
    }

    private static int ClampTo(int i, int count) => i < 0 ? 0 : i >= count ? count - 1 : i;
}
