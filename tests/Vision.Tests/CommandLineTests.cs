using Decomp.Apps;
using Decomp.Train.Vision.Cli;
using Decomp.Train.Vision.Reporting;
using Decomp.Train.Vision.Training;
using Xunit;

namespace Decomp.Vision.Tests;

public class CommandLineTests
{
    /// <summary>Runs the command line in-process; the checkpoint tests use it too.</summary>
    internal static (int Code, string Output, string Error) Run(params string[] args)
    {
        var (output, error) = (new StringWriter(), new StringWriter());
        var code = CommandLineApp.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>One line starting "error: ", no stack trace.</summary>
    internal static void AssertOneLineError(string error)
    {
        Assert.StartsWith("error: ", error);
        Assert.Single(error.TrimEnd().Split('\n'));
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public void HelpDocumentsEveryOption()
    {
        var (code, output, _) = Run("--help");

        Assert.Equal(0, code);
        foreach (var binding in OptionTable.All)
        {
            Assert.Contains(binding.Option.Name, output);
            Assert.False(string.IsNullOrWhiteSpace(binding.Option.Description), $"{binding.Option.Name} has no description");
        }
        Assert.Contains("summarize", output);
    }

    [Fact]
    public void EveryTrainingOptionIsReachableFromTheCommandLine()
    {
        // WorldSize is the driver's record of how many mpirun ranks trained the run, not an option.
        var settable = typeof(TrainingOptions).GetProperties().Where(p => p.SetMethod is not null && p.Name != nameof(TrainingOptions.WorldSize)).Select(p => p.Name);

        Assert.Empty(settable.Except(OptionTable.All.Select(b => b.Property)));
    }

    [Theory]
    [InlineData("--bogus")]
    [InlineData("--objective", "magic")]
    [InlineData("--batch-size", "many")]
    public void AnArgumentTheParserRejectsIsAOneLineErrorWithCodeTwo(params string[] args)
    {
        var (code, _, error) = Run(args);

        Assert.Equal(ExitCodes.BadInput, code);
        AssertOneLineError(error);
    }

    [Theory]
    [InlineData("--lambda", "2", "--lambda must lie in [0, 1]")]
    [InlineData("--queue-size", "1000", "--queue-size must be a positive multiple of --batch-size")]
    [InlineData("--restricted-scale-min", "0.5", "--restricted-scale-min/--restricted-scale-max")]
    public void AnOutOfRangeValueIsAOneLineErrorThatNamesTheOption(string option, string value, string expected)
    {
        var (code, _, error) = Run(option, value);

        Assert.Equal(ExitCodes.BadInput, code);
        AssertOneLineError(error);
        Assert.Contains(expected, error);
    }

    [Fact]
    public void MissingDataSaysWhatToInstallWithCodeTwo()
    {
        using var temp = new TempFolder();

        var (code, _, error) = Run("--data-dir", temp.Path, "--output", temp.File("run"));

        Assert.Equal(ExitCodes.BadInput, code);
        AssertOneLineError(error);
        Assert.Contains("dataset-fashion-mnist", error);
    }

    [Fact]
    public void CorruptDataIsAnErrorThatNamesTheFile()
    {
        using var temp = new TempFolder();
        Fixtures.WriteIdxDataset(temp.Path, 40, 20);
        var labels = temp.File("t10k-labels-idx1-ubyte.gz");
        File.WriteAllBytes(labels, File.ReadAllBytes(labels)[..12]);

        var (code, _, error) = Run("--data-dir", temp.Path, "--output", temp.File("run"), "--batch-size", "8", "--queue-size", "16", "--bn-splits", "2");

        Assert.Equal(ExitCodes.BadInput, code);
        AssertOneLineError(error);
        Assert.Contains(labels, error);
    }

    [Fact]
    public void MnistWithoutADataFolderIsABadArgument()
    {
        var (code, _, error) = Run("--dataset", "mnist");

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--data-dir is required", error);
    }

    [Fact]
    public void SummarizeTabulatesMeanAndDeviationOverSeeds()
    {
        using var temp = new TempFolder();
        foreach (var (seed, top1, data) in new[] { (1L, 80.0, "d"), (2L, 82.0, "d"), (3L, 50.0, "other data") })
        {
            var folder = temp.File($"run{seed}");
            Directory.CreateDirectory(folder);
            var summary = new RunSummary
            {
                Method = "MoCo, decomposed, crop (lambda 0.5)", Seed = seed, Data = data, Encoder = "SmallCnn", Device = "cpu",
                ProbeTop1 = top1, ProbeTop5 = 99, Options = new TrainingOptions { Seed = seed },
            };
            File.WriteAllText(Path.Combine(folder, TrainingRun.SummaryFile), summary.ToJson());
        }

        var (code, output, _) = Run("summarize", temp.File("run1"), temp.File("run2"), temp.File("run3"), "--markdown", temp.File("table.md"));

        Assert.Equal(0, code);
        // Mean 81, sample standard deviation sqrt(2) = 1.41.
        Assert.Contains("| MoCo, decomposed, crop (lambda 0.5) | 1, 2 | 81.00 ± 1.41 | 99.00 ± 0.00 |", output);
        // A run on other data is not pooled with them.
        Assert.Contains("| MoCo, decomposed, crop (lambda 0.5) | 3 | 50.00 | 99.00 |", output);
        Assert.Equal(output, File.ReadAllText(temp.File("table.md")));
    }

    [Fact]
    public void SummarizeOfAnUnfinishedRunSaysSo()
    {
        using var temp = new TempFolder();

        var (code, _, error) = Run("summarize", temp.Path);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("has not finished", error);
    }
}
