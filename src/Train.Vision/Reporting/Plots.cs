using Decomp.Apps;
using ScottPlot;

namespace Decomp.Train.Vision.Reporting;

/// <summary>The PNG of a run (curves.png): loss, the bound estimates against log K, k-NN accuracy, learning rate.</summary>
internal static class Plots
{
    /// <summary>Draws <paramref name="rows"/> into a 2 x 2 panel PNG at <paramref name="path"/>.</summary>
    public static void Write(string path, IReadOnlyList<MetricRow> rows, string title, double logCandidates, double? probeTop1)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(4);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(2, 2);
        var steps = rows.Select(r => (double)r.Step).ToArray();

        var loss = multiplot.GetPlot(0);
        AddLine(loss, steps, rows.Select(r => r.Loss).ToArray(), null);
        loss.Title($"Loss: {title}", 12);
        loss.XLabel("step");
        loss.YLabel("loss (minimised)");

        var bounds = multiplot.GetPlot(1);
        AddLine(bounds, steps, rows.Select(r => r.FullViewBound).ToArray(), "I_NCE(x'; y)");
        AddOptional(bounds, rows, r => r.RestrictedViewBound, "I_NCE(x''; y)");
        AddOptional(bounds, rows, r => r.ConditionalBound, "I_IS(x'; y | x'')");
        bounds.Add.HorizontalLine(logCandidates, 1, Colors.Gray, LinePattern.Dashed).LegendText = $"log K = {logCandidates:F2}";
        bounds.Title("MI estimates (nats)", 12);
        bounds.XLabel("step");
        bounds.YLabel("nats");
        bounds.ShowLegend(Edge.Bottom);

        var knn = multiplot.GetPlot(2);
        var knnRows = rows.Where(r => r.KnnTop1 is not null).ToArray();
        if (knnRows.Length > 0)
        {
            var scatter = knn.Add.Scatter(knnRows.Select(r => (double)r.Step).ToArray(), knnRows.Select(r => r.KnnTop1!.Value).ToArray());
            scatter.LegendText = "k-NN top-1";
        }
        if (probeTop1 is { } probe && steps.Length > 0) knn.Add.HorizontalLine(probe, 1, Colors.Green, LinePattern.Dashed).LegendText = $"linear probe top-1 {probe:F2}%";
        if (steps.Length > 0)
        {
            // Monitor points are sparse; show them against the whole run, not just their own span.
            knn.Axes.AutoScale();
            knn.Axes.SetLimitsX(0, steps[^1] * 1.02);
        }
        knn.Title("Accuracy on the test split (%)", 12);
        knn.XLabel("step");
        knn.YLabel("%");
        knn.ShowLegend(Edge.Bottom);

        var lr = multiplot.GetPlot(3);
        AddLine(lr, steps, rows.Select(r => r.LearningRate).ToArray(), null);
        lr.Title("Learning rate", 12);
        lr.XLabel("step");

        using var image = multiplot.Render(1400, 1000);
        AtomicFile.WriteAllBytes(path, image.GetImageBytes(ImageFormat.Png, 100));
    }

    private static void AddLine(Plot plot, double[] xs, double[] ys, string? label)
    {
        if (xs.Length == 0) return;
        var line = plot.Add.ScatterLine(xs, ys);
        if (label is not null) line.LegendText = label;
        line.LineWidth = 1.5f;
    }

    private static void AddOptional(Plot plot, IReadOnlyList<MetricRow> rows, Func<MetricRow, double?> value, string label)
    {
        var present = rows.Where(r => value(r) is not null).ToArray();
        AddLine(plot, present.Select(r => (double)r.Step).ToArray(), present.Select(r => value(r)!.Value).ToArray(), label);
    }
}
