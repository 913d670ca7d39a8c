using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Decomp.Train.Vision.Evaluation;

/// <summary>
/// Weighted k-nearest-neighbour classification on frozen features (Wu et al., 2018): each query's k most cosine-similar
/// bank features vote for their label with weight exp(similarity / temperature). Cheap enough to watch during training.
/// </summary>
internal static class KnnMonitor
{
    /// <summary>Top-1 accuracy (percent) of classifying <paramref name="queryFeatures"/> by the labelled bank.</summary>
    public static double Top1(Tensor bankFeatures, Tensor bankLabels, Tensor queryFeatures, Tensor queryLabels, int classes, int k, double temperature = 0.1)
    {
        if (bankFeatures.shape[0] != bankLabels.shape[0]) throw new ArgumentException("one label per bank feature is needed.", nameof(bankLabels));
        if (queryFeatures.shape[0] != queryLabels.shape[0]) throw new ArgumentException("one label per query is needed.", nameof(queryLabels));
        using var scope = NewDisposeScope();
        var bank = functional.normalize(bankFeatures.to(ScalarType.Float32), 2, 1);
        var neighbours = (int)Math.Min(k, bank.shape[0]);
        long correct = 0;
        const int chunk = 512;
        for (long start = 0; start < queryFeatures.shape[0]; start += chunk)
        {
            using var inner = NewDisposeScope();
            var length = Math.Min(chunk, queryFeatures.shape[0] - start);
            var queries = functional.normalize(queryFeatures.narrow(0, start, length).to(ScalarType.Float32), 2, 1);
            var (similarity, index) = queries.matmul(bank.t()).topk(neighbours, 1);
            var weights = (similarity / temperature).exp();
            var votes = zeros(length, classes, device: queries.device).scatter_add_(1, bankLabels.index_select(0, index.flatten()).view(length, neighbours), weights);
            correct += votes.argmax(1).eq(queryLabels.narrow(0, start, length)).sum().item<long>();
        }
        return 100.0 * correct / queryFeatures.shape[0];
    }
}
