using ILGPU;

namespace TrgIlgpu.Kernels;

/// <summary>
/// Where each per-face result lives in the one results buffer that a forward fills and downloads once.
/// All offsets are in floats from the start of a face's row; <see cref="Stride"/> is the row length.
/// The head-space face is the iteration state itself: the regressor updates it in place.
/// </summary>
public struct ResultLayout
{
    public int Iterations;
    public readonly int FaceHead => 0;
    public readonly int FaceCam => 1220 * 3;
    public readonly int Landmarks => 2 * 1220 * 3;
    /// <summary>pose9 after each iteration (rot6d, s, ox, oy).</summary>
    public readonly int PoseHistory => Landmarks + 68 * 2;
    public readonly int Rotations => PoseHistory + 9 * Iterations;
    public readonly int Translations => Rotations + 9 * Iterations;
    /// <summary>Crop-pixel sampling points (305 x 2) of iterations 1..n-1.</summary>
    public readonly int Points => Translations + 3 * Iterations;
    public readonly int Stride => Points + (Iterations - 1) * 305 * 2;
}

public struct Vec3
{
    public float X, Y, Z;
    public Vec3(float x, float y, float z) { X = x; Y = y; Z = z; }
}

/// <summary>Row-major 3x3 matrix.</summary>
public struct Mat3
{
    public float M00, M01, M02, M10, M11, M12, M20, M21, M22;

    public readonly Vec3 Mul(Vec3 v) => new(
        M00 * v.X + M01 * v.Y + M02 * v.Z,
        M10 * v.X + M11 * v.Y + M12 * v.Z,
        M20 * v.X + M21 * v.Y + M22 * v.Z);
}

/// <summary>The pose math of MODEL_SPEC 4e-4f and the crop camera of 2.3, as device functions.</summary>
public static class PoseMath
{
    /// <summary>rot6d (3x2 row-major) -> R = [b1 b2 b3] by Gram-Schmidt; normalisation uses max(|v|, 1e-12).</summary>
    public static Mat3 Rot6dToMatrix(float p0, float p1, float p2, float p3, float p4, float p5)
    {
        float n1 = Norm(p0, p2, p4);
        float b1x = p0 / n1, b1y = p2 / n1, b1z = p4 / n1;
        float d = b1x * p1 + b1y * p3 + b1z * p5;
        float ux = p1 - d * b1x, uy = p3 - d * b1y, uz = p5 - d * b1z;
        float n2 = Norm(ux, uy, uz);
        float b2x = ux / n2, b2y = uy / n2, b2z = uz / n2;
        return new Mat3
        {
            M00 = b1x, M01 = b2x, M02 = b1y * b2z - b1z * b2y,
            M10 = b1y, M11 = b2y, M12 = b1z * b2x - b1x * b2z,
            M20 = b1z, M21 = b2z, M22 = b1x * b2y - b1y * b2x,
        };
    }

    private static float Norm(float x, float y, float z)
    {
        float n = MathF.Sqrt(x * x + y * y + z * z);
        return n > 1e-12f ? n : 1e-12f;
    }

    /// <summary>
    /// T from the correction parameters (s, ox, oy), following the official operation order; the box centre's offset
    /// is taken from the principal point (the official code's W/2, H/2).
    /// </summary>
    public static Vec3 Translation(FaceParams f, float s, float ox, float oy)
    {
        float bsize = f.Right - f.Left;
        float cx = (f.Left + f.Right) * 0.5f, cy = (f.Top + f.Bottom) * 0.5f;
        float tz = 0.2f * s * f.Focal / bsize;
        float tx = ox * 0.1f * s + 0.2f * s * (cx - f.PrincipalX) / bsize;
        float ty = oy * 0.1f * s + 0.2f * s * (cy - f.PrincipalY) / bsize;
        return new Vec3(tx, ty, tz);
    }

    /// <summary>Crop-pixel projection of a camera-space point with K = [[f s, 0, (cx - l) s], [0, f s, (cy - t) s]], s = 192 / (r - l), (cx, cy) the principal point.</summary>
    public static void ProjectToCrop(FaceParams f, Vec3 c, out float u, out float v)
    {
        float s = 192f / (f.Right - f.Left);
        float fs = f.Focal * s;
        float k02 = (f.PrincipalX - f.Left) * s;
        float k12 = (f.PrincipalY - f.Top) * s;
        u = (fs * c.X + k02 * c.Z) / c.Z;
        v = (fs * c.Y + k12 * c.Z) / c.Z;
    }

    /// <summary>
    /// Final geometry, one thread per (face, vertex): camera-space vertices from the last pose; threads with
    /// vertex index below the iteration count also write that iteration's R and T.
    /// </summary>
    public static void FinalGeometry(ArrayView<FaceParams> faces, ArrayView<float> results, ResultLayout layout, int batch)
    {
        int gid = Grid.GlobalIndex.X;
        if (gid >= batch * 1220) return;
        int v = gid % 1220;
        int b = gid / 1220;
        var f = faces[b];
        int row = b * layout.Stride;
        int last = row + layout.PoseHistory + 9 * (layout.Iterations - 1);
        var r = Rot6dToMatrix(results[last], results[last + 1], results[last + 2], results[last + 3], results[last + 4], results[last + 5]);
        var t = Translation(f, results[last + 6], results[last + 7], results[last + 8]);
        int h = row + layout.FaceHead + 3 * v;
        var c = r.Mul(new Vec3(results[h], results[h + 1], results[h + 2]));
        int o = row + layout.FaceCam + 3 * v;
        results[o] = c.X + t.X;
        results[o + 1] = c.Y + t.Y;
        results[o + 2] = c.Z + t.Z;

        if (v < layout.Iterations)
        {
            int p = row + layout.PoseHistory + 9 * v;
            var ri = Rot6dToMatrix(results[p], results[p + 1], results[p + 2], results[p + 3], results[p + 4], results[p + 5]);
            var ti = Translation(f, results[p + 6], results[p + 7], results[p + 8]);
            int ro = row + layout.Rotations + 9 * v;
            results[ro] = ri.M00; results[ro + 1] = ri.M01; results[ro + 2] = ri.M02;
            results[ro + 3] = ri.M10; results[ro + 4] = ri.M11; results[ro + 5] = ri.M12;
            results[ro + 6] = ri.M20; results[ro + 7] = ri.M21; results[ro + 8] = ri.M22;
            int to = row + layout.Translations + 3 * v;
            results[to] = ti.X; results[to + 1] = ti.Y; results[to + 2] = ti.Z;
        }
    }
}
