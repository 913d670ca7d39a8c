using Decomp.Apps;

namespace Decomp.Cli.Reporting;

/// <summary>curve.png: the train and validation estimates against steps, the cap log B dashed, the kept step marked.</summary>
internal static class CurvePlot
{
    /// <summary>The PNG's bytes.</summary>
    public static byte[] Png(MiEstimate estimate, string title)
    {
        var curve = estimate.Curve;
        var steps = curve.Select(p => (double)p.Step).ToArray();
        List<ReferenceLine> lines = [];
        if (estimate.Cap is { } cap) lines.Add(new ReferenceLine(cap, $"cap log {estimate.Options.BatchSize} = {cap:F2} nats") { Width = 1.5f });
        if (estimate.BestStep > 0)
            lines.Add(new ReferenceLine(estimate.BestStep, $"kept critic (step {estimate.BestStep})") { Vertical = true, Color = "#008000", Stroke = Stroke.Dotted });
        lines.Add(new ReferenceLine(estimate.Value, $"test estimate {estimate.Value:F3} [{estimate.Lower:F3}, {estimate.Upper:F3}]") { Color = "#000000", Stroke = Stroke.Solid });
        return Charts.Png(
        [
            new ChartPanel(title)
            {
                XLabel = "training step", YLabel = "nats", Lines = lines,
                Series =
                [
                    new ChartSeries("train (mean over the steps since the last evaluation)", steps, curve.Select(p => p.Train).ToArray()),
                    new ChartSeries("validation", steps, curve.Select(p => p.Validation).ToArray()) { LineWidth = 2, MarkerSize = 5 },
                ],
            },
        ], 1000, 650);
    }
}
