namespace TrgIlgpu.Model;

// Stub on the app branch so the API compiles; the integrator's version accepts a path or synthetic:VARIANT[:SEED].
public sealed partial class ModelWeights
{
    public static ModelWeights Load(string source) => LoadFile(source);
}
