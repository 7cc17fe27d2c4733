using System.Globalization;
using TrgIlgpu.Imaging;
using TrgIlgpu.Tools;

// make-clip: a test clip from a still photo with a known motion (docs/video.md).
// dotnet run --project tools/MakeClip -- PHOTO OUT.mp4 [--motion tour] [--frames 40] [--size 320x240] [--fps 30]
//     [--noise 3] [--centre X,Y] [--scale 1] [--seed 1]
if (args.Length < 2 || args[0].StartsWith('-'))
{
    Console.Error.WriteLine($"usage: make-clip PHOTO OUT.mp4 [--motion {string.Join('|', ClipMaker.Motions)}] [--frames N] [--size WxH] [--fps F] [--noise SIGMA] [--centre X,Y] [--scale S] [--seed K]");
    return 2;
}
var opts = new Dictionary<string, string>();
for (int i = 2; i + 1 < args.Length; i += 2) opts[args[i].TrimStart('-')] = args[i + 1];
string Get(string key, string fallback) => opts.TryGetValue(key, out var v) ? v : fallback;

var photo = ImageLoader.LoadFile(args[0]);
var (w, h) = ClipMaker.Pair(Get("size", "320x240").Replace('x', ','));
var (cx, cy) = opts.ContainsKey("centre") ? ClipMaker.Pair(opts["centre"]) : (photo.Width / 2.0, photo.Height / 2.0);
var start = new ClipView(cx, cy, double.Parse(Get("scale", "1"), CultureInfo.InvariantCulture), 0);
var views = ClipMaker.Motion(Get("motion", "tour"), int.Parse(Get("frames", "40"), CultureInfo.InvariantCulture), start, (int)w);
ClipMaker.Write(args[1], photo, views, (int)w, (int)h, double.Parse(Get("fps", "30"), CultureInfo.InvariantCulture),
    double.Parse(Get("noise", "3"), CultureInfo.InvariantCulture), int.Parse(Get("seed", "1"), CultureInfo.InvariantCulture));
Console.WriteLine($"{args[1]}: {views.Length} frames {w}x{h}");
return 0;
