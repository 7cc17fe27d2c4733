using ILGPU;
using ILGPU.Runtime;
using TrgIlgpu.Engine;

namespace TrgIlgpu.Tests.Engine;

/// <summary>The graph builder without a device: shapes, shape inference, op records, liveness and slot assignment.</summary>
public sealed class GraphTests
{
    private static readonly KernelConfig NoConfig = new(1, 1);

    private static void NoLaunch(AcceleratorStream stream, KernelConfig config) { }

    [Fact]
    public void TensorShape_CountsPrintsAndComparesByValue()
    {
        var s = TensorShape.Nchw(1, 3, 192, 192);
        Assert.Equal("[1,3,192,192]", s.ToString());
        Assert.Equal(1L * 3 * 192 * 192, s.ElementCount);
        Assert.Equal(4, s.Rank);
        Assert.Equal(1, s.Batch);
        Assert.Equal(new TensorShape(1, 3, 192, 192), s);
        Assert.NotEqual(new TensorShape(1, 3, 192, 191), s);
        Assert.Equal(new TensorShape(7, 5).GetHashCode(), new TensorShape(7, 5).GetHashCode());
        Assert.Throws<ArgumentException>(() => new TensorShape());
        Assert.Throws<ArgumentException>(() => new TensorShape(2, 0, 3));
    }

    /// <summary>Output positions of a window op by enumeration: the window starts that fit inside the padded input.</summary>
    private static int CountWindows(int size, int kernel, int stride, int before, int after)
    {
        int n = 0;
        for (int start = -before; start + kernel <= size + after; start += stride) n++;
        return n;
    }

    [Theory]
    [InlineData(192, 3, 2, 0, 1)] // even size, stride 2: odd total goes after
    [InlineData(193, 3, 2, 1, 1)] // odd size
    [InlineData(96, 3, 2, 0, 1)]
    [InlineData(7, 3, 2, 1, 1)]
    [InlineData(9, 4, 2, 1, 2)]
    [InlineData(6, 1, 2, 0, 0)]
    [InlineData(5, 5, 1, 2, 2)]
    public void SamePadding_IsTensorFlows(int size, int kernel, int stride, int before, int after)
    {
        var pad = Padding2D.Same(size, size + 1, kernel, stride);
        Assert.Equal((before, after), (pad.Top, pad.Bottom));
        var (l, r) = ((pad.Left, pad.Right));
        Assert.Equal((l + r) / 2, l);
    }

    [Fact]
    public void SamePadding_GivesCeilSizeOverStride_ForEveryEvenAndOddSize()
    {
        for (int size = 1; size <= 41; size++)
            for (int kernel = 1; kernel <= 7; kernel++)
                for (int stride = 1; stride <= 3; stride++)
                {
                    var pad = Padding2D.Same(size, size + 2, kernel, stride);
                    int total = pad.Top + pad.Bottom;
                    Assert.Equal(total / 2, pad.Top);
                    var input = TensorShape.Nchw(3, 5, size, size + 2);
                    var output = Shapes.Conv2D("c", input, 5, 11, kernel, stride, pad);
                    Assert.Equal(TensorShape.Nchw(3, 11, (size + stride - 1) / stride, (size + 2 + stride - 1) / stride), output);
                    Assert.Equal(CountWindows(size, kernel, stride, pad.Top, pad.Bottom), output[2]);
                    Assert.Equal(Shapes.Pool2D("p", input, kernel, stride, pad)[2], output[2]);
                }
    }

    [Fact]
    public void Conv2D_Pool2D_MatchWindowCounts_OnOddShapes()
    {
        var rng = new Random();
        for (int trial = 0; trial < 200; trial++)
        {
            int n = rng.Next(1, 5), c = rng.Next(1, 9), h = rng.Next(1, 40), w = rng.Next(1, 40), k = rng.Next(1, 8), s = rng.Next(1, 4);
            var pad = new Padding2D(rng.Next(0, 4), rng.Next(0, 4), rng.Next(0, 4), rng.Next(0, 4));
            if (h + pad.Top + pad.Bottom < k || w + pad.Left + pad.Right < k)
            {
                var e = Assert.Throws<GraphException>(() => Shapes.Conv2D("tiny", TensorShape.Nchw(n, c, h, w), c, 3, k, s, pad));
                Assert.Equal("tiny", e.Op);
                continue;
            }
            var expected = TensorShape.Nchw(n, 13, CountWindows(h, k, s, pad.Top, pad.Bottom), CountWindows(w, k, s, pad.Left, pad.Right));
            Assert.Equal(expected, Shapes.Conv2D("conv", TensorShape.Nchw(n, c, h, w), c, 13, k, s, pad));
            Assert.Equal(TensorShape.Nchw(n, c, expected[2], expected[3]), Shapes.Pool2D("pool", TensorShape.Nchw(n, c, h, w), k, s, pad));
        }
    }

