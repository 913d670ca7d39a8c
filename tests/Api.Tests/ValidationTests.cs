using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Tests;

/// <summary>
/// Issue 18 §3 from C#: every public entry point refuses NaN, disposed and meta tensors with an
/// <see cref="ArgumentException"/> naming the caller's parameter (the core checks, the facade passes through), and the
/// gaps the issue lists are closed. In the FiniteCheck collection, with every test that changes or relies on
/// <see cref="DecompSettings.FiniteCheck"/>, so that none runs while another has changed it.
/// </summary>
[Collection(FiniteCheckCollection.Name)]
public class ValidationTests
{
    /// <summary>One facade entry point, with every tensor input passed through <c>input(name, tensor)</c>.</summary>
    private sealed record Case(string Name, string[] Scanned, string[] Moved, Action<Func<string, Tensor, Tensor>> Run);

    private static Tensor Randn(long seed, params long[] shape)
    {
        using var generator = new Generator((ulong)seed);
        return torch.randn(shape, dtype: ScalarType.Float64, generator: generator);
    }

    private static Case Scanned(string name, string[] arguments, Action<Func<string, Tensor, Tensor>> run) => new(name, arguments, Array.Empty<string>(), run);

    private static readonly SyntheticGaussian Problem = SyntheticGaussian.Create(2, 1.0, seed: 3);

