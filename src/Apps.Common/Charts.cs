using System.Globalization;
using ScottPlot;

namespace Decomp.Apps;

/// <summary>How a line is drawn.</summary>
public enum Stroke
{
    /// <summary>A continuous line.</summary>
    Solid,

    /// <summary>Dashes (a cap, a bound).</summary>
    Dashed,

    /// <summary>Dots.</summary>
    Dotted,
}

/// <summary>Where a panel's legend goes.</summary>
public enum LegendPlace
{
    /// <summary>Under the panel, outside the data area: no curve hides behind it, and panels keep the same width.</summary>
    Bottom,

    /// <summary>Inside the data area, in its upper left corner.</summary>
    UpperLeft,

    /// <summary>No legend.</summary>
    None,
}

/// <summary>
/// One curve of a panel: <see cref="Y"/> against <see cref="X"/> as a line, points or both, with optional ± error bars.
/// Points whose x or y is not finite (a value a log lacks) are left out.
/// </summary>
/// <param name="Label">The legend's text; null: not in the legend.</param>
/// <param name="X">The x values.</param>
/// <param name="Y">The y values, one per x.</param>
public sealed record ChartSeries(string? Label, IReadOnlyList<double> X, IReadOnlyList<double> Y)
{
    /// <summary>Half the length of each point's error bar (a standard deviation), one per point; null: none.</summary>
    public IReadOnlyList<double>? Errors { get; init; }

    /// <summary>A colour such as "#1f77b4"; null: the next colour of the palette.</summary>
    public string? Color { get; init; }

    /// <summary>The line's width in pixels; 0: points only.</summary>
    public float LineWidth { get; init; } = 1.5f;

    /// <summary>The points' size in pixels; 0: a line alone.</summary>
    public float MarkerSize { get; init; }

    /// <summary>How the line is drawn.</summary>
    public Stroke Stroke { get; init; } = Stroke.Solid;
}

/// <summary>A line across a whole panel at <see cref="Value"/>: a cap, a true value, a final result, a marked step.</summary>
/// <param name="Value">Where it is, in the panel's units (on a log2 axis, the value itself, not its log).</param>
/// <param name="Label">The legend's text; null: not in the legend.</param>
public sealed record ReferenceLine(double Value, string? Label)
{
    /// <summary>A vertical line at x = <see cref="Value"/> instead of a horizontal one at y = <see cref="Value"/>.</summary>
    public bool Vertical { get; init; }

    /// <summary>Its colour; gray by default.</summary>
    public string Color { get; init; } = "#808080";

    /// <summary>How it is drawn; dashed by default.</summary>
    public Stroke Stroke { get; init; } = Stroke.Dashed;

    /// <summary>Its width in pixels.</summary>
    public float Width { get; init; } = 1;
}

/// <summary>An axis range.</summary>
/// <param name="Min">The low end.</param>
/// <param name="Max">The high end, above <paramref name="Min"/>.</param>
public sealed record AxisLimits(double Min, double Max);

/// <summary>One panel of a chart: its series and reference lines, titles, axes and legend.</summary>
/// <param name="Title">The panel's title.</param>
public sealed record ChartPanel(string Title)
{
    /// <summary>The x axis' label.</summary>
    public string? XLabel { get; init; }

    /// <summary>The y axis' label.</summary>
    public string? YLabel { get; init; }

    /// <summary>The curves, drawn in order (unset colours follow the palette in that order).</summary>
    public IReadOnlyList<ChartSeries> Series { get; init; } = [];

    /// <summary>Lines across the panel, drawn under the curves.</summary>
    public IReadOnlyList<ReferenceLine> Lines { get; init; } = [];

    /// <summary>
    /// A log2 x axis (ScottPlot has no logarithmic one): x values (of series, vertical lines and limits) are placed at their
    /// log2, and the axis has one tick at each of these values, labelled with it. For a K axis, the K of the runs. Null: linear.
    /// </summary>
    public IReadOnlyList<int>? Log2XTicks { get; init; }

    /// <summary>The x range shown; null: the data's.</summary>
    public AxisLimits? XLimits { get; init; }

    /// <summary>The y range shown; null: the data's.</summary>
    public AxisLimits? YLimits { get; init; }

    /// <summary>Where the legend goes (when anything in the panel has a label).</summary>
    public LegendPlace Legend { get; init; } = LegendPlace.Bottom;
}

/// <summary>
/// The apps' one way to draw a chart (ScottPlot 5): panels of line and scatter series with error bars, reference lines,
/// log2 axes, laid out in a grid and rendered to PNG, written atomically.
/// </summary>
public static class Charts
{
    /// <summary>
    /// Renders <paramref name="panels"/>, left to right and top to bottom in <paramref name="columns"/> columns, into a PNG
    /// of <paramref name="width"/> x <paramref name="height"/> pixels, and returns its bytes.
    /// </summary>
    /// <exception cref="ArgumentException">No panel, a size or column count below 1, or a panel whose series have as many
    /// x as y values (or error bars) not, whose log2 axis has a value at or below 0, or whose limits are empty; the
    /// exception names the argument.</exception>
    public static byte[] Png(IReadOnlyList<ChartPanel> panels, int width, int height, int columns = 1)
    {
        Validate(panels, width, height, columns);
        var multiplot = new Multiplot();
        multiplot.AddPlots(panels.Count);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid((panels.Count + columns - 1) / columns, columns);
        for (var i = 0; i < panels.Count; i++) Draw(multiplot.GetPlot(i), panels[i]);
        using var image = multiplot.Render(width, height);
        return image.GetImageBytes(ImageFormat.Png, 100);
    }

