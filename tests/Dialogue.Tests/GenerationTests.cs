using Decomp.Dialogue.Model;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Tests;

public class GenerationTests
{
    private const int EndOfText = 36;

    private static Gpt2Model Model()
    {
        var model = new Gpt2Model(Gpt2WeightsTests.TinyConfig(), seed: 21);
        model.eval();
        return model;
    }

    /// <summary>Greedy continuation by recomputing the whole sequence each step (no cache, no padding).</summary>
    private static int[] ReferenceGreedy(Gpt2Model model, int[] prompt, int utterances, int maxNew)
    {
        using var _ = no_grad();
        var sequence = prompt.ToList();
        var added = new List<int>();
        while (added.Count < maxNew && added.Count(t => t == EndOfText) < utterances)
        {
            using var scope = NewDisposeScope();
            var states = model.Forward(tensor(sequence.Select(t => (long)t).ToArray()).view(1, -1));
            int next = (int)model.Logits(states[0, -1]).argmax().item<long>();
            sequence.Add(next);
            added.Add(next);
        }
        return added.ToArray();
    }

    [Fact]
    public void BatchedCachedGreedyDecodingEqualsRecomputingEachPromptAlone()
    {
        using var model = Model();
        int[][] prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10], [11, 12, 13]];
        int[] utterances = [1, 2, 1, 3];
        var batched = TextGenerator.Generate(model, prompts, utterances, EndOfText, 12, SamplingSettings.ArgMax, seed: 0, batchSize: 4);
        for (int i = 0; i < prompts.Length; i++)
            Assert.Equal(ReferenceGreedy(model, prompts[i], utterances[i], 12), batched[i]);
    }

    [Fact]
    public void GenerationStopsAtTheRequestedUtterancesOrTheTokenLimit()
    {
        using var model = Model();
        var prompts = Enumerable.Range(0, 40).Select(i => new[] { i % 36, (i * 7) % 36 }).ToList();
        var utterances = prompts.Select((_, i) => 1 + i % 3).ToList();
        var limits = prompts.Select((_, i) => 3 + i % 10).ToList();
        var generated = TextGenerator.Generate(model, prompts, utterances, EndOfText, limits, new SamplingSettings(Temperature: 3.0), seed: 5, batchSize: 16);
        for (int i = 0; i < prompts.Count; i++)
        {
            int ends = generated[i].Count(t => t == EndOfText);
            Assert.True(generated[i].Length <= limits[i]);
            Assert.True(ends == utterances[i] ? generated[i][^1] == EndOfText : generated[i].Length == limits[i] && ends < utterances[i],
                        $"row {i}: {ends} end-of-text tokens in {generated[i].Length} tokens (wanted {utterances[i]}, limit {limits[i]})");
        }
    }

    [Fact]
    public void SamplingIsReproducibleForASeedAndVariesAcrossSeeds()
    {
        using var model = Model();
        var prompts = Enumerable.Range(0, 8).Select(i => new[] { i }).ToList();
        var counts = prompts.Select(_ => 2).ToList();
        var sampling = new SamplingSettings(Temperature: 2.0);
        var a = TextGenerator.Generate(model, prompts, counts, EndOfText, 10, sampling, seed: 1);
        var b = TextGenerator.Generate(model, prompts, counts, EndOfText, 10, sampling, seed: 1);
        var c = TextGenerator.Generate(model, prompts, counts, EndOfText, 10, sampling, seed: 2);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void TopOneAndATinyNucleusBothReduceToGreedy()
    {
        using var model = Model();
        var prompts = Enumerable.Range(0, 6).Select(i => new[] { i, i + 1 }).ToList();
        var counts = prompts.Select(_ => 1).ToList();
        var greedy = TextGenerator.Generate(model, prompts, counts, EndOfText, 8, SamplingSettings.ArgMax, seed: 0);
        Assert.Equal(greedy, TextGenerator.Generate(model, prompts, counts, EndOfText, 8, new SamplingSettings(TopK: 1), seed: 9));
        Assert.Equal(greedy, TextGenerator.Generate(model, prompts, counts, EndOfText, 8, new SamplingSettings(TopP: 1e-6), seed: 9));
    }

    [Fact]
    public void TopKKeepsTheKLargestLogits()
    {
        using var logits = tensor(new float[,] { { 0.1f, 3f, -1f, 2f, 0.5f } });
        using var filtered = TextGenerator.Filter(logits, topK: 2, topP: 1.0);
        Assert.Equal(new[] { false, true, false, true, false }, filtered.isfinite().data<bool>().ToArray());
    }

    [Fact]
    public void TopPKeepsTheSmallestSetReachingTheMass()
    {
        // Probabilities 0.5, 0.3, 0.15, 0.05: p = 0.75 needs the first two; p = 0.85 the first three.
        using var logits = tensor(new[] { 0.5, 0.3, 0.15, 0.05 }).log().to_type(ScalarType.Float32).view(1, -1);
        using var two = TextGenerator.Filter(logits, 0, 0.75);
        using var three = TextGenerator.Filter(logits, 0, 0.85);
        Assert.Equal(new[] { true, true, false, false }, two.isfinite().data<bool>().ToArray());
        Assert.Equal(new[] { true, true, true, false }, three.isfinite().data<bool>().ToArray());
    }

    [Fact]
    public void BadSamplingSettingsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new SamplingSettings(TopP: 0).Validated());
        Assert.Throws<ArgumentException>(() => new SamplingSettings(TopK: -1).Validated());
        Assert.Throws<ArgumentException>(() => new SamplingSettings(Temperature: 0).Validated());
    }
}
