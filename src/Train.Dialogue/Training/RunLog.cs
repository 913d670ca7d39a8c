using CsvHelper.Configuration.Attributes;
using Decomp.Apps;

namespace Decomp.Dialogue.Training;

/// <summary>A row of a run's log: what it is plotted against.</summary>
public interface ILogRow
{
    /// <summary>The step the row was written at.</summary>
    long Step { get; }
}

/// <summary>A row of <c>train.csv</c>: the means over the steps since the previous row (a progress line).</summary>
public sealed record TrainRow : ILogRow
{
    /// <inheritdoc/>
    [Name("step")] public long Step { get; init; }
    /// <summary>Epochs done, with the fraction of the current one.</summary>
    [Name("epoch")] public double Epoch { get; init; }
    /// <summary>Training seconds so far, over all sessions.</summary>
    [Name("elapsed_s")] public double ElapsedSeconds { get; init; }
    /// <summary>The learning rate of the last step.</summary>
    [Name("lr")] public double LearningRate { get; init; }
    /// <summary>The loss minimised.</summary>
    [Name("loss")] public double Loss { get; init; }
    /// <summary>Its language-model term (nats per token).</summary>
    [Name("lm_loss")] public double LanguageModelLoss { get; init; }
    /// <summary>I_NCE in nats, where the method has it.</summary>
    [Name("infonce")] public double? InfoNce { get; init; }
    /// <summary>The conditional InfoNCE_S term in nats, once it has started.</summary>
    [Name("cond_infonce")] public double? ConditionalInfoNce { get; init; }
    /// <summary>Training speed.</summary>
    [Name("steps_per_s")] public double StepsPerSecond { get; init; }

    /// <summary>The row as read from a checkpoint of an earlier version, which wrote a missing value as NaN.</summary>
    internal TrainRow FromEarlierVersion() => this with { InfoNce = RunLogs.Known(InfoNce), ConditionalInfoNce = RunLogs.Known(ConditionalInfoNce) };
}

/// <summary>A row of <c>eval.csv</c>: one validation.</summary>
public sealed record EvaluationRow : ILogRow
{
    /// <inheritdoc/>
    [Name("step")] public long Step { get; init; }
    /// <summary>The epoch the validation ran in.</summary>
    [Name("epoch")] public int Epoch { get; init; }
    /// <summary>Training seconds so far, over all sessions.</summary>
    [Name("elapsed_s")] public double ElapsedSeconds { get; init; }
    /// <summary>Validation perplexity of x_{k+1}.</summary>
    [Name("valid_ppl")] public double Perplexity { get; init; }
    /// <summary>Validation I_NCE in nats.</summary>
    [Name("valid_infonce")] public double InfoNce { get; init; }
    /// <summary>The latent probe's accuracy, where the corpus has latent classes.</summary>
    [Name("probe_acc")] public double? ProbeAccuracy { get; init; }
    /// <summary>Its accuracy on long-range examples.</summary>
    [Name("probe_long_range_acc")] public double? ProbeLongRangeAccuracy { get; init; }

    /// <summary>The row as read from a checkpoint of an earlier version, which wrote a missing value as NaN.</summary>
    internal EvaluationRow FromEarlierVersion() => this with { ProbeAccuracy = RunLogs.Known(ProbeAccuracy), ProbeLongRangeAccuracy = RunLogs.Known(ProbeLongRangeAccuracy) };
}

/// <summary>
/// A CSV log of typed rows (<see cref="CsvRunLog"/>), appended to as a run goes. Its text so far (<see cref="Text"/>) goes
/// into each checkpoint, and a resumed run writes the file again from the checkpoint's copy (<see cref="RunLogs.Restore"/>)
/// instead of reading back what is on disk, so a line torn by a kill or a full disk, a damaged line, or rows written after
/// the checkpoint never reach the resumed run's log.
/// </summary>
public sealed class CsvLog<TRow>
{
    private readonly string _path;
    private readonly List<TRow> _rows;

    /// <summary>Writes <paramref name="rows"/> to <paramref name="path"/> as a whole new file.</summary>
    public CsvLog(string path, IEnumerable<TRow> rows)
    {
        _path = path;
        _rows = rows.ToList();
        CsvRunLog.Rewrite(path, _rows);
    }

    /// <summary>The rows so far.</summary>
    public IReadOnlyList<TRow> Rows => _rows;

    /// <summary>The file's text so far: the header and every row, each ended by a line feed.</summary>
    public string Text => CsvRunLog.Format(_rows);

    /// <summary>Appends one row.</summary>
    public void Append(TRow row)
    {
        CsvRunLog.Append(_path, row);
        _rows.Add(row);
    }
}

/// <summary>A run's two logs: <c>train.csv</c> (a row per progress line) and <c>eval.csv</c> (a row per validation).</summary>
/// <param name="Train">The training log.</param>
/// <param name="Evaluation">The validation log.</param>
public sealed record RunLogs(CsvLog<TrainRow> Train, CsvLog<EvaluationRow> Evaluation)
{
    /// <summary>
    /// Fresh logs in <paramref name="directory"/>, or the logs as <paramref name="restored"/> saved them: rows after the
    /// checkpoint (or torn by a kill) are not read back.
    /// </summary>
    /// <exception cref="BadInputException">The checkpoint's copy of a log has other columns; the message names the log and the line.</exception>
    public static RunLogs Restore(string directory, Checkpoint.Contents? restored) =>
        new(Restored(directory, "train.csv", restored?.TrainLog, (TrainRow r) => r.FromEarlierVersion()),
            Restored(directory, "eval.csv", restored?.EvalLog, (EvaluationRow r) => r.FromEarlierVersion()));

    private static CsvLog<TRow> Restored<TRow>(string directory, string name, string? saved, Func<TRow, TRow> fromEarlierVersion) =>
        new(Path.Combine(directory, name), saved is null ? []
            : CsvRunLog.Parse<TRow>(saved, $"the checkpoint's copy of {name}").Select(line => fromEarlierVersion(line.Record)));

    /// <summary>A missing value: null, or NaN as checkpoints of earlier versions wrote it.</summary>
    internal static double? Known(double? value) => value is double.NaN ? null : value;
}

/// <summary>PNG curves of a run's CSV logs (<see cref="Charts"/>).</summary>
public static class Curves
{
    /// <summary>
    /// Plots the named series of <paramref name="rows"/> against their step into <paramref name="path"/>, one panel per
    /// group of series; missing values are left out.
    /// </summary>
    public static void Save<TRow>(string path, IReadOnlyList<TRow> rows, string title,
                                  IReadOnlyList<(string Panel, (string Name, Func<TRow, double?> Value)[] Series)> panels) where TRow : ILogRow
    {
        if (rows.Count == 0) return;
        var steps = rows.Select(r => (double)r.Step).ToArray();
        Charts.SavePng(path, panels.Select((panel, p) => new ChartPanel(p == 0 ? $"{title}: {panel.Panel}" : panel.Panel)
        {
            XLabel = "step",
            Series = panel.Series.Select(series => new ChartSeries(series.Name, steps, rows.Select(r => series.Value(r) ?? double.NaN).ToArray())
            {
                LineWidth = 1,
                MarkerSize = rows.Count > 60 ? 0 : 4,
            }).ToArray(),
        }).ToArray(), 900, 320 * panels.Count);
    }
}
