namespace TrgIlgpu.Faces;

/// <summary>An image's size after face-api scales its longer side to the network input (utils.computeReshapedDimensions).</summary>
public readonly record struct ReshapedSize(int Width, int Height);

/// <summary>
/// The integer region of the image the landmark net sees (extractFaceTensors: the detection box clipped at the image
/// borders, then x, y, width and height floored), in image pixels.
/// </summary>
public readonly record struct FaceCrop(int X, int Y, int Width, int Height);

/// <summary>
/// How face-api places an image into a network's square input. Detectors (SSD, tiny) pad the image with zeros at the
/// right or bottom to a square of the longer side, the landmark net pads both sides (the extra pixel of an odd
/// difference after the image); the square is then resized to the input side with TF's legacy bilinear resize
/// (alignCorners = false, halfPixelCenters = false) unless it already has that size.
/// </summary>
public static class FaceApiGeometry
{
    /// <summary>Side of the landmark net's input.</summary>
    public const int LandmarkInputSize = 112;

    /// <summary>round(w * s), round(h * s) with s = inputSize / max(w, h), rounding as JavaScript's Math.round.</summary>
    public static ReshapedSize Reshaped(int imageWidth, int imageHeight, int inputSize)
    {
        double scale = (double)inputSize / Math.Max(imageWidth, imageHeight);
        return new ReshapedSize((int)JsRound(imageWidth * scale), (int)JsRound(imageHeight * scale));
    }

    /// <summary>
    /// Zero padding (before, after) along x and y that makes a w x h image square; <paramref name="centred"/> as the
    /// landmark net pads (after = round(diff / 2), before = the rest), otherwise all after (detectors).
    /// </summary>
    public static (int Left, int Right, int Top, int Bottom) SquarePadding(int width, int height, bool centred)
    {
        int diff = Math.Abs(width - height);
        int after = centred ? (int)JsRound(diff * 0.5) : diff;
        int before = diff - after;
        return width < height ? (before, after, 0, 0) : (0, 0, before, after);
    }

    /// <summary>
    /// The landmark net's crop for a detection (image pixels): clipAtImageBorders then floor; null when it is empty
    /// (face-api then finds no landmarks for that face).
    /// </summary>
    public static FaceCrop? LandmarkCrop(FaceBox box, int imageWidth, int imageHeight)
    {
        double x = Math.Max(box.Left, 0.0), y = Math.Max(box.Top, 0.0);
        double w = Math.Min(box.Right - x, imageWidth - x), h = Math.Min(box.Bottom - y, imageHeight - y);
        var crop = new FaceCrop((int)Math.Floor(x), (int)Math.Floor(y), (int)Math.Floor(w), (int)Math.Floor(h));
        return crop.Width > 0 && crop.Height > 0 ? crop : null;
    }

    /// <summary>JavaScript's Math.round: nearest integer, halves toward +infinity.</summary>
    internal static double JsRound(double v) => Math.Floor(v + 0.5);
}
