using System.Globalization;
using System.Text;
using System.Text.Json;
using TrgIlgpu.Cli.Estimate;
using TrgIlgpu.Tracking;

namespace TrgIlgpu.Cli.Track;

/// <summary>Where `trg track` writes its frames: JSON Lines (one line a frame) or CSV (one row a face, or a frame without faces).</summary>
internal abstract class TrackOutput(OutputTarget target) : IDisposable
{
    public string Where => target.Where;
    protected Stream Stream => target.Stream;

    public static TrackOutput Open(string? jsonLines, string? csv, TextWriter stdout) =>
        csv is not null ? new CsvTrackOutput(OutputTarget.Open(csv, stdout, streaming: true))
            : new JsonLinesTrackOutput(OutputTarget.Open(jsonLines ?? "-", stdout, streaming: true));

    /// <summary>The run begins (the model is loaded): a file output is emptied from here on (an old file is kept until then).</summary>
    public virtual void Start() => target.Start();

    public abstract void Write(TrackedFrame frame, StageTimings timings);

    /// <summary>Makes the output final (a file is renamed into place).</summary>
    public void Commit() => target.Commit();

    public void Dispose() => target.Dispose();

    protected static string SourceName(TrackedFace f) => f.Detected ? "detector" : "tracker";
}

internal sealed class JsonLinesTrackOutput(OutputTarget target) : TrackOutput(target)
{
    public override void Write(TrackedFrame frame, StageTimings timings)
    {
        using (var w = new Utf8JsonWriter(Stream, ResultJson.Compact))
        {
            w.WriteStartObject();
            w.WriteNumber("frame", frame.Index);
            w.WriteNumber("time", Math.Round(frame.Time, 6));
            w.WriteBoolean("detected", frame.Detected);
            w.WriteBoolean("scene_cut", frame.SceneCut);
            w.WriteStartArray("faces");
            foreach (var face in frame.Faces)
            {
                w.WriteStartObject();
                w.WriteNumber("track_id", face.TrackId);
                w.WriteString("source", SourceName(face));
                ResultJson.WriteFaceFields(w, face.Result);
                w.WriteStartObject("smoothed");
                w.WritePropertyName("rotation");
                ResultJson.Matrix3(w, face.Smoothed.Rotation);
                w.WritePropertyName("translation");
                ResultJson.Row(w, face.Smoothed.Translation, 0, 3);
                var e = face.Smoothed.Euler;
                w.WriteStartObject("euler");
                ResultJson.Number(w, "yaw", e.Yaw);
                ResultJson.Number(w, "pitch", e.Pitch);
                ResultJson.Number(w, "roll", e.Roll);
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (frame.Failures.Length > 0)
            {
                w.WriteStartArray("errors");
                foreach (var f in frame.Failures) ResultJson.WriteError(w, f.Error, f.Box);
                w.WriteEndArray();
            }
            ResultJson.WriteTiming(w, timings.Named);
            w.WriteEndObject();
        }
        Stream.WriteByte((byte)'\n');
        Stream.Flush();
    }
}

internal sealed class CsvTrackOutput : TrackOutput
{
    public const string Header = "frame,time,detected,scene_cut,track_id,source,score,left,top,right,bottom,yaw,pitch,roll,tx,ty,tz,"
        + "smoothed_yaw,smoothed_pitch,smoothed_roll,smoothed_tx,smoothed_ty,smoothed_tz";

    public CsvTrackOutput(OutputTarget target) : base(target) { }

    public override void Start()
    {
        base.Start();
        Line(Header);
    }

    public override void Write(TrackedFrame frame, StageTimings timings)
    {
        string head = string.Join(',', frame.Index.ToString(CultureInfo.InvariantCulture), N(frame.Time), frame.Detected ? "1" : "0", frame.SceneCut ? "1" : "0");
        if (frame.Faces.Length == 0) Line(head + new string(',', 19));
        foreach (var f in frame.Faces)
        {
            var r = f.Result;
            var box = r.Box;
            var e = r.Euler;
            var s = f.Smoothed.Euler;
            var st = f.Smoothed.Translation;
            float score = r.Detection?.Detection.Score ?? float.NaN;
            Line(string.Join(',', head, f.TrackId.ToString(CultureInfo.InvariantCulture), SourceName(f), N(score),
                N(box.Left), N(box.Top), N(box.Right), N(box.Bottom), N(e.Yaw), N(e.Pitch), N(e.Roll),
                N(r.Translation[0]), N(r.Translation[1]), N(r.Translation[2]), N(s.Yaw), N(s.Pitch), N(s.Roll), N(st[0]), N(st[1]), N(st[2])));
        }
        Stream.Flush();
    }

    private static string N(double v) => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "";
    private static string N(float v) => float.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "";

    private void Line(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text + "\n");
        Stream.Write(bytes);
    }
}
