using TorchSharp;
using Xunit;
using Core = Decomp.Core;

namespace Decomp.Tests;

/// <summary>
/// Issue 18 §3: <see cref="DecompSettings.FiniteCheck"/> is a view of the core's one setting, and the core is the single
/// validator: the facade has no scan of its own.
/// </summary>
[Collection(FiniteCheckCollection.Name)]
public class SettingsTests
{
    private static void With(FiniteCheck setting, Action action)
    {
        var previous = DecompSettings.FiniteCheck;
        try
        {
            DecompSettings.FiniteCheck = setting;
            action();
        }
        finally
        {
            DecompSettings.FiniteCheck = previous;
        }
    }

    [Fact]
    public void TheDefaultIsCpuOnlyOnBothFaces()
    {
        Assert.Equal(FiniteCheck.CpuOnly, DecompSettings.FiniteCheck);
        Assert.True(Core.Settings.FiniteCheck.IsCpuOnly);
    }

    [Theory]
    [InlineData(FiniteCheck.Never)]
    [InlineData(FiniteCheck.CpuOnly)]
    [InlineData(FiniteCheck.Always)]
    public void TheFacadeSettingIsAViewOfTheCoreSetting(FiniteCheck setting) =>
        With(FiniteCheck.CpuOnly, () =>
        {
            DecompSettings.FiniteCheck = setting;
            Assert.Equal(setting.ToString(), Core.Settings.FiniteCheck.ToString());
            Core.Settings.FiniteCheck = Core.FiniteCheck.CpuOnly;
            Assert.Equal(FiniteCheck.CpuOnly, DecompSettings.FiniteCheck);
        });

    [Fact]
    public void TheFacadeHasNoScanOfItsOwn() =>
        With(FiniteCheck.CpuOnly, () =>
        {
            // Switched off in the core alone: a facade with its own scan would still refuse the NaN.
            Core.Settings.FiniteCheck = Core.FiniteCheck.Never;
            using var value = Bounds.InfoNce(torch.full(3, 4, float.NaN));
            Assert.True(float.IsNaN(value.item<float>()));
            Core.Settings.FiniteCheck = Core.FiniteCheck.Always;
            var e = Assert.ThrowsAny<ArgumentException>(() => Bounds.InfoNce(torch.full(3, 4, float.NaN)));
            Assert.Equal("scores", e.ParamName);
        });

    [Fact]
    public void AnUndefinedSettingIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>("value", () => DecompSettings.FiniteCheck = (FiniteCheck)7);
}
