using BenchmarkDotNet.Running;
using TrgIlgpu.Bench;

// `dotnet run -c Release --project bench/TrgIlgpu.Bench -- compare [...]`: engine and peers side by side -> bench/RESULTS.md.
// Anything else goes to BenchmarkDotNet (e.g. `-- --filter '*KernelBenchmarks*'`).
// `-- faces [...]`: face networks' latency next to face-api's (Node) -> the faces section of bench/RESULTS.md.
if (args.Length > 0 && args[0] == "compare") return Compare.Run(args[1..]);
if (args.Length > 0 && args[0] == "faces") return FaceBench.Run(args[1..]);
// `-- kernels [...]`: every convolution kernel variant over the plan's real shapes, checked, then timed -> bench/RESULTS.md.
if (args.Length > 0 && args[0] == "kernels") return KernelVariants.Run(args[1..]);
// `-- launches [...]`: every launch of the plan, minimum wall and median process CPU time (prints only).
if (args.Length > 0 && args[0] == "launches") return LaunchCpu.Run(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(KernelBenchmarks).Assembly).Run(args);
return 0;
