using System.CommandLine;
using System.Text.Json;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using TrgIlgpu.Cli;
using TrgIlgpu.Cli.Commands;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Tests.App;

/// <summary>`trg estimate` in process with a stand-in engine: inputs, boxes, outputs, failures and exit codes.</summary>
public partial class EstimateCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trg-cli-").FullName;
    private readonly AppTestData.FakeEngine _engine = new();
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (int Code, string Out, string Err) Cli(params string[] args)
    {
        var root = new RootCommand
        {
            EstimateCommand.Create((model, options) => model switch
            {
                "fake" => AppTestData.FakeEstimator(_engine, options),
                "fake-device-error" => throw new TrgException(ErrorKind.Device, "requested device cuda is not available"),
                _ => TrgEstimator.Create(model, options),
            }),
        };
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Invoke(root, args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private string P(params string[] parts) => Path.Combine([_dir, .. parts]);

    private string WritePng(string name, int w, int h, int seed)
    {
        using var img = ImageLoaderTests.RandomImage(w, h, seed);
        var path = P(name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        img.Save(path, new PngEncoder());
        return path;
    }

    private static float F(JsonElement e) => e.GetSingle();

    [Fact]
    public void Single_image_writes_the_issue_2_document_to_stdout()
    {
        var (code, stdout, stderr) = Cli("estimate", AppTestData.AstronautPath, "--model", "fake", "--bbox", "153,49,295,191", "--bbox", "300,300,400,400");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal(AppTestData.AstronautPath, root.GetProperty("image").GetProperty("path").GetString());
        Assert.Equal(512, root.GetProperty("image").GetProperty("width").GetInt32());
        Assert.Equal(512, root.GetProperty("image").GetProperty("height").GetInt32());
        Assert.Equal(1024f, F(root.GetProperty("focal")));
        Assert.Equal("Fake: test engine", root.GetProperty("device").GetString());
        Assert.Equal("trgv2", root.GetProperty("model").GetProperty("variant").GetString());
        Assert.True(root.GetProperty("timing_ms").GetProperty("inference").GetDouble() >= 0);
        var faces = root.GetProperty("faces");
        Assert.Equal(2, faces.GetArrayLength());

        // Every number is the engine's float exactly (shortest round-trip formatting).
        var expected = _engine.Run([new FaceRequest(ImageLoader.LoadFile(AppTestData.AstronautPath), AppTestData.AstronautBox, 1024)], default)[0];
        var f0 = faces[0];
        Assert.Equal([153f, 49f, 295f, 191f], f0.GetProperty("bbox").EnumerateArray().Select(F));
        Assert.Equal(expected.Rotation, f0.GetProperty("rotation").EnumerateArray().SelectMany(r => r.EnumerateArray()).Select(F));
        Assert.Equal(expected.Translation, f0.GetProperty("translation").EnumerateArray().Select(F));
        Assert.Equal(expected.VerticesCam, f0.GetProperty("vertices_cam").EnumerateArray().SelectMany(r => r.EnumerateArray()).Select(F));
        Assert.Equal(1220, f0.GetProperty("vertices_head").GetArrayLength());
        Assert.Equal(expected.Landmarks68, f0.GetProperty("landmarks68").EnumerateArray().SelectMany(r => r.EnumerateArray()).Select(F));
        Assert.Equal(68, f0.GetProperty("landmarks68_norm").GetArrayLength());
        Assert.Equal(2, f0.GetProperty("iterations").GetArrayLength());
        var euler = f0.GetProperty("euler");
        Assert.Equal(expected.Euler.Yaw, euler.GetProperty("yaw").GetDouble(), 9);
        Assert.Equal(expected.Euler.Pitch, euler.GetProperty("pitch").GetDouble(), 9);
        Assert.Equal(expected.Euler.Roll, euler.GetProperty("roll").GetDouble(), 9);
        Assert.Equal(EulerAngles.Convention, euler.GetProperty("convention").GetString());
        Assert.False(root.TryGetProperty("errors", out _));
        Assert.Contains("1 image (0 failed), 2 faces (0 failed)", stderr);
        Assert.DoesNotContain("\u001b[", stderr); // no progress bar or colour codes off a terminal
    }

    [Fact]
    public void Json_file_and_overlay_file_are_written_without_leftovers()
    {
        var json = P("out.json");
        var png = P("out.png");
        var (code, stdout, stderr) = Cli("estimate", AppTestData.AstronautPath, "-m", "fake", "--bbox", "153,49,295,191",
            "--json", json, "--overlay", png, "--side-panel", "--focal", "900");
        Assert.True(code == 0, stderr);
        Assert.Equal("", stdout);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(900f, F(doc.RootElement.GetProperty("focal")));
        using var overlay = Image.Load(png);
        Assert.Equal((512 + 512, 512), (overlay.Width, overlay.Height));
        Assert.Equal(["out.json", "out.png"], Directory.GetFiles(_dir).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Folder_with_a_corrupt_file_in_the_middle_still_writes_every_other_result()
    {
        var folder = P("photos");
        WritePng("photos/a.png", 120, 100, 1);
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(P("photos", "b.png"), [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3, 4, 5]);
        using (var c = ImageLoaderTests.RandomImage(90, 110, 3)) c.Save(P("photos", "c.jpg"), new JpegEncoder());
        File.WriteAllText(P("photos", "notes.txt"), "not an image, ignored by extension");
        var overlays = P("overlays");

        var (code, stdout, stderr) = Cli("estimate", folder, "-m", "fake", "--bbox", "10,10,70,70", "--overlay", overlays, "--batch", "1");
        Assert.Equal((int)ErrorKind.PartialFailure, code);
        using var doc = JsonDocument.Parse(stdout);
        var images = doc.RootElement.GetProperty("images").EnumerateArray().ToArray();
        Assert.Equal(["a.png", "b.png", "c.jpg"], images.Select(i => Path.GetFileName(i.GetProperty("image").GetProperty("path").GetString())));
        Assert.Single(images[0].GetProperty("faces").EnumerateArray());
        Assert.Single(images[2].GetProperty("faces").EnumerateArray());
        var error = images[1].GetProperty("error");
        Assert.Equal("InvalidImage", error.GetProperty("kind").GetString());
        Assert.Equal(6, error.GetProperty("exit_code").GetInt32());
        Assert.Contains("b.png", error.GetProperty("message").GetString());
        var summary = doc.RootElement.GetProperty("summary");
        Assert.Equal((3, 1, 2, 0), (summary.GetProperty("images").GetInt32(), summary.GetProperty("images_failed").GetInt32(),
            summary.GetProperty("faces").GetInt32(), summary.GetProperty("faces_failed").GetInt32()));
        Assert.Equal(["a.overlay.png", "c.overlay.png"], Directory.GetFiles(overlays).Select(Path.GetFileName).Order());
        Assert.Contains("b.png", stderr);
        Assert.Contains("(skipped)", stderr);
        Assert.Contains("3 images (1 failed)", stderr);
    }

    [Fact]
    public void Several_images_to_a_json_file_make_one_complete_document()
    {
        var a = WritePng("a.png", 70, 70, 40);
        var b = WritePng("b.png", 70, 70, 41);
        var json = P("all.json");
        var (code, stdout, stderr) = Cli("estimate", a, b, "-m", "fake", "--bbox", "5,5,60,60", "--json", json);
        Assert.True(code == 0, stderr);
        Assert.Equal("", stdout);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(2, doc.RootElement.GetProperty("images").GetArrayLength());
        Assert.Equal(2, doc.RootElement.GetProperty("summary").GetProperty("faces").GetInt32());
        Assert.Equal(["a.png", "all.json", "b.png"], Directory.GetFiles(_dir).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Json_lines_give_one_line_per_image_including_failures()
    {
        var a = WritePng("a.png", 100, 100, 4);
        var b = WritePng("b.png", 100, 80, 5);
        var missing = P("missing.png");
        var out1 = P("out.jsonl");
        var (code, _, stderr) = Cli("estimate", a, missing, b, "-m", "fake", "--bbox", "20,20,60,60", "--jsonl", out1);
        Assert.Equal((int)ErrorKind.PartialFailure, code);
        var lines = File.ReadAllLines(out1);
        Assert.Equal(3, lines.Length);
        using var l0 = JsonDocument.Parse(lines[0]);
        using var l1 = JsonDocument.Parse(lines[1]);
        using var l2 = JsonDocument.Parse(lines[2]);
        Assert.Single(l0.RootElement.GetProperty("faces").EnumerateArray());
        Assert.Equal("trgv2", l0.RootElement.GetProperty("model").GetProperty("variant").GetString());
        Assert.Equal("NotFound", l1.RootElement.GetProperty("error").GetProperty("kind").GetString());
        Assert.Equal(80, l2.RootElement.GetProperty("image").GetProperty("height").GetInt32());
        Assert.Contains("missing.png", stderr);
        // To stdout, the same lines.
        var (code2, stdout2, _) = Cli("estimate", a, b, "-m", "fake", "--bbox", "20,20,60,60", "--jsonl", "-");
        Assert.Equal(0, code2);
        Assert.Equal(2, stdout2.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void List_file_paths_are_relative_to_the_list()
    {
        WritePng("set/one.png", 64, 64, 6);
        WritePng("set/sub/two.png", 64, 64, 7);
        File.WriteAllText(P("set", "list.txt"), "# my images\none.png\n\n  sub/two.png  \nghost.png\n");
        var (code, stdout, _) = Cli("estimate", "@" + P("set", "list.txt"), "-m", "fake", "--bbox", "5,5,50,50");
        Assert.Equal((int)ErrorKind.PartialFailure, code);
        using var doc = JsonDocument.Parse(stdout);
        var images = doc.RootElement.GetProperty("images").EnumerateArray().ToArray();
        Assert.Equal(3, images.Length);
        Assert.Equal(P("set", "sub", "two.png"), images[1].GetProperty("image").GetProperty("path").GetString());
        Assert.Equal("NotFound", images[2].GetProperty("error").GetProperty("kind").GetString());

        var (missingCode, _, err) = Cli("estimate", "@" + P("nolist.txt"), "-m", "fake", "--bbox", "5,5,50,50");
        Assert.Equal((int)ErrorKind.NotFound, missingCode);
        Assert.Contains("list file not found", err);
    }

    [Fact]
    public void Boxes_file_matches_by_relative_path_or_by_name()
    {
        var a = WritePng("imgs/a.png", 100, 100, 8);
        var b = WritePng("imgs/deeper/b.png", 100, 100, 9);
        var c = WritePng("imgs/c.png", 100, 100, 10);
        File.WriteAllText(P("boxes.json"), """
            {
              // comments and both box forms are accepted
              "imgs/a.png": [[10, 10, 50, 50], {"bbox": [20, 20, 80, 80]}],
              "b.png": [[0, 0, 40, 40]],
            }
            """);
        var (code, stdout, stderr) = Cli("estimate", a, b, c, "-m", "fake", "--boxes", P("boxes.json"));
        Assert.Equal((int)ErrorKind.PartialFailure, code);
        using var doc = JsonDocument.Parse(stdout);
        var images = doc.RootElement.GetProperty("images").EnumerateArray().ToArray();
        Assert.Equal(2, images[0].GetProperty("faces").GetArrayLength());
        Assert.Equal([20f, 20f, 80f, 80f], images[0].GetProperty("faces")[1].GetProperty("bbox").EnumerateArray().Select(F));
        Assert.Equal(1, images[1].GetProperty("faces").GetArrayLength());
        Assert.Equal("InvalidBox", images[2].GetProperty("error").GetProperty("kind").GetString());
        Assert.Contains("no entry for this image in the boxes file", stderr);
    }

    [Fact]
    public void Bad_boxes_file_is_reported_with_its_path()
    {
        var a = WritePng("a.png", 50, 50, 11);
        File.WriteAllText(P("bad.json"), "{\"a.png\": [[1, 2, 3]]}");
        var (code, _, err) = Cli("estimate", a, "-m", "fake", "--boxes", P("bad.json"));
        Assert.Equal((int)ErrorKind.InvalidBox, code);
        Assert.Contains("bad.json", err);
        Assert.Contains("box 0", err);
        File.WriteAllText(P("bad.json"), "[not json");
        Assert.Equal((int)ErrorKind.InvalidBox, Cli("estimate", a, "-m", "fake", "--boxes", P("bad.json")).Code);
        Assert.Equal((int)ErrorKind.NotFound, Cli("estimate", a, "-m", "fake", "--boxes", P("none.json")).Code);
    }

    [Fact]
    public void A_bad_box_is_skipped_and_the_other_faces_complete()
    {
        var a = WritePng("a.png", 100, 100, 12);
        var (code, stdout, stderr) = Cli("estimate", a, "-m", "fake", "--bbox", "10,10,60,60", "--bbox", "80,10,20,60", "--bbox", "-40,-40,-10,-10");
        Assert.Equal((int)ErrorKind.PartialFailure, code);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Single(doc.RootElement.GetProperty("faces").EnumerateArray());
        var errors = doc.RootElement.GetProperty("errors").EnumerateArray().ToArray();
        Assert.Equal(2, errors.Length);
        Assert.Equal([80f, 10f, 20f, 60f], errors[0].GetProperty("bbox").EnumerateArray().Select(F));
        Assert.Contains("inverted", errors[0].GetProperty("message").GetString());
        Assert.Contains("wholly outside", errors[1].GetProperty("message").GetString());
        Assert.Contains("face 1", stderr);

        // Only bad boxes: nothing estimated, one kind of failure -> that kind's code.
        Assert.Equal((int)ErrorKind.InvalidBox, Cli("estimate", a, "-m", "fake", "--bbox", "10,10,5,60").Code);
    }

    [Fact]
    public void Single_failing_image_exits_with_its_own_code_and_still_documents_it()
    {
        var corrupt = P("corrupt.jpg");
        File.WriteAllBytes(corrupt, [0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]);
        var (code, stdout, stderr) = Cli("estimate", corrupt, "-m", "fake", "--bbox", "0,0,10,10");
        Assert.Equal((int)ErrorKind.InvalidImage, code);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("InvalidImage", doc.RootElement.GetProperty("error").GetProperty("kind").GetString());
        Assert.Contains("corrupt.jpg", stderr);

        Assert.Equal((int)ErrorKind.NotFound, Cli("estimate", P("nothing.png"), "-m", "fake", "--bbox", "0,0,10,10").Code);
        var big = WritePng("big.png", 200, 100, 13);
        var (limitCode, _, limitErr) = Cli("estimate", big, "-m", "fake", "--bbox", "0,0,10,10", "--max-pixels", "19999");
        Assert.Equal((int)ErrorKind.InvalidImage, limitCode);
        Assert.Contains("over the limit", limitErr);
        Assert.Equal((int)ErrorKind.NotFound, Cli("estimate", P("emptydir"), "-m", "fake", "--bbox", "0,0,10,10").Code);
    }

    [Fact]
    public void Faces_of_several_images_share_forward_passes_of_the_batch_size()
    {
        var paths = Enumerable.Range(0, 5).Select(i => WritePng($"b{i}.png", 60, 60, 20 + i)).ToArray();
        var (code, _, _) = Cli(["estimate", .. paths, "-m", "fake", "--bbox", "5,5,40,40", "--batch", "2"]);
        Assert.Equal(0, code);
        Assert.Equal([2, 2, 1], _engine.BatchSizes);
        var (code3, _, _) = Cli(["estimate", .. paths, "-m", "fake", "--bbox", "5,5,40,40", "--bbox", "10,10,50,50", "--batch", "3"]);
        Assert.Equal(0, code3);
        // 2 faces per image: flush at 4, 4, then the last image's 2; each flush chunked by 3.
        Assert.Equal([2, 2, 1, 3, 1, 3, 1, 2], _engine.BatchSizes);
    }

    [Fact]
    public void Ignore_exif_keeps_the_stored_orientation()
    {
        using var img = ImageLoaderTests.RandomImage(80, 40, 30);
        img.Metadata.ExifProfile = new ExifProfile();
        img.Metadata.ExifProfile.SetValue(ExifTag.Orientation, (ushort)6);
        var path = P("rot.png");
        img.Save(path, new PngEncoder());
        using var upright = JsonDocument.Parse(Cli("estimate", path, "-m", "fake", "--bbox", "0,0,30,30").Out);
        using var stored = JsonDocument.Parse(Cli("estimate", path, "-m", "fake", "--bbox", "0,0,30,30", "--ignore-exif").Out);
        Assert.Equal(40, upright.RootElement.GetProperty("image").GetProperty("width").GetInt32());
        Assert.Equal(80, stored.RootElement.GetProperty("image").GetProperty("width").GetInt32());
    }

    [Fact]
    public void Fatal_errors_leave_existing_outputs_untouched()
    {
        var a = WritePng("a.png", 50, 50, 14);
        var json = P("result.json");
        File.WriteAllText(json, "previous");
        var (code, _, err) = Cli("estimate", a, "-m", "fake-device-error", "--bbox", "0,0,20,20", "--json", json);
        Assert.Equal((int)ErrorKind.Device, code);
        Assert.Contains("not available", err);
        Assert.Equal("previous", File.ReadAllText(json));
        Assert.Equal(["a.png", "result.json"], Directory.GetFiles(_dir).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Output_into_a_missing_folder_is_refused_before_anything_runs()
    {
        var a = WritePng("a.png", 50, 50, 15);
        var (code, _, err) = Cli("estimate", a, "-m", "fake", "--bbox", "0,0,20,20", "--json", P("no", "such", "out.json"));
        Assert.Equal((int)ErrorKind.NotFound, code);
        Assert.Contains("output folder does not exist", err);
        Assert.Empty(_engine.Seen);
    }

    public static TheoryData<string[], string> UsageErrors => new()
    {
        { ["estimate"], "" },
        { ["estimate", "x.png", "--score", "1.5"], "score threshold" },
        { ["estimate", "x.png", "--score", "0"], "score threshold" },
        { ["estimate", "x.png", "--detector", "yolo"], "yolo" },
        { ["estimate", "x.png", "--detector", "tiny", "--tiny-size", "100"], "multiple of 32" },
        { ["estimate", "x.png", "--min-face", "-1"], "minimum face size" },
        { ["estimate", "x.png", "--max-faces", "0"], "maximum faces" },
        { ["estimate", "x.png", "-m", "fake", "--bbox", "1,2,3"], "four numbers" },
        { ["estimate", "x.png", "-m", "fake", "--bbox", "a,b,c,d"], "four numbers" },
        { ["estimate", "x.png", "-m", "fake", "--bbox", "1,2,30,40", "--boxes", "b.json"], "cannot be combined" },
        { ["estimate", "x.png", "-m", "fake", "--bbox", "1,2,30,40", "--json", "a.json", "--jsonl", "b.jsonl"], "cannot be combined" },
        { ["estimate", "x.png", "-m", "fake", "--bbox", "1,2,30,40", "--device", "tpu"], "tpu" },
        { ["estimate", "x.png", "-m", "fake", "--bbox", "1,2,30,40", "--batch", "0"], "--batch" },
        { ["estimate", "x.png", "-m", "fake", "--bbox", "1,2,30,40", "--batch", "many"], "many" },
        { ["estimate", "x.png", "-m", "fake", "--bbox", "1,2,30,40", "--focal", "-3"], "--focal" },
        { ["estimate", "x.png", "-m", "fake", "--bbox", "1,2,30,40", "--max-pixels", "0"], "--max-pixels" },
        { ["estimate", "x.png", "-m", "fake", "--bbox", "1,2,30,40", "--overlay", "o.jpg"], "PNG" },
        { ["estimate", "x.png", "y.png", "-m", "fake", "--bbox", "1,2,30,40", "--overlay", "o.png"], "folder" },
        { ["estimate", "x.png", "-m", "fake", "--bbox", "1,2,30,40", "--frobnicate"], "--frobnicate" },
    };

    [Theory]
    [MemberData(nameof(UsageErrors))]
    public void Argument_errors_exit_2_with_a_message(string[] args, string mentions)
    {
        var (code, stdout, stderr) = Cli(args);
        Assert.Equal((int)ErrorKind.Usage, code);
        Assert.Equal("", stdout);
        Assert.Contains("trg: error:", stderr);
        Assert.Contains(mentions, stderr);
        Assert.Empty(_engine.Seen);
    }

    [Fact]
    public void Negative_box_coordinates_parse()
    {
        var a = WritePng("a.png", 50, 50, 16);
        var (code, stdout, stderr) = Cli("estimate", a, "-m", "fake", "--bbox", "-10,-5,30,35");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal([-10f, -5f, 30f, 35f], doc.RootElement.GetProperty("faces")[0].GetProperty("bbox").EnumerateArray().Select(F));
    }

    [Fact]
    public void The_real_command_tree_lists_estimate_and_answers_help()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(0, CliApp.Run(["estimate", "--help"], stdout, stderr));
        foreach (var option in new[] { "--model", "--bbox", "--boxes", "--detector", "--score", "--min-face", "--tiny-size", "--max-faces", "--focal", "--camera", "--calibration", "--device", "--json", "--jsonl", "--overlay", "--side-panel", "--ignore-exif", "--max-pixels", "--batch" })
            Assert.Contains(option, stdout.ToString());
        Assert.Equal((int)ErrorKind.Usage, CliApp.Run([], new StringWriter(), new StringWriter()));
    }
}
