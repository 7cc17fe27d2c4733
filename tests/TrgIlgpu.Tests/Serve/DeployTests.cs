using TrgIlgpu.Cli.Commands;
using TrgIlgpu.Cli.Serve;
using YamlDotNet.RepresentationModel;

namespace TrgIlgpu.Tests.Serve;

/// <summary>
/// deploy/: the Kubernetes manifests parsed (YamlDotNet) and checked structurally: kinds and API versions, labels that
/// select each other, probes on the service's endpoints, non-root pods, a GPU request for the CUDA variant, a grace
/// period longer than the drain, container args the real `trg serve` parser accepts; the Dockerfile's stages run as
/// non-root. (No Kubernetes schema validator can be installed here.)
/// </summary>
public class DeployTests
{
    private static string Deploy(params string[] parts) => Path.Combine([TestPaths.RepoRoot, "deploy", .. parts]);

    private static Dictionary<string, YamlMappingNode> Manifests()
    {
        var byName = new Dictionary<string, YamlMappingNode>();
        foreach (var file in Directory.GetFiles(Deploy("k8s"), "*.yaml"))
        {
            var stream = new YamlStream();
            using (var reader = new StreamReader(file)) stream.Load(reader);
            var doc = Assert.Single(stream.Documents);
            byName[Path.GetFileName(file)] = Assert.IsType<YamlMappingNode>(doc.RootNode);
        }
        return byName;
    }

