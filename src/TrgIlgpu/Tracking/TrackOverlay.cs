using TrgIlgpu.Imaging;

namespace TrgIlgpu.Tracking;

/// <summary>Overlay frames for tracked video: each face drawn as <see cref="Overlay"/> draws it, with its track id below its box.</summary>
public static class TrackOverlay
{
    /// <summary>The frame with each face's mesh, landmarks, axes, box and angles, and <c>ID k</c> below the box.</summary>
    /// <param name="frame">A tracked frame.</param>
    /// <param name="triangles">Mesh triangles (e.g. <see cref="HeadPoseEstimator.Triangles"/>); null draws vertices as dots.</param>
    public static RgbImage Render(TrackedFrame frame, int[]? triangles)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var image = frame.Frame.Image;
        var canvas = Overlay.RenderCanvas(image, frame.Faces.Select(f => f.Result).ToList(), triangles, OverlayOptions.Default);
        int scale = Math.Max(1, (int)MathF.Round(Math.Min(image.Width, image.Height) / 320f));
        foreach (var face in frame.Faces)
        {
            var box = face.Result.Box;
            // Below the box: the angles' label sits above it.
            int y = Math.Min(canvas.Height - BitmapFont.LineHeight * scale, (int)box.Bottom + 2 * scale);
            canvas.Text(Math.Max(0, (int)box.Left), Math.Max(0, y), $"ID {face.TrackId}", Overlay.BoxColor, scale);
        }
        return new RgbImage(canvas.Width, canvas.Height, canvas.Pixels);
    }
}
