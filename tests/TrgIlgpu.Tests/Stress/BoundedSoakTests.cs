using System.Diagnostics;
using TrgIlgpu.Engine;
using TrgIlgpu.Tests.Kernels;

namespace TrgIlgpu.Tests.Stress;

/// <summary>
/// The bounded version of tools/soak: a few hundred TRG forwards on PoCL through the public API, with memory compared
/// between the end of the warm-up and the end of the run. Tolerances (docs/api.md, "Memory after warm-up"): device
/// bytes exactly unchanged (plans and the image buffer are reused), managed heap after a full collection within
/// <see cref="ManagedTolerance"/>, resident memory within <see cref="ResidentTolerance"/> (allocator and driver noise;
/// a leak of one result a forward, about 33 KiB, would exceed the managed tolerance within the run).
/// </summary>
[Collection(StressCollection.Name)]
public class BoundedSoakTests
{
    private const long ManagedTolerance = 2L << 20;
    private const long ResidentTolerance = 24L << 20;
    private const int Warmup = 20, Forwards = 150;

    private static RgbImage Noise(int w, int h, int seed)
    {
        var rng = new Random(seed);
        var p = new byte[w * h * 3];
        rng.NextBytes(p);
        return new RgbImage(w, h, p);
    }

    private static (long Managed, long Resident) Memory()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var self = Process.GetCurrentProcess();
        return (GC.GetTotalMemory(forceFullCollection: false), self.WorkingSet64);
    }

    [Fact]
    public void Hundreds_of_forwards_leave_device_managed_and_resident_memory_flat_after_warm_up()
    {
        if (OpenCLAvailability.Missing is not null) return;
        using var estimator = TrgEstimator.Create("synthetic:trgv2:6", new EstimatorOptions { Device = DeviceKind.OpenCL });
        RgbImage[] images = [Noise(640, 480, 1), Noise(320, 240, 2), Noise(512, 512, 3)];
        FaceBox[] boxes = [new(200, 100, 360, 260), new(40, 30, 200, 190), new(150, 49, 295, 191)];
        float[]? first = null;
        void Forward(int i)
        {
            var face = estimator.Estimate(images[i % 3], [boxes[i % 3]]).Single();
            Assert.True(float.IsFinite(face.Translation[2]));
            if (i == 0) first = face.Rotation;
            else if (i % 3 == 0) Assert.Equal(first, face.Rotation); // the same call gives the same numbers all along
        }

        for (int i = 0; i < Warmup; i++) Forward(i);
        long device = estimator.DeviceBytes;
        var (managed, resident) = Memory();
        for (int i = Warmup; i < Warmup + Forwards; i++) Forward(i);
        var (managedEnd, residentEnd) = Memory();

        Assert.Equal(device, estimator.DeviceBytes);
        Assert.True(managedEnd - managed <= ManagedTolerance, $"managed heap grew {(managedEnd - managed) / 1024} KiB over {Forwards} forwards");
        Assert.True(residentEnd - resident <= ResidentTolerance, $"resident memory grew {(residentEnd - resident) >> 20} MiB over {Forwards} forwards");
    }
}
