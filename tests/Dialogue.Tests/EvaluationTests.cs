using Decomp.Dialogue.Evaluation;
using Decomp.Dialogue.Model;
using Decomp.Dialogue.Text;
using Decomp.Dialogue.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Tests;

public class EvaluationTests(TokenizerFilesFixture files) : IClassFixture<TokenizerFilesFixture>
{
    private static string[] W(string s) => TextMetrics.Words(s);

    [Fact]
    public void WordsAreLowerCasedWithPunctuationApart()
    {
        Assert.Equal(["it", "'", "s", "fine", ".", "ok", "?"], W("It's fine. OK?"));
    }

    [Fact]
    public void BleuIsAHundredForExactMatchesAndZeroWithoutFourGramMatches()
    {
        Assert.Equal(100, TextMetrics.Bleu([W("the cat sat on the mat")], [W("the cat sat on the mat")]), 9);
        Assert.Equal(0, TextMetrics.Bleu([W("the cat sat on a hat")], [W("the cat sat in the mat")]));
    }

    [Fact]
    public void BleuMatchesAHandComputedValueWithClippingAndBrevityPenalty()
    {
        // Hypothesis "a a b c d" against reference "a b c d e f": clipped 1-gram matches 4/5 (a counted once),
        // 2-grams 3/4, 3-grams 2/3, 4-grams 1/2; brevity penalty exp(1 - 6/5).
        double expected = 100 * Math.Exp((Math.Log(4 / 5.0) + Math.Log(3 / 4.0) + Math.Log(2 / 3.0) + Math.Log(1 / 2.0)) / 4 + (1 - 6 / 5.0));
        Assert.Equal(expected, TextMetrics.Bleu([W("a a b c d")], [W("a b c d e f")]), 9);
    }

    [Fact]
    public void SequenceRepetitionCountsRepeatedNGramsWithinEachResponse()
    {
        // "a b a b": 2-grams ab, ba, ab -> 1 - 2/3; "x y z": no repeat -> 0; mean 1/6.
        Assert.Equal(1.0 / 6, TextMetrics.SequenceRepetition([W("a b a b"), W("x y z")], 2)!.Value, 12);
        Assert.Equal(0, TextMetrics.SequenceRepetition([W("a b a b"), W("x y z")], 4)!.Value, 12);
        Assert.Null(TextMetrics.SequenceRepetition([W("a b")], 3));
    }

    [Fact]
    public void DistinctNIsPooledOverResponses()
    {
        // 1-grams: a b a | a c -> 5 total, 3 distinct; 2-grams: ab ba | ac -> 3 total, 3 distinct.
        Assert.Equal(3 / 5.0, TextMetrics.Distinct([W("a b a"), W("a c")], 1)!.Value, 12);
        Assert.Equal(1.0, TextMetrics.Distinct([W("a b a"), W("a c")], 2)!.Value, 12);
    }

    [Fact]
    public void AModelThatPredictsUniformlyHasThePerplexityOfItsVocabulary()
    {
        var vocabulary = Vocabulary.Trimmed(DialogueEncoder.Gpt2IdsOf(files.Tokenizer, [new Data.Dialogue(["one two", "three", "four five", "six"])]));
        var encoder = new DialogueEncoder(files.Tokenizer, vocabulary, 50, 50);
        using var model = new Gpt2Model(Gpt2WeightsTests.TinyConfig(vocabulary.Count), seed: 1);
        using (no_grad())
        {
            // With ln_f's gain and bias at zero every state is 0, so every logit is 0: a uniform prediction.
            foreach (var (name, p) in model.named_parameters()) if (name.StartsWith("ln_f", StringComparison.Ordinal)) p.zero_();
        }
        var examples = Enumerable.Range(0, 5).Select(i => encoder.Encode(new Data.DialogueExample(0, 2, ["one two", "three"], ["four five", "six"], null, false), i)).ToList();
        var evaluator = new Evaluator(model, encoder, new ObjectiveSettings(Method.Gpt2, 0.1, 1, false, UnconditionalView.Past), 2, CPU);
        Assert.Equal(vocabulary.Count, evaluator.LanguageModel(examples).Perplexity, 6);
    }

    [Fact]
    public void AProbeReadsLinearlySeparableClassesAndOnlyChanceFromNoise()
    {
        var generator = new Generator(3);
        int n = 600, classes = 4;
        var labels = Enumerable.Range(0, n).Select(i => i % classes).ToArray();
        using var centres = randn(classes, 8, generator: generator) * 4;
        using var labelTensor = tensor(labels.Select(l => (long)l).ToArray());
        using var separable = centres.index_select(0, labelTensor) + randn(n, 8, generator: generator) * 0.3;
        var fit = Evaluator.FitProbe(separable[..400], labels[..400], separable[400..], labels[400..], classes, seed: 1);
        Assert.True(fit.Accuracy > 0.97, $"accuracy {fit.Accuracy}");

        using var noise = randn(n, 8, generator: generator);
        var chance = Evaluator.FitProbe(noise[..400], labels[..400], noise[400..], labels[400..], classes, seed: 1);
        // 200 test points at p = 1/4: four standard deviations of a binomial proportion above chance.
        double bound = 0.25 + 4 * Math.Sqrt(0.25 * 0.75 / 200);
        Assert.True(chance.Accuracy < bound, $"accuracy {chance.Accuracy} on noise exceeds {bound}");
        Assert.Equal(0.25, chance.Chance, 9);
    }
}
