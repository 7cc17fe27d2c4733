namespace TrgIlgpu.Evaluation;

/// <summary>
/// One evaluated face: its id (the join key between predictions and ground truth), rotation (row-major 3x3, head to
/// camera), translation (metres, camera frame) and optionally head-space and camera-space vertices (N x 3, metres,
/// vertex-major).
/// </summary>
public sealed record PoseSample(string Id, double[] Rotation, double[] Translation)
{
    /// <summary>Head-space vertices (metres, N x 3 flattened), or null. Ground truth's give ADD.</summary>
    public double[]? VerticesHead { get; init; }

    /// <summary>Camera-space vertices (metres, N x 3 flattened), or null. Both sides' give the dense error.</summary>
    public double[]? VerticesCam { get; init; }
}
