using Decomp.Train.Vision;
using Decomp.Train.Vision.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Vision.Tests;

/// <summary>
/// The facade's bounds as the driver uses them (Bounds.InfoNce, Bounds.MemoryBankLoss, MemoryBank through
/// ContrastiveObjective) against a plain float64 loop over the paper's Appendix B.1 pseudo-code.
/// </summary>
public class ObjectiveContractTests
{
    private const double Temperature = 0.3;

    private static double[][] Rows(Tensor t)
    {
        var data = t.to(ScalarType.Float64).data<double>().ToArray();
        var d = (int)t.shape[1];
        return Enumerable.Range(0, (int)t.shape[0]).Select(i => data.Skip(i * d).Take(d).ToArray()).ToArray();
    }

    private static double Cosine(double[] a, double[] b) =>
        a.Zip(b, (x, y) => x * y).Sum() / Math.Sqrt(a.Sum(x => x * x)) / Math.Sqrt(b.Sum(x => x * x));

    private static double LogSumExp(IEnumerable<double> xs)
    {
        var list = xs.ToList();
        var max = list.Max();
        return max + Math.Log(list.Sum(x => Math.Exp(x - max)));
    }

    /// <summary>Per-example (I_NCE(x';y), I_NCE(x'';y), I_IS(x';y|x'')) with candidates [positive, negatives...].</summary>
    private static (double Full, double Restricted, double Conditional) Reference(double[] full, double[] restricted, double[][] candidates)
    {
        var k = candidates.Length;
        var sFull = candidates.Select(c => Cosine(full, c) / Temperature).ToArray();
        var sRestricted = candidates.Select(c => Cosine(restricted, c) / Temperature).ToArray();
        double Nce(double[] s) => s[0] - LogSumExp(s) + Math.Log(k);
        // Pseudo-code: w = softmax(logits_xpp[1:]); Z = (K-1) * sum(w * exp(logits_xp[1:])) + exp(logits_xp[0]).
        var logW = sRestricted.Skip(1).Select(s => s - LogSumExp(sRestricted.Skip(1))).ToArray();
        var logZ = LogSumExp(new[] { sFull[0] }.Concat(sFull.Skip(1).Select((s, j) => Math.Log(k - 1) + logW[j] + s)));
        return (Nce(sFull), Nce(sRestricted), sFull[0] - logZ + Math.Log(k));
    }

    private static (Tensor Full, Tensor Restricted, Tensor Keys, Tensor Memory) Inputs(int b = 6, int d = 5, int n = 9)
    {
        using var g = new Generator(42, CPU);
        return (randn(b, d, generator: g), randn(b, d, generator: g), randn(b, d, generator: g), randn(n, d, generator: g));
    }

    [Theory]
    [InlineData(0.5, true)]
    [InlineData(0.25, false)]
    public void MemoryBankLossMatchesThePseudoCodeWithAQueue(double lambda, bool conditional)
    {
        using var scope = NewDisposeScope();
        var (full, restricted, keys, memory) = Inputs();

        var loss = Bounds.MemoryBankLoss(full, restricted, keys, memory, lambda, Temperature, Similarity.Cosine, conditional);

        var (f, r, k, m) = (Rows(full), Rows(restricted), Rows(keys), Rows(memory));
        var expected = Enumerable.Range(0, f.Length).Select(i => Reference(f[i], r[i], new[] { k[i] }.Concat(m).ToArray())).ToArray();
        var (meanFull, meanRestricted, meanConditional) = (expected.Average(e => e.Full), expected.Average(e => e.Restricted), expected.Average(e => e.Conditional));
        Assert.Equal(meanFull, loss.FullViewInfoNce.item<float>(), 4);
        Assert.Equal(meanRestricted, loss.RestrictedViewInfoNce.item<float>(), 4);
        Assert.Equal(meanConditional, loss.ConditionalInfoNce.item<float>(), 4);
        // The loss adds the pseudo-code's nce terms, each log K minus its bound (K = 1 + 9 queued keys).
        var logK = Math.Log(10);
        var expectedLoss = lambda * (logK - meanFull) + (1 - lambda) * ((logK - meanRestricted) + (conditional ? logK - meanConditional : 0));
        Assert.Equal(expectedLoss, loss.Loss.item<float>(), 4);
    }

