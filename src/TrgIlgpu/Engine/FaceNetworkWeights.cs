using ILGPU.Runtime;

namespace TrgIlgpu.Engine;

/// <summary>A face-network layer packed on the host (<see cref="FacePacking"/>) under its name in the network definition.</summary>
internal sealed record NamedFaceLayer(string Name, PackedFaceLayer Layer, int OutChannels);

/// <summary>One face network's packed layers uploaded once to one accelerator.</summary>
internal sealed class FaceNetworkWeights : DeviceLayers
{
    public FaceNetworkWeights(Accelerator a, IEnumerable<NamedFaceLayer> layers) : base(a)
    {
        try
        {
            foreach (var l in layers) Add(a, l.Name, l.Layer.Weight, l.Layer.Bias, null, l.OutChannels, WinogradForm.None);
        }
        catch
        {
            Dispose();
            throw;
        }
    }
}
