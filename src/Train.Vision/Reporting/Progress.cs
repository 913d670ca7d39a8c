namespace Decomp.Train.Vision.Reporting;

/// <summary>What a progress report says about the run besides its step and times (<see cref="Decomp.Apps.ConsoleProgress"/> adds those).</summary>
internal static class Progress
{
    /// <summary>Epoch, loss, the bounds against log K, k-NN accuracy when measured, and speed.</summary>
    public static string Status(MetricRow latest, double logCandidates)
    {
        var bounds = $"I_NCE(x';y) {latest.FullViewBound:F2}";
        if (latest.RestrictedViewBound is { } r) bounds += $"  I_NCE(x'';y) {r:F2}";
        if (latest.ConditionalBound is { } c) bounds += $"  I_IS {c:F2}";
        var knn = latest.KnnTop1 is { } k ? $" | k-NN {k:F1}%" : "";
        return $"epoch {latest.Epoch:F2} | loss {latest.Loss:F3} | {bounds} nats (log K {logCandidates:F2}){knn} | {latest.ImagesPerSecond:F0} img/s";
    }
}
