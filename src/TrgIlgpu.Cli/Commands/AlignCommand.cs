using System.CommandLine;
using System.Globalization;
using TrgIlgpu.Evaluation;

namespace TrgIlgpu.Cli.Commands;

/// <summary>`trg align`: the reference-system offset dT between two mesh topologies (EVAL_SPEC Eq. 13).</summary>
internal static class AlignCommand
{
    public static Command Create()
    {
        var train = new Option<string>("--train-landmarks") { Description = "Landmarks on the training-set mesh: JSON [[x,y,z],...] or .npy (N,3), metres", Required = true };
        var test = new Option<string>("--test-landmarks") { Description = "The corresponding landmarks on the test-set mesh, same order and units", Required = true };
        var fit = new Option<string>("--fit") { Description = "similarity (rotation + scale) or rigid (rotation only)", DefaultValueFactory = _ => "similarity" };
        fit.AcceptOnlyFromAmong("similarity", "rigid");
        var json = new Option<string?>("--json") { Description = "Write dT and the fit to this file (- = stdout), for `trg metrics --align`" };
        var cmd = new Command("align", "Reference-system alignment dT (geometric median, Weiszfeld) from corresponding 3-D landmarks of two meshes.")
        {
            train, test, fit, json,
        };
        cmd.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var result = Alignment.Solve(Alignment.ReadLandmarks(parse.GetValue(train)!), Alignment.ReadLandmarks(parse.GetValue(test)!),
                new AlignmentOptions { Fit = parse.GetValue(fit) == "rigid" ? AlignmentFit.Rigid : AlignmentFit.Similarity });
            string jsonPath = parse.GetValue(json) ?? "";
            if (jsonPath != "-")
            {
                stdout.WriteLine($"dT (mm, train head frame): {Mm(result.Offset)}");
                stdout.WriteLine($"fit: {(result.Fit == AlignmentFit.Similarity ? "similarity" : "rigid")}, closed form (Horn) reweighted by 1/residual; scale {result.Scale.ToString("0.######", CultureInfo.InvariantCulture)}");
                stdout.WriteLine($"geometric median by Weiszfeld, tolerance {result.Tolerance * 1000:0.#######} mm: {(result.Converged ? "converged" : "NOT converged")} after {result.Iterations} iteration(s)");
                stdout.WriteLine($"mean of the differences (least squares, for comparison): {Mm(result.MeanOffset)} mm");
                stdout.WriteLine($"residuals (mm): median {Median(result.Residuals) * 1000:0.###}, max {result.Residuals.Max() * 1000:0.###}");
            }
            if (parse.GetValue(json) is { } path) MetricsCommand.Write(path, MetricsFormat.AlignmentToJson(result), stdout);
            return result.Converged ? 0 : (int)ErrorKind.InvalidData;
        });
        return cmd;
    }

    private static string Mm(double[] v) => string.Join(" ", v.Select(x => (x * 1000).ToString("0.0000", CultureInfo.InvariantCulture)));

    private static double Median(double[] v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
