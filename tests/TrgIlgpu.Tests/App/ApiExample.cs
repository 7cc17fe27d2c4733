using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TrgIlgpu.Engine;
using TrgIlgpu.Imaging;

namespace TrgIlgpu.Tests.App;

/// <summary>
/// The "use it from C#" example of docs/api.md, compiled here so it cannot rot: the text between the BEGIN/END markers
/// must equal the docs' snippet (ApiExampleTests checks), and the tests run it.
/// </summary>
public static class ApiExample
{
    // BEGIN docs/api.md example
    public static void Run(string model, string photoPath, string overlayPath, TextWriter output)
    {
        // Create once: loads the weights, picks the device (CUDA, then OpenCL, then CPU) and compiles the kernels.
        using var estimator = TrgEstimator.Create(model, new EstimatorOptions { Device = DeviceKind.Auto });
        output.WriteLine($"{estimator.Weights.Variant.Name} on {estimator.DeviceName}");

        // Any ImageSharp image works; boxes are l,t,r,b in its pixels (from your face detector).
        using var photo = Image.Load<Rgb24>(photoPath);
        FaceBox[] boxes = [new FaceBox(153, 49, 295, 191)];
        FaceResult[] faces = estimator.Estimate(photo, boxes); // focal defaults to W + H pixels

        foreach (var face in faces)
        {
            var (yaw, pitch, roll) = face.Euler; // degrees, SciPy as_euler('yxz') as in the TRG evaluation
            float[] t = face.Translation;        // metres, camera frame
            output.WriteLine($"yaw {yaw:0.0} pitch {pitch:0.0} roll {roll:0.0}  T = ({t[0]:0.000}, {t[1]:0.000}, {t[2]:0.000}) m");
        }

        // Draw the mesh, landmarks, axes and angles over the photo.
        Overlay.SavePng(ImageLoader.ToRgbImage(photo), faces, overlayPath, estimator.Weights.Triangles);
    }
    // END docs/api.md example
}
