using TrgIlgpu.Kernels;
using TrgIlgpu.Tests.Kernels.References;

namespace TrgIlgpu.Tests.Kernels;

/// <summary>Linear.Dense and Linear.DenseStateUpdate against torch.nn.functional.linear (+ the state update) in float64.</summary>
[Collection(KernelCollection.Name)]
public sealed class LinearKernelTests(KernelDevices devices)
{
    private const int Outputs = 3669; // [decshape (1220 x 3); decpose (9)]

    [Theory]
    [InlineData(5, 37, 10, 40, 13)] // batch not a multiple of 8, outputs not a multiple of 16, strided rows
    [InlineData(8, 16, 16, 16, 16)] // exact tiles
    [InlineData(17, 19, 33, 21, 33)] // three 8-row groups, the last with one row
    [InlineData(1, 3, 1, 3, 1)]     // one row, one output
    [InlineData(1, 21, 35, 23, 40)] // batch 1 (the one-row path), three 16-output blocks, the last partial
    [InlineData(7, 9, 6, 11, 6)]
    public void Dense_Cpu_MatchesReference(int batch, int ins, int outs, int inStride, int outStride) =>
        RunDense(devices.Cpu, batch, ins, outs, inStride, outStride, seed: 900 + 7 * ins + outs);

    /// <summary>The regressor's hidden layer: 2547 -> 1024 (iteration 0) and 2452 -> 1024 (later iterations).</summary>
    [OpenCLFact]
    public void Dense_OpenCL_RegressorShapes_MatchReference()
    {
        RunDense(devices.OpenCL, 3, 2547, 1024, 2547, 1024, seed: 951);
        RunDense(devices.OpenCL, 5, 2452, 1024, 2452, 1024, seed: 952);
        RunDense(devices.OpenCL, 1, 2547, 1024, 2547, 1024, seed: 953); // batch 1: the one-row path
        RunDense(devices.OpenCL, 9, 2452, 1024, 2452, 1024, seed: 954); // a full 8-row group and one row
    }

    [Theory]
    [InlineData(3, 6, 0, 2)]  // iteration 0: the initial face and pose are the state
    [InlineData(5, 5, 1, 2)]  // later iterations: the state is read from the results rows
    [InlineData(2, 7, 2, 3)]
    [InlineData(10, 4, 1, 2)] // two 8-row groups, the second partial
    [InlineData(1, 9, 1, 2)]  // batch 1: the one-row path
    public void DenseStateUpdate_Cpu_MatchesReference(int batch, int hidden, int iteration, int iterations) =>
        RunStateUpdate(devices.Cpu, batch, hidden, iteration, iterations, seed: 960 + 10 * iteration + batch);

    [OpenCLFact]
    public void DenseStateUpdate_OpenCL_ModelShape_MatchesReference()
    {
        RunStateUpdate(devices.OpenCL, 3, 1024, 0, 2, seed: 981);
        RunStateUpdate(devices.OpenCL, 5, 1024, 2, 3, seed: 982);
        RunStateUpdate(devices.OpenCL, 1, 1024, 1, 2, seed: 983); // batch 1: the one-row path
        RunStateUpdate(devices.OpenCL, 8, 1024, 1, 2, seed: 984); // one full 8-row group
    }

    private static void RunDense(DeviceUnderTest device, int batch, int ins, int outs, int inStride, int outStride, int seed)
    {
        var rng = new TestRandom(seed);
        var x = rng.Gaussian((long)batch * inStride);
        var w = rng.Gaussian((long)outs * ins, Math.Sqrt(1.0 / ins));
        var bias = rng.Gaussian(outs, 0.3);
        var expected = RefLinear.Linear(x, batch, ins, inStride, w, bias, outs);

        var packed = Pack.Dense(w, bias, outs, ins);
        var p = new LinearParams { Batch = batch, In = ins, Out = outs, InStride = inStride, OutStride = outStride };
        using var d = device.Begin();
        const int guard = 13;
        var y = d.Poisoned((long)batch * outStride + guard);
        d.Kernels.Dense(d.Stream, d.Config(p.ThreadCount), d.Upload(x).View, d.Upload(packed.Weight).View, d.Upload(packed.Bias).View, y.View, p);
        var got = d.Download(y);

        string what = $"Dense [{batch},{ins}]->{outs} (strides {inStride}, {outStride}) on {device.Description}";
        Expect.Close(what, got, expected, 1e-5, at: i => i / outs * outStride + i % outs, name: i => $"[row {i / outs}, out {i % outs}]");
        Expect.Untouched(what + ": outside the output rows", got, i => i < batch * outStride && i % outStride < outs);
    }

