using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Decomp.Apps;
using Decomp.Train.Vision.Training;

namespace Decomp.Train.Vision.Reporting;

/// <summary>The outcome of a run (summary.json).</summary>
internal sealed record RunSummary
{
    /// <summary>Human-readable method, e.g. "MoCo, decomposed, crop (lambda 0.5)".</summary>
    public required string Method { get; init; }
    /// <summary>The run's seed.</summary>
    public long Seed { get; init; }
    /// <summary>Data set and size of the splits, e.g. "fashion-mnist (60000 train / 10000 test)".</summary>
    public required string Data { get; init; }
    /// <summary>Encoder architecture.</summary>
    public required string Encoder { get; init; }
    /// <summary>Where it ran.</summary>
    public required string Device { get; init; }
    /// <summary>Optimisation steps taken.</summary>
    public long Steps { get; init; }
    /// <summary>Epochs taken (steps x batch / training images).</summary>
    public double Epochs { get; init; }
    /// <summary>Wall-clock seconds of training (including calibration and k-NN monitoring; excluding the probe).</summary>
    public double TrainingSeconds { get; init; }
    /// <summary>Training images per second over the whole run.</summary>
    public double ImagesPerSecond { get; init; }
    /// <summary>True when the budget's hard limit ended training early.</summary>
    public bool StoppedByBudget { get; init; }
    /// <summary>K, candidates per bound (positive included).</summary>
    public long Candidates { get; init; }
    /// <summary>Mean bound values over the last tenth of the log (nats).</summary>
    public double? FinalFullViewBound { get; init; }
    /// <summary>See <see cref="FinalFullViewBound"/>.</summary>
    public double? FinalRestrictedViewBound { get; init; }
    /// <summary>See <see cref="FinalFullViewBound"/>.</summary>
    public double? FinalConditionalBound { get; init; }
    /// <summary>k-NN top-1 (percent) at the end of training.</summary>
    public double? KnnTop1 { get; init; }
    /// <summary>Linear-probe top-1 (percent) on the test split.</summary>
    public double? ProbeTop1 { get; init; }
    /// <summary>Linear-probe top-5 (percent) on the test split.</summary>
    public double? ProbeTop5 { get; init; }
    /// <summary>Linear-probe top-1 (percent) on the training split.</summary>
    public double? ProbeTrainTop1 { get; init; }
    /// <summary>Seconds the probe took (feature extraction and fit).</summary>
    public double ProbeSeconds { get; init; }
    /// <summary>The options of the run.</summary>
    public required TrainingOptions Options { get; init; }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    /// <summary>As JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads a summary.json file.</summary>
    public static RunSummary Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<RunSummary>(File.ReadAllText(path), Json) ?? throw new InvalidDataException("it is empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} cannot be read: {e.Message}", e);
        }
    }

    /// <summary>The method label of a run's options.</summary>
    public static string MethodLabel(TrainingOptions o)
    {
        var framework = o.Framework == Framework.MoCo ? "MoCo" : "SimCLR";
        var view = o.RestrictedView == RestrictedViewKind.Crop ? "crop" : "cut";
        var lambda = o.Lambda.ToString(CultureInfo.InvariantCulture);
        if (o.Epochs == 0) return "random init (no training)";
        return o.Objective switch
        {
            ObjectiveKind.InfoNce => $"{framework}, InfoNCE baseline (lambda 1)",
            ObjectiveKind.Decomposed => $"{framework}, decomposed, {view} (lambda {lambda})",
            _ => $"{framework}, without conditional MI, {view} (lambda {lambda})",
        };
    }

    /// <summary>
    /// A Markdown report of <paramref name="runs"/>: mean and sample standard deviation over seeds per method, then one line per run.
    /// </summary>
    public static string MarkdownTable(IReadOnlyList<RunSummary> runs)
    {
        static string F(double? v) => v is { } x ? x.ToString("F2", CultureInfo.InvariantCulture) : "-";
        static string MeanSd(IEnumerable<double?> values, string format = "F2") =>
            MeanAndDeviation.Of(values.Where(v => v is not null).Select(v => v!.Value))?.ToString(format) ?? "-";
        static double? Trained(RunSummary r, double value) => r.Steps > 0 ? value : null;
        var text = new StringBuilder();
        text.AppendLine("| Method | Seeds | Probe top-1 (%) | Probe top-5 (%) | k-NN top-1 (%) | Steps | Epochs | Images/s | Data | Encoder |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        // Runs are pooled over seeds only when they share the method, the data and the encoder.
        foreach (var group in runs.GroupBy(r => (r.Method, r.Data, r.Encoder)))
        {
            var g = group.ToArray();
            text.AppendLine($"| {group.Key.Method} | {string.Join(", ", g.Select(r => r.Seed))} | {MeanSd(g.Select(r => r.ProbeTop1))} | {MeanSd(g.Select(r => r.ProbeTop5))} "
                            + $"| {MeanSd(g.Select(r => r.KnnTop1))} | {MeanSd(g.Select(r => (double?)r.Steps), "F0")} | {MeanSd(g.Select(r => (double?)r.Epochs))} "
                            + $"| {MeanSd(g.Select(r => Trained(r, r.ImagesPerSecond)), "F0")} | {group.Key.Data} | {group.Key.Encoder} |");
        }
        text.AppendLine();
        text.AppendLine("Mean ± sample standard deviation over seeds.");
        text.AppendLine();
        text.AppendLine("| Method | Seed | Probe top-1 | Probe top-5 | k-NN top-1 | I_NCE(x';y) | I_NCE(x'';y) | I_IS | log K | Steps | Training s | Images/s | Data | Encoder | Device |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in runs)
            text.AppendLine($"| {r.Method} | {r.Seed} | {F(r.ProbeTop1)} | {F(r.ProbeTop5)} | {F(r.KnnTop1)} | {F(r.FinalFullViewBound)} | {F(r.FinalRestrictedViewBound)} "
                            + $"| {F(r.FinalConditionalBound)} | {F(r.Candidates >= 2 ? ContrastiveObjective.LogCandidates(r.Candidates) : null)} | {r.Steps} | {r.TrainingSeconds:F0} | {(r.Steps > 0 ? r.ImagesPerSecond.ToString("F0", CultureInfo.InvariantCulture) : "-")} | {r.Data} | {r.Encoder} | {r.Device}"
                            + (r.StoppedByBudget ? " (stopped by budget)" : "") + " |");
        return text.ToString();
    }
}
