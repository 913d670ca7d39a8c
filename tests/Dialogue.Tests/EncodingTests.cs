using Decomp.Dialogue.Data;
using Decomp.Dialogue.Text;
using Decomp.Dialogue.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Tests;

public class EncodingTests(TokenizerFilesFixture files) : IClassFixture<TokenizerFilesFixture>
{
    private static readonly Data.Dialogue Chat = new(["hello there .", "hi , how are you ?", "fine , thanks .", "good to hear .", "bye ."]);

    private DialogueEncoder Encoder(int maxPast = 100, int maxFuture = 100)
    {
        var vocabulary = Vocabulary.Trimmed(DialogueEncoder.Gpt2IdsOf(files.Tokenizer, [Chat]));
        return new DialogueEncoder(files.Tokenizer, vocabulary, maxPast, maxFuture);
    }

    [Fact]
    public void ATrimmedVocabularyMapsBothWaysAndKeepsEndOfText()
    {
        var vocabulary = Vocabulary.Trimmed([500, 13, 500, 7]);
        Assert.Equal([7, 13, 500, Gpt2Tokenizer.EndOfText], vocabulary.Gpt2Ids);
        Assert.Equal(3, vocabulary.EndOfText);
        Assert.Equal(2, vocabulary.ToModel(500));
        Assert.Equal(13, vocabulary.ToGpt2(1));
        Assert.Throws<KeyNotFoundException>(() => vocabulary.ToModel(8));
        Assert.Throws<ArgumentException>(() => Vocabulary.FromGpt2Ids([13, 7, Gpt2Tokenizer.EndOfText]));
        Assert.True(Vocabulary.Full().IsFull);
    }

    [Fact]
    public void EachUtteranceEndsWithEndOfTextAndDecodesBack()
    {
        var encoder = Encoder();
        var ids = encoder.Utterance("hi , how are you ?");
        Assert.Equal(encoder.Vocabulary.EndOfText, ids[^1]);
        Assert.DoesNotContain(encoder.Vocabulary.EndOfText, ids[..^1]);
        Assert.Equal("hi , how are you ?", encoder.Decode(ids));
    }

    [Fact]
    public void ExamplesKeepThePastsEndAndTheFuturesStart()
    {
        var encoder = Encoder(maxPast: 6, maxFuture: 5);
        var example = DialogueExamples.From([Chat]).Single(e => e.SplitPoint == 3);
        var encoded = encoder.Encode(example, 0);
        var fullPast = example.Past.SelectMany(encoder.Utterance).ToArray();
        var fullFuture = example.Future.SelectMany(encoder.Utterance).ToArray();
        Assert.Equal(fullPast[^6..], encoded.Past);
        Assert.Equal(fullFuture[..5], encoded.Future);
        Assert.Equal(encoder.Utterance("fine , thanks ."), encoded.Recent);
        Assert.Equal(Math.Min(5, encoder.Utterance("good to hear .").Length), encoded.NextUtteranceLength);
        Assert.Equal(2, encoded.FutureUtterances);
    }

    [Fact]
    public void LanguageModelTargetsAreTheFutureTokensShiftedByOne()
    {
        var a = new EncodedExample(0, [1, 2, 3], [4, 5, 9], [3], 2, 2, null, false);
        var b = new EncodedExample(1, [6], [7, 9], [6], 2, 1, null, false);
        using var all = Batches.LanguageModel([a, b], padding: 9, CPU);
        var ignore = Batches.IgnoreIndex;
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 9, 6, 7, 9, 9, 9, 9 }, all.Tokens.data<long>().ToArray());
        Assert.Equal(new long[] { ignore, ignore, 4, 5, 9, ignore, 7, 9, ignore, ignore, ignore, ignore }, all.Targets.data<long>().ToArray());
        Assert.Equal(new long[] { 3, 1 }, all.PastLengths.data<long>().ToArray());
        using var next = Batches.LanguageModel([a, b], padding: 9, CPU, nextUtteranceOnly: true);
        Assert.Equal(new long[] { ignore, ignore, 4, 5, ignore, ignore, 7, 9, ignore, ignore, ignore, ignore }, next.Targets.data<long>().ToArray());
    }
}
