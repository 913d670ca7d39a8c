using System.Globalization;
using ScottPlot;

namespace Decomp.Dialogue.Training;

/// <summary>
/// A CSV file with a step column first. Opening it for a resumed run drops rows past the checkpoint's step, so that
/// rows written after the last checkpoint of an interrupted run are not repeated.
/// </summary>
public sealed class CsvLog
{
    private readonly string _path;

    /// <summary>The column names.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>Creates (or, resuming, trims to <paramref name="resumeStep"/>) the file at <paramref name="path"/>.</summary>
    public CsvLog(string path, IReadOnlyList<string> columns, long? resumeStep)
    {
        _path = path;
        Columns = columns;
        var header = string.Join(',', columns);
        var kept = new List<string> { header };
        if (resumeStep is { } last && File.Exists(path))
            kept.AddRange(File.ReadLines(path).Skip(1).Where(line =>
                long.TryParse(line.Split(',')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var step) && step <= last));
        AtomicFile.WriteText(path, string.Join('\n', kept) + "\n");
    }

    /// <summary>Appends one row (numbers in invariant culture; NaN for missing values).</summary>
    public void Append(params double[] values)
    {
        if (values.Length != Columns.Count) throw new ArgumentException($"expected {Columns.Count} values, got {values.Length}", nameof(values));
        File.AppendAllText(_path, string.Join(',', values.Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "\n");
    }

    /// <summary>The file's numeric rows.</summary>
    public List<double[]> Rows() => File.ReadLines(_path).Skip(1).Where(l => l.Length > 0)
        .Select(l => l.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
}

/// <summary>PNG curves of a run's CSV logs (ScottPlot).</summary>
public static class Curves
{
    /// <summary>
    /// Plots the named columns of <paramref name="log"/> against its first column (the step) into <paramref name="path"/>,
    /// one panel per group of columns; columns that are all NaN are skipped.
    /// </summary>
    public static void Save(string path, CsvLog log, string title, IReadOnlyList<(string Panel, string[] Columns)> panels)
    {
        var rows = log.Rows();
        if (rows.Count == 0) return;
        var steps = rows.Select(r => r[0]).ToArray();
        var multiplot = new Multiplot();
        multiplot.AddPlots(panels.Count);
        for (int p = 0; p < panels.Count; p++)
        {
            var plot = multiplot.GetPlot(p);
            plot.Title(p == 0 ? $"{title}: {panels[p].Panel}" : panels[p].Panel);
            plot.XLabel("step");
            foreach (var column in panels[p].Columns)
            {
                int index = log.Columns.ToList().IndexOf(column);
                if (index < 0) continue;
                var points = rows.Select((r, i) => (x: steps[i], y: r[index])).Where(q => double.IsFinite(q.y)).ToArray();
                if (points.Length == 0) continue;
                var scatter = plot.Add.Scatter(points.Select(q => q.x).ToArray(), points.Select(q => q.y).ToArray());
                scatter.LegendText = column;
                scatter.MarkerSize = points.Length > 60 ? 0 : 4;
            }
            plot.ShowLegend(Edge.Bottom); // outside the data area (no curve hides behind it), and every panel keeps the same width
        }
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Rows();
        var temporary = path + ".tmp.png";
        multiplot.SavePng(temporary, 900, 320 * panels.Count);
        File.Move(temporary, path, overwrite: true);
    }
}