    [Theory]
    [InlineData(6, 4, 2, 1, 0, 12)]  // the model's deconvolutions double the size
    [InlineData(7, 4, 2, 1, 0, 14)]
    [InlineData(5, 3, 2, 1, 1, 10)]
    [InlineData(5, 3, 1, 0, 0, 7)]
    public void ConvTranspose2D_InvertsTheConvolutionSize(int size, int kernel, int stride, int pad, int outputPadding, int expected)
    {
        var output = Shapes.ConvTranspose2D("deconv", TensorShape.Nchw(3, 512, size, size + 1), 512, 256, kernel, stride, pad, outputPadding);
        Assert.Equal(TensorShape.Nchw(3, 256, expected, (size) * stride - 2 * pad + kernel + outputPadding), output);
        // A convolution with the same parameters maps the output back to the input size (without output padding).
        if (outputPadding == 0)
            Assert.Equal(size, Shapes.Conv2D("conv", output, 256, 512, kernel, stride, Padding2D.Symmetric(pad))[2]);
    }

    [Fact]
    public void Dense_FlattensEverythingButTheBatch_AndReshapeInfersOneDimension()
    {
        Assert.Equal(new TensorShape(5, 10), Shapes.Dense("fc", TensorShape.Nchw(5, 7, 3, 3), 63, 10));
        Assert.Equal(new TensorShape(5, 63), Shapes.Reshape("flat", TensorShape.Nchw(5, 7, 3, 3), 5, -1));
        Assert.Equal(new TensorShape(5, 7, 9), Shapes.Reshape("view", TensorShape.Nchw(5, 7, 3, 3), 5, 7, 9));
        Assert.Equal(new TensorShape(5, 21, 3), Shapes.Reshape("view", TensorShape.Nchw(5, 7, 3, 3), 5, -1, 3));
    }

    public static TheoryData<string, Action> Mismatches => new()
    {
        { "layer2.0.conv1", () => Shapes.Conv2D("layer2.0.conv1", TensorShape.Nchw(2, 63, 48, 48), 64, 128, 3, 2, Padding2D.Symmetric(1)) },
        { "stem", () => Shapes.Conv2D("stem", new TensorShape(2, 3, 192), 3, 64, 7, 2, Padding2D.Symmetric(3)) },
        { "deconv0", () => Shapes.ConvTranspose2D("deconv0", TensorShape.Nchw(1, 256, 6, 6), 512, 256, 4, 2, 1) },
        { "iter0.regressor", () => Shapes.Dense("iter0.regressor", new TensorShape(3, 2546), 2547, 1024) },
        { "flatten", () => Shapes.Reshape("flatten", TensorShape.Nchw(2, 7, 3, 3), 2, 60) },
        { "flatten2", () => Shapes.Reshape("flatten2", TensorShape.Nchw(2, 7, 3, 3), 2, -1, -1) },
        { "batchview", () => Shapes.Reshape("batchview", TensorShape.Nchw(2, 7, 3, 3), 1, -1) },
        { "shortcut", () => Shapes.RequireSameBatch("shortcut", TensorShape.Nchw(2, 64, 8, 8), TensorShape.Nchw(3, 64, 8, 8)) },
        { "residual", () => Shapes.RequireShape("residual", "the identity shortcut", TensorShape.Nchw(2, 64, 8, 8), TensorShape.Nchw(2, 64, 8, 9)) },
        { "maxpool", () => Shapes.Pool2D("maxpool", TensorShape.Nchw(2, 64, 1, 1), 3, 2, Padding2D.Valid) },
    };

