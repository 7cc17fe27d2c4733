using TrgIlgpu.Faces;

namespace TrgIlgpu.Tracking;

/// <summary>One frame of a video or camera: the picture, its time in seconds and its number in the source.</summary>
/// <param name="Image">The frame's pixels.</param>
/// <param name="Time">Seconds from the start of the stream (non-decreasing); the smoothing uses it.</param>
/// <param name="Index">The frame's number in the source (gaps show dropped frames).</param>
/// <param name="DecodeMs">Time the source spent producing it (reported, not used).</param>
public sealed record VideoFrame(RgbImage Image, double Time, long Index, double DecodeMs = 0);

/// <summary>Milliseconds spent on one frame by stage (0 for a stage that did not run).</summary>
/// <param name="Decode">Reading and decoding the frame (the source's <see cref="VideoFrame.DecodeMs"/>).</param>
/// <param name="Detect">The face detector, with the landmark net on what it found.</param>
/// <param name="Landmarks">The landmark net on the boxes predicted from the previous frame (tracked faces).</param>
/// <param name="Pose">TRG, or the landmark fit without a model, and the smoothing.</param>
/// <param name="Encode">Drawing and encoding the overlay (set by the caller that does it).</param>
public readonly record struct StageTimings(double Decode, double Detect, double Landmarks, double Pose, double Encode)
{
    /// <summary>The stages by name, as reported: decode, detect, landmarks, pose, encode.</summary>
    public IEnumerable<(string Name, double Ms)> Named =>
        [("decode", Decode), ("detect", Detect), ("landmarks", Landmarks), ("pose", Pose), ("encode", Encode)];

    /// <summary>The sum of the stages.</summary>
    public StageTimings Add(StageTimings o) => new(Decode + o.Decode, Detect + o.Detect, Landmarks + o.Landmarks, Pose + o.Pose, Encode + o.Encode);
}

/// <summary>One face in one frame: its track, the raw pose (as <c>trg estimate</c> reports it) and the smoothed pose.</summary>
/// <param name="TrackId">Stable id of the face across frames (from 1; a new face or a face after a scene cut gets a new one).</param>
/// <param name="Result">This frame's raw result; <see cref="FaceResult.Detection"/> holds the landmark-net box and points
/// (score NaN on frames where the box was predicted rather than detected).</param>
/// <param name="Smoothed">The smoothed pose (the raw one when smoothing is off).</param>
/// <param name="Detected">True when the detector found the face in this frame; false when the box came from the previous frame's landmarks.</param>
public sealed record TrackedFace(int TrackId, FaceResult Result, SmoothedPose Smoothed, bool Detected);

/// <summary>The tracker's answer for one frame. A frame where no face is tracked has empty <see cref="Faces"/>.</summary>
/// <param name="Frame">The frame as given.</param>
/// <param name="Camera">The intrinsics used.</param>
/// <param name="Faces">Tracked faces, by track id.</param>
/// <param name="Failures">Faces found but not posed (e.g. a landmark fit that did not converge); their tracks are lost.</param>
/// <param name="Detected">True when the detector ran on this frame.</param>
/// <param name="SceneCut">True when this frame starts a new scene (every earlier track ended).</param>
/// <param name="Timings">Milliseconds by stage.</param>
public sealed record TrackedFrame(VideoFrame Frame, CameraIntrinsics Camera, TrackedFace[] Faces, FaceFailure[] Failures,
    bool Detected, bool SceneCut, StageTimings Timings)
{
    /// <summary>The frame's number in the source.</summary>
    public long Index => Frame.Index;

    /// <summary>The frame's time in seconds.</summary>
    public double Time => Frame.Time;
}

/// <summary>Counts and times of a tracker since it was made (or reset); a snapshot.</summary>
/// <param name="FramesReceived">Frames the source gave (processed or dropped).</param>
/// <param name="FramesProcessed">Frames tracked.</param>
/// <param name="FramesDropped">Frames dropped because the tracker was behind (live streams only).</param>
/// <param name="FramesDetected">Frames on which the detector ran.</param>
/// <param name="Tracks">Track ids handed out.</param>
/// <param name="Total">Stage times summed over the processed frames (ms).</param>
/// <param name="WallSeconds">Seconds from the first frame received to the last one processed.</param>
public sealed record TrackingStats(long FramesReceived, long FramesProcessed, long FramesDropped, long FramesDetected, int Tracks,
    StageTimings Total, double WallSeconds)
{
    /// <summary>Frames processed per second of wall time (0 before two frames).</summary>
    public double AchievedFps => WallSeconds > 0 ? FramesProcessed / WallSeconds : 0;

    /// <summary>Share of the processed frames that ran the detector.</summary>
    public double DetectedShare => FramesProcessed > 0 ? (double)FramesDetected / FramesProcessed : 0;
}
