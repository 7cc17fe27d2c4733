using TrgIlgpu.Tracking;

namespace TrgIlgpu.Tests.Tracking;

/// <summary>
/// The tracker on clips made from the sample photo with a known motion and pixel noise (landmark fit, face finding on
/// PoCL): one track id through pan, zoom and roll; no face on face-free frames and a new id after the cut; the applied
/// in-plane rotation recovered as roll; on a still clip the smoothed rotation jitters a third as much as the raw one,
/// and after a step the smoothed roll stays within the documented bound.
/// </summary>
[Collection(FfmpegCollection.Name)]
public sealed class TrackerClipTests(LandmarkFitEstimator fixture) : IClassFixture<LandmarkFitEstimator>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trg-track-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private HeadPoseTracker Tracker(TrackerOptions? options = null) => new(fixture.Estimator, options);

    [Fact]
    public void One_id_through_pan_zoom_and_roll_and_a_new_one_after_a_cut()
    {
        var (clip, views) = Clips.Make(_dir, "tour", 32);
        using var tracker = Tracker();
        var frames = Clips.Track(tracker, clip);

        Assert.Equal(Enumerable.Range(0, 32).Select(i => (long)i), frames.Select(f => f.Index));
        int firstFree = Array.FindIndex(views, v => v.FaceFree), lastFree = Array.FindLastIndex(views, v => v.FaceFree);
        Assert.True(firstFree > 0 && lastFree < views.Length - 1);
        for (int i = 0; i < frames.Count; i++)
        {
            if (views[i].FaceFree) Assert.Empty(frames[i].Faces);
            else Assert.Single(frames[i].Faces);
        }
        var before = frames.Take(firstFree).Select(f => f.Faces[0].TrackId).Distinct().ToList();
        var after = frames.Skip(lastFree + 1).Select(f => f.Faces[0].TrackId).Distinct().ToList();
        Assert.Single(before);
        Assert.Single(after);
        Assert.NotEqual(before[0], after[0]);
        Assert.True(frames[firstFree].SceneCut && frames[lastFree + 1].SceneCut);
        Assert.Equal(2, frames.Count(f => f.SceneCut));

        // Most frames ran only the landmark net: the detector on the first frame, every 10th, around the cut.
        var stats = tracker.Stats;
        Assert.Equal(32, stats.FramesProcessed);
        Assert.Equal(0, stats.FramesDropped);
        Assert.Equal(frames.Count(f => f.Detected), stats.FramesDetected);
        Assert.InRange(stats.DetectedShare, 0.05, 0.35);
        Assert.Equal(2, stats.Tracks);
        Assert.All(frames.Where(f => !f.Detected), f => Assert.All(f.Faces, face => Assert.False(face.Detected)));
        Assert.All(frames.Where(f => !f.Detected), f => Assert.True(f.Timings.Landmarks > 0 && f.Timings.Detect == 0));
    }

    [Fact]
    public void The_in_plane_rotation_comes_back_as_roll()
    {
        var (clip, views) = Clips.Make(_dir, "roll", 16, noise: 2);
        using var tracker = Tracker();
        var frames = Clips.Track(tracker, clip);
        // The face's own roll in the photo is unknown: estimate it as the mean of measured minus applied over the clip.
        var offsets = frames.Select((f, i) => Assert.Single(f.Faces).Result.Euler.Roll - (views[i].AngleDeg - views[0].AngleDeg)).ToList();
        double photoRoll = offsets.Average();
        for (int i = 0; i < frames.Count; i++)
        {
            Assert.Equal(frames[0].Faces[0].TrackId, frames[i].Faces[0].TrackId);
            Assert.True(Math.Abs(offsets[i] - photoRoll) <= 2.0,
                $"frame {i}: roll {frames[i].Faces[0].Result.Euler.Roll:0.00} deg for {views[i].AngleDeg:0.00} applied to the photo's {photoRoll:0.00}");
        }
        Assert.InRange(views[^1].AngleDeg - views[0].AngleDeg, 29.9, 30.1);
    }

    [Fact]
    public void A_still_clip_with_noise_jitters_a_third_as_much_smoothed_and_a_step_lags_within_the_bound()
    {
        // Detector every 60 frames: the jitter measured is the landmark net's and the fit's, frame to frame.
        var options = new TrackerOptions { DetectEvery = 60 };
        var (still, _) = Clips.Make(_dir, "static", 24, noise: 8, seed: 3);
        using (var tracker = Tracker(options))
        {
            var frames = Clips.Track(tracker, still);
            double raw = 0, smooth = 0;
            for (int i = 6; i < frames.Count; i++)
            {
                raw += So3.Angle(Rot(frames[i - 1].Faces[0].Result.Rotation), Rot(frames[i].Faces[0].Result.Rotation));
                smooth += So3.Angle(Rot(frames[i - 1].Faces[0].Smoothed.Rotation), Rot(frames[i].Faces[0].Smoothed.Rotation));
            }
            Assert.True(raw > 0);
            Assert.True(smooth <= raw / 3, $"smoothed jitter {smooth / raw:0.000} of the raw");
        }

        var (step, views) = Clips.Make(_dir, "step", 16, noise: 2, seed: 4);
        using (var tracker = Tracker(options))
        {
            var frames = Clips.Track(tracker, step);
            int at = Array.FindIndex(views, v => v.AngleDeg != views[0].AngleDeg);
            double size = views[at].AngleDeg - views[0].AngleDeg;
            var bound = SmoothingOptions.Light.Rotation;
            for (int k = 0; at + k < frames.Count; k++)
            {
                var face = frames[at + k].Faces[0];
                // The smoothed roll's distance from the raw one: the step's remainder within the bound, plus 1.5 deg for the raw noise.
                double lag = Math.Abs(face.Smoothed.Euler.Roll - face.Result.Euler.Roll);
                Assert.True(lag <= bound.StepResidualBound((k + 1) / Clips.Fps, 1 / Clips.Fps) * size + 1.5,
                    $"{k + 1} frames after the step: lag {lag:0.00} deg");
            }
            // And it really settles: three frames after the step it is within 10 % of the step.
            Assert.True(Math.Abs(frames[at + 2].Faces[0].Smoothed.Euler.Roll - frames[at + 2].Faces[0].Result.Euler.Roll) <= 0.1 * size + 1.0);
        }
    }

    private static double[] Rot(float[] r) => So3.Rotation(r);
}