    [Theory]
    [MemberData(nameof(Mismatches))]
    public void Mismatch_ThrowsAtBuildTime_NamingTheOp(string op, Action build)
    {
        var e = Assert.Throws<GraphException>(build);
        Assert.Equal(op, e.Op);
        Assert.StartsWith($"op '{op}': ", e.Message);
        Assert.Equal(ErrorKind.InvalidModel, e.Kind);
    }

    [Fact]
    public void ReadBeforeWrite_AndForeignTensors_AreRejected()
    {
        var g = new ComputeGraph("test");
        var a = g.Activation("a", new TensorShape(2, 8));
        var e = Assert.Throws<GraphException>(() => g.Add("consumer", "K", "", 0, 0, NoConfig, [a], [], NoLaunch));
        Assert.Equal("consumer", e.Op);
        Assert.Contains("'a'", e.Message);

        var other = new ComputeGraph("other");
        var foreign = other.External("w", new TensorShape(4));
        Assert.Throws<GraphException>(() => g.Add("mixer", "K", "", 0, 0, NoConfig, [foreign], [a], NoLaunch));

        g.Add("producer", "K", "", 0, 0, NoConfig, [], [a], NoLaunch);
        g.AssignSlots();
        Assert.Throws<InvalidOperationException>(() => g.Add("late", "K", "", 0, 0, NoConfig, [a], [], NoLaunch));
    }

    [Fact]
    public void Op_RecordsItsReadsWritesRegionsAndConfig()
    {
        var g = new ComputeGraph("test");
        var results = g.External("results", new TensorShape(3, 100));
        var w = g.External("w", new TensorShape(16));
        var x = g.Activation("x", new TensorShape(3, 4));
        var config = new KernelConfig(5, 64);
        var op0 = g.Add("make", "Make", "[3,4]", 10, 20, config, [w], [x], NoLaunch);
        var op1 = g.Add("update", "Update", "[3,4]->results", 1, 2, config, [x, new(results, "pose")], [new TensorAccess(results, "pose")], NoLaunch);
        Assert.Equal([op0, op1], g.Ops);
        Assert.Equal((0, "make", "Make", 5, 64), (op0.Index, op0.Name, op0.Kernel, op0.Config.GridDim.X, op0.Config.GroupDim.X));
        Assert.Equal(["w"], op0.Reads.Select(r => r.ToString()));
        Assert.Equal(["x", "results[pose]"], op1.Reads.Select(r => r.ToString()));
        Assert.Equal(["results[pose]"], op1.Writes.Select(r => r.ToString()));
        g.AssignSlots();
        Assert.Equal(-1, results.Slot);
        Assert.Equal(0, x.Slot);
        Assert.Equal((0, 1), (x.FirstUse, x.LastUse));
    }

    [Fact]
    public void Chain_OfEqualTensors_NeedsTwoSlots_AndADiamondThree()
    {
        var chain = new ComputeGraph("chain");
        var cur = chain.Activation("t0", new TensorShape(2, 9));
        chain.Add("op0", "K", "", 0, 0, NoConfig, [], [cur], NoLaunch);
        for (int i = 1; i < 12; i++)
        {
            var next = chain.Activation($"t{i}", new TensorShape(2, 9));
            chain.Add($"op{i}", "K", "", 0, 0, NoConfig, [cur], [next], NoLaunch);
            cur = next;
        }
        Assert.Equal([18L, 18L], chain.AssignSlots());
        GraphInvariants.Check(chain, "chain");

        var d = new ComputeGraph("diamond");
        var a = d.Activation("a", new TensorShape(4));
        var b = d.Activation("b", new TensorShape(4));
        var c = d.Activation("c", new TensorShape(4));
        var e = d.Activation("e", new TensorShape(4));
        d.Add("a", "K", "", 0, 0, NoConfig, [], [a], NoLaunch);
        d.Add("b", "K", "", 0, 0, NoConfig, [a], [b], NoLaunch);
        d.Add("c", "K", "", 0, 0, NoConfig, [a], [c], NoLaunch);
        d.Add("e", "K", "", 0, 0, NoConfig, [b, c], [e], NoLaunch);
        Assert.Equal(3, d.AssignSlots().Count);
        GraphInvariants.Check(d, "diamond");
        Assert.NotEqual(b.Slot, c.Slot);
        Assert.Equal(a.Slot, e.Slot); // a is dead once both branches have read it
    }

