using TorchSharp;
using Decomp.Tests.Shared;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Apps.Tests;

/// <summary>The apps' one linear probe (Vision's final evaluation, Dialogue's latent probe).</summary>
public class LinearProbeTests
{
    private static readonly ProbeSettings Settings = new(Epochs: 20, BatchSize: 32, LearningRate: 1e-2, WeightDecay: 0);

    [Fact]
    public void HitsCountsALabelAmongTheKLargestLogits()
    {
        using var scope = NewDisposeScope();
        var logits = tensor(new float[] { 0.1f, 0.5f, 0.4f, 0.9f, 0.0f, 0.2f }, new long[] { 2, 3 });
        var labels = tensor(new long[] { 2, 1 });

        Assert.Equal(0, LinearProbe.Hits(logits, labels, 1));
        Assert.Equal(1, LinearProbe.Hits(logits, labels, 2));
        Assert.Equal(2, LinearProbe.Hits(logits, labels, 3));
    }

    [Fact]
    public void LinearlySeparableClassesAreReadPerfectlyAndTheFitIsDeterministic()
    {
        using var scope = NewDisposeScope();
        var (train, trainLabels) = Clusters.Make(50, 6, 8, 3);
        var (test, testLabels) = Clusters.Make(20, 6, 8, 4);

        var first = LinearProbe.Fit(train, trainLabels, test, testLabels, 6, Settings, seed: 9);
        var again = LinearProbe.Fit(train, trainLabels, test, testLabels, 6, Settings, seed: 9);

        Assert.Equal(100.0, first.AccuracyPercent);
        Assert.Equal(100.0, first.TopKAccuracyPercent);
        Assert.Equal(1.0, first.Accuracy);
        Assert.Equal(100.0, first.TrainAccuracyPercent);
        Assert.Equal(testLabels.data<long>().Select(l => (int)l), first.TestPredictions);
        Assert.Equal(first, again);
    }

    [Fact]
    public void ThePrimaryResultsAreCountsOfTheSplitsAndChanceIsTheMajorityShare()
    {
        using var scope = NewDisposeScope();
        var (train, trainLabels) = Clusters.Make(30, 3, 4, 5);
        // Test classes 0, 0, 0, 1, 2: always guessing class 0 scores 3/5.
        var test = train.index_select(0, tensor(new long[] { 0, 1, 2, 30, 60 }));
        var testLabels = tensor(new long[] { 0, 0, 0, 1, 2 });

        var result = LinearProbe.Fit(train, trainLabels, test, testLabels, 3, Settings, seed: 1);

        Assert.Equal((5, 90, 3, 3), (result.TestExamples, result.TrainExamples, result.TopK, result.MajorityClassCount));
        Assert.Equal(0.6, result.Chance);
        Assert.Equal(5, result.TestPredictions.Count);
    }

    [Fact]
    public void FeaturesThatCarryNoLabelInformationGiveChanceAccuracy()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(5, CPU);
        // Labels independent of features: test accuracy is Binomial(2000, 1/4) / 2000, sd 0.97%; 5 sd either side.
        var train = randn(new long[] { 2000, 4 }, generator: g);
        var test = randn(new long[] { 2000, 4 }, generator: g);
        var trainLabels = randint(4, new long[] { 2000 }, generator: g);
        var testLabels = randint(4, new long[] { 2000 }, generator: g);

        var result = LinearProbe.Fit(train, trainLabels, test, testLabels, 4, new ProbeSettings(5, 100, 1e-2, 0), seed: 1);

        Assert.InRange(result.AccuracyPercent, 25 - 5 * 0.97, 25 + 5 * 0.97);
    }

    [Fact]
    public void ShuffledLabelsOfSeparableFeaturesFallToChance()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(11, CPU);
        var (train, trainLabels) = Clusters.Make(200, 4, 8, 6);
        var (test, testLabels) = Clusters.Make(200, 4, 8, 7);
        // The same label counts, assigned at random: the features say nothing about the shuffled test labels.
        var shuffled = testLabels.index_select(0, randperm(testLabels.shape[0], generator: g));

        var result = LinearProbe.Fit(train, trainLabels, test, shuffled, 4, Settings, seed: 2);

        // Each of the 800 predictions matches a uniformly shuffled label with probability 1/4 (the classes are balanced):
        // accuracy has mean 1/4 and sd sqrt(1/4 * 3/4 / 800) = 1.53% (a permutation's matches vary a little less); 5 sd either side.
        double sd = Math.Sqrt(0.25 * 0.75 / 800);
        Assert.InRange(result.Accuracy, 0.25 - 5 * sd, 0.25 + 5 * sd);
        Assert.Equal(0.25, result.Chance);
        // The probe itself still separates the training data it was fitted on.
        Assert.Equal(100.0, result.TrainAccuracyPercent);
    }

    [Fact]
    public void AccuracyWhereScoresOnlyTheChosenTestExamples()
    {
        var result = new ProbeResult(4, 2, 1, 2, 10, 10, 2, [0, 1, 1, 0]);
        int[] labels = [0, 1, 0, 1];

        Assert.Equal(1.0, result.AccuracyWhere(labels, i => i < 2));
        Assert.Equal(0.0, result.AccuracyWhere(labels, i => i >= 2));
        Assert.Null(result.AccuracyWhere(labels, _ => false));
    }

    [Fact]
    public void LabelsOutsideTheClassesAndMismatchedCountsAreRefusedByArgument()
    {
        using var scope = NewDisposeScope();
        var (train, trainLabels) = Clusters.Make(5, 2, 3, 1);

        var outside = Assert.Throws<ArgumentException>(() => LinearProbe.Fit(train, trainLabels, train, trainLabels + 1, 2, Settings, 1));
        Assert.Equal("testLabels", outside.ParamName);
        var mismatch = Assert.Throws<ArgumentException>(() => LinearProbe.Fit(train, trainLabels[..3], train, trainLabels, 2, Settings, 1));
        Assert.Equal("trainLabels", mismatch.ParamName);
    }
}