    private static readonly Case[] Cases =
    {
        Scanned("Bounds.InfoNce(scores)", new[] { "scores" }, a => Bounds.InfoNce(a("scores", Randn(1, 4, 5)))),
        Scanned("Bounds.ConditionalInfoNce(scores)", new[] { "scores" }, a => Bounds.ConditionalInfoNce(a("scores", Randn(1, 4, 5)))),
        Scanned("Bounds.VariationalConditionalInfoNce", new[] { "scores", "klDivergence" }, a => Bounds.VariationalConditionalInfoNce(a("scores", Randn(1, 4, 5)), a("klDivergence", Randn(2, 4).abs()))),
        Scanned("Bounds.SirResample", new[] { "proposalScores" }, a => Bounds.SirResample(a("proposalScores", Randn(1, 4, 6)), 3, new Generator(1))),
        Scanned("Bounds.SirConditionalInfoNce", new[] { "positiveScores", "candidateScores", "proposalScores" },
                a => Bounds.SirConditionalInfoNce(a("positiveScores", Randn(1, 4)), a("candidateScores", Randn(2, 4, 6)), a("proposalScores", Randn(3, 4, 6)), 3, new Generator(1))),
        Scanned("Bounds.ImportanceSampledConditionalInfoNce(scores)", new[] { "scores", "proposalScores" }, a => Bounds.ImportanceSampledConditionalInfoNce(a("scores", Randn(1, 4, 5)), a("proposalScores", Randn(2, 4, 5)))),
        Scanned("Bounds.ImportanceSampledConditionalInfoNceWithWeights", new[] { "scores", "importanceWeights" },
                a => Bounds.ImportanceSampledConditionalInfoNceWithWeights(a("scores", Randn(1, 4, 5)), a("importanceWeights", Randn(2, 4, 4).softmax(1)))),
        Scanned("Bounds.Decomposed(two)", new[] { "unconditionalScores", "conditionalScores" }, a => Bounds.Decomposed(a("unconditionalScores", Randn(1, 4, 5)), a("conditionalScores", Randn(2, 4, 3)))),
        Scanned("Bounds.Decomposed(subviews)", new[] { "scoresPerSubview[0]", "scoresPerSubview[1]" },
                a => Bounds.Decomposed(new[] { a("scoresPerSubview[0]", Randn(1, 4, 5)), a("scoresPerSubview[1]", Randn(2, 4, 3)) })),
        Scanned("Bounds.DecomposedImportanceSampled", new[] { "unconditionalScores", "conditionalScores" },
                a => Bounds.DecomposedImportanceSampled(a("unconditionalScores", Randn(1, 4, 5)), a("conditionalScores", Randn(2, 4, 5)))),
        Scanned("Bounds.InfoNce(queries, keys)", new[] { "queries", "keys" }, a => Bounds.InfoNce(a("queries", Randn(1, 4, 3)), a("keys", Randn(2, 4, 3)))),
        Scanned("Bounds.InfoNce(queries, positiveKeys, negativeKeys)", new[] { "queries", "positiveKeys", "negativeKeys" },
                a => Bounds.InfoNce(a("queries", Randn(1, 4, 3)), a("positiveKeys", Randn(2, 4, 3)), a("negativeKeys", Randn(3, 6, 3)), similarity: Similarity.Cosine)),
        Scanned("Bounds.ConditionalInfoNce(queries, ...)", new[] { "queries", "positiveKeys", "conditionalNegativeKeys" },
                a => Bounds.ConditionalInfoNce(a("queries", Randn(1, 4, 3)), a("positiveKeys", Randn(2, 4, 3)), a("conditionalNegativeKeys", Randn(3, 4, 5, 3)))),
        Scanned("Bounds.ImportanceSampledConditionalInfoNce(queries, ...)", new[] { "queries", "proposalQueries", "positiveKeys", "negativeKeys" },
                a => Bounds.ImportanceSampledConditionalInfoNce(a("queries", Randn(1, 4, 3)), a("proposalQueries", Randn(2, 4, 3)), a("positiveKeys", Randn(3, 4, 3)), a("negativeKeys", Randn(4, 6, 3)))),
        Scanned("Bounds.MemoryBankLoss", new[] { "fullViewQueries", "restrictedViewQueries", "keys", "memory" },
                a => Bounds.MemoryBankLoss(a("fullViewQueries", Randn(1, 4, 3)), a("restrictedViewQueries", Randn(2, 4, 3)), a("keys", Randn(3, 4, 3)), a("memory", Randn(4, 6, 3))).Dispose()),
        Scanned("Bounds.DirectMiCoding", new[] { "predictionLogits", "codes" },
                a => Bounds.DirectMiCoding(a("predictionLogits", Randn(1, 4, 3)), a("codes", Randn(2, 4, 3).softmax(1)), SymbolMarginal.Uniform(3, 0.5, ScalarType.Float64, torch.CPU))),
        Scanned("Bounds.Nwj", new[] { "scores" }, a => Bounds.Nwj(a("scores", Randn(1, 4, 5)))),
        Scanned("Bounds.Tuba", new[] { "scores", "logBaseline" }, a => Bounds.Tuba(a("scores", Randn(1, 4, 5)), a("logBaseline", Randn(2, 4)))),
        Scanned("Bounds.DonskerVaradhan", new[] { "scores" }, a => Bounds.DonskerVaradhan(a("scores", Randn(1, 4, 5)))),
        Scanned("Bounds.Smile", new[] { "scores" }, a => Bounds.Smile(a("scores", Randn(1, 4, 5)))),
        Scanned("Bounds.JensenShannon", new[] { "scores" }, a => Bounds.JensenShannon(a("scores", Randn(1, 4, 5)))),
        Scanned("Bounds.JensenShannonObjective", new[] { "scores" }, a => Bounds.JensenShannonObjective(a("scores", Randn(1, 4, 5)))),
        Scanned("MineEstimator.Estimate", new[] { "scores" }, a => new MineEstimator().Estimate(a("scores", Randn(1, 4, 5)))),
        Scanned("Critics.Dot", new[] { "queries", "keys" }, a => Critics.Dot(a("queries", Randn(1, 4, 3)), a("keys", Randn(2, 5, 3)))),
        Scanned("Critics.Cosine", new[] { "queries", "keys" }, a => Critics.Cosine(a("queries", Randn(1, 4, 3)), a("keys", Randn(2, 5, 3)))),
        Scanned("Critics.Separable", new[] { "queries", "keys" }, a => Critics.Separable(a("queries", Randn(1, 4, 3)), a("keys", Randn(2, 5, 3)))),
        Scanned("Critics.Bilinear", new[] { "weight", "queries", "keys" }, a => Critics.Bilinear(a("weight", Randn(3, 3, 2)), a("queries", Randn(1, 4, 3)), a("keys", Randn(2, 5, 2)))),
        Scanned("Critics.Concatenation", new[] { "queries", "keys" }, a => Critics.Concatenation(t => t.sum(-1, keepdim: true), a("queries", Randn(1, 4, 3)), a("keys", Randn(2, 5, 2)))),
        Scanned("Critics.Conditional", new[] { "firstView", "secondView", "keys" },
                a => Critics.Conditional(Critics.Dot, a("firstView", Randn(1, 4, 2)), a("secondView", Randn(2, 4, 1)), a("keys", Randn(3, 5, 3)))),
        Scanned("Critics.ScoresOf", new[] { "queries", "positiveKeys", "negativeKeys" },
                a => Critics.ScoresOf(Critics.Dot, a("queries", Randn(1, 4, 3)), a("positiveKeys", Randn(2, 4, 3)), a("negativeKeys", Randn(3, 6, 3)))),
        Scanned("Critics.InBatchScores", new[] { "queries", "keys" }, a => Critics.InBatchScores(Critics.Dot, a("queries", Randn(1, 4, 3)), a("keys", Randn(2, 4, 3)))),
        Scanned("Proposals.GaussianLogDensity", new[] { "mean", "logStd", "y" }, a => Proposals.GaussianLogDensity(a("mean", Randn(1, 4, 3)), a("logStd", Randn(2, 4, 3)), a("y", Randn(3, 4, 3)))),
        Scanned("Proposals.SampleGaussian", new[] { "mean", "logStd" }, a => Proposals.SampleGaussian(a("mean", Randn(1, 4, 3)), a("logStd", Randn(2, 4, 3)), 2, new Generator(1))),
        Scanned("Proposals.NegativeLogLikelihood", new[] { "logDensities" }, a => Proposals.NegativeLogLikelihood(a("logDensities", Randn(1, 4)))),
        Scanned("Proposals.KlMonteCarlo", new[] { "logTrueDensities", "logProposalDensities" }, a => Proposals.KlMonteCarlo(a("logTrueDensities", Randn(1, 4)), a("logProposalDensities", Randn(2, 4)))),
        new("Proposals.SplitParameters", Array.Empty<string>(), new[] { "output" }, a => Proposals.SplitParameters(a("output", Randn(1, 4, 6)))),
        new("Scores.OfInBatch", Array.Empty<string>(), new[] { "matrix" }, a => Scores.OfInBatch(a("matrix", Randn(1, 3, 3)))),
        new("Scores.OfPositiveAndNegatives", Array.Empty<string>(), new[] { "positive", "negatives" }, a => Scores.OfPositiveAndNegatives(a("positive", Randn(1, 3)), a("negatives", Randn(2, 3, 2)))),
        new("Scores.Candidates", Array.Empty<string>(), new[] { "scores" }, a => Scores.Candidates(a("scores", Randn(1, 3, 4)))),
        Scanned("SymbolMarginal.FromProbabilities", new[] { "probabilities" }, a => SymbolMarginal.FromProbabilities(a("probabilities", Randn(1, 3).softmax(0)))),
        Scanned("SymbolMarginal.Update", new[] { "codes" }, a => SymbolMarginal.Uniform(3, 0.5, ScalarType.Float64, torch.CPU).Update(a("codes", Randn(1, 4, 3).softmax(1)))),
        Scanned("KeyQueue.Enqueue", new[] { "keys" }, a => { using var bank = new KeyQueue(8, 3, torch.CPU, ScalarType.Float64); bank.Enqueue(a("keys", Randn(1, 2, 3))); }),
        Scanned("KeyQueue.Restore", new[] { "keys" }, a => { using var bank = new KeyQueue(8, 3, torch.CPU, ScalarType.Float64); bank.Restore(a("keys", Randn(1, 8, 3)), 0); }),
        Scanned("SyntheticGaussian.SampleYGivenFirstView", new[] { "firstView" }, a => Problem.SampleYGivenFirstView(a("firstView", Randn(1, 4, 2)), 3, new Generator(1))),
        Scanned("SyntheticGaussian.OptimalCritic", new[] { "firstView", "secondView", "candidates" },
                a => Problem.OptimalCritic(a("firstView", Randn(1, 4, 2)), a("secondView", Randn(2, 4, 2)), a("candidates", Randn(3, 4, 3, 2)))),
        Scanned("SyntheticGaussian.OptimalFirstViewCritic", new[] { "firstView", "candidates" },
                a => Problem.OptimalFirstViewCritic(a("firstView", Randn(1, 4, 2)), a("candidates", Randn(3, 4, 3, 2)))),
        Scanned("SyntheticGaussian.OptimalConditionalCritic", new[] { "firstView", "secondView", "candidates" },
                a => Problem.OptimalConditionalCritic(a("firstView", Randn(1, 4, 2)), a("secondView", Randn(2, 4, 2)), a("candidates", Randn(3, 4, 3, 2)))),
    };