    [Fact]
    public void View_KeepsItsSourceAlive()
    {
        var g = new ComputeGraph("views");
        var x = g.Activation("x", TensorShape.Nchw(2, 3, 4, 4));
        g.Add("make", "K", "", 0, 0, NoConfig, [], [x], NoLaunch);
        var flat = g.View("flat", x, Shapes.Reshape("flat", x.Shape!, 2, -1));
        var y = g.Activation("y", new TensorShape(2, 48));
        g.Add("other", "K", "", 0, 0, NoConfig, [], [y], NoLaunch);
        var z = g.Activation("z", new TensorShape(2, 48));
        g.Add("use", "K", "", 0, 0, NoConfig, [flat, y], [z], NoLaunch);
        g.AssignSlots();
        Assert.Equal((0, 2), (x.FirstUse, x.LastUse));
        Assert.Equal(x.Slot, flat.Slot);
        Assert.NotEqual(x.Slot, y.Slot);
        Assert.NotEqual(x.Slot, z.Slot);
        GraphInvariants.Check(g, "views");

        var other = new ComputeGraph("other");
        var external = other.External("external", new TensorShape(2, 3));
        var made = other.Activation("made", new TensorShape(2, 3));
        Assert.Equal("bad", Assert.Throws<GraphException>(() => other.View("bad", external, new TensorShape(2, 3))).Op);
        Assert.Equal("short", Assert.Throws<GraphException>(() => other.View("short", made, new TensorShape(2, 2))).Op);
    }

    /// <summary>
    /// Random graphs: chains with skip connections reaching back several ops, diamonds (two branches joined later),
    /// views, region writes into earlier tensors, and externals read and written; fresh sizes and structure each run.
    /// </summary>
    [Fact]
    public void RandomGraphs_SatisfyTheAllocatorInvariants()
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        for (int trial = 0; trial < 300; trial++)
        {
            var g = RandomGraph(rng, trial);
            g.AssignSlots();
            GraphInvariants.Check(g, $"seed {seed} trial {trial}");
        }
    }

    private static ComputeGraph RandomGraph(Random rng, int trial)
    {
        var g = new ComputeGraph($"random{trial}");
        int batch = rng.Next(1, 9);
        var weights = g.External("weights", new TensorShape(rng.Next(1, 100)));
        var results = g.External("results", new TensorShape(batch, 17));
        var live = new List<GraphTensor>();
        int ops = rng.Next(1, 40);
        for (int i = 0; i < ops; i++)
        {
            var reads = new List<TensorAccess> { weights };
            var writes = new List<TensorAccess>();
            int kind = live.Count == 0 ? 0 : rng.Next(6);
            var pick = () => live[Math.Max(0, live.Count - 1 - rng.Next(Math.Min(live.Count, 6)))];
            switch (kind)
            {
                case 0 or 1: // chain or skip: read one recent tensor
                    if (live.Count > 0) reads.Add(pick());
                    break;
                case 2: // join (diamond): read two recent tensors
                    reads.Add(pick());
                    reads.Add(pick());
                    break;
                case 3: // a view of a recent tensor, read
                    var src = pick();
                    var view = g.View($"v{i}", src, Shapes.Reshape($"v{i}", src.Shape!, batch, -1));
                    reads.Add(view);
                    break;
                case 4: // write a region of a recent tensor (and read another)
                    writes.Add(new TensorAccess(pick(), "region"));
                    reads.Add(pick());
                    break;
                default: // read and write the external results
                    reads.Add(new TensorAccess(results, "state"));
                    writes.Add(new TensorAccess(results, "state"));
                    break;
            }
            int outputs = rng.Next(kind == 5 ? 0 : 1, 3);
            for (int o = 0; o < outputs; o++)
            {
                var t = g.Activation($"t{i}.{o}", TensorShape.Nchw(batch, rng.Next(1, 9), rng.Next(1, 7), rng.Next(1, 7)));
                writes.Add(t);
                live.Add(t);
            }
            g.Add($"op{i}", "K", "", 0, 0, NoConfig, reads, writes, NoLaunch);
        }
        return g;
    }
}
