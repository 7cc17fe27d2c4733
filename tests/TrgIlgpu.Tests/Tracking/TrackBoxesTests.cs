using TrgIlgpu.Tools;
using TrgIlgpu.Tracking;

namespace TrgIlgpu.Tests.Tracking;

/// <summary>
/// The tracker's box geometry and scene-cut test on the host: a box shape recorded from a detection gives that box
/// back, the predicted box keeps its size when the face turns in the image plane, IoU and inside shares against
/// hand-computed values, and the histogram distance small for a panned view and large for a cut.
/// </summary>
public sealed class TrackBoxesTests
{
    private static float[] Face(double cx, double cy, double scale, double degrees)
    {
        // A face-like point set: an ellipse of 68 points, squashed, turned by the angle.
        var p = new float[136];
        double a = degrees * Math.PI / 180;
        for (int i = 0; i < 68; i++)
        {
            double t = 2 * Math.PI * i / 68, x = 40 * Math.Cos(t) * scale, y = (50 * Math.Sin(t) + (i % 5)) * scale;
            p[2 * i] = (float)(cx + Math.Cos(a) * x - Math.Sin(a) * y);
            p[2 * i + 1] = (float)(cy + Math.Sin(a) * x + Math.Cos(a) * y);
        }
        return p;
    }

    [Fact]
    public void A_recorded_shape_gives_the_detection_box_back_and_ignores_in_plane_rotation()
    {
        var landmarks = Face(200, 150, 1, 0);
        var detection = new FaceBox(155, 70, 247, 210);
        var shape = BoxShape.Of(detection, landmarks);
        var back = TrackBoxes.LandmarkNetBox(landmarks, shape);
        Assert.Equal(detection.Left, back.Left, 3); Assert.Equal(detection.Top, back.Top, 3);
        Assert.Equal(detection.Right, back.Right, 3); Assert.Equal(detection.Bottom, back.Bottom, 3);

        var turned = TrackBoxes.LandmarkNetBox(Face(200, 150, 1, 30), shape);
        Assert.Equal(back.Width, turned.Width, 2);
        Assert.Equal(back.Height, turned.Height, 2);
        var bigger = TrackBoxes.LandmarkNetBox(Face(200, 150, 1.5, 0), shape);
        Assert.Equal(1.5 * back.Width, bigger.Width, 2);

        var typical = TrackBoxes.LandmarkNetBox(landmarks, BoxShape.Typical);
        var (_, _, r) = TrackBoxes.Spread(landmarks);
        Assert.Equal(BoxShape.Typical.Width * r, typical.Width, 2);
        Assert.Equal(BoxShape.Typical.Height * r, typical.Height, 2);
    }

    [Fact]
    public void Overlaps_match_hand_computed_values()
    {
        var a = new FaceBox(0, 0, 10, 10);
        Assert.Equal(1.0, TrackBoxes.Iou(a, a), 12);
        Assert.Equal(50.0 / 150.0, TrackBoxes.Iou(a, new FaceBox(5, 0, 15, 10)), 12);
        Assert.Equal(0.0, TrackBoxes.Iou(a, new FaceBox(20, 20, 30, 30)), 12);
        Assert.Equal(0.0, TrackBoxes.Iou(a, new FaceBox(5, 5, 5, 5)), 12);
        Assert.Equal(0.25, TrackBoxes.InsideShare(new FaceBox(-5, -5, 5, 5), 100, 100), 12);
        Assert.Equal(1.0, TrackBoxes.InsideShare(a, 100, 100), 12);
        Assert.Equal(0.0, TrackBoxes.InsideShare(new FaceBox(200, 0, 210, 10), 100, 100), 12);
    }

    [Fact]
    public void The_histogram_distance_is_small_for_a_pan_and_large_for_a_cut()
    {
        var photo = Clips.Photo;
        var rng = new Random(2);
        var a = ClipMaker.Render(photo, Clips.Start, 160, 120, 3, rng);
        var panned = ClipMaker.Render(photo, Clips.Start with { CentreX = Clips.Start.CentreX + 10, AngleDeg = 5 }, 160, 120, 3, rng);
        var free = ClipMaker.Render(photo, Clips.Start with { FaceFree = true }, 160, 120, 3, rng);
        var cuts = new SceneCuts();
        Assert.Equal(0, cuts.Next(a));
        Assert.InRange(cuts.Next(panned), 0, 0.2);
        Assert.InRange(cuts.Next(free), 0.5, 1.0);
        Assert.InRange(cuts.Next(a), 0.5, 1.0);
        Assert.Equal(0, SceneCuts.Distance(SceneCuts.Histogram(a), SceneCuts.Histogram(a)));
        Assert.Equal(1.0, SceneCuts.Histogram(free).Sum(), 9);
    }
}
