using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Decomp.Apps;

/// <summary>How a linear probe is fitted: epochs over the training features in shuffled minibatches, Adam's peak learning rate and weight decay.</summary>
/// <param name="Epochs">Passes over the training features.</param>
/// <param name="BatchSize">Examples per Adam step.</param>
/// <param name="LearningRate">The peak of the cosine schedule (reached at the first step).</param>
/// <param name="WeightDecay">Adam's L2 penalty on the weights and the bias (its gradient is WeightDecay × w).</param>
public sealed record ProbeSettings(int Epochs, int BatchSize, double LearningRate, double WeightDecay);

/// <summary>
/// What a fitted probe scored, as counts (so that no rate is rounded twice), the rates derived from them, and each test
/// example's predicted class.
/// </summary>
/// <param name="TestExamples">Test examples scored.</param>
/// <param name="TestCorrect">Test examples whose most likely class is their label.</param>
/// <param name="TopK">The k of <paramref name="TestTopKCorrect"/>: min(5, classes).</param>
/// <param name="TestTopKCorrect">Test examples whose label is among the k most likely classes.</param>
/// <param name="TrainExamples">Training examples fitted.</param>
/// <param name="TrainCorrect">Training examples classified correctly.</param>
/// <param name="MajorityClassCount">Test examples of the most frequent test class (what always guessing it scores).</param>
/// <param name="TestPredictions">The most likely class of each test example, in order.</param>
public sealed record ProbeResult(int TestExamples, int TestCorrect, int TopK, int TestTopKCorrect, int TrainExamples, int TrainCorrect,
                                 int MajorityClassCount, IReadOnlyList<int> TestPredictions)
{
    /// <summary>Top-1 accuracy on the test examples, in [0, 1].</summary>
    public double Accuracy => (double)TestCorrect / TestExamples;

    /// <summary>The share of the majority class among the test examples: the accuracy of a constant guess.</summary>
    public double Chance => (double)MajorityClassCount / TestExamples;

    /// <summary>Top-1 accuracy on the test examples in percent (as the vision papers report it).</summary>
    public double AccuracyPercent => 100.0 * TestCorrect / TestExamples;

    /// <summary>Top-<see cref="TopK"/> accuracy on the test examples in percent.</summary>
    public double TopKAccuracyPercent => 100.0 * TestTopKCorrect / TestExamples;

    /// <summary>Top-1 accuracy on the training examples in percent (a large gap to the test one means overfitting).</summary>
    public double TrainAccuracyPercent => 100.0 * TrainCorrect / TrainExamples;

    /// <summary>Top-1 accuracy on the test examples that <paramref name="selected"/> picks (by index), or null when it picks none.</summary>
    /// <param name="testLabels">The test labels the probe was scored on.</param>
    /// <param name="selected">Whether to count the test example of this index.</param>
    public double? AccuracyWhere(IReadOnlyList<int> testLabels, Func<int, bool> selected)
    {
        var chosen = Enumerable.Range(0, testLabels.Count).Where(selected).ToList();
        return chosen.Count == 0 ? null : chosen.Count(i => TestPredictions[i] == testLabels[i]) / (double)chosen.Count;
    }

    /// <summary>Equal counts and equal predictions (the list by its elements, not by reference).</summary>
    public bool Equals(ProbeResult? other) =>
        other is not null && (TestExamples, TestCorrect, TopK, TestTopKCorrect, TrainExamples, TrainCorrect, MajorityClassCount)
            == (other.TestExamples, other.TestCorrect, other.TopK, other.TestTopKCorrect, other.TrainExamples, other.TrainCorrect, other.MajorityClassCount)
        && TestPredictions.SequenceEqual(other.TestPredictions);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(TestExamples, TestCorrect, TestTopKCorrect, TrainCorrect, MajorityClassCount);
}

