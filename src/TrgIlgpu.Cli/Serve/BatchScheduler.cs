using System.Diagnostics;
using System.Threading.Channels;

namespace TrgIlgpu.Cli.Serve;

/// <summary>One queued photo: what to estimate, how many faces it adds to a batch, and its client's cancellation.</summary>
internal sealed class BatchJob(PhotoRequest photo, CancellationToken aborted)
{
    public PhotoRequest Photo { get; } = photo;
    /// <summary>Faces this photo adds to a forward pass: its boxes, or one when its faces are to be found.</summary>
    public int Faces { get; } = photo.Boxes?.Count ?? 1;
    public CancellationToken Aborted { get; } = aborted;
    public long EnqueuedAt { get; } = Stopwatch.GetTimestamp();
    private readonly TaskCompletionSource<(PhotoResult Result, double QueueMs, double InferenceMs)> _done =
        new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>The result, the time it waited for its batch, and its batch's forward time.</summary>
    public Task<(PhotoResult Result, double QueueMs, double InferenceMs)> Done => _done.Task;

    internal void Finish(PhotoResult result, double queueMs, double inferenceMs) => _done.TrySetResult((result, queueMs, inferenceMs));
    internal void Fail(Exception e) => _done.TrySetException(e);
    internal void Cancel() => _done.TrySetCanceled(Aborted);
}

/// <summary>What a closed batch held, for the metrics.</summary>
internal readonly record struct BatchInfo(int Photos, int Faces, double InferenceMs);

/// <summary>
/// Dynamic batching over <see cref="HeadPoseEstimator.EstimateBatch"/>: requests wait in a bounded queue; one worker
/// takes the oldest and gathers more until the batch holds <c>maxBatch</c> faces or the oldest has waited
/// <c>maxDelay</c>, then runs them as one call. A photo that would overflow the batch opens the next one (a photo with
/// more faces than <c>maxBatch</c> runs alone; the estimator splits it into passes). A request whose client has gone is
/// dropped before its batch runs; a batch whose clients have all gone is cancelled.
/// </summary>
internal sealed class BatchScheduler
{
    private readonly Channel<BatchJob> _queue;
    private readonly Func<IReadOnlyList<PhotoRequest>, CancellationToken, PhotoResult[]> _run;
    private readonly int _maxBatch;
    private readonly TimeSpan _maxDelay;
    private readonly Action<BatchInfo> _onBatch;
    private readonly Task _worker;

    public BatchScheduler(Func<IReadOnlyList<PhotoRequest>, CancellationToken, PhotoResult[]> run, int maxBatch, TimeSpan maxDelay,
        int maxQueue, Action<BatchInfo> onBatch)
    {
        _run = run;
        _maxBatch = maxBatch;
        _maxDelay = maxDelay;
        _onBatch = onBatch;
        _queue = Channel.CreateBounded<BatchJob>(new BoundedChannelOptions(maxQueue) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _worker = Task.Factory.StartNew(WorkAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    /// <summary>Requests waiting for a batch.</summary>
    public int Depth => _queue.Reader.Count;

    /// <summary>Queues a job; false when the queue is full or closed (the caller answers 429 or 503).</summary>
    public bool TryEnqueue(BatchJob job) => _queue.Writer.TryWrite(job);

    private volatile bool _closed;

    /// <summary>True once <see cref="Close"/> was called.</summary>
    public bool Closed => _closed;

    /// <summary>Takes no more jobs; the queued ones still run. <see cref="Completion"/> ends when they have.</summary>
    public void Close()
    {
        _closed = true;
        _queue.Writer.TryComplete();
    }

    /// <summary>Ends when the queue is closed and every queued job has its answer.</summary>
    public Task Completion => _worker;

    private async Task WorkAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<BatchJob>();
        BatchJob? held = null;
        while (true)
        {
            if (held is null)
            {
                if (!await reader.WaitToReadAsync().ConfigureAwait(false)) return;
                if (!reader.TryRead(out held)) continue;
            }
            batch.Add(held);
            int faces = held.Faces;
            var deadline = held.EnqueuedAt + (long)(_maxDelay.TotalSeconds * Stopwatch.Frequency);
            held = null;
            while (faces < _maxBatch)
            {
                if (reader.TryRead(out var next))
                {
                    if (faces + next.Faces > _maxBatch)
                    {
                        held = next;
                        break;
                    }
                    batch.Add(next);
                    faces += next.Faces;
                    continue;
                }
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (wait <= TimeSpan.Zero) break;
                using var timer = new CancellationTokenSource(wait);
                try
                {
                    if (!await reader.WaitToReadAsync(timer.Token).ConfigureAwait(false)) break;
                }
                catch (OperationCanceledException) when (timer.IsCancellationRequested)
                {
                    break;
                }
            }
            Run(batch);
            batch.Clear();
        }
    }

    private void Run(List<BatchJob> batch)
    {
        foreach (var gone in batch.Where(j => j.Aborted.IsCancellationRequested)) gone.Cancel();
        batch.RemoveAll(j => j.Aborted.IsCancellationRequested);
        if (batch.Count == 0) return;

        // The forward is shared: cancel it only when every client in it has gone.
        using var all = new CancellationTokenSource();
        int live = batch.Count;
        var registrations = batch.Select(j => j.Aborted.Register(() =>
        {
            if (Interlocked.Decrement(ref live) == 0) all.Cancel();
        })).ToList();
        long start = Stopwatch.GetTimestamp();
        try
        {
            var results = _run(batch.Select(j => j.Photo).ToList(), all.Token);
            double inferenceMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            _onBatch(new BatchInfo(batch.Count, batch.Sum(j => j.Faces), inferenceMs));
            for (int i = 0; i < batch.Count; i++)
                batch[i].Finish(results[i], Stopwatch.GetElapsedTime(batch[i].EnqueuedAt, start).TotalMilliseconds, inferenceMs);
        }
        catch (OperationCanceledException)
        {
            foreach (var job in batch) job.Cancel();
        }
        catch (Exception e)
        {
            foreach (var job in batch) job.Fail(e);
        }
        finally
        {
            foreach (var r in registrations) r.Dispose();
        }
    }
}
