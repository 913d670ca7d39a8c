using CsvHelper.Configuration.Attributes;
using Decomp.Apps;

namespace Decomp.Train.Vision.Reporting;

/// <summary>
/// One line of the training log (metrics.csv): means over the steps since the previous line. Bounds are in nats; the k-NN
/// accuracy is filled on the lines where the monitor ran. <see cref="ElapsedSeconds"/> and <see cref="ImagesPerSecond"/>
/// are timings (written rounded); every other column is a deterministic function of the options.
/// </summary>
internal sealed record MetricRow
{
    [Name("step")] public long Step { get; init; }
    [Name("epoch")] public double Epoch { get; init; }
    [Name("elapsed_seconds"), Rounded(3)] public double ElapsedSeconds { get; init; }
    [Name("learning_rate")] public double LearningRate { get; init; }
    [Name("loss")] public double Loss { get; init; }
    [Name("infonce_full_view_nats")] public double FullViewBound { get; init; }
    [Name("infonce_restricted_view_nats")] public double? RestrictedViewBound { get; init; }
    [Name("conditional_is_nats")] public double? ConditionalBound { get; init; }
    [Name("knn_top1_percent")] public double? KnnTop1 { get; init; }
    [Name("images_per_second"), Rounded(1)] public double ImagesPerSecond { get; init; }
}

/// <summary>Running sums of the steps since the last log line (saved in checkpoints, hence public and mutable for JSON).</summary>
internal sealed class LogWindow
{
    public int Count { get; set; }
    public double Seconds { get; set; }
    public double Loss { get; set; }
    public double Full { get; set; }
    public double Restricted { get; set; }
    public double Conditional { get; set; }
    public bool HasRestricted { get; set; }
    public bool HasConditional { get; set; }

    /// <summary>Adds one step's values and its duration.</summary>
    public void Add(double loss, double full, double? restricted, double? conditional, double stepSeconds)
    {
        Count++;
        Seconds += stepSeconds;
        Loss += loss;
        Full += full;
        if (restricted is { } r) { Restricted += r; HasRestricted = true; }
        if (conditional is { } c) { Conditional += c; HasConditional = true; }
    }

    /// <summary>The log line of the window's means.</summary>
    public MetricRow Row(long step, double epoch, double elapsed, double learningRate, double? knn, int batchSize) => new()
    {
        Step = step, Epoch = epoch, ElapsedSeconds = elapsed, LearningRate = learningRate, Loss = Loss / Count, FullViewBound = Full / Count,
        RestrictedViewBound = HasRestricted ? Restricted / Count : null, ConditionalBound = HasConditional ? Conditional / Count : null,
        KnnTop1 = knn, ImagesPerSecond = Count * (double)batchSize / Math.Max(1e-9, Seconds),
    };
}
