using System.Runtime.CompilerServices;
using TrgIlgpu.Tracking;

namespace TrgIlgpu.Tests.Tracking;

/// <summary>
/// The streaming call with a source that produces frames far faster than the tracker handles them: live mode drops the
/// oldest waiting frames (queue never above its capacity), counts them and reports the achieved rate; file mode
/// processes every frame while the source waits; cancelling ends the source.
/// </summary>
[Collection(FfmpegCollection.Name)]
public sealed class LiveStreamTests(LandmarkFitEstimator fixture) : IClassFixture<LandmarkFitEstimator>
{
    private int _produced;
    private bool _sourceEnded;

    /// <summary>A face-free gradient (each processed frame runs the detector: slow on PoCL).</summary>
    private static RgbImage Blank(int seed)
    {
        var p = new byte[64 * 48 * 3];
        for (int i = 0; i < p.Length; i++) p[i] = (byte)(i * 7 + seed);
        return new RgbImage(64, 48, p);
    }

    private async IAsyncEnumerable<VideoFrame> FastSource(int count, [EnumeratorCancellation] CancellationToken ct = default)
    {
        try
        {
            for (int i = 0; i < count; i++)
            {
                ct.ThrowIfCancellationRequested();
                Interlocked.Increment(ref _produced);
                yield return new VideoFrame(Blank(i), i / 30.0, i);
                await Task.Delay(1, ct);
            }
        }
        finally
        {
            _sourceEnded = true;
        }
    }

    [Fact]
    public void Live_mode_drops_frames_when_behind_and_keeps_the_queue_bounded()
    {
        using var tracker = new HeadPoseTracker(fixture.Estimator);
        var options = new StreamOptions { Dropping = FrameDropping.DropOldest, QueueCapacity = 1 };
        var seen = new List<long>();
        int mostWaiting = 0;
        foreach (var frame in tracker.TrackAsync(FastSource(40), options).ToBlockingEnumerable())
        {
            seen.Add(frame.Index);
            var s = tracker.Stats;
            mostWaiting = Math.Max(mostWaiting, Volatile.Read(ref _produced) - (int)s.FramesProcessed - (int)s.FramesDropped);
            Assert.Empty(frame.Faces);
            Assert.True(frame.Detected);
        }
        var stats = tracker.Stats;
        Assert.True(_sourceEnded);
        Assert.Equal(40, stats.FramesReceived);
        Assert.Equal(40, stats.FramesProcessed + stats.FramesDropped);
        Assert.True(stats.FramesDropped > 0, "the source is faster than the detector: frames must be dropped");
        Assert.Equal(seen.Count, stats.FramesProcessed);
        Assert.True(seen.Zip(seen.Skip(1)).All(p => p.Second > p.First), "frames come out in source order");
        // At most the queue's one frame waits (plus one the source is handing over at that moment).
        Assert.InRange(mostWaiting, 0, options.QueueCapacity + 1);
        Assert.True(stats.AchievedFps > 0 && stats.WallSeconds > 0);
        Assert.True(stats.Total.Detect > 0);
    }

    [Fact]
    public void File_mode_processes_every_frame_and_the_source_waits()
    {
        using var tracker = new HeadPoseTracker(fixture.Estimator);
        var options = new StreamOptions { QueueCapacity = 2 };
        int mostAhead = 0, i = 0;
        foreach (var frame in tracker.TrackAsync(FastSource(5), options).ToBlockingEnumerable())
        {
            Assert.Equal(i++, frame.Index);
            mostAhead = Math.Max(mostAhead, Volatile.Read(ref _produced) - i);
        }
        Assert.Equal(5, i);
        Assert.Equal(0, tracker.Stats.FramesDropped);
        Assert.InRange(mostAhead, 0, options.QueueCapacity + 1);
    }

    [Fact]
    public async Task Cancelling_ends_the_stream_and_its_source()
    {
        using var tracker = new HeadPoseTracker(fixture.Estimator);
        using var cts = new CancellationTokenSource();
        int got = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in tracker.TrackAsync(FastSource(int.MaxValue), new StreamOptions { Dropping = FrameDropping.DropOldest }, cts.Token))
                if (++got == 2) cts.Cancel();
        });
        Assert.Equal(2, got);
        Assert.True(_sourceEnded, "the source was stopped");
        Assert.Equal(2, tracker.Stats.FramesProcessed);
    }
}
