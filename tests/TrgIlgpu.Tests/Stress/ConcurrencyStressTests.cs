using SixLabors.ImageSharp;
using Xunit.Abstractions;
using SixLabors.ImageSharp.PixelFormats;
using TrgIlgpu.Backends;
using TrgIlgpu.Engine;
using TrgIlgpu.Faces;
using TrgIlgpu.Imaging;
using TrgIlgpu.Model;
using TrgIlgpu.Tests.App;
using TrgIlgpu.Tests.Kernels;

namespace TrgIlgpu.Tests.Stress;

/// <summary>The stress and soak tests run alone: they measure the process's memory and keep the device busy.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class StressCollection
{
    public const string Name = "Stress";
}

/// <summary>
/// The thread-safety docs/api.md promises, under load on PoCL with synthetic TRGv2 weights: every public method of a
/// <see cref="TrgEstimator"/>, <see cref="HeadPoseEstimator"/> and <see cref="FaceFinder"/> may be called from any
/// thread. Many threads on one object, and objects that share one device called from their own threads at once, give
/// results bitwise identical to the same calls made one after another, with no exception.
/// </summary>
[Collection(StressCollection.Name)]
public class ConcurrencyStressTests(ITestOutputHelper output)
{
    private const string Model = "synthetic:trgv2:5";

    private static RgbImage Noise(int w, int h, int seed)
    {
        var rng = new Random(seed);
        var p = new byte[w * h * 3];
        rng.NextBytes(p);
        return new RgbImage(w, h, p);
    }

    /// <summary>One call of the API: a name and what it returns (every face's numbers, in order).</summary>
    private sealed record Call(string Name, Func<TrgEstimator, FaceResult[]> Run);

    /// <summary>
    /// Calls in every form the estimator has, on images of three sizes, one to four faces (a box past the edge
    /// included), default and given focal lengths, a batch split over two forwards (MaxBatchSize 3), and the ImageSharp
    /// form whose host staging copy the estimator reuses between calls.
    /// </summary>
    private static List<Call> Calls()
    {
        var small = Noise(97, 131, 1);
        var mid = Noise(200, 150, 2);
        var large = Noise(320, 240, 3);
        FaceBox b1 = new(10, 12, 80, 90), b2 = new(40.5f, 20, 150, 130), b3 = new(200, 100, 340, 250);
        return
        [
            new("small one box", e => e.Estimate(small, [b1])),
            new("mid two boxes, focal", e => e.Estimate(mid, [b1, b2], focal: 300f)),
            new("large three boxes, one past the edge", e => e.Estimate(large, [b1, b2, b3])),
            new("ImageSharp mid", e =>
            {
                using var img = Image.LoadPixelData<Rgb24>(mid.Pixels, mid.Width, mid.Height);
                return e.Estimate(img, [b2]);
            }),
            new("ImageSharp large", e =>
            {
                using var img = Image.LoadPixelData<Rgb24>(large.Pixels, large.Width, large.Height);
                return e.Estimate(img, [b3, b1]);
            }),
            new("batch of three images, four faces", e => e.EstimateBatch(
            [
                new ImageFaces(small, [b1]), new ImageFaces(mid, [b2, b1], Focal: 250f), new ImageFaces(large, [b3]),
            ]).SelectMany(r => r).ToArray()),
            new("requests with intrinsics", e => e.Estimate(
            [
                new FaceRequest(large, b2, new CameraIntrinsics(400, 400, 150, 110)), new FaceRequest(small, b1, 180f),
            ])),
        ];
    }

    /// <summary>All of a call's numbers as bit patterns (so NaN compares equal to itself and -0 differs from 0).</summary>
    private static int[] Bits(FaceResult[] faces) => faces.SelectMany(f =>
        f.Rotation.Concat(f.Translation).Concat(f.VerticesCam).Concat(f.VerticesHead).Concat(f.Landmarks68Norm).Concat(f.Landmarks68)
            .Concat(f.Iterations.SelectMany(i => i.Rotation.Concat(i.Translation))).Concat(f.SamplingPoints.SelectMany(p => p))
            .Append(f.Box.Left).Append(f.Box.Top).Append(f.Camera.Focal))
        .Select(BitConverter.SingleToInt32Bits).ToArray();

