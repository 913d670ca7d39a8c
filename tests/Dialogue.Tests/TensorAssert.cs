using Xunit;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Tests;

internal static class TensorAssert
{
    /// <summary>Same shape, same type, every element equal.</summary>
    public static void Identical(Tensor expected, Tensor actual, string? what = null)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(expected.dtype, actual.dtype);
        using var same = expected.eq(actual).all();
        Assert.True(same.item<bool>(), what ?? "tensors differ");
    }

    /// <summary>Same shape and every element within <paramref name="tolerance"/> (absolute).</summary>
    public static void Close(Tensor expected, Tensor actual, double tolerance, string? what = null)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var gap = (expected.to_type(ScalarType.Float64) - actual.to_type(ScalarType.Float64)).abs().max();
        double g = gap.item<double>();
        Assert.True(g <= tolerance, $"{what ?? "tensors"}: largest difference {g} exceeds {tolerance}");
    }
}
