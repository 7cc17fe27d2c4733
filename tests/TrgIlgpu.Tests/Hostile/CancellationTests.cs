using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using SixLabors.ImageSharp;
using TrgIlgpu.Tests.App;
using TrgIlgpu.Tests.Kernels;

namespace TrgIlgpu.Tests.Hostile;

/// <summary>
/// Ctrl-C (issue 9, item 3): in process through the cancellation token, and as a real `trg` process sent SIGINT in the
/// middle of a folder. Exit 130 with one line; every finished image's outputs complete (JSON Lines streamed and
/// parseable line by line, the JSON document committed with "cancelled": true, overlays whole); no .tmp file; a
/// pre-existing overlay of an unfinished image untouched.
/// </summary>
public sealed class CancellationTests : IDisposable
{
    private readonly HardeningCli _cli = new();
    public void Dispose() => _cli.Dispose();

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
    private const int SigInt = 2;

    private string Folder(int images)
    {
        for (int i = 0; i < images; i++) _cli.WritePng($"photos/p{i}.png", 64 + i, 64, seed: i);
        return _cli.P("photos");
    }

    [Fact]
    public void Cancelled_mid_folder_json_lines_and_overlays_of_finished_images_are_complete()
    {
        var photos = Folder(6);
        var overlays = Directory.CreateDirectory(_cli.P("overlays")).FullName;
        File.WriteAllText(Path.Combine(overlays, "p5.overlay.png"), "an older overlay");
        var jsonl = _cli.P("out.jsonl");
        using var cancel = new CancellationTokenSource();
        var linesSeen = new List<int>();
        _cli.BeforeBatch = done =>
        {
            // Streaming: each finished image's line is in the file before the next image runs.
            linesSeen.Add(File.ReadAllLines(jsonl).Length);
            if (done == 3) cancel.Cancel();
        };

        var r = _cli.Trg(cancel.Token, "estimate", photos, "-m", "fake", "--bbox", "10,10,50,50", "--batch", "1", "--jsonl", jsonl, "--overlay", overlays);

        Assert.True(r.Code == 130, r.Err);
        HardeningCli.AssertNoStackTrace(r.Err);
        Assert.Contains("trg: cancelled after 3 of 6 images", r.Err);
        Assert.Equal([0, 1, 2, 3], linesSeen);
        var lines = File.ReadAllLines(jsonl);
        Assert.Equal(3, lines.Length);
        for (int i = 0; i < 3; i++)
        {
            using var line = JsonDocument.Parse(lines[i]);
            Assert.EndsWith($"p{i}.png", line.RootElement.GetProperty("image").GetProperty("path").GetString());
            Assert.Single(line.RootElement.GetProperty("faces").EnumerateArray());
        }
        foreach (var i in new[] { 0, 1, 2 })
        {
            using var png = Image.Load(Path.Combine(overlays, $"p{i}.overlay.png"));
            Assert.Equal(64 + i, png.Width);
        }
        Assert.False(File.Exists(Path.Combine(overlays, "p3.overlay.png")));
        Assert.Equal("an older overlay", File.ReadAllText(Path.Combine(overlays, "p5.overlay.png")));
        Assert.Empty(HardeningCli.TempFiles(_cli.Dir));
    }

    [Fact]
    public void Cancelled_mid_folder_the_json_document_holds_the_finished_images_and_says_cancelled()
    {
        var photos = Folder(5);
        var json = _cli.P("out.json");
        using var cancel = new CancellationTokenSource();
        _cli.BeforeBatch = done => { if (done == 2) cancel.Cancel(); };

        var r = _cli.Trg(cancel.Token, "estimate", photos, "-m", "fake", "--bbox", "10,10,50,50", "--batch", "1", "--json", json);

        Assert.True(r.Code == 130, r.Err);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(2, doc.RootElement.GetProperty("images").GetArrayLength());
        var summary = doc.RootElement.GetProperty("summary");
        Assert.True(summary.GetProperty("cancelled").GetBoolean());
        Assert.Equal(2, summary.GetProperty("images").GetInt32());
        Assert.Empty(HardeningCli.TempFiles(_cli.Dir));
    }

    [Fact]
    public void Cancelled_before_a_single_image_finishes_the_old_json_file_is_kept()
    {
        var image = _cli.WritePng("a.png");
        var json = _cli.P("out.json");
        File.WriteAllText(json, "{\"old\": true}");
        using var cancel = new CancellationTokenSource();
        _cli.BeforeBatch = _ => cancel.Cancel();

        var r = _cli.Trg(cancel.Token, "estimate", image, "-m", "fake", "--bbox", "10,10,50,50", "--json", json, "--overlay", _cli.P("a.overlay.png"));

        Assert.True(r.Code == 130, r.Err);
        Assert.Contains("nothing was written", r.Err);
        Assert.Single(r.Err.Split('\n'), l => l.StartsWith("trg: cancelled", StringComparison.Ordinal));
        Assert.Equal("{\"old\": true}", File.ReadAllText(json));
        Assert.False(File.Exists(_cli.P("a.overlay.png")));
        Assert.Empty(HardeningCli.TempFiles(_cli.Dir));
    }

