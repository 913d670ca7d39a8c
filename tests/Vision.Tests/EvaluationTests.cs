using Decomp.Train.Vision.Evaluation;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Vision.Tests;

public class EvaluationTests
{
    /// <summary>Points around <paramref name="classes"/> centres 10 standard deviations apart: the Bayes error is nil.</summary>
    private static (Tensor Features, Tensor Labels) Clusters(int perClass, int classes, int dimension, ulong seed)
    {
        using var g = new Generator(seed, CPU);
        var centres = 10 * eye(classes, dimension);
        var labels = arange(classes, dtype: ScalarType.Int64).repeat_interleave(perClass);
        var features = centres.index_select(0, labels) + randn(new long[] { classes * perClass, dimension }, generator: g) * 0.5;
        return (features, labels);
    }

    [Fact]
    public void KnnClassifiesSeparatedClustersPerfectly()
    {
        using var scope = NewDisposeScope();
        var (bank, bankLabels) = Clusters(20, 4, 6, 1);
        var (queries, queryLabels) = Clusters(10, 4, 6, 2);

        Assert.Equal(100.0, KnnMonitor.Top1(bank, bankLabels, queries, queryLabels, 4, k: 5));
    }

    [Fact]
    public void KnnWeighsNeighboursBySimilarity()
    {
        using var scope = NewDisposeScope();
        // One very close neighbour of class 1 outweighs two far ones of class 0 at temperature 0.1.
        var bank = tensor(new float[] { 1, 0, 0.6f, 0.8f, 0.6f, -0.8f }, new long[] { 3, 2 });
        var bankLabels = tensor(new long[] { 1, 0, 0 });
        var query = tensor(new float[] { 1, 0.01f }, new long[] { 1, 2 });

        Assert.Equal(100.0, KnnMonitor.Top1(bank, bankLabels, query, tensor(new long[] { 1 }), 2, k: 3));
    }

    [Fact]
    public void TopKCountsALabelAmongTheKLargestLogits()
    {
        using var scope = NewDisposeScope();
        var logits = tensor(new float[] { 0.1f, 0.5f, 0.4f, 0.9f, 0.0f, 0.2f }, new long[] { 2, 3 });
        var labels = tensor(new long[] { 2, 1 });

        Assert.Equal(0.0, LinearProbe.TopK(logits, labels, 1));
        Assert.Equal(50.0, LinearProbe.TopK(logits, labels, 2));
        Assert.Equal(100.0, LinearProbe.TopK(logits, labels, 3));
    }

    [Fact]
    public void TheLinearProbeSeparatesSeparableClassesAndIsDeterministic()
    {
        using var scope = NewDisposeScope();
        var (train, trainLabels) = Clusters(50, 6, 8, 3);
        var (test, testLabels) = Clusters(20, 6, 8, 4);
        var settings = new ProbeSettings(Epochs: 20, BatchSize: 32, LearningRate: 1e-2, WeightDecay: 0);

        var first = LinearProbe.Fit(train, trainLabels, test, testLabels, 6, settings, seed: 9);
        var again = LinearProbe.Fit(train, trainLabels, test, testLabels, 6, settings, seed: 9);

        Assert.Equal(100.0, first.Top1);
        Assert.Equal(100.0, first.Top5);
        Assert.Equal(first, again);
    }

    [Fact]
    public void TheLinearProbeIsAtChanceOnFeaturesThatCarryNoLabelInformation()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(5, CPU);
        // Labels independent of features: test accuracy is Binomial(2000, 1/4) / 2000, sd 0.97%; 5 sd either side.
        var train = randn(new long[] { 2000, 4 }, generator: g);
        var test = randn(new long[] { 2000, 4 }, generator: g);
        var trainLabels = randint(4, new long[] { 2000 }, generator: g);
        var testLabels = randint(4, new long[] { 2000 }, generator: g);

        var result = LinearProbe.Fit(train, trainLabels, test, testLabels, 4, new ProbeSettings(5, 100, 1e-2, 0), seed: 1);

        Assert.InRange(result.Top1, 25 - 5 * 0.97, 25 + 5 * 0.97);
    }
}
