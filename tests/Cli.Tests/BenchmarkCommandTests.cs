using Decomp.Apps;
using Xunit;

namespace Decomp.Cli.Tests;

/// <summary><c>decomp benchmark</c>: bmi's tasks through every estimator, from the command line.</summary>
public sealed class BenchmarkCommandTests : IDisposable
{
    private readonly TestFiles files = new();

    public void Dispose() => files.Dispose();

    [Fact]
    public void A_quick_run_of_one_task_writes_the_csv_the_table_and_the_heatmap_and_counts_every_estimator()
    {
        var output = files.PathOf("bench");
        var (code, stdout, stderr) = Cli.Run("benchmark", "--quick", "--tasks", "1v1-normal-0.75", "--no-conditional", "--output", output);
        Assert.True(code == ExitCodes.Success, stderr);
        foreach (var file in new[] { "results.csv", "results.md", "heatmap.png" })
            Assert.True(File.Exists(Path.Combine(output, file)), $"{file} in {output}");
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, File.ReadAllBytes(Path.Combine(output, "heatmap.png"))[..4]);
        // One data row per estimator (7), after the header.
        Assert.Equal(1 + 7, File.ReadAllLines(Path.Combine(output, "results.csv")).Count(l => l.Trim() != ""));
        foreach (var estimator in new[] { "infonce", "nwj", "dv", "mine", "tuba", "smile", "js" })
            Assert.Contains(estimator, stdout);
        Assert.Contains("of 1", stdout);
    }

    [Fact]
    public void An_unknown_task_is_one_line_and_exit_code_2()
    {
        var (code, _, stderr) = Cli.Run("benchmark", "--quick", "--tasks", "no-such-task", "--output", files.PathOf("bench"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no-such-task", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void A_folder_that_holds_a_benchmark_is_continued_only_with_resume_and_with_the_options_it_was_made_with()
    {
        var output = files.PathOf("bench");
        string[] run = ["benchmark", "--quick", "--tasks", "1v1-normal-0.75", "--no-conditional", "--output", output];
        var (code, _, stderr) = Cli.Run(run);
        Assert.True(code == ExitCodes.Success, stderr);
        Assert.True(File.Exists(Path.Combine(output, "benchmark.json")), "the settings are saved for --resume");
        var results = Path.Combine(output, "results.csv");
        var recorded = File.ReadAllBytes(results);

        var again = Cli.Run(run);
        Assert.Equal(ExitCodes.BadInput, again.Code);
        Assert.Contains("already holds a run", again.Err);
        Assert.Contains("--resume", again.Err);
        Assert.Single(again.Err.Trim().Split('\n'));
        Assert.Equal(recorded, File.ReadAllBytes(results));

        var otherSteps = Cli.Run("benchmark", "--resume", "--max-steps", "100", "--output", output);
        Assert.Equal(ExitCodes.BadInput, otherSteps.Code);
        Assert.Contains("--max-steps was 3000, now 100", otherSteps.Err);
        Assert.Equal(recorded, File.ReadAllBytes(results));

        // Options not given come from benchmark.json; an operational one (--threads) may change. Every run is recorded,
        // so nothing trains again and the rows stay as they were.
        var resumed = Cli.Run("benchmark", "--resume", "--threads", "2", "--output", output);
        Assert.True(resumed.Code == ExitCodes.Success, resumed.Err);
        Assert.Contains("7 runs", resumed.Out);
        Assert.DoesNotContain("[1/7]", resumed.Err);
        Assert.Equal(recorded, File.ReadAllBytes(results));
    }

    [Fact]
    public void Resume_where_no_benchmark_ran_is_one_line_naming_the_settings_file_and_exit_code_2()
    {
        var (code, _, stderr) = Cli.Run("benchmark", "--resume", "--output", files.PathOf("empty"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("benchmark.json", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public void A_misspelt_device_is_one_line_and_exit_code_2()
    {
        var (code, _, stderr) = Cli.Run("benchmark", "--quick", "--device", "gpu", "--output", files.PathOf("bench"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--device must be auto, cpu, cuda or cuda:N, not 'gpu'", stderr);
    }
}