    private static void RunStateUpdate(DeviceUnderTest device, int batch, int hidden, int iteration, int iterations, int seed)
    {
        var rng = new TestRandom(seed);
        var layout = new ResultLayout { Iterations = iterations };
        var x = rng.Gaussian((long)batch * hidden);
        var w = rng.Gaussian((long)Outputs * hidden, 0.01 / Math.Sqrt(hidden));
        var bias = rng.Gaussian(Outputs, 0.01);
        var initFace = TestScenes.Mesh(rng);
        var initPose = TestScenes.Pose(rng, 1.0, 0.1, -0.1);
        var delta = RefLinear.Linear(x, batch, hidden, hidden, w, bias, Outputs);

        // Results rows: poisoned except the state this iteration reads (face, previous pose).
        var state = Poison.Array((long)batch * layout.Stride);
        for (int b = 0; b < batch && iteration > 0; b++)
        {
            TestScenes.Mesh(rng).CopyTo(state, b * layout.Stride + layout.FaceHead);
            for (int i = 0; i < iteration; i++) TestScenes.Pose(rng, 1, 0.2, 0.3).CopyTo(state, b * layout.Stride + layout.PoseHistory + 9 * i);
        }
        // Expected: face += delta[..3660] in place; pose history slot `iteration` = previous pose + delta[3660..].
        var expected = new RefTensor(batch * Outputs);
        int Slot(int b, int j) => b * layout.Stride + (j < 3660 ? layout.FaceHead + j : layout.PoseHistory + 9 * iteration + j - 3660);
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < Outputs; j++)
            {
                double previous = j < 3660
                    ? (iteration == 0 ? initFace[j] : state[b * layout.Stride + layout.FaceHead + j])
                    : (iteration == 0 ? initPose[j - 3660] : state[b * layout.Stride + layout.PoseHistory + 9 * (iteration - 1) + j - 3660]);
                int i = b * Outputs + j;
                expected.Set(i, previous + delta.Value[i], Math.Abs(previous) + delta.Scale[i]);
            }

        var packed = Pack.Dense(w, bias, Outputs, hidden);
        var p = new LinearParams { Batch = batch, In = hidden, Out = Outputs, InStride = hidden, OutStride = 0 };
        using var d = device.Begin();
        var results = d.Upload(state);
        d.Kernels.DenseStateUpdate(d.Stream, d.Config(p.ThreadCount), d.Upload(x).View, d.Upload(packed.Weight).View,
            d.Upload(packed.Bias).View, d.Upload(initFace).View, d.Upload(initPose).View, results.View, p, layout, iteration);
        var got = d.Download(results);

        string what = $"DenseStateUpdate [{batch},{hidden}]->{Outputs} iteration {iteration}/{iterations} on {device.Description}";
        Expect.Close(what, got, expected, 1e-5, at: i => Slot(i / Outputs, i % Outputs),
            name: i => i % Outputs < 3660 ? $"[face {i / Outputs}, vertex {i % Outputs / 3}.{"xyz"[i % 3]}]" : $"[face {i / Outputs}, pose9[{i % Outputs - 3660}]]");
        var written = Enumerable.Range(0, batch * Outputs).Select(i => Slot(i / Outputs, i % Outputs)).ToHashSet();
        Expect.Unchanged(what + ": results outside the face and this iteration's pose", got, state, i => !written.Contains(i));
    }
}
