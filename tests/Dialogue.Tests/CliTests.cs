using System.Text.Json;
using Decomp.Dialogue.Cli;
using Decomp.Dialogue.Reporting;
using Decomp.Dialogue.Training;
using Xunit;

namespace Decomp.Dialogue.Tests;

public class CliTests
{
    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = Program.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void TrainHelpDocumentsEveryOption()
    {
        var (code, output, _) = Run("train", "--help");
        Assert.Equal(0, code);
        var command = new TrainCommand((_, _) => 0).Command;
        Assert.True(command.Options.Count >= 50);
        foreach (var option in command.Options)
        {
            Assert.Contains(option.Name, output);
            Assert.False(string.IsNullOrWhiteSpace(option.Description), $"{option.Name} has no description");
        }
    }

    [Fact]
    public void EveryTrainOptionNamesOneOptionsPropertySoThatResumeKnowsWhatWasGiven()
    {
        var properties = typeof(TrainingOptions).GetProperties().Select(p => p.Name).ToList();
        var command = new TrainCommand((_, _) => 0).Command;
        foreach (var option in command.Options.Where(o => o.Name is not ("--help" or "-h" or "-?")))
            Assert.True(properties.Count(p => TrainingOptions.FlagFor(p) == option.Name) == 1, $"{option.Name} names no single TrainingOptions property");
    }

    [Fact]
    public void GivenListsOnlyWhatTheCommandLineNames()
    {
        var train = new TrainCommand((_, _) => 0);
        var parse = train.Command.Parse(["--batch-size", "4", "--output", "x", "--resume", "--lr", "0.01"]);

        Assert.Equal(new HashSet<string> { "BatchSize", "OutputDirectory", "Resume", "LearningRate" }, train.Given(parse));
    }

    [Fact]
    public void TheOlderOutSpellingIsGoneAndSaysSo()
    {
        var train = new TrainCommand((_, _) => 0);
        var parse = train.Command.Parse(["--out", "x"]);

        Assert.NotEmpty(parse.Errors);
        Assert.Contains(parse.Errors, e => e.Message.Contains("--out"));
    }

    [Fact]
    public void RootHelpNamesTheCommands()
    {
        var (code, output, _) = Run("--help");
        Assert.Equal(0, code);
        foreach (var c in new[] { "setup", "corpus", "train", "report" }) Assert.Contains(c, output);
    }

    [Theory]
    [InlineData("train", "--batch-size", "many")]
    [InlineData("train", "--method", "contrastive")]
    [InlineData("train", "--no-such-option")]
    [InlineData("train", "--batch-size", "1")]
    [InlineData("train", "--temperature", "warm")]
    [InlineData("train", "--data", "wow")]
    [InlineData("train", "--negative-top-p", "0")]
    public void BadArgumentsGiveOneErrorLineAndAFailingExitCode(params string[] args)
    {
        var (code, output, error) = Run(args);
        Assert.NotEqual(0, code);
        Assert.StartsWith("error: ", error);
        Assert.Single(error.TrimEnd().Split('\n'));
        Assert.DoesNotContain("   at ", error + output);
    }

    [Fact]
    public void OutOfRangeValuesAreReportedWithTheirOption()
    {
        var (_, _, error) = Run("train", "--batch-size", "1");
        Assert.Contains("--batch-size", error);
        (_, _, error) = Run("train", "--data", "dailydialog");
        Assert.Contains("--data-dir", error);
    }

    [Fact]
    public void TheCorpusCommandPrintsStatisticsAndExamples()
    {
        var (code, output, _) = Run("corpus", "--corpus-dialogues", "100", "--show", "1");
        Assert.Equal(0, code);
        Assert.Contains("| latent classes | 8 |", output);
        Assert.Contains("topic: ", output);
        Assert.Contains("[generic]", output);
    }

    [Fact]
    public void TheReportCommandTabulatesRunsAndMeansPerMethod()
    {
        using var dir = new TemporaryDirectory();
        RunMetrics Metrics(string method, long seed, double ppl) => new()
        {
            Method = method, Seed = seed, Corpus = "generated", Model = "tiny", Device = "cpu", Steps = 10, Epochs = 1, TrainSeconds = 1,
            StopReason = "epochs", BestStep = 10, ValidPerplexity = ppl, TestPerplexity = ppl, TestInfoNce = 0.5, Bleu = 1,
            SeqRep = new() { ["2"] = 0.1, ["3"] = 0, ["4"] = 0, ["5"] = 0, ["6"] = 0 }, SeqRepAvg = 0.02,
            Dist = new() { ["1"] = 0.3, ["2"] = 0.5, ["3"] = 0.6 }, ResponseWords = 5, Decoding = "greedy",
            ProbeAccuracy = 0.5, ProbeLongRangeAccuracy = 0.4, ProbeRecentAccuracy = 0.2, ProbeRecentLongRangeAccuracy = 0.13, ProbeChance = 0.125,
        };
        foreach (var (m, s, p) in new[] { ("gpt2", 1L, 10.0), ("gpt2", 2L, 12.0), ("infonce-s", 1L, 9.0) })
        {
            Directory.CreateDirectory(dir.File($"{m}-{s}"));
            File.WriteAllText(Path.Combine(dir.File($"{m}-{s}"), "metrics.json"), JsonSerializer.Serialize(Metrics(m, s, p), TrainingOptions.JsonOptions));
        }
        var (code, output, error) = Run("report", dir.Path, "--output", dir.File("results.md"));
        Assert.True(code == 0, error);
        Assert.Contains("| gpt2 | 2 | ", output);
        Assert.Contains("11.000 ± 1.414", output); // mean and sample std of 10 and 12
        Assert.Contains("| infonce-s | 1 |", output);
        Assert.Equal(output, File.ReadAllText(dir.File("results.md")));
    }

    [Fact]
    public void TheReportCommandNamesAMissingPath()
    {
        var (code, _, error) = Run("report", "/nonexistent/runs");
        Assert.NotEqual(0, code);
        Assert.Contains("/nonexistent/runs", error);
    }
}
