using Decomp.Apps;
using Decomp.Benchmarks;
using Microsoft.FSharp.Collections;

namespace Decomp.Cli;

/// <summary>What <c>decomp benchmark</c> was asked to do.</summary>
internal sealed record BenchmarkRequest(IReadOnlyList<string> Tasks, int Seeds, int MaxSteps, bool Conditional, bool Quick, string Output);

/// <summary><c>decomp benchmark</c>: bmi's 40 tasks and our conditional tasks through every estimator (src/Benchmarks.Bmi).</summary>
internal static class BenchmarkRun
{
    public static int Execute(BenchmarkRequest request, TextWriter output, TextWriter error)
    {
        using var folder = RunFolder.Acquire(request.Output);
        var d = Benchmark.defaults;
        var options = new BenchmarkOptions(
            ListModule.OfSeq(request.Tasks), d.Estimators, d.Routes, request.Conditional,
            ListModule.OfSeq(Enumerable.Range(0, request.Seeds)), d.Samples, request.MaxSteps, d.Critic, folder.Path,
            request.Quick, d.Progress, d.Threads);
        var result = Benchmark.run(options);
        output.WriteLine($"{result.Runs.Length} runs in {result.Seconds:F0} s. Tasks within 10% of the true MI, per method:");
        foreach (var (method, within, tasks) in result.WithinTenPercent)
            output.WriteLine($"  {method,-28} {within,3} of {tasks}");
        output.WriteLine($"Wrote {result.CsvPath}, {result.MarkdownPath} and {result.HeatmapPath}.");
        return ExitCodes.Success;
    }
}
