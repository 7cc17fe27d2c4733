namespace TrgIlgpu.Faces;

/// <summary>Memory order of one image's feature map handed to a decoder.</summary>
public enum TensorLayout
{
    /// <summary>[channels, height, width] (the engine's device layout).</summary>
    Chw,
    /// <summary>[height, width, channels] (TensorFlow's layout, face-api's tensors and fixtures).</summary>
    Hwc,
}
