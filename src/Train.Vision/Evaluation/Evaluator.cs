using Decomp.Apps;
using Decomp.Train.Vision.Augmentation;
using Decomp.Train.Vision.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Decomp.Train.Vision.Evaluation;

/// <summary>
/// Evaluates an encoder's representation f(x) of un-augmented, normalised images: the k-NN monitor on fixed subsets of
/// the training (bank) and test (query) images, and the linear probe on all of them. Runs the encoder in evaluation mode
/// (batch norm with running statistics) and leaves it in the mode it found it.
/// </summary>
internal sealed class Evaluator
{
    private const int Batch = 256;
    private const long SubsetSeed = 20200523;
    private readonly Tensor trainImages;
    private readonly Tensor trainLabels;
    private readonly Tensor testImages;
    private readonly Tensor testLabels;
    private readonly ViewFactory views;
    private readonly int classes;

    /// <param name="trainImages">uint8 [N, C, H, W] (not owned).</param>
    /// <param name="trainLabels">int64 [N] (not owned).</param>
    /// <param name="testImages">uint8 [M, C, H, W] (not owned).</param>
    /// <param name="testLabels">int64 [M] (not owned).</param>
    /// <param name="views">Supplies the normalisation (not owned).</param>
    /// <param name="classes">Number of classes.</param>
    public Evaluator(Tensor trainImages, Tensor trainLabels, Tensor testImages, Tensor testLabels, ViewFactory views, int classes)
    {
        (this.trainImages, this.trainLabels, this.testImages, this.testLabels, this.views, this.classes) =
            (trainImages, trainLabels, testImages, testLabels, views, classes);
    }

    /// <summary>Top-1 (percent) of weighted k-NN with a bank of up to <paramref name="bankSize"/> training images and up to <paramref name="querySize"/> test images.</summary>
    public double KnnTop1(Encoder encoder, int bankSize, int querySize, int k)
    {
        using var scope = NewDisposeScope();
        var bankIndex = Subset(trainImages.shape[0], bankSize);
        var queryIndex = Subset(testImages.shape[0], querySize);
        var bank = Features(encoder, trainImages.index_select(0, bankIndex));
        var queries = Features(encoder, testImages.index_select(0, queryIndex));
        return KnnMonitor.Top1(bank, trainLabels.index_select(0, bankIndex), queries, testLabels.index_select(0, queryIndex), classes, k);
    }

    /// <summary>Fits and scores the linear probe on all training and test images.</summary>
    public ProbeResult Probe(Encoder encoder, ProbeSettings settings, long seed)
    {
        using var scope = NewDisposeScope();
        var train = Features(encoder, trainImages);
        var test = Features(encoder, testImages);
        return LinearProbe.Fit(train, trainLabels, test, testLabels, classes, settings, seed);
    }

    /// <summary>f(x) of every image in <paramref name="images"/> (uint8), in evaluation mode and without gradient.</summary>
    public Tensor Features(Encoder encoder, Tensor images)
    {
        var wasTraining = encoder.training;
        encoder.eval();
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var parts = new List<Tensor>();
            for (long start = 0; start < images.shape[0]; start += Batch)
            {
                var batch = images.narrow(0, start, Math.Min(Batch, images.shape[0] - start)).to(ScalarType.Float32) / 255.0;
                parts.Add(encoder.Features(views.Normalise(batch)));
            }
            return cat(parts, 0).MoveToOuterDisposeScope();
        }
        finally
        {
            encoder.train(wasTraining);
        }
    }

    private Tensor Subset(long count, int size)
    {
        var order = Seeds.Permutation((int)count, SubsetSeed).Take(Math.Min(size, (int)count)).Select(i => (long)i).ToArray();
        return tensor(order, ScalarType.Int64).to(trainImages.device);
    }
}
