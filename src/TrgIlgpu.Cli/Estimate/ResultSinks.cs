using System.Buffers;
using System.Text;
using System.Text.Json;
using TrgIlgpu.Faces;
using TrgIlgpu.Model;

namespace TrgIlgpu.Cli.Estimate;

/// <summary>Counts for the summary line and the "summary" object.</summary>
internal sealed class RunStats
{
    public int Images, ImagesFailed, Faces, FacesFailed;
    public double ModelLoadMs, TotalMs;
    /// <summary>Ctrl-C stopped the run: the counts are those of the images finished before it.</summary>
    public bool Cancelled;
    public readonly List<ErrorKind> FailureKinds = [];
}

/// <summary>
/// Where results go: a JSON document (one image: issue 2's single-image document; several: an "images" array), to a
/// file written atomically or to stdout, nothing of it before <see cref="Finish"/> (disposing without finishing leaves
/// no trace); or JSON Lines, one complete line per image written and flushed as soon as the image is finished, so the
/// output can be followed (<c>tail -f</c>).
/// </summary>
internal abstract class ResultSink : IDisposable
{
    protected ModelWeights? Weights;
    protected string Device = "";
    protected PoseMethod Method;
    protected DetectorOptions Detector = new();

    public virtual void Begin(ModelWeights? weights, string device, PoseMethod method, DetectorOptions detector)
    {
        Weights = weights; Device = device; Method = method; Detector = detector;
    }
    public abstract void Add(ImageOutcome outcome);
    /// <summary>Completes the output; false when there was nothing to write (a cancelled single-image run).</summary>
    public abstract bool Finish(RunStats stats);
    public abstract void Dispose();
    /// <summary>A description for the summary line ("stdout" or the path).</summary>
    public abstract string Where { get; }

    public static ResultSink Open(EstimateSettings s, bool multi, TextWriter stdout)
    {
        if (s.JsonLinesPath is not null)
            return new JsonLinesSink(OutputTarget.Open(s.JsonLinesPath, stdout, streaming: true));
        // A cancelled single-image run has nothing to write: Finish then leaves the old file as it was.
        return new JsonDocumentSink(OutputTarget.Open(s.JsonPath ?? "-", stdout, streaming: false), multi);
    }

    protected void WriteModelAndDevice(Utf8JsonWriter w)
    {
        w.WriteString("device", Device);
        ResultJson.WriteModel(w, Weights, Method, Detector);
    }
}

internal sealed class JsonDocumentSink(OutputTarget target, bool multi) : ResultSink
{
    private Utf8JsonWriter? _writer;
    private ImageOutcome? _single;
    public override string Where => target.Where;

    public override void Begin(ModelWeights? weights, string device, PoseMethod method, DetectorOptions detector)
    {
        base.Begin(weights, device, method, detector);
        if (!multi) return;
        _writer = new Utf8JsonWriter(target.Stream, ResultJson.Indented);
        _writer.WriteStartObject();
        WriteModelAndDevice(_writer);
        _writer.WriteString("euler_convention", EulerAngles.Convention);
        _writer.WriteStartArray("images");
    }

    public override void Add(ImageOutcome o)
    {
        if (!multi)
        {
            _single = o;
            return;
        }
        _writer!.WriteStartObject();
        ResultJson.WriteImageFields(_writer, o);
        if (o.Error is null) ResultJson.WriteTiming(_writer, [("decode", o.DecodeMs), ("inference", o.InferenceMs)]);
        _writer.WriteEndObject();
        _writer.Flush(); // stream each image out; the document stays in memory only one image at a time
    }

    public override bool Finish(RunStats stats)
    {
        if (multi)
        {
            var w = _writer!;
            w.WriteEndArray();
            w.WriteStartObject("summary");
            w.WriteNumber("images", stats.Images);
            w.WriteNumber("images_failed", stats.ImagesFailed);
            w.WriteNumber("faces", stats.Faces);
            w.WriteNumber("faces_failed", stats.FacesFailed);
            if (stats.Cancelled) w.WriteBoolean("cancelled", true);
            w.WriteEndObject();
            ResultJson.WriteTiming(w, [("model_load", stats.ModelLoadMs), ("total", stats.TotalMs)]);
            w.WriteEndObject();
            // Flush and drop the writer now: after the commit its stream is closed.
            w.Dispose();
            _writer = null;
        }
        else
        {
            if (_single is null && stats.Cancelled) return false;
            using var w = new Utf8JsonWriter(target.Stream, ResultJson.Indented);
            var o = _single ?? throw new InvalidOperationException("no image was processed");
            ResultJson.WriteImageDocument(w, o, Device, Weights, Method, Detector, o.Error is null
                ? [("model_load", stats.ModelLoadMs), ("decode", o.DecodeMs), ("inference", o.InferenceMs), ("total", stats.TotalMs)]
                : [("model_load", stats.ModelLoadMs), ("total", stats.TotalMs)]);
        }
        target.Stream.WriteByte((byte)'\n');
        target.Commit();
        return true;
    }

    public override void Dispose()
    {
        _writer?.Dispose();
        target.Dispose();
    }
}

