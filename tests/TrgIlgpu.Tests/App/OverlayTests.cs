using TrgIlgpu.Imaging;

namespace TrgIlgpu.Tests.App;

public class OverlayTests
{
    [Fact]
    public void Visual_astronaut()
    {
        var img = ImageLoader.LoadFile(AppTestData.AstronautPath);
        var face = AppTestData.Place(AppTestData.AstronautBox, img.Width + img.Height, img.Width, img.Height, yaw: 20, pitch: 10, roll: 5);
        Overlay.SavePng(img, [face], "/tmp/appviz/astro.png", AppTestData.Triangles, new OverlayOptions { SidePanel = true });
        Overlay.SavePng(img, [face], "/tmp/appviz/astro_dots.png", null, new OverlayOptions { SidePanel = true });
        var side = AppTestData.Place(AppTestData.AstronautBox, img.Width + img.Height, img.Width, img.Height, yaw: 60, pitch: 0, roll: 0);
        Overlay.SavePng(img, [side], "/tmp/appviz/side_cull.png", AppTestData.Triangles, new OverlayOptions { Landmarks = false });
        Overlay.SavePng(img, [side], "/tmp/appviz/side_nocull.png", AppTestData.Triangles, new OverlayOptions { Landmarks = false, CullBackFaces = false });
    }
}
