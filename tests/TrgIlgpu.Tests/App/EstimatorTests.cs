using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Tests.App;

/// <summary>The public API around the engine, with a stand-in engine (box validation, batching, threads, disposal).</summary>
public class EstimatorTests
{
    private static RgbImage Noise(int w, int h, int seed)
    {
        var rng = new Random(seed);
        var p = new byte[w * h * 3];
        rng.NextBytes(p);
        return new RgbImage(w, h, p);
    }

    [Fact]
    public void Image_forms_and_file_give_the_same_results_with_default_focal()
    {
        var engine = new AppTestData.FakeEngine();
        using var est = AppTestData.FakeEstimator(engine);
        var boxes = new[] { AppTestData.AstronautBox, new FaceBox(300, 300, 400, 400) };
        var fromFile = est.EstimateFile(AppTestData.AstronautPath, boxes);
        var rgb = ImageLoader.LoadFile(AppTestData.AstronautPath);
        var fromRgb = est.Estimate(rgb, boxes);
        using var sharp = Image.Load<Rgb24>(AppTestData.AstronautPath);
        var fromSharp = est.Estimate(sharp, boxes);

        Assert.Equal(6, engine.Seen.Count);
        Assert.All(engine.Seen, r => Assert.Equal(512 + 512, r.Focal));
        // The engine got the decoded pixels in every form.
        Assert.All(engine.Seen, r => Assert.Equal(rgb.Pixels, r.Image.Pixels));
        foreach (var results in new[] { fromRgb, fromSharp })
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(boxes[i], results[i].Box);
                Assert.Equal(fromFile[i].Rotation, results[i].Rotation);
                Assert.Equal(fromFile[i].Translation, results[i].Translation);
            }
        Assert.NotEqual(fromFile[0].Rotation, fromFile[1].Rotation);
    }

    [Fact]
    public void Explicit_focal_is_passed_through()
    {
        var engine = new AppTestData.FakeEngine();
        using var est = AppTestData.FakeEstimator(engine);
        est.Estimate(Noise(64, 48, 1), [new FaceBox(10, 10, 40, 40)], focal: 777.5f);
        Assert.Equal(777.5f, engine.Seen.Single().Focal);
    }

    [Fact]
    public void Batch_is_one_flat_run_chunked_by_max_batch_size_with_results_in_order()
    {
        var engine = new AppTestData.FakeEngine();
        using var est = AppTestData.FakeEstimator(engine, new EstimatorOptions { MaxBatchSize = 8 });
        var rng = new Random(7);
        var items = Enumerable.Range(0, 7).Select(i =>
        {
            var img = Noise(80 + i, 60 + i, i);
            var boxes = Enumerable.Range(0, 3).Select(_ =>
            {
                float l = rng.Next(0, 40), t = rng.Next(0, 30), s = rng.Next(10, 30);
                return new FaceBox(l, t, l + s, t + s);
            }).ToArray();
            return new ImageFaces(img, boxes, i % 2 == 0 ? null : 500 + i);
        }).ToArray();

        var results = est.EstimateBatch(items);
        Assert.Equal([8, 8, 5], engine.BatchSizes);
        Assert.Equal(7, results.Length);
        for (int i = 0; i < 7; i++)
        {
            Assert.Equal(3, results[i].Length);
            float expectedFocal = items[i].Focal ?? items[i].Image.Width + items[i].Image.Height;
            for (int k = 0; k < 3; k++)
            {
                Assert.Equal(items[i].Boxes[k], results[i][k].Box);
                Assert.Equal(expectedFocal, results[i][k].Focal);
            }
        }
        // Each face went to the engine with its own image.
        for (int i = 0; i < 21; i++) Assert.Same(items[i / 3].Image, engine.Seen[i].Image);
    }

    [Fact]
    public void Partly_outside_box_is_fine_wholly_outside_is_refused()
    {
        using var est = AppTestData.FakeEstimator();
        var img = Noise(100, 80, 2);
        Assert.Single(est.Estimate(img, [new FaceBox(-30, -20, 40, 50)]));
        Assert.Single(est.Estimate(img, [new FaceBox(90, 70, 150, 130)]));
        foreach (var box in new[] { new FaceBox(100, 10, 150, 60), new FaceBox(-60, 10, -5, 65), new FaceBox(10, 80, 60, 130), new FaceBox(10, -70, 60, 0) })
        {
            var e = Assert.Throws<TrgException>(() => est.Estimate(img, [new FaceBox(0, 0, 50, 50), box]));
            Assert.Equal(ErrorKind.InvalidBox, e.Kind);
            Assert.Contains("face 1", e.Message);
            Assert.Contains("wholly outside the 100x80 image", e.Message);
        }
    }

    [Fact]
    public void Bad_boxes_and_focal_are_refused_before_the_engine_runs()
    {
        var engine = new AppTestData.FakeEngine();
        using var est = AppTestData.FakeEstimator(engine);
        var img = Noise(50, 50, 3);
        foreach (var box in new[] { new FaceBox(30, 10, 10, 40), new FaceBox(10, 10, 10.5f, 40), new FaceBox(float.NaN, 0, 10, 10), new FaceBox(0, 0, float.PositiveInfinity, 10) })
            Assert.Equal(ErrorKind.InvalidBox, Assert.Throws<TrgException>(() => est.Estimate(img, [box])).Kind);
        foreach (var f in new[] { 0f, -5f, float.NaN, float.PositiveInfinity })
            Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => est.Estimate(img, [new FaceBox(0, 0, 20, 20)], f)).Kind);
        var batch = Assert.Throws<TrgException>(() => est.EstimateBatch([new ImageFaces(img, [new FaceBox(0, 0, 20, 20)]), new ImageFaces(img, [new FaceBox(5, 5, 1, 1)])]));
        Assert.Equal(ErrorKind.InvalidBox, batch.Kind);
        Assert.Contains("image 1", batch.Message);
        Assert.Empty(engine.Seen);
    }

    [Fact]
    public void EstimateFile_reports_file_errors_with_their_kind()
    {
        using var est = AppTestData.FakeEstimator(options: new EstimatorOptions { Images = new ImageLoadOptions { MaxPixels = 1000 } });
        var missing = Assert.Throws<TrgException>(() => est.EstimateFile("/nonexistent/x.png", [new FaceBox(0, 0, 10, 10)]));
        Assert.Equal(ErrorKind.NotFound, missing.Kind);
        var big = Assert.Throws<TrgException>(() => est.EstimateFile(AppTestData.AstronautPath, [new FaceBox(0, 0, 10, 10)]));
        Assert.Equal(ErrorKind.InvalidImage, big.Kind);
    }

    [Fact]
    public void Calls_from_many_threads_are_serialised()
    {
        int inside = 0, maxInside = 0, calls = 0;
        var inner = new AppTestData.FakeEngine();
        FaceResult[] Run(IReadOnlyList<FaceRequest> faces, CancellationToken ct)
        {
            int now = Interlocked.Increment(ref inside);
            InterlockedMax(ref maxInside, now);
            Thread.Sleep(2);
            var r = inner.Run(faces, ct);
            Interlocked.Decrement(ref inside);
            Interlocked.Increment(ref calls);
            return r;
        }
        using var est = new TrgEstimator(AppTestData.FakeWeights(), "Fake", Run);
        var img = Noise(64, 64, 9);
        Parallel.For(0, 40, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var box = new FaceBox(i % 20, 5, i % 20 + 30, 35);
            var r = est.Estimate(img, [box]);
            Assert.Equal(box, r[0].Box);
        });
        Assert.Equal(40, calls);
        Assert.Equal(1, maxInside);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }

    [Fact]
    public void ImageSharp_form_reuses_its_staging_copy_for_same_sized_frames()
    {
        var engine = new AppTestData.FakeEngine();
        using var est = AppTestData.FakeEstimator(engine);
        using var a = ImageLoaderTests.RandomImage(40, 30, 1);
        using var b = ImageLoaderTests.RandomImage(40, 30, 2);
        using var c = ImageLoaderTests.RandomImage(41, 30, 3);
        est.Estimate(a, [new FaceBox(0, 0, 20, 20)]);
        var first = engine.Seen[0].Image;
        est.Estimate(b, [new FaceBox(0, 0, 20, 20)]);
        Assert.Same(first, engine.Seen[1].Image);
        var bPixels = new byte[40 * 30 * 3];
        b.CopyPixelDataTo(bPixels);
        Assert.Equal(bPixels, engine.Seen[1].Image.Pixels);
        est.Estimate(c, [new FaceBox(0, 0, 20, 20)]);
        Assert.NotSame(first, engine.Seen[2].Image);
    }

    [Fact]
    public void Cancellation_and_disposal()
    {
        var engine = new AppTestData.FakeEngine();
        var est = AppTestData.FakeEstimator(engine, new EstimatorOptions { MaxBatchSize = 1 });
        var img = Noise(30, 30, 4);
        using (var cts = new CancellationTokenSource())
        {
            cts.Cancel();
            Assert.ThrowsAny<OperationCanceledException>(() => est.Estimate(img, [new FaceBox(0, 0, 10, 10), new FaceBox(5, 5, 15, 15)], cancellationToken: cts.Token));
        }
        Assert.Empty(engine.Seen);
        Assert.Empty(est.Estimate(img, []));
        est.Dispose();
        est.Dispose();
        Assert.Throws<ObjectDisposedException>(() => est.Estimate(img, [new FaceBox(0, 0, 10, 10)]));
    }

    [Fact]
    public void Options_are_checked()
    {
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() => AppTestData.FakeEstimator(options: new EstimatorOptions { MaxBatchSize = 0 })).Kind);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<TrgException>(() =>
            AppTestData.FakeEstimator(options: new EstimatorOptions { Images = new ImageLoadOptions { MaxPixels = 0 } })).Kind);
    }

    [Fact]
    public void Estimate_file_applies_exif_unless_told_not_to()
    {
        var dir = Directory.CreateTempSubdirectory("trg-est-exif-").FullName;
        try
        {
            using var img = ImageLoaderTests.RandomImage(60, 20, 5);
            img.Metadata.ExifProfile = new SixLabors.ImageSharp.Metadata.Profiles.Exif.ExifProfile();
            img.Metadata.ExifProfile.SetValue(SixLabors.ImageSharp.Metadata.Profiles.Exif.ExifTag.Orientation, (ushort)8);
            var path = Path.Combine(dir, "r.png");
            img.Save(path, new PngEncoder());
            var engine = new AppTestData.FakeEngine();
            using (var est = AppTestData.FakeEstimator(engine))
                est.EstimateFile(path, [new FaceBox(0, 0, 10, 10)]);
            using (var est = AppTestData.FakeEstimator(engine, new EstimatorOptions { Images = new ImageLoadOptions { ApplyExifOrientation = false } }))
                est.EstimateFile(path, [new FaceBox(0, 0, 10, 10)]);
            Assert.Equal((20, 60), (engine.Seen[0].Image.Width, engine.Seen[0].Image.Height));
            Assert.Equal((60, 20), (engine.Seen[1].Image.Width, engine.Seen[1].Image.Height));
        }
        finally { Directory.Delete(dir, true); }
    }
}