    public static TheoryData<string> Names() => new(Cases.Select(c => c.Name));

    public static TheoryData<string, string> ScannedArguments() => Pairs(c => c.Scanned);

    public static TheoryData<string, string> AllArguments() => Pairs(c => c.Scanned.Concat(c.Moved));

    private static TheoryData<string, string> Pairs(Func<Case, IEnumerable<string>> arguments)
    {
        var data = new TheoryData<string, string>();
        foreach (var c in Cases)
            foreach (var argument in arguments(c)) data.Add(c.Name, argument);
        return data;
    }

    private static void Run(string caseName, string argument, Func<Tensor, Tensor> replace)
    {
        using var scope = torch.NewDisposeScope();
        Cases.Single(c => c.Name == caseName).Run((name, t) => name == argument ? replace(t) : t);
    }

    private static void ThrowsNaming(string argument, Action action)
    {
        var e = Assert.ThrowsAny<ArgumentException>(action);
        Assert.Equal(argument, e.ParamName);
    }

    private static Tensor WithFirstNaN(Tensor t)
    {
        var copy = t.detach().clone();
        copy.view(-1)[0] = torch.tensor(double.NaN, dtype: copy.dtype);
        return copy;
    }

    private static Tensor Disposed(Tensor t)
    {
        var copy = t.detach().clone();
        copy.Dispose();
        return copy;
    }

