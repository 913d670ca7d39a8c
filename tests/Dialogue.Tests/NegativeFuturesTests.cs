using Decomp.Dialogue.Model;
using Decomp.Dialogue.Text;
using Decomp.Dialogue.Training;
using Xunit;

namespace Decomp.Dialogue.Tests;

public class NegativeFuturesTests
{
    private const int EndOfText = 36;

    private static List<EncodedExample> Examples(int[]? pastPrefix = null) => Enumerable.Range(0, 12).Select(i =>
        new EncodedExample(i, [.. pastPrefix ?? [1, 2], i % 30, EndOfText], [5, 6, EndOfText, 7, EndOfText], [i % 30, EndOfText],
                           3, 1 + i % 2, null, false)).ToList();

    private static Gpt2Model Model() => new(Gpt2WeightsTests.TinyConfig(), seed: 4);

    [Fact]
    public void NegativesDependOnTheRecentUtteranceAloneNotOnTheEarlierPast()
    {
        using var model = Model();
        var settings = new SamplingSettings(TopK: 10);
        var a = NegativeFutures.Sample(model, Examples([1, 2]), 3, EndOfText, 8, settings, seed: 3, batchSize: 5);
        var b = NegativeFutures.Sample(model, Examples([9, 9, 9, 4]), 3, EndOfText, 8, settings, seed: 3, batchSize: 5);
        Assert.Equal(a.Futures, b.Futures);
    }

    [Fact]
    public void EachExampleGetsMFuturesOfAtMostItsUtterancesAndLengthLimit()
    {
        using var model = Model();
        var examples = Examples();
        var negatives = NegativeFutures.Sample(model, examples, 4, EndOfText, 8, new SamplingSettings(Temperature: 2), seed: 1, batchSize: 7);
        Assert.Equal(examples.Count, negatives.Futures.Count);
        foreach (var e in examples)
        {
            Assert.Equal(4, negatives.Futures[e.Index].Length);
            foreach (var f in negatives.Futures[e.Index])
            {
                Assert.NotEmpty(f);
                Assert.True(f.Length <= NegativeFutures.LengthLimit(e, 8));
                Assert.True(f.Count(t => t == EndOfText) <= e.FutureUtterances);
            }
        }
    }

    [Fact]
    public void TheCacheRoundTripsAndRefusesOtherExamplesOrDamage()
    {
        using var dir = new TemporaryDirectory();
        using var model = Model();
        var examples = Examples();
        var negatives = NegativeFutures.Sample(model, examples, 2, EndOfText, 8, new SamplingSettings(), seed: 2, batchSize: 8);
        var path = dir.File("epoch-000.bin");
        negatives.Save(path);
        Assert.Equal(negatives.Futures, NegativeFutures.Load(path, examples, 2, 37).Futures);

        var changed = examples.Select(e => e with { Recent = [0, EndOfText] }).ToList();
        var stale = Assert.Throws<InvalidDataException>(() => NegativeFutures.Load(path, changed, 2, 37));
        Assert.Contains(path, stale.Message);
        Assert.Throws<InvalidDataException>(() => NegativeFutures.Load(path, examples, 3, 37));

        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^3]);
        var truncated = Assert.Throws<InvalidDataException>(() => NegativeFutures.Load(path, examples, 2, 37));
        Assert.Contains("truncated", truncated.Message);
    }
}
