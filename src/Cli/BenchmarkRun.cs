using System.Text.Json;
using Decomp.Apps;
using Decomp.Benchmarks;
using Decomp.Cli.CommandLine;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using TorchSharp;

namespace Decomp.Cli;

/// <summary>
/// What <c>decomp benchmark</c> was asked to do. It is saved as benchmark.json in the run folder, so that <c>--resume</c>
/// continues the same benchmark under the apps' one rule (<see cref="ResumePolicy"/>): the options marked
/// <see cref="OperationalAttribute"/> may change, any other given option that differs is refused by name.
/// </summary>
internal sealed record BenchmarkSettings
{
    /// <summary>Task ids or '*' patterns; empty: every task.</summary>
    public string[] Tasks { get; init; } = [];

    /// <summary>How many seeds, from <see cref="Seed"/> on.</summary>
    public int Seeds { get; init; } = 5;

    /// <summary>The first seed.</summary>
    public int Seed { get; init; }

    /// <summary>The most training steps per estimate.</summary>
    public int MaxSteps { get; init; } = Benchmark.defaults.MaxSteps;

    /// <summary>Whether the conditional tasks run.</summary>
    public bool Conditional { get; init; } = true;

    /// <summary>The CI subset.</summary>
    public bool Quick { get; init; }

    /// <summary>The run folder.</summary>
    [Operational] public string Output { get; init; } = "decomp-benchmark";

    /// <summary>auto, cpu, cuda or cuda:N.</summary>
    [Operational] public string Device { get; init; } = "auto";

    /// <summary>torch's CPU threads (0: libtorch's choice).</summary>
    [Operational] public int Threads { get; init; } = 1;

    /// <summary>Continue the benchmark in <see cref="Output"/>.</summary>
    [Operational] public bool Resume { get; init; }

    /// <summary>The settings file in a run folder.</summary>
    public const string FileName = "benchmark.json";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static BenchmarkSettings Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<BenchmarkSettings>(File.ReadAllText(path), Json) ?? throw new JsonException("it holds null");
        }
        catch (JsonException e)
        {
            throw new BadInputException($"{path} is not a benchmark's settings ({e.Message}); move the folder away (or use another --output) to start over.", e);
        }
    }

    /// <summary>
    /// The settings a run uses: these when it starts afresh; with <see cref="Resume"/>, the saved ones with the given
    /// operational options. <paramref name="flagOf"/> names a property's option in errors.
    /// </summary>
    /// <exception cref="ArgumentException">--resume with no saved settings, a given option that differs from the saved one, or
    /// a fresh run in a folder that holds one.</exception>
    public BenchmarkSettings InFolder(RunFolder folder, IReadOnlySet<string> given, Func<string, string> flagOf)
    {
        var path = folder.File(FileName);
        if (!Resume)
        {
            foreach (var held in new[] { path, folder.File("results.csv") })
                if (File.Exists(held)) throw ResumePolicy.AlreadyHoldsRun(held);
            return this;
        }
        if (!File.Exists(path)) throw ResumePolicy.NoCheckpoint(path);
        var saved = Read(path);
        var conflicts = ResumePolicy.Conflicts(saved, this, given, Json);
        if (conflicts.Count > 0) throw ResumePolicy.Refused(conflicts, flagOf);
        return ResumePolicy.TakeGiven(saved, this, given, nameof(Resume), Json);
    }
}

/// <summary><c>decomp benchmark</c>: bmi's 40 tasks and our conditional tasks through every estimator (src/Benchmarks.Bmi).</summary>
internal static class BenchmarkRun
{
    public static int Execute(BenchmarkSettings requested, IReadOnlySet<string> given, Func<string, string> flagOf, TextWriter output, TextWriter error,
                              CancellationToken stop)
    {
        using var folder = RunFolder.Acquire(requested.Output);
        var settings = requested.InFolder(folder, given, flagOf);
        var device = DeviceChoice.Resolve(settings.Device);
        AtomicFile.WriteAllText(folder.File(BenchmarkSettings.FileName), settings.ToJson());
        var d = Benchmark.defaults;
        var options = new BenchmarkOptions(
            ListModule.OfSeq(settings.Tasks), d.Estimators, d.Routes, settings.Conditional,
            ListModule.OfSeq(Enumerable.Range(settings.Seed, settings.Seeds)), d.Samples, settings.MaxSteps, d.Critic, folder.Path,
            settings.Resume, device is null ? FSharpOption<torch.Device>.None : FSharpOption<torch.Device>.Some(device), settings.Quick,
            FSharpOption<TextWriter>.Some(error), stop,
            settings.Threads > 0 ? FSharpOption<int>.Some(settings.Threads) : FSharpOption<int>.None);
        var result = Benchmark.run(options);
        output.WriteLine($"{result.Runs.Length} runs in {result.Seconds:F0} s. Tasks within 10% of the true MI, per method:");
        foreach (var (method, within, tasks) in result.WithinTenPercent)
            output.WriteLine($"  {method,-28} {within,3} of {tasks}");
        output.WriteLine($"Wrote {result.CsvPath}, {result.MarkdownPath} and {result.HeatmapPath}.");
        return ExitCodes.Success;
    }
}