    private static Tensor Meta(Tensor t) => torch.empty(t.shape, dtype: t.dtype, device: torch.device("meta"));

    // Without this, a case built on wrong inputs would pass the sweeps below for the wrong reason.
    [Theory]
    [MemberData(nameof(Names))]
    public void ValidInputsAreAccepted(string caseName) => Run(caseName, "", t => t);

    [Theory]
    [MemberData(nameof(ScannedArguments))]
    public void NaNIsRefusedByName(string caseName, string argument) => ThrowsNaming(argument, () => Run(caseName, argument, WithFirstNaN));

    [Theory]
    [MemberData(nameof(AllArguments))]
    public void ADisposedTensorIsRefusedByName(string caseName, string argument) => ThrowsNaming(argument, () => Run(caseName, argument, Disposed));

    [Theory]
    [MemberData(nameof(AllArguments))]
    public void AMetaTensorIsRefusedByName(string caseName, string argument) => ThrowsNaming(argument, () => Run(caseName, argument, Meta));

    [Theory]
    [InlineData(ScalarType.Int64)]
    [InlineData(ScalarType.Int32)]
    [InlineData(ScalarType.Bool)]
    public void MemoryBankRefusesIntegerAndBoolDtypes(ScalarType dtype) => ThrowsNaming("dtype", () => new KeyQueue(4, 3, torch.CPU, dtype));

