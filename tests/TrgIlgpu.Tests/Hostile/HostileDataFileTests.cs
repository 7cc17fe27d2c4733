using System.Text;
using TrgIlgpu.Formats;
using TrgIlgpu.Tests.App;
using TrgIlgpu.Tests.Formats;
using static TrgIlgpu.Tests.Hostile.HostileGeneratorKit;

namespace TrgIlgpu.Tests.Hostile;

/// <summary>
/// Hostile boxes files, calibration files and .npy arrays: numbers beyond float32, too many boxes, deep nesting,
/// invalid UTF-8, oversized files, impossible shapes. Each refused with its documented code (boxes 7, calibration 2,
/// data 4), the file named, no stack trace.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class HostileDataFileTests : IDisposable
{
    private readonly TempFolder _tmp = new();
    public void Dispose() => _tmp.Dispose();


    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    public static TheoryData<string, string> BoxesCases => new()
    {
        { "beyond-float", "not a finite coordinate" },
        { "too-many", "InputLimits.MaxFacesPerImage" },
        { "deep", "not valid JSON" },
        { "bad-utf8", "not valid JSON" },
        { "empty-key", "not a file name" },
    };

    private byte[] Boxes(string name) => name switch
    {
        "beyond-float" => Utf8("""{"astronaut.png": [[0, 0, 1e39, 10]]}"""),
        "too-many" => Utf8("{\"astronaut.png\": [" + string.Join(",", Enumerable.Repeat("[1,2,30,40]", 2000)) + "]}"),
        "deep" => Utf8("{\"a.png\": " + new string('[', 5000) + new string(']', 5000) + "}"),
        "bad-utf8" => [(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', (byte)'[', (byte)']', (byte)'}'],
        "empty-key" => Utf8("""{"": [[1,2,30,40]]}"""),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(BoxesCases))]
    public void Boxes_file_is_refused_with_exit_7(string name, string says)
    {
        var path = _tmp.Write($"{name}.json", Boxes(name));
        AssertRefused(Trg("estimate", AppTestData.AstronautPath, "--model", "fake", "--boxes", path), ErrorKind.InvalidBox, path, says);
    }

    public static TheoryData<string, string> CalibrationCases => new()
    {
        { """{"fx": 1e999, "fy": 500, "cx": 320, "cy": 240}""", "finite number" },
        { """{"K": [[1e39, 0, 320], [0, 1e39, 240], [0, 0, 1]]}""", "" },
        { "{\"K\": " + new string('[', 3000) + new string(']', 3000) + "}", "not valid JSON" },
        { """{"camera_matrix": {"type_id": "opencv-matrix", "rows": 100000, "cols": 100000, "data": [1]}}""", "rows x cols" },
    };

    [Theory]
    [MemberData(nameof(CalibrationCases))]
    public void Calibration_file_is_refused_with_exit_2(string json, string says)
    {
        var path = _tmp.Write("camera.json", Utf8(json));
        AssertRefused(Trg("estimate", AppTestData.AstronautPath, "--model", "fake", "--bbox", "153,49,295,191", "--calibration", path),
            ErrorKind.Usage, path, says);
    }

    /// <summary>Fuzzer find (regressions/calibration, regressions/tfjs): a name with invalid UTF-8 escaped as
    /// InvalidOperationException from JsonDocument.</summary>
    [Fact]
    public void Invalid_utf8_in_a_json_name_is_a_documented_error()
    {
        byte[] json = [.. Utf8("{\"f"), 0xC3, 0x28, .. Utf8("\": 500, \"fy\": 500, \"cx\": 1, \"cy\": 1}")];
        var path = _tmp.Write("camera.json", json);
        AssertRefused(Trg("estimate", AppTestData.AstronautPath, "--model", "fake", "--bbox", "153,49,295,191", "--calibration", path),
            ErrorKind.Usage, path, "not valid UTF-8");
        byte[] manifest = [.. Utf8("[{\"paths\":[\"w.bin\"],\"weights\":[{\"name\":\"a"), 0xFF, .. Utf8("\",\"shape\":[1],\"dtype\":\"float32\"}]}]")];
        var e = Assert.Throws<TrgException>(() => TfjsWeights.Decode(manifest, _ => new byte[4], "m.json"));
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
        Assert.Contains("UTF-8", e.Message);
    }

    [Fact]
    public void Oversized_boxes_file_is_refused_before_it_is_read()
    {
        var path = _tmp.File("big.json");
        using (var f = File.Create(path)) f.SetLength(InputLimits.Default.MaxDataFileBytes + 1); // sparse
        AssertRefused(Trg("estimate", AppTestData.AstronautPath, "--model", "fake", "--boxes", path), ErrorKind.InvalidBox, path, "MaxDataFileBytes");
    }

    public static TheoryData<string, string> NpyCases => new()
    {
        { "(2147483647, 2147483647)", "MaxTensorElements" },
        { "(-3,)", "bad shape" },
        { "(99999999999999999999,)", "bad shape" },
    };

    [Theory]
    [MemberData(nameof(NpyCases))]
    public void Npy_with_an_impossible_shape_is_refused_by_export(string shape, string says)
    {
        var header = $"{{'descr': '<i4', 'fortran_order': False, 'shape': {shape}, }}".PadRight(117) + "\n";
        byte[] npy = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)header.Length, 0, .. Encoding.Latin1.GetBytes(header), 1, 2, 3, 4];
        var path = _tmp.Write("triangles.npy", npy);
        var output = _tmp.File("out.safetensors");
        AssertRefused(Trg("export", "--checkpoint", FormatsTestFiles.Fixture("float32.pt"), "--subsample", FormatsTestFiles.SharedData("arkit_subsample.pkl"),
            "--triangles", path, "--out", output), ErrorKind.InvalidModel, path, says);
        Assert.False(File.Exists(output));
    }
}