    private static YamlNode At(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            var map = Assert.IsType<YamlMappingNode>(node);
            Assert.True(map.Children.TryGetValue(new YamlScalarNode(key), out var child), $"missing '{key}' in {string.Join('.', path)}");
            node = child!;
        }
        return node;
    }

    private static string S(YamlNode node, params string[] path) => Assert.IsType<YamlScalarNode>(At(node, path)).Value!;

    private static Dictionary<string, string> Map(YamlNode node) =>
        Assert.IsType<YamlMappingNode>(node).Children.ToDictionary(p => ((YamlScalarNode)p.Key).Value!, p => ((YamlScalarNode)p.Value).Value!);

    [Fact]
    public void Every_manifest_has_a_known_kind_and_name()
    {
        var expected = new Dictionary<string, (string ApiVersion, string Kind)>
        {
            ["deployment-cpu.yaml"] = ("apps/v1", "Deployment"),
            ["deployment-cuda.yaml"] = ("apps/v1", "Deployment"),
            ["service.yaml"] = ("v1", "Service"),
            ["hpa.yaml"] = ("autoscaling/v2", "HorizontalPodAutoscaler"),
            ["pdb.yaml"] = ("policy/v1", "PodDisruptionBudget"),
        };
        var manifests = Manifests();
        Assert.Equal(expected.Keys.Order(), manifests.Keys.Order());
        foreach (var (file, (api, kind)) in expected)
        {
            Assert.Equal(api, S(manifests[file], "apiVersion"));
            Assert.Equal(kind, S(manifests[file], "kind"));
            Assert.Equal("trg-serve", S(manifests[file], "metadata", "name"));
        }
    }

    [Theory]
    [InlineData("deployment-cpu.yaml", false)]
    [InlineData("deployment-cuda.yaml", true)]
    public void Deployments_probe_the_service_and_run_as_non_root(string file, bool gpu)
    {
        var manifests = Manifests();
        var d = manifests[file];
        var labels = Map(At(d, "spec", "template", "metadata", "labels"));
        foreach (var (k, v) in Map(At(d, "spec", "selector", "matchLabels"))) Assert.Equal(v, labels[k]);
        foreach (var (k, v) in Map(At(manifests["service.yaml"], "spec", "selector"))) Assert.Equal(v, labels[k]);
        foreach (var (k, v) in Map(At(manifests["pdb.yaml"], "spec", "selector", "matchLabels"))) Assert.Equal(v, labels[k]);

        var pod = At(d, "spec", "template", "spec");
        Assert.Equal("true", S(pod, "securityContext", "runAsNonRoot"));
        Assert.NotEqual("0", S(pod, "securityContext", "runAsUser"));
        Assert.True(int.Parse(S(pod, "terminationGracePeriodSeconds")) > new ServeSettings().ShutdownTimeout.TotalSeconds,
            "the grace period must outlast the drain");
        var container = Assert.IsType<YamlSequenceNode>(At(pod, "containers")).Children.Single();
        Assert.Equal("false", S(container, "securityContext", "allowPrivilegeEscalation"));
        var port = Assert.IsType<YamlSequenceNode>(At(container, "ports")).Children.Single();
        Assert.Equal("8080", S(port, "containerPort"));
        var servicePort = Assert.IsType<YamlSequenceNode>(At(manifests["service.yaml"], "spec", "ports")).Children.Single();
        Assert.Equal(S(port, "name"), S(servicePort, "targetPort"));
        Assert.Equal("/readyz", S(container, "readinessProbe", "httpGet", "path"));
        Assert.Equal("/readyz", S(container, "startupProbe", "httpGet", "path"));
        Assert.Equal("/healthz", S(container, "livenessProbe", "httpGet", "path"));
        Assert.Equal("http", S(container, "livenessProbe", "httpGet", "port"));

        var requests = Map(At(container, "resources", "requests"));
        Assert.Contains("cpu", requests.Keys);
        Assert.Contains("memory", requests.Keys);
        Assert.Equal(gpu, requests.ContainsKey("nvidia.com/gpu"));
        if (gpu) Assert.Equal("1", Map(At(container, "resources", "limits"))["nvidia.com/gpu"]);

        // The args are options of the real command (the image's entry point supplies serve, --device, --urls, --api-key-file).
        var args = Assert.IsType<YamlSequenceNode>(At(container, "args")).Children.Select(a => ((YamlScalarNode)a).Value!).ToArray();
        var parse = ServeCommand.Create().Parse([.. args, "--device", gpu ? "cuda" : "opencl", "--urls", "http://0.0.0.0:8080", "--api-key-file", "/run/secrets/trg/api-key"]);
        Assert.Empty(parse.Errors);

        // Every mounted volume is declared; the API key comes from a Secret mounted where the image looks for it.
        var volumes = Assert.IsType<YamlSequenceNode>(At(pod, "volumes")).Children.ToDictionary(v => S(v, "name"));
        var mounts = Assert.IsType<YamlSequenceNode>(At(container, "volumeMounts")).Children;
        Assert.All(mounts, m => Assert.Contains(S(m, "name"), volumes.Keys));
        Assert.Contains(mounts, m => S(m, "mountPath") == "/run/secrets/trg" && volumes[S(m, "name")] is YamlMappingNode v && v.Children.ContainsKey(new YamlScalarNode("secret")));
    }

    [Fact]
    public void The_autoscaler_targets_the_deployment()
    {
        var hpa = Manifests()["hpa.yaml"];
        Assert.Equal("Deployment", S(hpa, "spec", "scaleTargetRef", "kind"));
        Assert.Equal("trg-serve", S(hpa, "spec", "scaleTargetRef", "name"));
        Assert.True(int.Parse(S(hpa, "spec", "minReplicas")) >= 2, "with one replica the disruption budget blocks every drain");
        Assert.True(int.Parse(S(hpa, "spec", "maxReplicas")) > int.Parse(S(hpa, "spec", "minReplicas")));
    }

    [Fact]
    public void The_dockerfile_builds_once_and_runs_both_variants_as_non_root()
    {
        var lines = File.ReadAllLines(Deploy("Dockerfile"));
        var stages = lines.Select((l, i) => (l, i)).Where(x => x.l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        Assert.Equal(["build", "cpu", "cuda"], stages.Select(s => s.l.Split(" AS ")[1].Trim()));
        foreach (var name in new[] { "cpu", "cuda" })
        {
            int start = stages.Single(s => s.l.EndsWith(" AS " + name)).i;
            int end = stages.Select(s => s.i).Where(i => i > start).DefaultIfEmpty(lines.Length).First();
            var stage = lines[start..end];
            Assert.Contains("USER app", stage);
            Assert.Contains(stage, l => l.StartsWith("COPY --from=build /out /app", StringComparison.Ordinal));
            Assert.Contains(stage, l => l.StartsWith("ENTRYPOINT", StringComparison.Ordinal) && l.Contains("serve") && l.Contains("--api-key-file"));
        }
    }
}