    [Fact]
    public void MemoryBankRefusesTheMetaDeviceAndMetaOrNaNKeys()
    {
        ThrowsNaming("device", () => new KeyQueue(4, 3, torch.device("meta")));
        using var bank = new KeyQueue(4, 3, torch.CPU);
        ThrowsNaming("keys", () => bank.Enqueue(torch.zeros(new long[] { 2, 3 }, device: torch.device("meta"))));
        ThrowsNaming("keys", () => bank.Enqueue(torch.full(2, 3, float.NaN)));
        using var keys = bank.Keys;
        Assert.True(torch.isfinite(keys).all().item<bool>(), "the queue is unchanged");
    }

    [Fact]
    public void MetaTensorsInTheDecomposedBoundsAreNamed()
    {
        using var meta = torch.zeros(new long[] { 4, 3 }, device: torch.device("meta"));
        ThrowsNaming("unconditionalScores", () => Bounds.DecomposedImportanceSampled(meta, meta));
        ThrowsNaming("scores", () => Bounds.ImportanceSampledConditionalInfoNce(meta, meta));
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("+infinity")]
    [InlineData("a row of -infinity")]
    public void SirResampleRefusesWhatIsNoDistributionEvenWithTheScanOff(string what)
    {
        var scores = Randn(1, 3, 5);
        if (what == "NaN") scores[0, 1] = torch.tensor(double.NaN);
        else if (what == "+infinity") scores[2, 3] = torch.tensor(double.PositiveInfinity);
        else scores[1] = torch.tensor(double.NegativeInfinity);
        var previous = DecompSettings.FiniteCheck;
        try
        {
            foreach (var setting in new[] { FiniteCheck.CpuOnly, FiniteCheck.Never })
            {
                DecompSettings.FiniteCheck = setting;
                ThrowsNaming("proposalScores", () => Bounds.SirResample(scores, 2, new Generator(1)));
            }
        }
        finally
        {
            DecompSettings.FiniteCheck = previous;
        }
    }

    [Fact]
    public void SoftCodesMustBeDistributions()
    {
        var marginal = SymbolMarginal.Uniform(3, 0.5, ScalarType.Float64, torch.CPU);
        var codes = torch.tensor(new double[,] { { 0.5, 0.6, 0.1 }, { 1, 0, 0 } });
        ThrowsNaming("codes", () => marginal.Update(codes));
        ThrowsNaming("codes", () => Bounds.DirectMiCoding(Randn(1, 2, 3), codes, marginal));
    }

    [Fact]
    public void TheMemoryBankLossNamesTheCallersArgumentForAnEmptyBatch()
    {
        using var memory = Randn(1, 5, 3);
        ThrowsNaming("fullViewQueries", () => Bounds.MemoryBankLoss(torch.zeros(0, 3), torch.zeros(0, 3), torch.zeros(0, 3), memory));
    }

    [Fact]
    public void SyntheticGaussianErrorsNameItsOwnParameters()
    {
        ThrowsNaming("count", () => Problem.SampleJoint(0, new Generator(1)));
        ThrowsNaming("totalMutualInformation", () => SyntheticGaussian.Create(2, -1.0));
        var e = Assert.ThrowsAny<ArgumentException>(() => Problem.OptimalCritic(Randn(1, 4, 2), Randn(2, 3, 2), Randn(3, 4, 3, 2)));
        Assert.Equal("secondView", e.ParamName);
        Assert.Contains("firstView", e.Message);
        Assert.DoesNotContain("x1", e.Message);
    }

    [Fact]
    public void ProposalQueriesOfAnotherShapeAreNamed() =>
        ThrowsNaming("proposalQueries", () => Bounds.ImportanceSampledConditionalInfoNce(Randn(1, 4, 3), Randn(2, 5, 3), Randn(3, 4, 3), Randn(4, 6, 3)));
}

/// <summary>The tests that change <see cref="DecompSettings.FiniteCheck"/> or rely on its default run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class FiniteCheckCollection
{
    public const string Name = "FiniteCheck";
}
