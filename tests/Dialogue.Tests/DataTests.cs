using Decomp.Dialogue.Data;
using Xunit;

namespace Decomp.Dialogue.Tests;

public class DataTests
{
    private static string Fixture(string path) => Path.Combine(AppContext.BaseDirectory, "Fixtures", path);

    [Fact]
    public void WizardOfWikipediaJsonYieldsEachTurnsTextInOrder()
    {
        var corpus = WizardOfWikipedia.Load(Fixture("wow"));
        Assert.Equal((2, 1, 1), (corpus.Train.Count, corpus.Valid.Count, corpus.Test.Count));
        Assert.Equal(["Kites are tethered craft that fly on the wind.", "I flew one as a kid! It was red.",
                      "Some kites have no tail at all.", "Really? I thought they all needed one."], corpus.Train[0].Utterances);
        Assert.Equal(3, corpus.Test[0].Utterances.Count);
        Assert.False(corpus.HasLatent);
    }

    [Fact]
    public void WizardOfWikipediaRejectsAFileWithoutDialogs()
    {
        using var dir = new TemporaryDirectory();
        var path = dir.File("train.json");
        File.WriteAllText(path, "[{\"chosen_topic\": \"x\"}]");
        var e = Assert.Throws<InvalidDataException>(() => WizardOfWikipedia.LoadFile(path));
        Assert.Contains(path, e.Message);
        File.WriteAllText(path, "[{\"dialog\": [");
        e = Assert.Throws<InvalidDataException>(() => WizardOfWikipedia.LoadFile(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void WizardOfWikipediaNamesTheSplitItWasAskedFor()
    {
        var e = Assert.Throws<FileNotFoundException>(() => WizardOfWikipedia.Load(Fixture("wow"), "topic"));
        Assert.Contains("valid_topic_split.json", e.Message);
        Assert.Throws<ArgumentException>(() => WizardOfWikipedia.Load(Fixture("wow"), "seen"));
    }

    [Fact]
    public void DailyDialogTextSplitsAtEndOfUtteranceMarkers()
    {
        var corpus = DailyDialog.Load(Fixture("dailydialog"));
        Assert.Equal((2, 1, 1), (corpus.Train.Count, corpus.Valid.Count, corpus.Test.Count));
        Assert.Equal(["Do you want to walk to the market later ?", "Sure , I need some apples anyway .", "Great , let us meet at five ."],
                     corpus.Train[0].Utterances);
        Assert.Equal(["Is the printer working again ?", "Yes , I changed the paper . It\u2019s fine now !"], corpus.Train[1].Utterances);
        Assert.Equal(4, corpus.Test[0].Utterances.Count);
    }

    [Fact]
    public void DailyDialogRejectsLinesWithoutMarkersByFileAndLine()
    {
        using var dir = new TemporaryDirectory();
        var path = dir.File("dialogues_train.txt");
        File.WriteAllText(path, "a __eou__ b __eou__\njust text\n");
        var e = Assert.Throws<InvalidDataException>(() => DailyDialog.LoadFile(path));
        Assert.Contains(path + ":2", e.Message);
    }

    [Fact]
    public void ExamplesCoverEverySplitPointWithBoundedPastAndFuture()
    {
        var dialogue = new Data.Dialogue(Enumerable.Range(1, 9).Select(i => $"u{i}").ToList());
        var examples = DialogueExamples.From([dialogue]);
        Assert.Equal(Enumerable.Range(2, 7), examples.Select(e => e.SplitPoint)); // 1 < k < L = 9
        foreach (var e in examples)
        {
            Assert.Equal($"u{e.SplitPoint}", e.Recent);
            Assert.Equal(Math.Min(5, e.SplitPoint), e.Past.Count);
            Assert.Equal($"u{e.SplitPoint + 1}", e.Future[0]);
            Assert.Equal(Math.Min(3, 9 - e.SplitPoint), e.Future.Count);
        }
        Assert.Equal(["u4", "u5", "u6", "u7", "u8"], examples.Single(e => e.SplitPoint == 8).Past);
        Assert.Empty(DialogueExamples.From([new Data.Dialogue(["a", "b"])]));
    }
}
