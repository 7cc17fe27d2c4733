namespace TrgIlgpu.Tracking;

/// <summary>
/// Parameters of a One-Euro filter (Casiez, Roussel, Vogel, CHI 2012): an adaptive first-order low-pass whose cutoff
/// rises with the filtered speed, <c>cutoff = MinCutoff + Beta * |speed|</c>, so a still signal is smoothed hard and a
/// fast one follows with little lag.
/// </summary>
/// <param name="MinCutoff">Cutoff frequency in Hz at rest (lower: smoother when still, more lag when slow).</param>
/// <param name="Beta">
/// Cutoff increase per unit of speed, in Hz per (unit/s): per (rad/s) for rotation, per (m/s) for translation. At a
/// constant speed the filter lags by at most <c>1 / (2 pi Beta)</c> units (radians or metres) whatever the speed.
/// </param>
/// <param name="DerivativeCutoff">Cutoff in Hz of the low-pass on the speed estimate (1 Hz in the paper).</param>
public readonly record struct OneEuroParameters(double MinCutoff, double Beta, double DerivativeCutoff)
{
    /// <summary>Why these values cannot be used, or null: cutoffs must be finite and positive, Beta finite and >= 0.</summary>
    public string? Problem() =>
        !(double.IsFinite(MinCutoff) && MinCutoff > 0) ? $"min_cutoff {MinCutoff}: must be a positive number of Hz"
        : !(double.IsFinite(Beta) && Beta >= 0) ? $"beta {Beta}: must be a number >= 0"
        : !(double.IsFinite(DerivativeCutoff) && DerivativeCutoff > 0) ? $"d_cutoff {DerivativeCutoff}: must be a positive number of Hz"
        : null;

    /// <summary>
    /// Steady-state lag at a constant speed (units/s): <c>speed / (2 pi (MinCutoff + Beta speed))</c>, below both
    /// <c>speed / (2 pi MinCutoff)</c> and <c>1 / (2 pi Beta)</c> (docs/video.md derives it).
    /// </summary>
    public double SteadyLag(double speed) => speed / (2 * Math.PI * (MinCutoff + Beta * speed));

    /// <summary>
    /// Worst case after a step: the part of the step left after <paramref name="seconds"/> at frame interval
    /// <paramref name="dt"/> is at most that of a plain low-pass at MinCutoff, <c>(tau / (tau + dt))^frames</c>, tau = 1 / (2 pi MinCutoff).
    /// </summary>
    public double StepResidualBound(double seconds, double dt)
    {
        double tau = 1 / (2 * Math.PI * MinCutoff);
        return Math.Pow(tau / (tau + dt), Math.Floor(seconds / dt + 1e-9));
    }

    /// <summary>The smoothing factor of a low-pass at <paramref name="cutoff"/> Hz for a step of dt seconds.</summary>
    internal static double Alpha(double cutoff, double dt) => 1 / (1 + 1 / (2 * Math.PI * cutoff * dt));
}

/// <summary>How the tracker smooths poses: One-Euro on rotation (in the tangent space of SO(3)) and on translation.</summary>
/// <param name="Rotation">Rotation's parameters; speed is the angular speed in rad/s.</param>
/// <param name="Translation">Translation's parameters, per axis; speed in m/s.</param>
public sealed record SmoothingOptions(OneEuroParameters Rotation, OneEuroParameters Translation)
{
    /// <summary>
    /// Light: rotation 1.0 Hz, beta 3 /rad (lag at any constant speed &lt; 3.0 degrees); translation 1.0 Hz, beta 30 /m
    /// (lag &lt; 5.3 mm); derivative cutoffs 1 Hz.
    /// </summary>
    public static SmoothingOptions Light { get; } = new(new(1.0, 3.0, 1.0), new(1.0, 30.0, 1.0));

    /// <summary>
    /// Strong: rotation 0.4 Hz, beta 1.5 /rad (lag &lt; 6.1 degrees); translation 0.4 Hz, beta 15 /m (lag &lt; 10.6 mm);
    /// derivative cutoffs 1 Hz.
    /// </summary>
    public static SmoothingOptions Strong { get; } = new(new(0.4, 1.5, 1.0), new(0.4, 15.0, 1.0));

    /// <summary>The options of a preset; null for <see cref="SmoothingPreset.Off"/>.</summary>
    public static SmoothingOptions? For(SmoothingPreset preset) => preset switch
    {
        SmoothingPreset.Off => null,
        SmoothingPreset.Light => Light,
        SmoothingPreset.Strong => Strong,
        _ => throw new TrgException(ErrorKind.Usage, $"unknown smoothing preset {preset}"),
    };

    /// <summary>Throws <see cref="TrgException"/> (Usage) naming the bad value.</summary>
    public void Validate()
    {
        if (Rotation.Problem() is { } r) throw new TrgException(ErrorKind.Usage, $"rotation smoothing: {r}");
        if (Translation.Problem() is { } t) throw new TrgException(ErrorKind.Usage, $"translation smoothing: {t}");
    }
}