    [Fact]
    public void MemoryBankLossWithoutAQueueUsesTheOtherKeysOfTheBatch()
    {
        using var scope = NewDisposeScope();
        var (full, restricted, keys, _) = Inputs();

        var loss = Bounds.MemoryBankLoss(full, restricted, keys, null, 0.5, Temperature, Similarity.Cosine);

        var (f, r, k) = (Rows(full), Rows(restricted), Rows(keys));
        var expected = Enumerable.Range(0, f.Length)
            .Select(i => Reference(f[i], r[i], new[] { k[i] }.Concat(k.Where((_, j) => j != i)).ToArray())).ToArray();
        Assert.Equal(expected.Average(e => e.Full), loss.FullViewInfoNce.item<float>(), 4);
        Assert.Equal(expected.Average(e => e.Conditional), loss.ConditionalInfoNce.item<float>(), 4);
    }

    [Fact]
    public void LambdaOneIsTheInfoNceBaseline()
    {
        using var scope = NewDisposeScope();
        var (full, restricted, keys, memory) = Inputs();

        var decomposed = Bounds.MemoryBankLoss(full, restricted, keys, memory, 1.0, Temperature, Similarity.Cosine);
        var baseline = Bounds.InfoNce(full, keys, memory, Temperature, Similarity.Cosine);

        Assert.Equal(Math.Log(10) - baseline.item<float>(), decomposed.Loss.item<float>(), 5);
    }

    [Fact]
    public void AConstantCriticEstimatesZeroInformation()
    {
        using var scope = NewDisposeScope();
        // Every query equals every key, so every score is the same: no bound can tell the positive from the negatives.
        var same = ones(4, 3);

        var loss = Bounds.MemoryBankLoss(same, same, same, ones(7, 3), 0.5, Temperature, Similarity.Cosine);

        Assert.Equal(0.0, loss.FullViewInfoNce.item<float>(), 5);
        Assert.Equal(0.0, loss.RestrictedViewInfoNce.item<float>(), 5);
        Assert.Equal(0.0, loss.ConditionalInfoNce.item<float>(), 5);
    }

    [Fact]
    public void GradientsReachBothViews()
    {
        using var scope = NewDisposeScope();
        var (full, restricted, keys, memory) = Inputs();
        full.requires_grad = true;
        restricted.requires_grad = true;

        Bounds.MemoryBankLoss(full, restricted, keys, memory, 0.5, Temperature, Similarity.Cosine).Loss.backward();

        Assert.True(full.grad!.abs().sum().item<float>() > 0);
        Assert.True(restricted.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void TheQueueComesBackFromACheckpointWithItsWritePosition()
    {
        using var scope = NewDisposeScope();
        using var original = new ContrastiveObjective(ObjectiveKind.Decomposed, 0.5, 0.2, 12, 3, 4, CPU, seed: 1);
        using var restored = new ContrastiveObjective(ObjectiveKind.Decomposed, 0.5, 0.2, 12, 3, 4, CPU, seed: 2);
        for (var i = 0; i < 5; i++) original.Enqueue(randn(4, 3));
        using var folder = new TempFolder();
        var path = folder.File("checkpoint.safetensors");
        Decomp.Apps.CheckpointFile.Save(path, new Dictionary<string, string>(), original.Save);
        using (var file = Decomp.Apps.CheckpointFile.Open(path)) restored.Load(file);
        var next = randn(4, 3);
        original.Enqueue(next);
        restored.Enqueue(next);
        var queries = randn(4, 3);
        var keys = randn(4, 3);

        var a = original.AgainstQueue(queries, queries, keys);
        var b = restored.AgainstQueue(queries, queries, keys);

        Assert.Equal(a.Loss.item<float>(), b.Loss.item<float>());
        Assert.Equal(a.ConditionalBound!.item<float>(), b.ConditionalBound!.item<float>());
    }

    [Fact]
    public void SimClrObjectiveIsSymmetricInItsTwoViews()
    {
        using var scope = NewDisposeScope();
        using var objective = new ContrastiveObjective(ObjectiveKind.Decomposed, 0.5, 0.5, 0, 8, 6, CPU, seed: 1);
        using var g = new Generator(3, CPU);
        var (a, ar, b, br) = (randn(6, 8, generator: g), randn(6, 8, generator: g), randn(6, 8, generator: g), randn(6, 8, generator: g));

        var forward = objective.InBatchSymmetric(a, ar, b, br);
        var swapped = objective.InBatchSymmetric(b, br, a, ar);

        Assert.Equal(forward.Loss.item<float>(), swapped.Loss.item<float>(), 6);
        Assert.Equal(6, objective.Candidates(6));
    }

    [Fact]
    public void AQueueThatIsNotAWholeNumberOfBatchesIsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => new ContrastiveObjective(ObjectiveKind.InfoNce, 1, 0.2, 10, 3, 4, CPU, seed: 1));

        Assert.Equal("queueSize", e.ParamName);
    }
}
