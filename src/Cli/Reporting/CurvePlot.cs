using ScottPlot;

namespace Decomp.Cli.Reporting;

/// <summary>curve.png: the train and validation estimates against steps, the cap log B dashed, the kept step marked.</summary>
internal static class CurvePlot
{
    /// <summary>The PNG's bytes.</summary>
    public static byte[] Png(MiEstimate estimate, string title)
    {
        var plot = new Plot();
        var curve = estimate.Curve;
        if (curve.Count > 0)
        {
            var steps = curve.Select(p => (double)p.Step).ToArray();
            var train = plot.Add.ScatterLine(steps, curve.Select(p => p.Train).ToArray());
            train.LegendText = "train (mean over the steps since the last evaluation)";
            train.LineWidth = 1.5f;
            var validation = plot.Add.ScatterLine(steps, curve.Select(p => p.Validation).ToArray());
            validation.LegendText = "validation";
            validation.LineWidth = 2f;
            validation.MarkerSize = 5;
        }
        if (estimate.Cap is { } cap)
            plot.Add.HorizontalLine(cap, 1.5f, Colors.Gray, LinePattern.Dashed).LegendText = $"cap log {estimate.Options.BatchSize} = {cap:F2} nats";
        if (estimate.BestStep > 0)
            plot.Add.VerticalLine(estimate.BestStep, 1, Colors.Green, LinePattern.Dotted).LegendText = $"kept critic (step {estimate.BestStep})";
        plot.Add.HorizontalLine(estimate.Value, 1, Colors.Black, LinePattern.Solid).LegendText =
            $"test estimate {estimate.Value:F3} [{estimate.Lower:F3}, {estimate.Upper:F3}]";
        plot.Title(title, 13);
        plot.XLabel("training step");
        plot.YLabel("nats");
        plot.ShowLegend(Edge.Bottom);
        return plot.GetImageBytes(1000, 650, ImageFormat.Png);
    }
}
