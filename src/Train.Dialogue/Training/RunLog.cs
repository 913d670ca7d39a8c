using System.Globalization;
using Decomp.Apps;

namespace Decomp.Dialogue.Training;

/// <summary>
/// A CSV file with a step column first, appended to as a run goes. Its text so far (<see cref="Text"/>) goes into each
/// checkpoint, and a resumed run writes the file again from the checkpoint's copy (<see cref="Restore"/>) instead of
/// reading back what is on disk, so a line torn by a kill or a full disk, a damaged line, or rows written after the
/// checkpoint never reach the resumed run's log.
/// </summary>
public sealed class CsvLog
{
    private readonly string _path;
    private readonly List<string> _lines;

    /// <summary>The column names.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>Creates (or, given <paramref name="resumeStep"/>, trims to that step) the file at <paramref name="path"/>.</summary>
    public CsvLog(string path, IReadOnlyList<string> columns, long? resumeStep)
        : this(path, columns, resumeStep is { } last && File.Exists(path)
            ? File.ReadLines(path).Skip(1).Where(line =>
                long.TryParse(line.Split(',')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var step) && step <= last)
            : [])
    {
    }

    private CsvLog(string path, IReadOnlyList<string> columns, IEnumerable<string> rows)
    {
        _path = path;
        Columns = columns;
        _lines = [string.Join(',', columns), .. rows];
        AtomicFile.WriteAllText(path, Text);
    }

    /// <summary>
    /// A fresh log at <paramref name="path"/>, or, resuming, the log as a checkpoint saved it (<paramref name="saved"/>,
    /// a <see cref="Text"/>): the file is written again from it.
    /// </summary>
    /// <exception cref="InvalidDataException">The saved text has another header.</exception>
    public static CsvLog Restore(string path, IReadOnlyList<string> columns, string? saved)
    {
        if (saved is null) return new CsvLog(path, columns, []);
        var lines = saved.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0 || lines[0] != string.Join(',', columns))
            throw new InvalidDataException($"the checkpoint's copy of {Path.GetFileName(path)} has the columns '{lines.FirstOrDefault()}', not '{string.Join(',', columns)}'");
        return new CsvLog(path, columns, lines.Skip(1));
    }

    /// <summary>The file's text so far: the header and every row, each ended by a line feed.</summary>
    public string Text => string.Concat(_lines.Select(l => l + "\n"));

    /// <summary>Appends one row (numbers in invariant culture; NaN for missing values).</summary>
    public void Append(params double[] values)
    {
        if (values.Length != Columns.Count) throw new ArgumentException($"expected {Columns.Count} values, got {values.Length}", nameof(values));
        var line = string.Join(',', values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        File.AppendAllText(_path, line + "\n");
        _lines.Add(line);
    }

    /// <summary>The numeric rows.</summary>
    public List<double[]> Rows() => _lines.Skip(1).Where(l => l.Length > 0)
        .Select(l => l.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
}

/// <summary>A run's two logs: <c>train.csv</c> (a row per progress line) and <c>eval.csv</c> (a row per validation).</summary>
/// <param name="Train">The training log.</param>
/// <param name="Evaluation">The validation log.</param>
public sealed record RunLogs(CsvLog Train, CsvLog Evaluation)
{
    /// <summary>The columns of <c>train.csv</c>.</summary>
    public static readonly string[] TrainColumns = ["step", "epoch", "elapsed_s", "lr", "loss", "lm_loss", "infonce", "cond_infonce", "steps_per_s"];

    /// <summary>The columns of <c>eval.csv</c>.</summary>
    public static readonly string[] EvaluationColumns = ["step", "epoch", "elapsed_s", "valid_ppl", "valid_infonce", "probe_acc", "probe_long_range_acc"];

    /// <summary>
    /// Fresh logs in <paramref name="directory"/>, or the logs as <paramref name="restored"/> saved them: rows after the
    /// checkpoint (or torn by a kill) are not read back.
    /// </summary>
    public static RunLogs Restore(string directory, Checkpoint.Contents? restored) =>
        new(CsvLog.Restore(Path.Combine(directory, "train.csv"), TrainColumns, restored?.TrainLog),
            CsvLog.Restore(Path.Combine(directory, "eval.csv"), EvaluationColumns, restored?.EvalLog));
}

/// <summary>PNG curves of a run's CSV logs (<see cref="Charts"/>).</summary>
public static class Curves
{
    /// <summary>
    /// Plots the named columns of <paramref name="log"/> against its first column (the step) into <paramref name="path"/>,
    /// one panel per group of columns; missing values (NaN) are left out, and so are columns without any.
    /// </summary>
    public static void Save(string path, CsvLog log, string title, IReadOnlyList<(string Panel, string[] Columns)> panels)
    {
        var rows = log.Rows();
        if (rows.Count == 0) return;
        var steps = rows.Select(r => r[0]).ToArray();
        var columns = log.Columns.ToList();
        Charts.SavePng(path, panels.Select((panel, p) => new ChartPanel(p == 0 ? $"{title}: {panel.Panel}" : panel.Panel)
        {
            XLabel = "step",
            Series = panel.Columns.Where(columns.Contains).Select(column => new ChartSeries(column, steps, rows.Select(r => r[columns.IndexOf(column)]).ToArray())
            {
                LineWidth = 1,
                MarkerSize = rows.Count > 60 ? 0 : 4,
            }).ToArray(),
        }).ToArray(), 900, 320 * panels.Count);
    }
}
