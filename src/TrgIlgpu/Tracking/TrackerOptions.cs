namespace TrgIlgpu.Tracking;

/// <summary>Settings of a <see cref="HeadPoseTracker"/> (docs/video.md explains each rule).</summary>
public sealed record TrackerOptions
{
    /// <summary>
    /// Run the face detector at least every this many frames (1: every frame). In between, each face's landmark-net box
    /// comes from its landmarks in the previous frame. The detector also runs on the first frame, after a scene cut,
    /// when a track is lost, while lost tracks wait to be found again, and while no face is tracked.
    /// </summary>
    public int DetectEvery { get; init; } = 10;

    /// <summary>
    /// Least IoU between a detection and a track's predicted box for them to be the same face (below it, a detection
    /// whose centre is within one predicted box width and whose size is within <see cref="MaxScaleChange"/> still matches,
    /// ranked after every IoU match).
    /// </summary>
    public double MatchIou { get; init; } = 0.3;

    /// <summary>How long (seconds) a lost track keeps its id: a face found again within it, where the track was, gets it back.</summary>
    public double LostTimeout { get; init; } = 1.0;

    /// <summary>
    /// Scene-cut threshold on the colour-histogram distance between consecutive frames (total variation in [0, 1]); a cut
    /// ends every track (new ids after it). 1 or more: never.
    /// </summary>
    public double CutThreshold { get; init; } = 0.5;

    /// <summary>A track is lost when its landmarks' spread (RMS distance from their centroid) changes by more than this factor from one frame to the next.</summary>
    public double MaxScaleChange { get; init; } = 1.3;

    /// <summary>A track is lost when its landmarks' centroid moves by more than this many spreads (RMS radii) from one frame to the next.</summary>
    public double MaxShift { get; init; } = 1.3;

    /// <summary>A track is lost when less than this share of its TRG box lies inside the image.</summary>
    public double MinInside { get; init; } = 0.5;

    /// <summary>Pose smoothing (One-Euro on SE(3)); null: off, the smoothed pose is the raw one.</summary>
    public SmoothingOptions? Smoothing { get; init; } = SmoothingOptions.Light;

    /// <summary>Camera intrinsics of every frame; null: f = W + H, principal point at the centre.</summary>
    public CameraIntrinsics? Camera { get; init; }

    /// <summary>Throws <see cref="TrgException"/> (Usage) naming the first bad setting.</summary>
    public void Validate()
    {
        static void Check(bool ok, string message)
        {
            if (!ok) throw new TrgException(ErrorKind.Usage, message);
        }
        Check(DetectEvery >= 1, $"detect-every {DetectEvery}: must be at least 1");
        Check(MatchIou > 0 && MatchIou <= 1, $"match IoU {MatchIou}: must be in (0, 1]");
        Check(double.IsFinite(LostTimeout) && LostTimeout >= 0, $"lost timeout {LostTimeout}: must be a number of seconds >= 0");
        Check(CutThreshold > 0 && !double.IsNaN(CutThreshold), $"cut threshold {CutThreshold}: must be positive (1 or more: no cut detection)");
        Check(double.IsFinite(MaxScaleChange) && MaxScaleChange > 1, $"max scale change {MaxScaleChange}: must be above 1");
        Check(MaxShift > 0 && double.IsFinite(MaxShift), $"max shift {MaxShift}: must be positive");
        Check(MinInside >= 0 && MinInside <= 1, $"min inside {MinInside}: must be in [0, 1]");
        Smoothing?.Validate();
    }
}

/// <summary>How a streaming call treats a source that produces frames faster than the tracker handles them.</summary>
public enum FrameDropping
{
    /// <summary>Every frame is processed (files): the source waits for the tracker.</summary>
    None,
    /// <summary>
    /// Live sources: the source is read continuously into a queue of <see cref="StreamOptions.QueueCapacity"/> frames;
    /// when it is full the oldest frame is dropped, so the tracker always works on recent frames and memory stays bounded.
    /// </summary>
    DropOldest,
}

/// <summary>Settings of <see cref="HeadPoseTracker.TrackAsync"/>.</summary>
public sealed record StreamOptions
{
    /// <summary>Whether frames may be dropped when the tracker falls behind (live sources) or not (files).</summary>
    public FrameDropping Dropping { get; init; } = FrameDropping.None;

    /// <summary>Most frames waiting between the source and the tracker (read-ahead for files, the live queue for cameras).</summary>
    public int QueueCapacity { get; init; } = 2;
}
