using System.Globalization;
using System.Text;
using Decomp.Apps;

namespace Decomp.Train.Vision.Reporting;

/// <summary>
/// One line of the training log: means over the steps since the previous line. Bounds are in nats; the k-NN accuracy is
/// filled on the lines where the monitor ran. <see cref="ElapsedSeconds"/> and <see cref="ImagesPerSecond"/> are timings;
/// every other column is a deterministic function of the options.
/// </summary>
internal sealed record MetricRow(
    long Step, double Epoch, double ElapsedSeconds, double LearningRate, double Loss, double FullViewBound,
    double? RestrictedViewBound, double? ConditionalBound, double? KnnTop1, double ImagesPerSecond);

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
    public MetricRow Row(long step, double epoch, double elapsed, double learningRate, double? knn, int batchSize) => new(
        step, epoch, elapsed, learningRate, Loss / Count, Full / Count,
        HasRestricted ? Restricted / Count : null, HasConditional ? Conditional / Count : null, knn,
        Count * (double)batchSize / Math.Max(1e-9, Seconds));
}

/// <summary>The CSV training log (metrics.csv): a header line, then one line per <see cref="MetricRow"/>.</summary>
internal static class MetricsLog
{
    /// <summary>The header line.</summary>
    public const string Header =
        "step,epoch,elapsed_seconds,learning_rate,loss,infonce_full_view_nats,infonce_restricted_view_nats,conditional_is_nats,knn_top1_percent,images_per_second";

    /// <summary>The CSV line of <paramref name="row"/> (invariant culture; empty cells for missing values).</summary>
    public static string Format(MetricRow row)
    {
        static string F(double? v) => v is { } x ? x.ToString("R", CultureInfo.InvariantCulture) : "";
        return string.Join(",", row.Step.ToString(CultureInfo.InvariantCulture), F(row.Epoch), F(Math.Round(row.ElapsedSeconds, 3)),
                           F(row.LearningRate), F(row.Loss), F(row.FullViewBound), F(row.RestrictedViewBound), F(row.ConditionalBound),
                           F(row.KnnTop1), F(Math.Round(row.ImagesPerSecond, 1)));
    }

    /// <summary>Writes <paramref name="rows"/> as a whole new file (atomically).</summary>
    public static void Rewrite(string path, IEnumerable<MetricRow> rows)
    {
        var text = new StringBuilder().AppendLine(Header);
        foreach (var row in rows) text.AppendLine(Format(row));
        AtomicFile.WriteAllText(path, text.ToString());
    }

    /// <summary>Appends one line.</summary>
    public static void Append(string path, MetricRow row) => File.AppendAllText(path, Format(row) + Environment.NewLine);
}
