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
}
