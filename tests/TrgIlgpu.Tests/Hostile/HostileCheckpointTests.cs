using TrgIlgpu.Formats;
using TrgIlgpu.Fuzz;
using TrgIlgpu.Tests.Formats;
using static TrgIlgpu.Tests.Hostile.HostileGeneratorKit;

namespace TrgIlgpu.Tests.Hostile;

/// <summary>
/// Hostile PyTorch checkpoints (issue 9 items 1, 5 and 6): storage sizes that wrap around 64 bits, offsets past the
/// data or beyond 32 bits, a storage whose bytes fail the zip CRC, and pickles that amplify memory or work (DUP /
/// BINGET floods, memo floods). Each through `trg inspect` and `trg export` in process and through the library.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class HostileCheckpointTests : IDisposable
{
    private readonly TempFolder _tmp = new();
    public void Dispose() => _tmp.Dispose();


    /// <summary>`inspect` and `export` both refuse the file with <paramref name="kind"/>, and export writes nothing.</summary>
    private void AssertInspectAndExportRefuse(string checkpoint, ErrorKind kind, string says, long maxAllocatedMiB = 64)
    {
        AssertRefused(Trg("inspect", checkpoint), kind, checkpoint, says, maxAllocatedMiB);
        var output = _tmp.File("out.safetensors");
        AssertRefused(Trg("export", "--checkpoint", checkpoint, "--subsample", FormatsTestFiles.SharedData("arkit_subsample.pkl"), "--out", output),
            kind, checkpoint, says, maxAllocatedMiB);
        Assert.False(File.Exists(output));
        var e = Assert.Throws<TrgException>(() => Checkpoint.ReadStateDict(checkpoint));
        Assert.Equal(kind, e.Kind);
        Assert.Equal(checkpoint, e.FilePath);
    }

    // 2^62 + 16 float32 elements are 2^64 + 64 bytes: wrapped to 64 bits, exactly the 64-byte entry beside it.
    private const long WrappingNumel = (1L << 62) + 16;

    [Theory]
    [InlineData(1000L)]               // past the 16 real elements: was an ArgumentOutOfRangeException stack trace
    [InlineData((1L << 32) + 2)]      // beyond 32 bits: was truncated by an (int) cast, exported wrong data with exit 0
    public void Storage_size_that_wraps_around_64_bits_is_refused(long offset)
    {
        var pkl = PickleWriter.StateDict(w => w.Tensor("conv1.weight", "0", WrappingNumel, offset, [4], [1]));
        var path = _tmp.Write("wrapped.pt", TorchZip(pkl, ("0", RandomFloats(16, 1))));
        AssertInspectAndExportRefuse(path, ErrorKind.InvalidModel, "impossible size");
    }

    [Fact]
    public void View_whose_strides_reach_past_its_storage_is_refused()
    {
        var pkl = PickleWriter.StateDict(w => w.Tensor("fc.weight", "0", 16, 3, [4, 4], [4, 1]));
        var path = _tmp.Write("past.pt", TorchZip(pkl, ("0", RandomFloats(16, 2))));
        AssertInspectAndExportRefuse(path, ErrorKind.InvalidModel, "storage shorter than tensor");
    }

    [Fact]
    public void Storage_whose_bytes_fail_the_zip_crc_is_refused()
    {
        var storage = RandomFloats(16, 3);
        var pkl = PickleWriter.StateDict(w => w.Tensor("fc.bias", "0", 16, 0, [16], [1]));
        var zip = TorchZip(pkl, ("0", storage));
        Checkpoint.ReadStateDict(_tmp.Write("good.pt", zip)); // intact, it reads
        zip[IndexOf(zip, storage) + 5] ^= 0x40;          // one bit of one weight flipped on disk
        var path = _tmp.Write("bitflip.pt", zip);
        AssertInspectAndExportRefuse(path, ErrorKind.InvalidModel, "CRC-32");
    }

    [Theory]
    [InlineData((byte)'2', "DUP")]
    [InlineData((byte)'h', "BINGET")]
    public void Reference_flood_is_stopped_by_the_opcode_bound_in_bounded_memory(byte op, string name)
    {
        // [] memoised, then 8 million references to it (16 MB of opcodes, under the 64 MB pickle limit).
        const int count = 8_000_000;
        var w = new PickleWriter().Op((byte)']').Op((byte)'q').Op(0);
        var flood = new byte[op == 'h' ? count * 2 : count];
        for (int i = 0; i < flood.Length; i += op == 'h' ? 2 : 1) flood[i] = op;
        var pkl = w.Bytes(flood).Op((byte)'.').ToArray();
        var path = _tmp.Write($"flood-{name}.pt", TorchZip(pkl));
        // The whole file is read (16 MB) plus at most 2 million references on the stack.
        AssertInspectAndExportRefuse(path, ErrorKind.InvalidModel, "InputLimits.MaxPickleOps", maxAllocatedMiB: 160);
    }

    [Fact]
    public void Memo_flood_is_stopped_by_the_memo_bound()
    {
        var w = new PickleWriter().Op((byte)']');
        Span<byte> index = stackalloc byte[4];
        for (uint i = 0; i < 300_000; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(index, i);
            w.Op((byte)'r').Bytes(index); // LONG_BINPUT i
        }
        var path = _tmp.Write("memo.pt", TorchZip(w.Op((byte)'.').ToArray()));
        AssertInspectAndExportRefuse(path, ErrorKind.InvalidModel, "InputLimits.MaxPickleMemoEntries");
    }

    [Fact]
    public void Tensor_over_the_element_limit_is_refused_before_reading_its_storage()
    {
        // 2^28 elements claimed; the limit (2^27 by default) refuses it whatever the storage holds.
        var pkl = PickleWriter.StateDict(w => w.Tensor("conv1.weight", "0", 1L << 28, 0, [1L << 14, 1L << 14], [1L << 14, 1]));
        var path = _tmp.Write("huge.pt", TorchZip(pkl, ("0", RandomFloats(16, 4))));
        AssertInspectAndExportRefuse(path, ErrorKind.InvalidModel, "InputLimits.MaxTensorElements");
    }

    [Fact]
    public void Limits_are_configurable_per_call()
    {
        var pkl = PickleWriter.StateDict(w => w.Tensor("fc.bias", "0", 16, 0, [16], [1]));
        var path = _tmp.Write("small.pt", TorchZip(pkl, ("0", RandomFloats(16, 5))));
        Assert.Single(Checkpoint.ReadStateDict(path).Tensors);
        var e = Assert.Throws<TrgException>(() => Checkpoint.ReadStateDict(path, new InputLimits { MaxPickleOps = 10 }));
        Assert.Contains("MaxPickleOps", e.Message);
        e = Assert.Throws<TrgException>(() => Checkpoint.ReadStateDict(path, new InputLimits { MaxModelBytes = 100 }));
        Assert.Contains("MaxModelBytes", e.Message);
        e = Assert.Throws<TrgException>(() => Checkpoint.ReadStateDict(path, new InputLimits { MaxTensorElements = 15 }));
        Assert.Contains("MaxTensorElements", e.Message);
    }
}
