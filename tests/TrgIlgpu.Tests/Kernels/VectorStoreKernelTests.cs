using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Kernels;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>
/// <see cref="VectorStore.Store16"/> (OpenCL C: one 16-float vector store that assumes only a float's alignment) writes
/// exactly its 16 floats, bit for bit, at offsets that are not multiples of 16, and nothing around them. The kernels
/// that use it (<c>WinogradGemmF2</c>, <c>PointMlp</c>) are checked against their float64 twins in their own tests.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class VectorStoreKernelTests(KernelDevices devices)
{
    /// <summary>Distance between two threads' rows: 16 written floats and 3 left alone, so the rows drift off any alignment.</summary>
    private const int RowPitch = VectorStore.Width + 3;

    [Theory]
    [InlineData(0, 1)]
    [InlineData(3, 5)]
    [InlineData(17, 3)]
    public void Store16_Cpu_WritesExactlyItsRow(int at, int rows) => Run(devices.Cpu, at, rows, seed: 700 + at);

    [OpenCLTheory]
    [InlineData(0, 1)]
    [InlineData(3, 5)]
    [InlineData(17, 67)]
    public void Store16_OpenCL_WritesExactlyItsRow(int at, int rows) => Run(devices.OpenCL, at, rows, seed: 800 + at);

    private static void StoreRows(Index1D i, ArrayView<float> source, ArrayView<float> target, int at)
    {
        int s = i * VectorStore.Width;
        var row = target.SubView(at + i * RowPitch, VectorStore.Width);
        VectorStore.Store16(ref row[0],
            source[s], source[s + 1], source[s + 2], source[s + 3], source[s + 4], source[s + 5], source[s + 6],
            source[s + 7], source[s + 8], source[s + 9], source[s + 10], source[s + 11], source[s + 12],
            source[s + 13], source[s + 14], source[s + 15]);
    }

    private static void Run(DeviceUnderTest device, int at, int rows, int seed)
    {
        var rng = new TestRandom(seed);
        var values = rng.Gaussian(rows * VectorStore.Width, 1);
        const int guard = 21;
        int length = at + rows * RowPitch + guard;

        using var d = device.Begin();
        var target = d.Poisoned(length);
        var store = device.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(StoreRows);
        store(rows, d.Upload(values).View, target.View, at);
        var got = d.Download(target);

        string what = $"VectorStore.Store16 at {at}, {rows} rows {RowPitch} apart, on {device.Description}";
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < VectorStore.Width; c++)
            {
                float want = values[r * VectorStore.Width + c], have = got[at + r * RowPitch + c];
                Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(have),
                    $"{what}: row {r} float {c} is {have}, expected {want}");
            }
        }
        Expect.Untouched(what + ": outside the rows", got,
            i => i >= at && (i - at) / RowPitch < rows && (i - at) % RowPitch < VectorStore.Width);
    }
}
