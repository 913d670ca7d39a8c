using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using Core = Decomp.Core;

namespace Decomp.Tests;

/// <summary>Every bound of the facade returns what the F# core returns on the same tensors.</summary>
public class AgreementTests
{
    private static Tensor Randn(long seed, params long[] shape)
    {
        using var generator = new Generator((ulong)seed);
        return torch.randn(shape, dtype: ScalarType.Float64, generator: generator);
    }

    private static void Same(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(torch.allclose(expected, actual, rtol: 1e-12, atol: 1e-12), $"facade {actual.ToString(TorchSharp.TensorStringStyle.Julia)} vs core {expected.ToString(TorchSharp.TensorStringStyle.Julia)}");
    }

    [Fact]
    public void ScoreMatrixBoundsAgreeWithTheCore()
    {
        using var scope = torch.NewDisposeScope();
        var scores = Randn(1, 6, 9);
        var proposal = Randn(2, 6, 9);
        var kl = Randn(3, 6).abs();
        Same(Core.Bounds.infoNce(scores), Bounds.InfoNce(scores, Reduction.None));
        Same(Core.Bounds.infoNce(scores).mean(), Bounds.InfoNce(scores));
        Same(Core.Bounds.infoNce(scores).sum(), Bounds.InfoNce(scores, Reduction.Sum));
        Same(Core.Bounds.conditionalInfoNce(scores), Bounds.ConditionalInfoNce(scores, Reduction.None));
        Same(Core.Bounds.variationalConditionalInfoNce(scores, kl), Bounds.VariationalConditionalInfoNce(scores, kl, Reduction.None));
        Same(Core.Bounds.importanceSampledConditionalInfoNce(scores, proposal), Bounds.ImportanceSampledConditionalInfoNce(scores, proposal, Reduction.None));
        Same(Core.Decomposition.decomposedInfoNce(scores, proposal), Bounds.Decomposed(scores, proposal, Reduction.None));
        Same(Core.Decomposition.decomposedInfoNceImportanceSampled(scores, proposal), Bounds.DecomposedImportanceSampled(scores, proposal, Reduction.None));
        Same(Core.Decomposition.decomposedInfoNceOverSubviews(new[] { scores, proposal, kl.unsqueeze(1).expand(6, 3) }),
             Bounds.Decomposed(new[] { scores, proposal, kl.unsqueeze(1).expand(6, 3) }, Reduction.None));
        Same(Core.Baselines.nwj(scores), Bounds.Nwj(scores, Reduction.None));
        Same(Core.Baselines.tuba(scores, kl), Bounds.Tuba(scores, kl, Reduction.None));
        Same(Core.Baselines.donskerVaradhan(scores), Bounds.DonskerVaradhan(scores, Reduction.None));
        Same(Core.Baselines.smile(scores, 3.0), Bounds.Smile(scores, 3.0, Reduction.None));
        Same(Core.Baselines.jensenShannon(scores), Bounds.JensenShannon(scores, Reduction.None));
        Same(Core.Baselines.jensenShannonObjective(scores), Bounds.JensenShannonObjective(scores, Reduction.None));
        Assert.Equal(Math.Log(9), Bounds.InfoNceCap(9), 12);
        Assert.Equal(3 * Math.Log(64), Bounds.DecomposedCap(new[] { 64, 64, 64 }), 12);
    }

    [Fact]
    public void SirAgreesWithTheCoreForTheSameGenerator()
    {
        using var scope = torch.NewDisposeScope();
        var positive = Randn(4, 5);
        var candidates = Randn(5, 5, 12);
        var proposal = Randn(6, 5, 12);
        using var g1 = new Generator(9);
        using var g2 = new Generator(9);
        Same(Core.Bounds.sirConditionalInfoNce(positive, candidates, proposal, 7, g1), Bounds.SirConditionalInfoNce(positive, candidates, proposal, 7, g2, Reduction.None));
    }

    [Fact]
    public void ExplicitWeightsGiveTheSameIsBoundAsTheCriticThatProducesThem()
    {
        using var scope = torch.NewDisposeScope();
        var scores = Randn(7, 4, 6);
        var proposal = Randn(8, 4, 6);
        var weights = proposal.narrow(1, 1, 5).softmax(1);
        Assert.True(torch.allclose(Bounds.ImportanceSampledConditionalInfoNce(scores, proposal, Reduction.None),
                                   Bounds.ImportanceSampledConditionalInfoNceWithWeights(scores, weights, Reduction.None), rtol: 1e-10, atol: 1e-10));
    }

