using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Decomp.Train.Vision.Evaluation;

/// <summary>How the linear probe is fitted.</summary>
internal sealed record ProbeSettings(int Epochs, int BatchSize, double LearningRate, double WeightDecay);

/// <summary>Accuracies (percent) of a linear probe; top-5 is top-min(5, classes).</summary>
internal sealed record ProbeResult(double Top1, double Top5, double TrainTop1);

/// <summary>
/// Linear evaluation: a linear classifier on frozen, standardised features (mean and deviation of the training features),
/// fitted by Adam with a cosine learning-rate schedule and cross-entropy, then scored on the test features.
/// </summary>
internal static class LinearProbe
{
    /// <summary>Fits on the training features and labels, scores on the test ones. Deterministic for a given seed.</summary>
    public static ProbeResult Fit(Tensor trainFeatures, Tensor trainLabels, Tensor testFeatures, Tensor testLabels, int classes,
                                  ProbeSettings settings, long seed)
    {
        if (trainFeatures.shape[0] != trainLabels.shape[0]) throw new ArgumentException("one label per training feature is needed.", nameof(trainLabels));
        if (testFeatures.shape[0] != testLabels.shape[0]) throw new ArgumentException("one label per test feature is needed.", nameof(testLabels));
        using var scope = NewDisposeScope();
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
                foreach (var group in optimizer.ParamGroups)
                    group.LearningRate = settings.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * batchNumber / totalBatches));
                optimizer.zero_grad();
                var loss = functional.cross_entropy(classifier.forward(train.index_select(0, index)), trainLabels.index_select(0, index));
                loss.backward();
                optimizer.step();
            }
        }
        using var noGrad = no_grad();
        var top5 = Math.Min(5, classes);
        return new ProbeResult(
            TopK(classifier.forward(test), testLabels, 1),
            TopK(classifier.forward(test), testLabels, top5),
            TopK(classifier.forward(train), trainLabels, 1));
    }

    /// <summary>Percentage of rows of <paramref name="logits"/> whose <paramref name="k"/> largest entries include the label.</summary>
    public static double TopK(Tensor logits, Tensor labels, int k)
    {
        using var scope = NewDisposeScope();
        var (_, predicted) = logits.topk(k, 1);
        var hit = predicted.eq(labels.unsqueeze(1)).any(1);
        return 100.0 * hit.sum().item<long>() / labels.shape[0];
    }
}
