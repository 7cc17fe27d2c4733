using System.Text.Json;

namespace TrgIlgpu.Tests.Hostile;

/// <summary>
/// Hostile output paths (issue 9, items 4 and 6): a folder, a missing folder, an output that is an input or another
/// output (also through a symbolic link or a detour), each refused up front, before the model loads or anything is
/// written, with its documented exit code and no stack trace; the inputs stay byte for byte as they were.
/// </summary>
public sealed class HostileOutputTests : IDisposable
{
    private readonly HardeningCli _cli = new();
    public void Dispose() => _cli.Dispose();

    private (int Code, string Out, string Err) Estimate(params string[] args) => _cli.Trg(["estimate", .. args, "-m", "fake", "--bbox", "10,10,70,70"]);

    [Fact]
    public void Json_naming_a_folder_is_refused_before_any_work()
    {
        var image = _cli.WritePng("a.png");
        var folder = Directory.CreateDirectory(_cli.P("out")).FullName;
        foreach (var option in new[] { "--json", "--jsonl" })
        {
            HardeningCli.AssertRefused(Estimate(image, option, folder), ErrorKind.Usage, $"{option} {folder}: is a folder");
            HardeningCli.AssertRefused(Estimate(image, option, _cli.P("new") + "/"), ErrorKind.Usage, "is a folder");
        }
        Assert.Equal(0, _cli.EstimatorsCreated);
        Assert.Empty(Directory.GetFileSystemEntries(folder));
    }

    [Fact]
    public void An_output_in_a_missing_folder_is_refused_before_any_work()
    {
        var image = _cli.WritePng("a.png");
        foreach (var option in new[] { "--json", "--jsonl", "--overlay" })
            HardeningCli.AssertRefused(Estimate(image, option, _cli.P("missing", "out.png")), ErrorKind.NotFound, "does not exist");
        Assert.Equal(0, _cli.EstimatorsCreated);
    }

    [Fact]
    public void An_output_equal_to_an_input_or_another_output_is_refused_naming_both()
    {
        var image = _cli.WritePng("a.png");
        var before = File.ReadAllBytes(image);
        var link = _cli.P("link.png");
        File.CreateSymbolicLink(link, image);
        Directory.CreateDirectory(_cli.P("sub"));
        var detour = _cli.P("sub", "..", "a.png");
        var boxes = _cli.P("boxes.json");
        File.WriteAllText(boxes, "{\"a.png\": [[10,10,70,70]]}");
        var calibration = _cli.P("camera.json");
        File.WriteAllText(calibration, "{\"fx\": 100, \"fy\": 100, \"cx\": 40, \"cy\": 40}");

        foreach (var (option, target) in new[] { ("--json", image), ("--jsonl", image), ("--overlay", image), ("--json", link), ("--overlay", detour) })
        {
            var r = Estimate(image, option, target);
            HardeningCli.AssertRefused(r, ErrorKind.Usage, $"{option} {target}", $"input image {image}", "are the same file");
        }
        HardeningCli.AssertRefused(Estimate(image, "--json", _cli.P("o.png"), "--overlay", _cli.P("o.png")), ErrorKind.Usage, "--overlay", "--json", "same file");
        HardeningCli.AssertRefused(_cli.Trg("estimate", image, "-m", "fake", "--boxes", boxes, "--jsonl", boxes), ErrorKind.Usage, $"--boxes {boxes}");
        HardeningCli.AssertRefused(Estimate(image, "--calibration", calibration, "--json", calibration), ErrorKind.Usage, $"--calibration {calibration}");

        Assert.Equal(before, File.ReadAllBytes(image));
        Assert.Equal(0, _cli.EstimatorsCreated);
        Assert.Empty(HardeningCli.TempFiles(_cli.Dir));
    }

    [Fact]
    public void An_overlay_folder_whose_overlay_name_is_an_input_image_is_refused()
    {
        // photos/a.png's overlay in photos/ is photos/a.overlay.png, itself an input image of the folder.
        var a = _cli.WritePng("photos/a.png", seed: 1);
        var overlay = _cli.WritePng("photos/a.overlay.png", seed: 2);
        var before = File.ReadAllBytes(overlay);
        var r = Estimate(_cli.P("photos"), "--overlay", _cli.P("photos"));
        HardeningCli.AssertRefused(r, ErrorKind.Usage, "a.overlay.png", "same file");
        Assert.Equal(before, File.ReadAllBytes(overlay));
        Assert.True(File.Exists(a));
    }

    [Fact]
    public void Export_out_equal_to_an_input_or_a_folder_is_refused_before_reading()
    {
        var checkpoint = _cli.P("state_dict.bin");
        var subsample = _cli.P("arkit_subsample.pkl");
        File.WriteAllBytes(checkpoint, [1, 2, 3, 4]);
        File.WriteAllBytes(subsample, [5, 6, 7]);
        var link = _cli.P("model.safetensors");
        File.CreateSymbolicLink(link, checkpoint);

        foreach (var output in new[] { checkpoint, subsample, link })
        {
            var r = _cli.Trg("export", "--checkpoint", checkpoint, "--subsample", subsample, "--out", output);
            HardeningCli.AssertRefused(r, ErrorKind.Usage, $"--out {output}", "same file");
        }
        HardeningCli.AssertRefused(_cli.Trg("export", "--checkpoint", checkpoint, "--subsample", subsample, "--out", _cli.Dir),
            ErrorKind.Usage, "is a folder");
        Assert.Equal([1, 2, 3, 4], File.ReadAllBytes(checkpoint));
        Assert.Equal([5, 6, 7], File.ReadAllBytes(subsample));
        Assert.Empty(HardeningCli.TempFiles(_cli.Dir));
    }

    [Fact]
    public void A_failed_run_leaves_an_existing_json_lines_file_as_it_was()
    {
        // The model fails to load: the JSON Lines file was opened to check it, but not emptied.
        var image = _cli.WritePng("a.png");
        var jsonl = _cli.P("old.jsonl");
        File.WriteAllText(jsonl, "{\"old\": 1}\n");
        var r = _cli.Trg("estimate", image, "-m", _cli.P("missing.safetensors"), "--bbox", "10,10,70,70", "--jsonl", jsonl);
        HardeningCli.AssertRefused(r, ErrorKind.NotFound);
        Assert.Equal("{\"old\": 1}\n", File.ReadAllText(jsonl));
        var fresh = _cli.P("new.jsonl");
        _cli.Trg("estimate", image, "-m", _cli.P("missing.safetensors"), "--bbox", "10,10,70,70", "--jsonl", fresh);
        Assert.False(File.Exists(fresh));

        var ok = Estimate(image, "--jsonl", jsonl);
        Assert.True(ok.Code == 0, ok.Err);
        using var line = JsonDocument.Parse(Assert.Single(File.ReadAllLines(jsonl)));
        Assert.Single(line.RootElement.GetProperty("faces").EnumerateArray());
    }
}