/// <summary>The smoothing presets of <c>trg track --smooth</c>.</summary>
public enum SmoothingPreset
{
    /// <summary>No smoothing: the smoothed pose is the raw one.</summary>
    Off,
    /// <summary><see cref="SmoothingOptions.Light"/> (the default).</summary>
    Light,
    /// <summary><see cref="SmoothingOptions.Strong"/>.</summary>
    Strong,
}

/// <summary>A smoothed head pose: rotation (row-major 3x3, head to camera) and translation (metres, camera frame).</summary>
public sealed record SmoothedPose(float[] Rotation, float[] Translation)
{
    /// <summary>Yaw, pitch, roll of <see cref="Rotation"/> (the evaluation's convention, <see cref="EulerAngles"/>).</summary>
    public EulerAngles Euler => EulerAngles.FromMatrix(Rotation);
}

/// <summary>
/// One-Euro smoothing of a pose on SE(3), one instance per tracked face. Rotation: the new rotation's offset from the
/// previous smoothed one in the tangent space, <c>v = log(Rs^T R)</c>; its speed <c>|v| / dt</c> low-passed at the
/// derivative cutoff sets the cutoff; the smoothed rotation moves by <c>exp(alpha v)</c>. Translation: a scalar One-Euro
/// filter per axis. Time comes from the frames' timestamps, so dropped frames simply make a longer step.
/// </summary>
public sealed class PoseSmoother
{
    private readonly SmoothingOptions _options;
    private readonly ScalarOneEuro[] _translation;
    private double[]? _rotation;
    private double[] _angularSpeed = new double[3];
    private double _time;

    /// <summary>A smoother with the given parameters (validated).</summary>
    public PoseSmoother(SmoothingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _translation = [new(options.Translation), new(options.Translation), new(options.Translation)];
    }

    /// <summary>Forgets the history: the next pose passes through unchanged (a track found again after a gap).</summary>
    public void Reset()
    {
        _rotation = null;
        _angularSpeed = new double[3];
        foreach (var f in _translation) f.Reset();
    }

    /// <summary>The smoothed pose after a raw one at <paramref name="time"/> seconds (non-decreasing).</summary>
    public SmoothedPose Update(double time, ReadOnlySpan<float> rotation, ReadOnlySpan<float> translation)
    {
        if (rotation.Length != 9 || translation.Length != 3) throw new ArgumentException("a pose is a 3x3 rotation and a 3-vector");
        if (!double.IsFinite(time)) throw new ArgumentException($"time {time} is not finite");
        var raw = So3.Rotation(rotation);
        double dt = time - _time;
        if (_rotation is null)
        {
            // The first pose is taken as it is.
            _angularSpeed = new double[3];
            _rotation = raw;
            _time = time;
        }
        else if (dt > 0)
        {
            // (A repeated timestamp leaves the smoothed pose where it is: no time passed to filter over.)
            var p = _options.Rotation;
            var v = So3.Log(So3.TransposeMultiply(_rotation, raw));
            double ad = OneEuroParameters.Alpha(p.DerivativeCutoff, dt);
            for (int k = 0; k < 3; k++) _angularSpeed[k] += ad * (v[k] / dt - _angularSpeed[k]);
            double speed = Math.Sqrt(_angularSpeed[0] * _angularSpeed[0] + _angularSpeed[1] * _angularSpeed[1] + _angularSpeed[2] * _angularSpeed[2]);
            double a = OneEuroParameters.Alpha(p.MinCutoff + p.Beta * speed, dt);
            _rotation = So3.Multiply(_rotation, So3.Exp([a * v[0], a * v[1], a * v[2]]));
            _time = time;
        }
        var t = new float[3];
        for (int k = 0; k < 3; k++) t[k] = (float)_translation[k].Update(time, translation[k]);
        return new SmoothedPose(Array.ConvertAll(_rotation, x => (float)x), t);
    }

    /// <summary>One-Euro on one number; the speed is the raw value's distance from the last smoothed one per second.</summary>
    private sealed class ScalarOneEuro(OneEuroParameters p)
    {
        private bool _started;
        private double _value, _speed, _time;

        public void Reset() => _started = false;

        public double Update(double time, double x)
        {
            double dt = time - _time;
            if (!_started)
            {
                _started = true;
                _speed = 0;
                _value = x;
                _time = time;
                return x;
            }
            if (!(dt > 0)) return _value;
            _speed += OneEuroParameters.Alpha(p.DerivativeCutoff, dt) * ((x - _value) / dt - _speed);
            _value += OneEuroParameters.Alpha(p.MinCutoff + p.Beta * Math.Abs(_speed), dt) * (x - _value);
            _time = time;
            return _value;
        }
    }
}