    /// <summary>Runs <paramref name="work"/> on <paramref name="threads"/> threads released together; rethrows any failure.</summary>
    private static void OnThreads(int threads, Action<int> work)
    {
        using var start = new Barrier(threads);
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var all = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                work(t);
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
            }
        })).ToList();
        all.ForEach(t => t.Start());
        // Bounded: a deadlock fails the test instead of hanging the run.
        foreach (var t in all) Assert.True(t.Join(TimeSpan.FromMinutes(3)), "a thread did not finish within 3 minutes");
        if (!errors.IsEmpty) throw new AggregateException(errors);
    }

    [Fact]
    public void Many_threads_on_one_estimator_and_estimators_sharing_a_device_match_serial_runs_bitwise()
    {
        if (OpenCLAvailability.Missing is not null) return;
        var weights = ModelWeights.Load(Model);
        var options = new EstimatorOptions { MaxBatchSize = 3 };
        using var device = ComputeDevice.Open(DeviceKind.OpenCL);
        using var shared = new TrgEstimator(weights, device, options);
        var calls = Calls();
        var serial = calls.Select(c => Bits(c.Run(shared))).ToArray();
        Assert.All(serial, s => Assert.NotEmpty(s));

        var clock = System.Diagnostics.Stopwatch.StartNew();
        // Four threads on the one estimator, each through four of the calls (every call is made by two threads at once
        // or more), each in its own order.
        OnThreads(4, t =>
        {
            for (int k = 0; k < 4; k++)
            {
                int i = (k * 3 + t) % calls.Count;
                Assert.True(serial[i].AsSpan().SequenceEqual(Bits(calls[i].Run(shared))), $"thread {t}: '{calls[i].Name}' differs from its serial run");
            }
        });

        output.WriteLine($"4 threads on one estimator: {clock.Elapsed.TotalSeconds:0.0} s");
        clock.Restart();
        // One estimator each, all on the same device (their plans queue on its one stream), from their own threads.
        using var second = new TrgEstimator(weights, device, options);
        using var third = new TrgEstimator(weights, device, options);
        TrgEstimator[] each = [second, third, shared];
        output.WriteLine($"two more estimators on the device: {clock.Elapsed.TotalSeconds:0.0} s");
        clock.Restart();
        OnThreads(3, t =>
        {
            for (int k = 0; k < 3; k++)
            {
                int i = (k + 2 * t) % calls.Count;
                Assert.True(serial[i].AsSpan().SequenceEqual(Bits(calls[i].Run(each[t]))), $"estimator {t}: '{calls[i].Name}' differs from its serial run");
            }
        });
        output.WriteLine($"3 threads, one estimator each: {clock.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public void Photo_calls_from_many_threads_match_serial_runs_while_trg_shares_the_device()
    {
        if (OpenCLAvailability.Missing is not null) return;
        using var estimator = HeadPoseEstimator.Create(new HeadPoseOptions { Model = Model, Device = DeviceKind.OpenCL, MaxBatchSize = 4 });
        var photo = ImageLoader.LoadFile(AppTestData.AstronautPath);
        var crop = Crop(photo, 60, 0, 400, 320);
        RgbImage[] photos = [photo, crop];
        int[] Photo(int i) => Bits(estimator.Estimate(photos[i]).Faces);
        var serial = new[] { Photo(0), Photo(1) };
        Assert.All(serial, s => Assert.NotEmpty(s)); // each finds the astronaut's face

        // The finder on its own, on the estimator's device, called at the same time as the estimator: each object has
        // its own lock, and their device work is serialised by the device's.
        var finder = estimator.Finder;
        var found = finder.Find(photo).Select(f => f.Landmarks68).ToArray();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        OnThreads(4, t =>
        {
            if (t == 3)
                Assert.Equal(found, finder.Find(photo).Select(f => f.Landmarks68).ToArray());
            else
                Assert.True(serial[t % 2].AsSpan().SequenceEqual(Photo(t % 2)), $"thread {t}: photo {t % 2} differs from its serial run");
        });
        output.WriteLine($"3 threads of photo calls and one of the finder: {clock.Elapsed.TotalSeconds:0.0} s");
    }

    private static RgbImage Crop(RgbImage image, int x, int y, int w, int h)
    {
        var p = new byte[w * h * 3];
        for (int r = 0; r < h; r++)
            Array.Copy(image.Pixels, ((y + r) * image.Width + x) * 3, p, r * w * 3, w * 3);
        return new RgbImage(w, h, p);
    }
}
