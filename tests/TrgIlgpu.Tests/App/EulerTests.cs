using System.Text.Json;

namespace TrgIlgpu.Tests.App;

/// <summary>Yaw/pitch/roll in EVAL_SPEC's convention: SciPy as_euler('yxz'), R = Rz(roll) Rx(pitch) Ry(yaw).</summary>
public class EulerTests
{
    [Fact]
    public void Composed_rotations_are_recovered()
    {
        var rng = new Random(4);
        for (int n = 0; n < 500; n++)
        {
            double yaw = rng.NextDouble() * 360 - 180, pitch = rng.NextDouble() * 178 - 89, roll = rng.NextDouble() * 360 - 180;
            var r = AppTestData.Rotation(yaw, pitch, roll);
            var e = EulerAngles.FromMatrix(r);
            // float32 matrices: about 1e-7 relative, amplified near the poles by 1/cos(pitch).
            double tol = 2e-4 / Math.Cos(pitch * Math.PI / 180);
            Assert.True(AngleDiff(yaw, e.Yaw) < tol && Math.Abs(pitch - e.Pitch) < tol && AngleDiff(roll, e.Roll) < tol,
                $"({yaw}, {pitch}, {roll}) came back as {e}");
        }
    }

    [Theory]
    [InlineData(30, 0, 0)]
    [InlineData(0, 20, 0)]
    [InlineData(0, 0, -15)]
    public void Single_axis_rotations_land_on_their_own_angle(double yaw, double pitch, double roll)
    {
        var e = EulerAngles.FromMatrix(AppTestData.Rotation(yaw, pitch, roll));
        Assert.Equal(yaw, e.Yaw, 4);
        Assert.Equal(pitch, e.Pitch, 4);
        Assert.Equal(roll, e.Roll, 4);
    }

    [Fact]
    public void Positive_yaw_turns_the_head_about_camera_y()
    {
        // Ry(yaw) takes +z (forward) towards +x: the sign convention the JSON documents.
        var r = AppTestData.Rotation(90, 0, 0);
        Assert.Equal(1f, r[2], 5); // R[0,2]: z axis maps to +x
    }

    /// <summary>Values computed by SciPy 1.10 (tools/euler_reference.py) on the same float32 matrices.</summary>
    [Fact]
    public void Matches_scipy_including_gimbal_lock()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "App", "euler_scipy.json");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        Assert.Equal("as_euler('yxz', degrees=True)", doc.RootElement.GetProperty("convention").GetString());
        int n = 0, locked = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var r = c.GetProperty("rotation").EnumerateArray().Select(v => v.GetSingle()).ToArray();
            double yaw = c.GetProperty("yaw").GetDouble(), pitch = c.GetProperty("pitch").GetDouble(), roll = c.GetProperty("roll").GetDouble();
            var e = EulerAngles.FromMatrix(r);
            bool isLocked = Math.Abs(Math.Abs(pitch) - 90) < 1e-6;
            locked += isLocked ? 1 : 0;
            double tol = isLocked ? 1e-3 : 2e-4 / Math.Cos(pitch * Math.PI / 180);
            Assert.True(AngleDiff(yaw, e.Yaw) < tol && Math.Abs(pitch - e.Pitch) < tol && AngleDiff(roll, e.Roll) < tol,
                $"case {n}: scipy ({yaw}, {pitch}, {roll}), ours {e}");
            n++;
        }
        Assert.True(n >= 40 && locked >= 3, $"{n} cases, {locked} at gimbal lock");
    }

    private static double AngleDiff(double a, double b)
    {
        double d = Math.Abs(a - b) % 360;
        return Math.Min(d, 360 - d);
    }
}