    [Fact]
    public void Cancelled_before_a_single_image_finishes_an_old_jsonl_file_is_kept_and_a_new_one_is_not_left()
    {
        var image = _cli.WritePng("a.png");
        var old = _cli.P("old.jsonl");
        File.WriteAllText(old, "{\"old\": true}\n");
        var fresh = _cli.P("new.jsonl");
        using var cancel = new CancellationTokenSource();
        _cli.BeforeBatch = _ => cancel.Cancel();

        var kept = _cli.Trg(cancel.Token, "estimate", image, "-m", "fake", "--bbox", "10,10,50,50", "--jsonl", old);
        Assert.True(kept.Code == 130, kept.Err);
        Assert.Contains("nothing was written", kept.Err);
        Assert.Equal("{\"old\": true}\n", File.ReadAllText(old));

        using var again = new CancellationTokenSource();
        _cli.BeforeBatch = _ => again.Cancel();
        var created = _cli.Trg(again.Token, "estimate", image, "-m", "fake", "--bbox", "10,10,50,50", "--jsonl", fresh);
        Assert.True(created.Code == 130, created.Err);
        Assert.Contains("nothing was written", created.Err);
        Assert.False(File.Exists(fresh));
        Assert.Empty(HardeningCli.TempFiles(_cli.Dir));
    }

    /// <summary>`trg` as a child process whose SIGINT is not ignored (a shell's background job inherits it ignored).</summary>
    private static Process StartTrg(params string[] args)
    {
        var trg = Path.Combine(AppContext.BaseDirectory, "trg.dll");
        var start = new ProcessStartInfo("python3")
        {
            RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
        };
        foreach (var a in new[] { "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp('dotnet', ['dotnet'] + sys.argv[1:])", trg })
            start.ArgumentList.Add(a);
        foreach (var a in args) start.ArgumentList.Add(a);
        return Process.Start(start)!;
    }

    [OpenCLFact]
    public async Task Sigint_during_a_folder_run_ends_with_130_and_complete_outputs()
    {
        var photos = _cli.P("photos");
        Directory.CreateDirectory(photos);
        for (int i = 0; i < 12; i++) File.Copy(AppTestData.AstronautPath, Path.Combine(photos, $"p{i:00}.png"));
        var overlays = Directory.CreateDirectory(_cli.P("overlays")).FullName;
        File.WriteAllText(Path.Combine(overlays, "p11.overlay.png"), "an older overlay");
        var jsonl = _cli.P("out.jsonl");

        using var process = StartTrg("estimate", photos, "-m", "synthetic:trgv2", "--device", "opencl", "--bbox", "153,49,295,191",
            "--batch", "1", "--jsonl", jsonl, "--overlay", overlays);
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        try
        {
            // Interrupt once the first image's line has been streamed (the model loads first: seconds on PoCL).
            var clock = Stopwatch.StartNew();
            while (!(File.Exists(jsonl) && File.ReadAllText(jsonl).Contains('\n')) && !process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(3))
                await Task.Delay(100);
            if (process.HasExited) Assert.Fail("trg finished before it could be interrupted: " + await stderr);
            Assert.Equal(0, kill(process.Id, SigInt));
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "trg did not stop within 60 s of SIGINT");
            var err = await stderr;
            Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}: {err}");
            HardeningCli.AssertNoStackTrace(err);
            Assert.Single(err.Split('\n'), l => l.StartsWith("trg: cancelled after ", StringComparison.Ordinal));

            var lines = File.ReadAllLines(jsonl);
            Assert.InRange(lines.Length, 1, 11);
            foreach (var line in lines)
            {
                using var doc = JsonDocument.Parse(line);
                Assert.Single(doc.RootElement.GetProperty("faces").EnumerateArray());
            }
            foreach (var png in Directory.GetFiles(overlays).Where(f => !f.EndsWith("p11.overlay.png", StringComparison.Ordinal)))
            {
                using var image = Image.Load(png);
                Assert.Equal(512, image.Height);
            }
            Assert.Equal(lines.Length, Directory.GetFiles(overlays).Length - 1);
            Assert.Equal("an older overlay", File.ReadAllText(Path.Combine(overlays, "p11.overlay.png")));
            Assert.Empty(HardeningCli.TempFiles(_cli.Dir));
            Assert.Equal("", await stdout);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task A_second_sigint_stops_at_once_without_temporary_files_or_replaced_outputs()
    {
        // The model is still loading when both signals arrive: nothing is written, the old JSON file stays.
        var json = _cli.P("out.json");
        File.WriteAllText(json, "{\"old\": true}");
        using var process = StartTrg("estimate", AppTestData.AstronautPath, "-m", "synthetic:trgv2", "--device", "cpu",
            "--bbox", "153,49,295,191", "--json", json);
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(5)); // past start-up: the handlers are registered, the model still loads
            if (process.HasExited) Assert.Fail("trg ended early: " + await stderr);
            Assert.Equal(0, kill(process.Id, SigInt));
            await Task.Delay(200);
            if (!process.HasExited) Assert.Equal(0, kill(process.Id, SigInt));
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "trg did not stop within 30 s of two SIGINTs");
            var err = await stderr;
            Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}: {err}");
            HardeningCli.AssertNoStackTrace(err);
            Assert.Contains("trg: cancelled", err);
            Assert.Equal("{\"old\": true}", File.ReadAllText(json));
            Assert.Empty(HardeningCli.TempFiles(_cli.Dir));
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