    [Fact]
    public void EmbeddingOverloadsAreTheCoreCriticsFollowedByTheCoreBounds()
    {
        using var scope = torch.NewDisposeScope();
        var queries = Randn(10, 5, 4);
        var proposalQueries = Randn(11, 5, 4);
        var keys = Randn(12, 5, 4);
        var bank = Randn(13, 16, 4);
        var perExample = Randn(14, 5, 3, 4);
        var cosine = Microsoft.FSharp.Core.FuncConvert.FromFunc<Tensor, Tensor, Tensor>((q, k) => Core.Critics.cosine(0.5, q, k));
        var dot = Microsoft.FSharp.Core.FuncConvert.FromFunc<Tensor, Tensor, Tensor>((q, k) => Core.Critics.dot(q, k));
        Same(Core.Bounds.infoNce(Core.Critics.inBatchScores(cosine, queries, keys)), Bounds.InfoNce(queries, keys, 0.5, Similarity.Cosine, Reduction.None));
        Same(Core.Bounds.infoNce(Core.Critics.scores(dot, queries, keys, bank)), Bounds.InfoNce(queries, keys, bank, reduction: Reduction.None));
        Same(Core.Bounds.conditionalInfoNce(Core.Critics.scores(dot, queries, keys, perExample)), Bounds.ConditionalInfoNce(queries, keys, perExample, reduction: Reduction.None));
        Same(Core.Bounds.importanceSampledConditionalInfoNce(Core.Critics.scores(dot, queries, keys, bank), Core.Critics.scores(dot, proposalQueries, keys, bank)),
             Bounds.ImportanceSampledConditionalInfoNce(queries, proposalQueries, keys, bank, reduction: Reduction.None));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MemoryBankLossAgreesWithTheCore(bool inBatch)
    {
        using var scope = torch.NewDisposeScope();
        var full = Randn(20, 6, 8);
        var restricted = Randn(21, 6, 8);
        var keys = Randn(22, 6, 8);
        var memory = Randn(23, 32, 8);
        var settings = new Core.DecomposedLossSettings(0.3, 0.2, Core.Similarity.Cosine, true);
        var core = Core.MemoryBank.decomposedLoss(settings, full, restricted, keys, inBatch ? null : Microsoft.FSharp.Core.FSharpOption<Tensor>.Some(memory));
        using var facade = Bounds.MemoryBankLoss(full, restricted, keys, inBatch ? null : memory, lambda: 0.3);
        Same(core.Loss, facade.Loss);
        Same(core.FullViewInfoNce, facade.FullViewInfoNce);
        Same(core.RestrictedViewInfoNce, facade.RestrictedViewInfoNce);
        Same(core.ConditionalInfoNce, facade.ConditionalInfoNce);
    }

    [Fact]
    public void DirectMiCodingAgreesWithTheCore()
    {
        using var scope = torch.NewDisposeScope();
        var logits = Randn(30, 7, 5);
        var codes = torch.tensor(new long[] { 0, 1, 2, 3, 4, 0, 1 });
        var marginal = SymbolMarginal.Uniform(5, 0.5, ScalarType.Float64, torch.CPU).Update(codes);
        var coreMarginal = Core.MiCoding.updateMarginal(codes, Core.MiCoding.uniformMarginal(5, 0.5, ScalarType.Float64, torch.CPU));
        Same(coreMarginal.Probabilities, marginal.Probabilities);
        Same(Core.MiCoding.directMiCoding(logits, codes, coreMarginal), Bounds.DirectMiCoding(logits, codes, marginal, Reduction.None));
        Assert.Equal(Math.Log(5), Bounds.DirectMiCodingCap(5), 12);
    }

    [Fact]
    public void MineKeepsItsMovingAverageBetweenCalls()
    {
        using var scope = torch.NewDisposeScope();
        var scores = Randn(40, 6, 5);
        var mine = new MineEstimator(0.5);
        Assert.Null(mine.LogMovingAverage);
        Same(Core.Baselines.donskerVaradhan(scores), mine.Estimate(scores, Reduction.None));
        Assert.NotNull(mine.LogMovingAverage);
    }

    [Fact]
    public void TheSyntheticGaussianExposesTheClosedFormsAndTheChainRule()
    {
        var problem = SyntheticGaussian.Create(20, 10.0, seed: 3);
        Assert.Equal(10.0, problem.MutualInformation, 10);
        Assert.Equal(problem.MutualInformation, problem.MutualInformationFirstView + problem.ConditionalMutualInformation, 10);
        using var generator = new Generator(1);
        var (x1, x2, y) = problem.SampleJoint(4, generator, ScalarType.Float64, torch.CPU);
        using var candidates = problem.SampleYGivenFirstView(x1, 3, generator);
        Assert.Equal(new long[] { 4, 3, 20 }, candidates.shape);
        using var scores = problem.OptimalConditionalCritic(x1, x2, candidates);
        Assert.Equal(new long[] { 4, 3 }, scores.shape);
    }
}
