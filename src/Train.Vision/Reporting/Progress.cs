using Decomp.Apps;

namespace Decomp.Train.Vision.Reporting;

/// <summary>Progress lines for the console.</summary>
internal static class Progress
{
    /// <summary>One progress line for the console.</summary>
    public static string Line(long step, long total, double epoch, MetricRow latest, double logCandidates, double elapsedSeconds, double etaSeconds)
    {
        var bounds = $"I_NCE(x';y) {latest.FullViewBound:F2}";
        if (latest.RestrictedViewBound is { } r) bounds += $"  I_NCE(x'';y) {r:F2}";
        if (latest.ConditionalBound is { } c) bounds += $"  I_IS {c:F2}";
        var knn = latest.KnnTop1 is { } k ? $" | k-NN {k:F1}%" : "";
        return $"step {step}/{total} ({100.0 * step / Math.Max(1, total):F1}%) epoch {epoch:F2} | loss {latest.Loss:F3} | {bounds} nats (log K {logCandidates:F2}){knn} | "
               + $"{latest.ImagesPerSecond:F0} img/s | {Durations.Format(elapsedSeconds)} elapsed, ETA {Durations.Format(etaSeconds)}";
    }
}
