using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Tests;

/// <summary>Bad input gets an exception a C# developer can act on: it names the parameter and says what was expected.</summary>
[Collection(FiniteCheckCollection.Name)]
public class ErrorTests
{
    private static void Throws<T>(string parameter, Action action, string? mentions = null) where T : ArgumentException
    {
        var e = Assert.ThrowsAny<ArgumentException>(action);
        Assert.IsAssignableFrom<T>(e);
        Assert.Equal(parameter, e.ParamName);
        if (mentions is not null) Assert.Contains(mentions, e.Message);
    }

    [Fact]
    public void WrongRank() => Throws<ArgumentException>("scores", () => Bounds.InfoNce(torch.zeros(5)), "[batch, 1 + negatives]");

    [Fact]
    public void FewerThanTwoCandidates() => Throws<ArgumentException>("scores", () => Bounds.ConditionalInfoNce(torch.zeros(5, 1)), "K >= 2");

    [Fact]
    public void MismatchedBatchSizes()
    {
        Throws<ArgumentException>("keys", () => Bounds.InfoNce(torch.zeros(4, 3), torch.zeros(5, 3)));
        Throws<ArgumentException>("positiveKeys", () => Bounds.InfoNce(torch.zeros(4, 3), torch.zeros(5, 3), torch.zeros(9, 3)));
        Throws<ArgumentException>("conditionalScores", () => Bounds.Decomposed(torch.zeros(4, 3), torch.zeros(5, 3)));
        Throws<ArgumentException>("conditionalNegativeKeys", () => Bounds.ConditionalInfoNce(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(5, 2, 3)));
        Throws<ArgumentException>("keys", () => Bounds.MemoryBankLoss(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(5, 3)));
    }

    [Fact]
    public void WeightsThatDoNotSumToOne() =>
        Throws<ArgumentException>("importanceWeights", () => Bounds.ImportanceSampledConditionalInfoNceWithWeights(torch.zeros(2, 4), torch.full(2, 3, 0.5f)), "sum");

    [Fact]
    public void NegativeWeights() =>
        Throws<ArgumentException>("importanceWeights", () => Bounds.ImportanceSampledConditionalInfoNceWithWeights(torch.zeros(1, 3), torch.tensor(new float[,] { { 1.5f, -0.5f } })), "non-negative");

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void TemperatureMustBePositive(double temperature)
    {
        Throws<ArgumentOutOfRangeException>("temperature", () => Bounds.InfoNce(torch.zeros(4, 3), torch.zeros(4, 3), temperature));
        Throws<ArgumentOutOfRangeException>("temperature", () => Bounds.MemoryBankLoss(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 3), temperature: temperature));
    }

    [Fact]
    public void LambdaOutsideTheUnitInterval() =>
        Throws<ArgumentOutOfRangeException>("lambda", () => Bounds.MemoryBankLoss(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 3), lambda: 1.2));

    [Fact]
    public void TensorsOnDifferentDevices()
    {
        // The "meta" device exists in every libtorch build, so this runs without a GPU.
        using var meta = torch.zeros(new long[] { 4, 3 }, device: torch.device("meta"));
        Throws<ArgumentException>("proposalScores", () => Bounds.ImportanceSampledConditionalInfoNce(torch.zeros(4, 3), meta), "same device");
    }

    [Fact]
    public void DifferentDtypes() =>
        Throws<ArgumentException>("conditionalScores", () => Bounds.Decomposed(torch.zeros(4, 3), torch.zeros(new long[] { 4, 3 }, dtype: ScalarType.Float64)), "dtype");

    [Fact]
    public void NaNInAnInputOnTheCpu()
    {
        var scores = torch.zeros(3, 4);
        scores[1, 2] = torch.tensor(float.NaN);
        Throws<ArgumentException>("scores", () => Bounds.InfoNce(scores), "NaN");
        Throws<ArgumentException>("memory", () => Bounds.MemoryBankLoss(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 3), torch.full(5, 3, float.PositiveInfinity)), "NaN or infinite");
    }

    [Fact]
    public void TheNaNScanCanBeSwitchedOff()
    {
        var previous = DecompSettings.FiniteCheck;
        try
        {
            DecompSettings.FiniteCheck = FiniteCheck.Never;
            using var value = Bounds.InfoNce(torch.full(3, 4, float.NaN));
            Assert.True(float.IsNaN(value.item<float>()));
        }
        finally
        {
            DecompSettings.FiniteCheck = previous;
        }
    }

    [Fact]
    public void MemoryOfTheWrongWidthIsNamedMemory() =>
        Throws<ArgumentException>("memory", () => Bounds.MemoryBankLoss(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(7, 2)), "memory");

    [Fact]
    public void MemoryBankRestoreChecksShapeAndPosition()
    {
        using var bank = new KeyQueue(capacity: 4, dimension: 3, device: torch.CPU);
        Throws<ArgumentException>("keys", () => bank.Restore(torch.zeros(5, 3), 0), "[4, 3]");
        Throws<ArgumentOutOfRangeException>("position", () => bank.Restore(torch.zeros(4, 3), 4), "[0, 4)");
    }

    [Fact]
    public void SymbolMarginalMustBeADistribution() =>
        Throws<ArgumentException>("probabilities", () => SymbolMarginal.FromProbabilities(torch.tensor(new[] { 0.5f, 0.6f })), "sum to 1");

    [Fact]
    public void InvalidReduction() =>
        Throws<ArgumentOutOfRangeException>("reduction", () => Bounds.InfoNce(torch.zeros(4, 3), (Reduction)7));

    [Fact]
    public void NullArguments() => Assert.Throws<ArgumentNullException>(() => Bounds.InfoNce(null!));
}