/// <summary>
/// Linear evaluation, the one probe of Decomp's apps: a linear classifier (weights and bias) on frozen features, standardised
/// by the training features' mean and deviation, fitted by Adam on cross-entropy in shuffled minibatches with a cosine
/// learning rate that falls to zero, then scored on held-out features. It measures what a representation makes linearly
/// readable, not what a stronger reader could extract. The learning rate's decay lets the fit settle at the end instead of
/// stopping wherever a constant step leaves it, and minibatches keep its memory bounded on a data set of any size.
/// </summary>
public static class LinearProbe
{
    /// <summary>
    /// Fits on (<paramref name="trainFeatures"/>, <paramref name="trainLabels"/>) and scores on the test pair.
    /// Deterministic for a given <paramref name="seed"/> on one device; it reseeds TorchSharp's global generator
    /// (the classifier's initial weights are drawn from it).
    /// </summary>
    /// <param name="trainFeatures">Features [N, D], float, on any device.</param>
    /// <param name="trainLabels">Classes [N], int64, in 0..<paramref name="classes"/>-1, on the features' device.</param>
    /// <param name="testFeatures">Held-out features [N', D] on the same device.</param>
    /// <param name="testLabels">Held-out classes [N'].</param>
    /// <param name="classes">The number of classes.</param>
    /// <param name="settings">How the probe is fitted.</param>
    /// <param name="seed">Seeds the initial weights and the minibatch order.</param>
    /// <exception cref="ArgumentException">Features and labels differ in count, a split is empty, or a label lies outside 0..classes-1.</exception>
    public static ProbeResult Fit(Tensor trainFeatures, Tensor trainLabels, Tensor testFeatures, Tensor testLabels, int classes,
                                  ProbeSettings settings, long seed)
    {
        if (trainFeatures.shape[0] != trainLabels.shape[0]) throw new ArgumentException("one label per training feature is needed.", nameof(trainLabels));
        if (testFeatures.shape[0] != testLabels.shape[0]) throw new ArgumentException("one label per test feature is needed.", nameof(testLabels));
        if (trainLabels.shape[0] == 0 || testLabels.shape[0] == 0) throw new ArgumentException("a probe needs training and test examples.", trainLabels.shape[0] == 0 ? nameof(trainLabels) : nameof(testLabels));
        using var scope = NewDisposeScope();
        foreach (var (labels, name) in new[] { (trainLabels, nameof(trainLabels)), (testLabels, nameof(testLabels)) })
            if (labels.min().item<long>() < 0 || labels.max().item<long>() >= classes)
                throw new ArgumentException($"labels must lie in 0..{classes - 1}.", name);
        var device = trainFeatures.device;
        var mean = trainFeatures.mean(new long[] { 0 }, keepdim: true);
        var std = trainFeatures.std(0, keepdim: true) + 1e-6;
        var train = (trainFeatures - mean) / std;
        var test = (testFeatures - mean) / std;
        manual_seed(seed);
        using var classifier = nn.Linear(train.shape[1], classes).to(device);
        using var optimizer = optim.Adam(classifier.parameters(), settings.LearningRate, weight_decay: settings.WeightDecay);
        var n = train.shape[0];
        var batchesPerEpoch = (n + settings.BatchSize - 1) / settings.BatchSize;
        var totalBatches = settings.Epochs * batchesPerEpoch;
        using var generator = new Generator((ulong)seed, device);
        long batchNumber = 0;
        for (var epoch = 0; epoch < settings.Epochs; epoch++)
        {
            using var epochScope = NewDisposeScope();
            var order = randperm(n, device: device, generator: generator);
            for (long start = 0; start < n; start += settings.BatchSize, batchNumber++)
            {
                using var stepScope = NewDisposeScope();
                var index = order.narrow(0, start, Math.Min(settings.BatchSize, n - start));
                // Per minibatch, not per epoch: the schedule is the same curve however the data divides into epochs.
                foreach (var group in optimizer.ParamGroups)
                    group.LearningRate = settings.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * batchNumber / totalBatches));
                optimizer.zero_grad();
                var loss = functional.cross_entropy(classifier.forward(train.index_select(0, index)), trainLabels.index_select(0, index));
                loss.backward();
                optimizer.step();
            }
        }
        using var noGrad = no_grad();
        var topK = Math.Min(5, classes);
        var testLogits = classifier.forward(test);
        var predictions = testLogits.topk(1, 1).indexes.squeeze(1);
        return new ProbeResult(
            TestExamples: (int)test.shape[0],
            TestCorrect: (int)Hits(testLogits, testLabels, 1),
            TopK: topK,
            TestTopKCorrect: (int)Hits(testLogits, testLabels, topK),
            TrainExamples: (int)n,
            TrainCorrect: (int)Hits(classifier.forward(train), trainLabels, 1),
            MajorityClassCount: (int)testLabels.bincount(null, classes).max().item<long>(),
            TestPredictions: predictions.cpu().data<long>().Select(p => (int)p).ToArray());
    }

    /// <summary>How many rows of <paramref name="logits"/> [N, C] have the row's label among their <paramref name="k"/> largest entries.</summary>
    public static long Hits(Tensor logits, Tensor labels, int k)
    {
        using var scope = NewDisposeScope();
        var (_, predicted) = logits.topk(k, 1);
        return predicted.eq(labels.unsqueeze(1)).any(1).sum().item<long>();
    }
}
