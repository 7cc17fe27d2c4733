using Spectre.Console;
using Spectre.Console.Rendering;

namespace TrgIlgpu.Cli.Estimate;

/// <summary>A progress bar with rate and ETA on stderr (shown only when stderr is a terminal; never in piped output).</summary>
internal static class ProgressDisplay
{
    public static void Run(TextWriter stderr, int total, Action<Action<int>> work)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr) });
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new CountColumn(),
                new RateColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("estimate", maxValue: total);
                work(n => task.Increment(n));
            });
    }

    private sealed class RateColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(task.Speed is { } s ? $"{s:0.0} img/s" : "- img/s", new Style(Color.Grey));
    }

    private sealed class CountColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text($"{task.Value:0}/{task.MaxValue:0}");
    }
}
