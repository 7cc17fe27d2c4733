using System.Diagnostics;
using Prometheus;

namespace TrgIlgpu.Cli.Serve;

/// <summary>
/// The service's Prometheus metrics (prometheus-net, in a registry of its own so several servers can share a process):
/// <c>trg_requests_total{status}</c>, <c>trg_request_duration_seconds</c>, <c>trg_batch_faces</c>,
/// <c>trg_batch_requests</c>, <c>trg_batch_inference_seconds</c>, <c>trg_queue_depth</c>, <c>trg_ready</c>,
/// <c>trg_process_resident_bytes</c>, <c>trg_managed_heap_bytes</c>.
/// </summary>
internal sealed class ServeMetrics
{
    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();
    private readonly Counter _requests;
    private readonly Histogram _latency, _batchFaces, _batchRequests, _batchSeconds;
    private readonly Gauge _ready;

    public ServeMetrics(int maxBatch, Func<int> queueDepth)
    {
        var f = Metrics.WithCustomRegistry(Registry);
        _requests = f.CreateCounter("trg_requests_total", "POST /v1/estimate requests answered, by HTTP status",
            new CounterConfiguration { LabelNames = ["status"] });
        _latency = f.CreateHistogram("trg_request_duration_seconds", "POST /v1/estimate time from arrival to answer",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 16) });
        var sizes = Enumerable.Range(1, maxBatch).Select(i => (double)i).ToArray();
        _batchFaces = f.CreateHistogram("trg_batch_faces", "Faces in each forward batch", new HistogramConfiguration { Buckets = sizes });
        _batchRequests = f.CreateHistogram("trg_batch_requests", "Requests in each forward batch", new HistogramConfiguration { Buckets = sizes });
        _batchSeconds = f.CreateHistogram("trg_batch_inference_seconds", "Time of each batch's estimator call",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 16) });
        var depth = f.CreateGauge("trg_queue_depth", "Requests waiting for a batch");
        _ready = f.CreateGauge("trg_ready", "1 when the weights are loaded and the kernels warm");
        var resident = f.CreateGauge("trg_process_resident_bytes", "Resident memory of the process (working set)");
        var managed = f.CreateGauge("trg_managed_heap_bytes", "Bytes in the managed heap");
        Registry.AddBeforeCollectCallback(() =>
        {
            depth.Set(queueDepth());
            using var self = Process.GetCurrentProcess();
            resident.Set(self.WorkingSet64);
            managed.Set(GC.GetTotalMemory(false));
        });
    }

    public void Request(int status, TimeSpan elapsed)
    {
        _requests.WithLabels(status.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
        _latency.Observe(elapsed.TotalSeconds);
    }

    public void Batch(BatchInfo b)
    {
        _batchFaces.Observe(b.Faces);
        _batchRequests.Observe(b.Photos);
        _batchSeconds.Observe(b.InferenceMs / 1000);
    }

    public void Ready() => _ready.Set(1);
}
