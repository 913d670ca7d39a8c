using System.Text.Json;
using Decomp.Apps;
using Decomp.Dialogue.Model;
using Decomp.Dialogue.Reporting;
using Decomp.Dialogue.Training;
using Xunit;

namespace Decomp.Dialogue.Tests;

/// <summary>Whole runs at toy size: every method trains and reports, and an interrupted run resumes exactly.</summary>
[Collection(WholeRuns.Name)]
public class TrainerTests(TokenizerFilesFixture files) : IClassFixture<TokenizerFilesFixture>
{
    private TrainingOptions Toy(Method method, string output) => new()
    {
        Method = method, CorpusDialogues = 30, EmbeddingSize = 32, Layers = 1, Heads = 2, ContextLength = 128,
        MaxPastTokens = 64, MaxFutureTokens = 32, BatchSize = 8, Epochs = 4, WarmupSteps = 5, Negatives = 2,
        EvalExamples = 100, EvalGenerations = 10, ProbeTrainExamples = 100, Samples = 1, LogSeconds = 3600,
        OutputDirectory = output, Device = "cpu", Threads = 1, TokenizerDirectory = files.Directory,
    };

    [Theory]
    [InlineData(Method.Gpt2)]
    [InlineData(Method.InfoNce)]
    [InlineData(Method.InfoNceS)]
    public void EachMethodTrainsAndWritesItsMetricsLogsAndCurves(Method method)
    {
        using var dir = new TemporaryDirectory();
        var log = new StringWriter();
        var metrics = new TrainingRun(Toy(method, dir.Path), log).Run();

        Assert.Equal("step,epoch,elapsed_s,valid_ppl,valid_infonce,probe_acc,probe_long_range_acc", File.ReadLines(dir.File("eval.csv")).First());
        var eval = CsvRunLog.Read<EvaluationRow>(dir.File("eval.csv")).Select(l => l.Record).ToList();
        Assert.Equal(0, eval[0].Step);
        Assert.True(eval[^1].Perplexity < eval[0].Perplexity, $"validation perplexity went from {eval[0].Perplexity} to {eval[^1].Perplexity}");
        Assert.True(double.IsFinite(metrics.TestPerplexity) && double.IsFinite(metrics.TestInfoNce));
        Assert.NotNull(metrics.ProbeAccuracy);
        Assert.Equal(5, metrics.SeqRep.Count);
        Assert.Equal("epochs", metrics.StopReason);
        var written = JsonSerializer.Deserialize<RunMetrics>(File.ReadAllText(dir.File("metrics.json")), TrainingOptions.JsonOptions)!;
        Assert.Equal(metrics.TestPerplexity, written.TestPerplexity);
        foreach (var png in new[] { "training.png", "validation.png" })
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(dir.File(png))[..4]);
        Assert.True(File.Exists(Path.Combine(dir.Path, "best", "model.safetensors")));
        Assert.Contains("| latent classes | 8 |", File.ReadAllText(dir.File("corpus.md")));
        Assert.Contains("context:", log.ToString());
        Assert.Equal(method == Method.InfoNceS, Directory.Exists(dir.File("negatives")));

