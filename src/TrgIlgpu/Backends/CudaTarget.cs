using ILGPU.Runtime.Cuda;

namespace TrgIlgpu.Backends;

/// <summary>The NVIDIA architectures `trg ptx` compiles for.</summary>
public enum CudaArch { Sm75, Sm80, Sm86, Sm89, Sm90 }

/// <summary>
/// Per-SM limits of one NVIDIA architecture, the inputs of the theoretical occupancy, and the SM count of the GPU
/// assumed when none is given. Limits: CUDA C++ Programming Guide 12.x, "Compute Capabilities", table "Technical
/// Specifications per Compute Capability" (threads, blocks, warps, 32-bit registers and shared memory per SM; 1 KB
/// of shared memory reserved per block from 8.0 on), and the allocation rules of the CUDA occupancy calculator
/// (<c>cuda_occupancy.h</c>: registers allocated per warp in units of 256, the register file split over 4 SM
/// sub-partitions, shared memory in units of 128 bytes, 256 on 7.5).
/// </summary>
/// <param name="Name">sm_XX, as ptxas spells it.</param>
/// <param name="DefaultSms">SM count of the reference GPU (<paramref name="Gpu"/>) used when `--sms` is not given.</param>
public sealed record CudaTarget(CudaArch Arch, string Name, int Major, int Minor, string Gpu, int DefaultSms,
    int MaxThreadsPerSm, int MaxBlocksPerSm, int RegistersPerSm, int SharedPerSm, int ReservedSharedPerBlock,
    int SharedAllocationUnit)
{
    public const int WarpSize = 32;
    public const int MaxThreadsPerBlock = 1024;
    public const int MaxRegistersPerThread = 255;
    /// <summary>Registers are allocated per warp in units of this many.</summary>
    public const int RegisterAllocationUnit = 256;
    /// <summary>The register file is split evenly over this many sub-partitions, each holding whole warps.</summary>
    public const int SubPartitions = 4;

    public static readonly IReadOnlyList<CudaTarget> All =
    [
        new(CudaArch.Sm75, "sm_75", 7, 5, "Tesla T4", 40, 1024, 16, 65536, 64 * 1024, 0, 256),
        new(CudaArch.Sm80, "sm_80", 8, 0, "A100", 108, 2048, 32, 65536, 164 * 1024, 1024, 128),
        new(CudaArch.Sm86, "sm_86", 8, 6, "A10", 72, 1536, 16, 65536, 100 * 1024, 1024, 128),
        new(CudaArch.Sm89, "sm_89", 8, 9, "L4", 58, 1536, 24, 65536, 100 * 1024, 1024, 128),
        new(CudaArch.Sm90, "sm_90", 9, 0, "H100 SXM / H200", 132, 2048, 32, 65536, 228 * 1024, 1024, 128),
    ];

    public static CudaTarget Of(CudaArch arch) => All.First(t => t.Arch == arch);

    /// <summary>The target named sm_XX (or XX); a Usage error lists the supported ones otherwise.</summary>
    public static CudaTarget Parse(string text)
    {
        var name = text.Trim().ToLowerInvariant();
        if (!name.StartsWith("sm_", StringComparison.Ordinal)) name = "sm_" + name;
        return All.FirstOrDefault(t => t.Name == name)
            ?? throw new TrgException(ErrorKind.Usage, $"--arch '{text}': use one of {string.Join(", ", All.Select(t => t.Name))}");
    }

    public int MaxWarpsPerSm => MaxThreadsPerSm / WarpSize;

    /// <summary>ILGPU's architecture value.</summary>
    public CudaArchitecture Architecture => new(Major, Minor);

    /// <summary>
    /// Theoretical occupancy of a kernel: resident blocks per SM for blocks of <paramref name="threadsPerBlock"/>
    /// threads using <paramref name="registers"/> registers a thread and <paramref name="sharedBytes"/> of shared
    /// memory a block, limited by threads, blocks, registers and shared memory; 0 blocks when one block cannot fit.
    /// </summary>
    public Occupancy OccupancyOf(int threadsPerBlock, int registers, int sharedBytes)
    {
        if (threadsPerBlock < 1 || threadsPerBlock > MaxThreadsPerBlock)
            throw new ArgumentOutOfRangeException(nameof(threadsPerBlock), threadsPerBlock, $"1..{MaxThreadsPerBlock} threads a block");
        int warps = CeilDiv(threadsPerBlock, WarpSize);
        int byWarps = Math.Min(MaxBlocksPerSm, MaxWarpsPerSm / warps);
        int byRegisters = int.MaxValue;
        if (registers > 0)
        {
            int perWarp = CeilDiv(Math.Max(registers, 1) * WarpSize, RegisterAllocationUnit) * RegisterAllocationUnit;
            int warpsPerSub = RegistersPerSm / SubPartitions / perWarp;
            byRegisters = registers > MaxRegistersPerThread ? 0 : warpsPerSub * SubPartitions / warps;
        }
        int byShared = int.MaxValue;
        if (sharedBytes > 0 || ReservedSharedPerBlock > 0)
        {
            int perBlock = CeilDiv(sharedBytes + ReservedSharedPerBlock, SharedAllocationUnit) * SharedAllocationUnit;
            byShared = SharedPerSm / perBlock;
        }
        int blocks = Math.Min(byWarps, Math.Min(byRegisters, byShared));
        var limit = blocks == byWarps ? OccupancyLimit.Threads : blocks == byRegisters ? OccupancyLimit.Registers : OccupancyLimit.Shared;
        return new Occupancy(blocks, blocks * warps, (double)(blocks * warps) / MaxWarpsPerSm, limit);
    }

    private static int CeilDiv(int a, int b) => (a + b - 1) / b;
}

/// <summary>What bounds the resident blocks of a kernel on an SM.</summary>
public enum OccupancyLimit { Threads, Registers, Shared }

/// <summary>Resident blocks and warps per SM, their share of the SM's warp slots, and the binding limit.</summary>
public readonly record struct Occupancy(int BlocksPerSm, int WarpsPerSm, double Fraction, OccupancyLimit Limit);