    /// <summary><see cref="Png"/> written to <paramref name="path"/> atomically (<see cref="AtomicFile"/>).</summary>
    public static void SavePng(string path, IReadOnlyList<ChartPanel> panels, int width, int height, int columns = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        AtomicFile.WriteAllBytes(path, Png(panels, width, height, columns));
    }

    /// <summary>
    /// Labels <paramref name="axis"/>, whose data were plotted at log2 of <paramref name="values"/>, with one major tick at
    /// log2 v for each v, labelled v (for plots drawn directly with ScottPlot, as the notebooks do).
    /// </summary>
    /// <exception cref="ArgumentException">No values, or one at or below 0.</exception>
    public static void Log2Ticks(IAxis axis, IEnumerable<int> values)
    {
        ArgumentNullException.ThrowIfNull(axis);
        ArgumentNullException.ThrowIfNull(values);
        var ticks = values.ToArray();
        if (ticks.Length == 0 || ticks.Any(v => v <= 0))
            throw new ArgumentException("values must be one or more positive numbers to place on a log2 axis.", nameof(values));
        axis.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            ticks.Select(v => Math.Log2(v)).ToArray(), ticks.Select(v => v.ToString(CultureInfo.InvariantCulture)).ToArray());
    }

    private static void Validate(IReadOnlyList<ChartPanel> panels, int width, int height, int columns)
    {
        ArgumentNullException.ThrowIfNull(panels);
        if (panels.Count == 0) throw new ArgumentException("there must be at least one panel to draw.", nameof(panels));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        foreach (var panel in panels)
        {
            if (panel is null) throw new ArgumentException("a panel is null.", nameof(panels));
            void Refuse(string why) => throw new ArgumentException($"panel '{panel.Title}': {why}.", nameof(panels));
            foreach (var s in panel.Series)
            {
                if (s.X.Count != s.Y.Count) Refuse($"series '{s.Label}' has {s.X.Count} x values and {s.Y.Count} y values");
                if (s.Errors is { } e && e.Count != s.Y.Count) Refuse($"series '{s.Label}' has {s.Y.Count} points and {e.Count} error bars");
                if (panel.Log2XTicks is not null && s.X.Any(x => x <= 0)) Refuse($"series '{s.Label}' has an x at or below 0 on a log2 axis");
            }
            if (panel.Log2XTicks is { } ticks && (ticks.Count == 0 || ticks.Any(v => v <= 0))) Refuse("its log2 ticks must be one or more positive numbers");
            foreach (var limits in new[] { panel.XLimits, panel.YLimits })
                if (limits is not null && !(double.IsFinite(limits.Min) && double.IsFinite(limits.Max) && limits.Min < limits.Max))
                    Refuse($"the limits [{limits.Min}, {limits.Max}] are empty or not finite");
        }
    }

    private static void Draw(Plot plot, ChartPanel panel)
    {
        var log2 = panel.Log2XTicks is not null;
        double X(double x) => log2 ? Math.Log2(x) : x;
        foreach (var line in panel.Lines)
        {
            var drawn = line.Vertical
                ? (ScottPlot.Plottables.AxisLine)plot.Add.VerticalLine(X(line.Value), line.Width, Color.FromHex(line.Color), Pattern(line.Stroke))
                : plot.Add.HorizontalLine(line.Value, line.Width, Color.FromHex(line.Color), Pattern(line.Stroke));
            if (line.Label is not null) drawn.LegendText = line.Label;
        }
        var palette = 0;
        foreach (var series in panel.Series)
        {
            // Counted over the series alone, so that reference lines do not shift the curves' colours.
            var color = series.Color is { } hex ? Color.FromHex(hex) : plot.Add.Palette.GetColor(palette++);
            var kept = Enumerable.Range(0, series.X.Count).Where(i => double.IsFinite(series.X[i]) && double.IsFinite(series.Y[i])).ToArray();
            if (kept.Length == 0) continue;
            var xs = kept.Select(i => X(series.X[i])).ToArray();
            var ys = kept.Select(i => series.Y[i]).ToArray();
            var scatter = plot.Add.Scatter(xs, ys, color);
            scatter.LineWidth = series.LineWidth;
            scatter.MarkerSize = series.MarkerSize;
            scatter.LinePattern = Pattern(series.Stroke);
            if (series.Label is not null) scatter.LegendText = series.Label;
            if (series.Errors is { } errors)
            {
                var bars = plot.Add.ErrorBar(xs, ys, kept.Select(i => errors[i]).ToArray());
                bars.Color = color;
            }
        }
        if (panel.Log2XTicks is { } ticks) Log2Ticks(plot.Axes.Bottom, ticks);
        if (panel.XLimits is not null || panel.YLimits is not null)
        {
            plot.Axes.AutoScale();
            if (panel.XLimits is { } x) plot.Axes.SetLimitsX(X(x.Min), X(x.Max));
            if (panel.YLimits is { } y) plot.Axes.SetLimitsY(y.Min, y.Max);
        }
        plot.Title(panel.Title, 14);
        if (panel.XLabel is not null) plot.XLabel(panel.XLabel);
        if (panel.YLabel is not null) plot.YLabel(panel.YLabel);
        var labelled = panel.Series.Any(s => s.Label is not null) || panel.Lines.Any(l => l.Label is not null);
        if (labelled && panel.Legend == LegendPlace.Bottom) plot.ShowLegend(Edge.Bottom);
        else if (labelled && panel.Legend == LegendPlace.UpperLeft) plot.ShowLegend(Alignment.UpperLeft);
    }

    private static LinePattern Pattern(Stroke stroke) => stroke switch
    {
        Stroke.Dashed => LinePattern.Dashed,
        Stroke.Dotted => LinePattern.Dotted,
        _ => LinePattern.Solid,
    };
}
