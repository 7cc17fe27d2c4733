namespace TrgIlgpu.Faces;

/// <summary>A detected face: its box in image pixels (as face-api reports it; may reach outside the image) and score.</summary>
public readonly record struct FaceDetection(FaceBox Box, float Score);

/// <summary>A box in relative coordinates (fractions of the image width and height): left, top, right, bottom.</summary>
public readonly record struct RelativeBox(double Left, double Top, double Right, double Bottom)
{
    /// <summary>Width (right - left).</summary>
    public double Width => Right - Left;

    /// <summary>Height (bottom - top).</summary>
    public double Height => Bottom - Top;

    /// <summary>
    /// To image pixels as face-api's ObjectDetection does (Box.rescale: x * W, y * H, width * W, height * H; right =
    /// x + width).
    /// </summary>
    public FaceBox ToPixels(int imageWidth, int imageHeight)
    {
        double x = Left * imageWidth, y = Top * imageHeight;
        return new FaceBox((float)x, (float)y, (float)(x + Width * imageWidth), (float)(y + Height * imageHeight));
    }
}
