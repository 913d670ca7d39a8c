using TorchSharp;
using static TorchSharp.torch;

namespace Decomp.Tests.Shared;

/// <summary>Test data shared by the probe and k-NN tests of several suites (linked into each test project).</summary>
internal static class Clusters
{
    /// <summary>Points around <paramref name="classes"/> centres 10 standard deviations apart: the Bayes error is nil.</summary>
    public static (Tensor Features, Tensor Labels) Make(int perClass, int classes, int dimension, ulong seed)
    {
        using var g = new Generator(seed, CPU);
        var centres = 10 * eye(classes, dimension);
        var labels = arange(classes, dtype: ScalarType.Int64).repeat_interleave(perClass);
        var features = centres.index_select(0, labels) + randn(new long[] { classes * perClass, dimension }, generator: g) * 0.5;
        return (features, labels);
    }
}
