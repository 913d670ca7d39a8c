using TorchSharp;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Evaluation;

/// <summary>Accuracy of a linear probe on held-out data, with the share of the majority class there (chance).</summary>
public sealed record ProbeResult(double TrainAccuracy, double TestAccuracy, double Chance, int[] TestPredictions)
{
    /// <summary>Accuracy on the test examples <paramref name="selected"/> picks (by index), or null when it picks none.</summary>
    public double? AccuracyWhere(int[] testLabels, Func<int, bool> selected)
    {
        var chosen = Enumerable.Range(0, testLabels.Length).Where(selected).ToList();
        return chosen.Count == 0 ? null : chosen.Count(i => TestPredictions[i] == testLabels[i]) / (double)chosen.Count;
    }
}

/// <summary>
/// A linear probe: multinomial logistic regression from frozen features to a class, fitted by full-batch Adam from zero
/// weights (so the fit is deterministic) on standardised features with a small L2 penalty. It measures what a representation
/// makes linearly readable, not what a stronger reader could extract.
/// </summary>
public static class LinearProbe
{
    /// <summary>Fits on (<paramref name="trainFeatures"/> [N, D], <paramref name="trainLabels"/>) and scores on the test pair.</summary>
    /// <param name="trainFeatures">Features [N, D].</param>
    /// <param name="trainLabels">Classes in 0..<paramref name="classes"/>-1.</param>
    /// <param name="testFeatures">Held-out features [N', D].</param>
    /// <param name="testLabels">Held-out classes.</param>
    /// <param name="classes">The number of classes.</param>
    /// <param name="steps">Optimisation steps.</param>
    /// <param name="l2">The weight penalty.</param>
    public static ProbeResult Fit(Tensor trainFeatures, int[] trainLabels, Tensor testFeatures, int[] testLabels, int classes,
                                  int steps = 300, double l2 = 1e-3)
    {
        if (trainFeatures.shape[0] != trainLabels.Length || testFeatures.shape[0] != testLabels.Length)
            throw new ArgumentException("features and labels differ in count");
        if (trainLabels.Concat(testLabels).Any(l => l < 0 || l >= classes))
            throw new ArgumentException($"labels must lie in 0..{classes - 1}");
        using var scope = NewDisposeScope();
        var x = trainFeatures.detach().cpu().to_type(ScalarType.Float32);
        var mean = x.mean([0], keepdim: true);
        var std = x.std(0, keepdim: true) + 1e-6;
        x = (x - mean) / std;
        var xTest = (testFeatures.detach().cpu().to_type(ScalarType.Float32) - mean) / std;
        var y = tensor(trainLabels.Select(l => (long)l).ToArray());
        var yTest = tensor(testLabels.Select(l => (long)l).ToArray());

        long dimension = x.shape[1];
        using var weights = nn.Parameter(zeros(dimension, classes));
        using var bias = nn.Parameter(zeros(classes));
        using var optimizer = optim.Adam([weights, bias], lr: 0.05);
        for (int step = 0; step < steps; step++)
        {
            using var stepScope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(x.matmul(weights) + bias, y) + l2 * weights.pow(2).sum();
            loss.backward();
            optimizer.step();
        }
        using var _ = no_grad();
        double Accuracy(Tensor features, Tensor labels) =>
            (features.matmul(weights) + bias).argmax(1).eq(labels).to_type(ScalarType.Float64).mean().item<double>();
        var predictions = (xTest.matmul(weights) + bias).argmax(1).data<long>().Select(p => (int)p).ToArray();
        double chance = testLabels.GroupBy(l => l).Max(g => g.Count()) / (double)testLabels.Length;
        return new ProbeResult(Accuracy(x, y), Accuracy(xTest, yTest), chance, predictions);
    }
}
