using System.CommandLine;
using TrgIlgpu.Backends;
using TrgIlgpu.Engine;
using TrgIlgpu.Model;

namespace TrgIlgpu.Cli.Commands;

/// <summary>
/// `trg ptx`: every catalogued kernel compiled to PTX for one NVIDIA architecture without a GPU, assembled by ptxas
/// when present (registers, spills, shared and local memory, occupancy), and optionally the CUDA launch plan of a
/// TRGv2 forward at batch 1/8/64 with its waves over the GPU's SMs.
/// </summary>
internal static class PtxCommand
{
    /// <summary>Batch sizes `--plan` shows.</summary>
    public static readonly int[] PlanBatches = [1, 8, 64];

    public static Command Create()
    {
        var arch = new Option<string>("--arch") { Description = $"target architecture: {string.Join(", ", CudaTarget.All.Select(t => t.Name))}", Required = true };
        arch.AcceptOnlyFromAmong(CudaTarget.All.Select(t => t.Name).ToArray());
        var isa = new Option<string>("--isa") { Description = $"PTX ISA version (ptxas 11.8 takes up to {PtxCompiler.DefaultIsa})", DefaultValueFactory = _ => PtxCompiler.DefaultIsa };
        var outDir = new Option<string?>("--out") { Description = "folder for the .ptx files, one per kernel (default out/ptx/ARCH)" };
        var plan = new Option<bool>("--plan") { Description = "also print the launches of a TRGv2 forward (synthetic:trgv2) at batch 1/8/64 with groups and waves" };
        var sms = new Option<int?>("--sms") { Description = "SMs of the GPU for --plan (default per arch: " + string.Join(", ", CudaTarget.All.Select(t => $"{t.Name} {t.DefaultSms} ({t.Gpu})")) + ")" };
        var cmd = new Command("ptx", "Compile every kernel to PTX for an NVIDIA architecture (no GPU needed); with ptxas on the PATH or in TRG_PTXAS, assemble each and print registers, spills and occupancy.")
        {
            arch, isa, outDir, plan, sms,
        };
        cmd.SetAction(pr =>
        {
            var o = pr.InvocationConfiguration.Output;
            var e = pr.InvocationConfiguration.Error;
            var target = CudaTarget.Parse(pr.GetValue(arch)!);
            var instructionSet = PtxCompiler.ParseIsa(pr.GetValue(isa)!);
            int smCount = pr.GetValue(sms) ?? target.DefaultSms;
            if (smCount < 1) throw new TrgException(ErrorKind.Usage, "--sms must be at least 1");
            var dir = Path.GetFullPath(pr.GetValue(outDir) ?? Path.Combine("out", "ptx", target.Name));
            Directory.CreateDirectory(dir);
            var ptxas = Ptxas.Find();
            var policy = KernelPolicy.For(DeviceKind.Cuda);

            o.WriteLine($"target {target.Name} ({target.Gpu}: {target.MaxThreadsPerSm} threads, {target.MaxBlocksPerSm} blocks, {target.RegistersPerSm / 1024}K registers, {target.SharedPerSm / 1024} KB shared per SM), PTX ISA {instructionSet.Major}.{instructionSet.Minor}, {KernelCatalog.All.Count} kernels -> {dir}");
            o.WriteLine(ptxas is null
                ? $"ptxas: not found (set {Ptxas.PathVariable}, put it on the PATH, or run .ci/setup for {Ptxas.SetupPath}); PTX written, not assembled"
                : $"ptxas: {ptxas.Path} ({ptxas.Version()})");

            var failures = new List<string>();
            var reports = new Dictionary<string, PtxasReport>();
            using (var compiler = new PtxCompiler(target, instructionSet))
            {
                foreach (var kernel in KernelCatalog.All)
                {
                    try
                    {
                        var ptx = compiler.Compile(kernel);
                        var file = Path.Combine(dir, kernel.Name + ".ptx");
                        File.WriteAllText(file, ptx.Ptx);
                        if (ptxas is not null) reports[kernel.Name] = ptxas.Assemble(file, target);
                    }
                    catch (TrgException x) when (x.Kind == ErrorKind.KernelCompile)
                    {
                        failures.Add(x.Message);
                        e.WriteLine($"trg: error: {x.Message}");
                    }
                }
            }

            if (ptxas is not null)
            {
                o.WriteLine();
                o.WriteLine($"| kernel | registers | spill st/ld B | shared B | stack B | group | blocks/SM | warps/SM | occupancy | limit |");
                o.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
                foreach (var (name, r) in reports)
                {
                    var occ = target.OccupancyOf(policy.GroupSize, r.Registers, r.SharedBytes);
                    o.WriteLine($"| {name} | {r.Registers} | {r.SpillStores}/{r.SpillLoads} | {r.SharedBytes} | {r.StackBytes} | {policy.GroupSize} | {occ.BlocksPerSm} | {occ.WarpsPerSm}/{target.MaxWarpsPerSm} | {occ.Fraction:P0} | {occ.Limit.ToString().ToLowerInvariant()} |");
                }
            }
            if (pr.GetValue(plan)) PrintPlan(o, target, smCount, policy, reports);
            if (failures.Count > 0)
                throw new TrgException(ErrorKind.KernelCompile, $"{failures.Count} of {KernelCatalog.All.Count} kernels failed for {target.Name} (see above)");
            return 0;
        });
        return cmd;
    }

    /// <summary>The launches of a synthetic TRGv2 forward with the CUDA policy, made on a CUDA-shaped CPU accelerator.</summary>
    private static void PrintPlan(TextWriter o, CudaTarget target, int sms, KernelPolicy policy, IReadOnlyDictionary<string, PtxasReport> reports)
    {
        var weights = ModelWeights.Load("synthetic:trgv2");
        using var session = new InferenceSession(weights, ComputeDevice.OpenCudaShapedCpu(), ConvAlgorithm.Auto, policy);
        o.WriteLine();
        o.WriteLine($"TRGv2 forward with the CUDA policy ({policy.Convolutions} 3x3 convolutions, groups of {policy.GroupSize}) on {sms} SMs; " +
                    "resident blocks/SM from the ptxas table (threads/blocks limits only where it is missing); waves = groups / (SMs x resident blocks); SM fill = SMs given at least one group");
        foreach (int batch in PlanBatches)
        {
            var ops = session.Plan(batch).Ops;
            o.WriteLine();
            o.WriteLine($"batch {batch}: {ops.Count} launches");
            o.WriteLine("| # | op | kernel | groups | group | blocks/SM | waves | SM fill |");
            o.WriteLine("|---:|---|---|---:|---:|---:|---:|---:|");
            for (int i = 0; i < ops.Count; i++)
            {
                var op = ops[i];
                var c = op;
                var occ = target.OccupancyOf(c.GroupSize, reports.TryGetValue(op.Kernel, out var r) ? r.Registers : 0, r?.SharedBytes ?? 0);
                double waves = occ.BlocksPerSm == 0 ? double.PositiveInfinity : (double)c.Groups / ((long)sms * occ.BlocksPerSm);
                double fill = Math.Min(c.Groups, sms) / (double)sms;
                o.WriteLine($"| {i} | {op.Name} | {op.Kernel} | {c.Groups} | {c.GroupSize} | {occ.BlocksPerSm} | {waves:F2} | {fill:P0} |");
            }
        }
    }
}