internal sealed class JsonLinesSink(OutputTarget target) : ResultSink
{
    private readonly ArrayBufferWriter<byte> _line = new(1 << 16);
    public override string Where => target.Where;

    public override void Add(ImageOutcome o)
    {
        // The file is emptied at the first line, not when the model is loaded: a run cancelled or failing before any
        // image leaves an old file as it was (and removes a file it created).
        target.Start();
        // The line is made whole first and written in one piece: a reader never sees half a line, even on a hard stop.
        _line.ResetWrittenCount();
        using (var w = new Utf8JsonWriter(_line, ResultJson.Compact))
        {
            w.WriteStartObject();
            ResultJson.WriteImageFields(w, o);
            WriteModelAndDevice(w);
            if (o.Error is null) ResultJson.WriteTiming(w, [("decode", o.DecodeMs), ("inference", o.InferenceMs)]);
            w.WriteEndObject();
        }
        _line.Write("\n"u8);
        target.Stream.Write(_line.WrittenSpan);
        target.Stream.Flush();
    }

    public override bool Finish(RunStats stats)
    {
        if (!stats.Cancelled) target.Start();   // a finished run with no line still leaves an empty file
        target.Commit();
        return stats.Images > 0;
    }
    public override void Dispose() => target.Dispose();
}

/// <summary>
/// An output stream and what makes it final. A document file: a temporary file renamed over the target on commit.
/// Stdout for a document: a temporary file copied to stdout on commit (a failed run prints no half document). JSON
/// Lines: straight through, line by line, to stdout or to the file (opened when checked, emptied on
/// <see cref="Start"/> at the first line, removed again if the run ends before that and the file is new).
/// </summary>
internal sealed class OutputTarget : IDisposable
{
    private readonly AtomicFile.Pending? _file;
    private readonly TextWriter? _stdout;
    private readonly FileStream? _buffer;
    private readonly string? _lines;
    private readonly bool _linesCreated;
    private bool _started;
    public Stream Stream { get; }
    public string Where { get; }

    private OutputTarget(Stream stream, string where, AtomicFile.Pending? file = null, TextWriter? stdout = null, FileStream? buffer = null,
        string? lines = null, bool linesCreated = false)
    {
        Stream = stream; Where = where; _file = file; _stdout = stdout; _buffer = buffer; _lines = lines; _linesCreated = linesCreated;
    }

    public static OutputTarget Open(string path, TextWriter stdout, bool streaming)
    {
        if (path == "-")
        {
            if (streaming) return new OutputTarget(new TextWriterStream(stdout), "stdout", stdout: stdout);
            var name = Path.Combine(Path.GetTempPath(), $"trg-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
            var temp = new FileStream(name, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
            AtomicFile.Track(name);
            return new OutputTarget(temp, "stdout", stdout: stdout, buffer: temp);
        }
        if (streaming)
        {
            bool existed = File.Exists(path);
            try
            {
                // Not truncated yet: a run that fails before its first image leaves an old file as it was.
                var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read, 1 << 16);
                return new OutputTarget(file, path, lines: path, linesCreated: !existed);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new TrgException(ErrorKind.NotFound, $"cannot write: {e.Message}", path, e);
            }
        }
        var pending = new AtomicFile.Pending(path);
        return new OutputTarget(pending.Stream, path, file: pending);
    }

    /// <summary>The first line comes: a JSON Lines file is emptied (its old content is replaced from here on). Once.</summary>
    public void Start()
    {
        if (_started) return;
        _started = true;
        if (_lines is not null) Stream.SetLength(0);
    }

    public void Commit()
    {
        if (_file is not null) { _file.Commit(); return; }
        Stream.Flush();
        if (_buffer is not null)
        {
            _buffer.Position = 0;
            using var reader = new StreamReader(_buffer, new UTF8Encoding(false), false, 1 << 16, leaveOpen: true);
            var chunk = new char[1 << 16];
            int n;
            while ((n = reader.Read(chunk, 0, chunk.Length)) > 0) _stdout!.Write(chunk, 0, n);
        }
        _stdout?.Flush();
    }

    public void Dispose()
    {
        _file?.Dispose();
        if (_buffer is not null)
        {
            _buffer.Dispose();
            AtomicFile.Forget(_buffer.Name);
        }
        if (_lines is not null)
        {
            Stream.Dispose();
            if (!_started && _linesCreated) File.Delete(_lines);
        }
    }
}

/// <summary>A write-only stream that decodes UTF-8 into a TextWriter (stdout given as a writer).</summary>
internal sealed class TextWriterStream(TextWriter writer) : Stream
{
    private readonly Decoder _decoder = new UTF8Encoding(false).GetDecoder();
    private char[] _chars = new char[4096];

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        int need = _decoder.GetCharCount(buffer, flush: false);
        if (need > _chars.Length) _chars = new char[Math.Max(need, _chars.Length * 2)];
        int n = _decoder.GetChars(buffer, _chars, flush: false);
        writer.Write(_chars, 0, n);
    }

    public override void Flush() => writer.Flush();
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