        // One row per epoch (the log interval is long): the conditional bound appears from epoch 2 on, InfoNCE's from epoch 1.
        Assert.Equal("step,epoch,elapsed_s,lr,loss,lm_loss,infonce,cond_infonce,steps_per_s", File.ReadLines(dir.File("train.csv")).First());
        var rows = CsvRunLog.Read<TrainRow>(dir.File("train.csv")).Select(l => l.Record).ToList();
        Assert.Equal(4, rows.Count);
        Assert.All(rows, r => Assert.Equal(method != Method.Gpt2, r.InfoNce is { } v && double.IsFinite(v)));
        Assert.Equal(method == Method.InfoNceS ? [false, true, true, true] : [false, false, false, false], rows.Select(r => r.ConditionalInfoNce is { } v && double.IsFinite(v)));
    }

    [Fact]
    public void RandomSplitsVisitEachDialogueOnceAtAFreshSplitPointEachEpoch()
    {
        var dialogues = Enumerable.Range(0, 50).Select(d => new Data.Dialogue(Enumerable.Range(0, 4 + d % 5).Select(i => $"d{d} u{i}").ToList())).ToList();
        var examples = Data.DialogueExamples.From(dialogues);
        var encoded = examples.Select((e, i) => new Text.EncodedExample(i, [i], [i], [i], 1, 1, null, false)).ToList();
        var dialogueOf = examples.Select(e => e.Dialogue).ToArray();
        var options = Toy(Method.Gpt2, "unused");
        var epoch0 = TrainingSession.EpochExamples(options, encoded, dialogueOf, 0);
        var epoch1 = TrainingSession.EpochExamples(options, encoded, dialogueOf, 1);
        foreach (var epoch in new[] { epoch0, epoch1 })
        {
            Assert.Equal(50, epoch.Count);
            Assert.Equal(Enumerable.Range(0, 50), epoch.Select(e => dialogueOf[e.Past[0]]).Order());
            Assert.Equal(Enumerable.Range(0, 50), epoch.Select(e => e.Index)); // positions, for the negatives cache
        }
        Assert.NotEqual(epoch0.Select(e => e.Past[0]).Order(), epoch1.Select(e => e.Past[0]).Order());
        Assert.Equal(epoch0.Select(e => e.Past[0]), TrainingSession.EpochExamples(options, encoded, dialogueOf, 0).Select(e => e.Past[0]));
        var all = TrainingSession.EpochExamples(options with { Splits = SplitChoice.All }, encoded, dialogueOf, 0);
        Assert.Equal(encoded.Count, all.Count);
    }

    [Fact]
    public void AnInterruptedRunResumesToTheSameWeightsAsAnUninterruptedOne()
    {
        using var straight = new TemporaryDirectory();
        using var interrupted = new TemporaryDirectory();
        new TrainingRun(Toy(Method.InfoNceS, straight.Path), TextWriter.Null).Run();

        using var cancel = new CancellationTokenSource();
        var first = new TrainingRun(Toy(Method.InfoNceS, interrupted.Path), TextWriter.Null) { StepCompleted = s => { if (s == 5) cancel.Cancel(); } };
        Assert.Throws<OperationCanceledException>(() => first.Run(cancel.Token));
        Assert.Equal(5, Checkpoint.Load(interrupted.File(Checkpoint.FileName)).State.Step);
        var resumed = new TrainingRun(Toy(Method.InfoNceS, interrupted.Path) with { Resume = true }, TextWriter.Null).Run();

        var a = Checkpoint.Load(straight.File(Checkpoint.FileName));
        var b = Checkpoint.Load(interrupted.File(Checkpoint.FileName));
        Assert.Equal(a.State.Step, b.State.Step);
        foreach (var ((name, pa), (_, pb)) in a.Model.named_parameters().Zip(b.Model.named_parameters()))
            TensorAssert.Identical(pa, pb, name);
        Assert.Equal(File.ReadAllText(straight.File("train.csv")).Split('\n').Length, File.ReadAllText(interrupted.File("train.csv")).Split('\n').Length);
    }

    [Fact]
    public void AFinishedRunIsNotOverwrittenWithoutResume()
    {
        using var dir = new TemporaryDirectory();
        new TrainingRun(Toy(Method.Gpt2, dir.Path) with { Epochs = 1 }, TextWriter.Null).Run();
        var e = Assert.Throws<ArgumentException>(() => new TrainingRun(Toy(Method.Gpt2, dir.Path), TextWriter.Null).Run());
        Assert.Contains("--resume", e.Message);
        var changed = Assert.Throws<ArgumentException>(() => new TrainingRun(Toy(Method.InfoNce, dir.Path) with { Resume = true }, TextWriter.Null).Run());
        Assert.Contains("differ", changed.Message);
    }

    [Fact]
    public void ACheckpointLoadsAsPretrainedHuggingFaceWeights()
    {
        using var dir = new TemporaryDirectory();
        new TrainingRun(Toy(Method.Gpt2, dir.Path) with { Epochs = 1 }, TextWriter.Null).Run();
        using var best = Gpt2Weights.Load(Path.Combine(dir.Path, "best"));
        Assert.Equal(32, best.Config.EmbeddingSize);
        var vocabulary = JsonSerializer.Deserialize<int[]>(File.ReadAllText(Path.Combine(dir.Path, "best", "vocabulary.json")))!;
        Assert.Equal(best.Config.VocabSize, vocabulary.Length);
    }
}
