using Decomp.Apps;

namespace Decomp.Train.Vision.Reporting;

/// <summary>The PNG of a run (curves.png): loss, the bound estimates against log K, k-NN accuracy, learning rate.</summary>
internal static class Plots
{
    /// <summary>Draws <paramref name="rows"/> into a 2 x 2 panel PNG at <paramref name="path"/>.</summary>
    public static void Write(string path, IReadOnlyList<MetricRow> rows, string title, double logCandidates, double? probeTop1)
    {
        var steps = rows.Select(r => (double)r.Step).ToArray();
        ChartSeries Line(string? label, Func<MetricRow, double?> value) =>
            new(label, steps, rows.Select(r => value(r) ?? double.NaN).ToArray());
        var knnRows = rows.Where(r => r.KnnTop1 is not null).ToArray();
        Charts.SavePng(path,
        [
            new ChartPanel($"Loss: {title}") { XLabel = "step", YLabel = "loss (minimised)", Series = [Line(null, r => r.Loss)] },
            new ChartPanel("MI estimates (nats)")
            {
                XLabel = "step", YLabel = "nats",
                Series = [Line("I_NCE(x'; y)", r => r.FullViewBound), Line("I_NCE(x''; y)", r => r.RestrictedViewBound),
                          Line("I_IS(x'; y | x'')", r => r.ConditionalBound)],
                Lines = [new ReferenceLine(logCandidates, $"log K = {logCandidates:F2}")],
            },
            new ChartPanel("Accuracy on the test split (%)")
            {
                XLabel = "step", YLabel = "%",
                Series = [new ChartSeries("k-NN top-1", knnRows.Select(r => (double)r.Step).ToArray(), knnRows.Select(r => r.KnnTop1!.Value).ToArray()) { MarkerSize = 5 }],
                Lines = probeTop1 is { } probe && steps.Length > 0 ? [new ReferenceLine(probe, $"linear probe top-1 {probe:F2}%") { Color = "#008000" }] : [],
                // Monitor points are sparse; show them against the whole run, not just their own span.
                XLimits = steps.Length > 0 && steps[^1] > 0 ? new AxisLimits(0, steps[^1] * 1.02) : null,
            },
            new ChartPanel("Learning rate") { XLabel = "step", Series = [Line(null, r => r.LearningRate)] },
        ], 1400, 1000, columns: 2);
    }
}
