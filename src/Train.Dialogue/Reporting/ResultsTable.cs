using System.Globalization;
using System.Text;
using System.Text.Json;
using Decomp.Apps;
using Decomp.Dialogue.Training;

namespace Decomp.Dialogue.Reporting;

/// <summary>Collects runs' <c>metrics.json</c> into Markdown tables: one row per run, then mean ± sample std per method.</summary>
public static class ResultsTable
{
    private sealed record Column(string Header, Func<RunMetrics, double?> Value, string Format);

    private static readonly Column[] Columns =
    [
        new("steps", m => m.Steps, "F0"),
        new("valid ppl", m => m.ValidPerplexity, "F3"),
        new("test ppl", m => m.TestPerplexity, "F3"),
        new("test I_NCE", m => m.TestInfoNce, "F3"),
        new("BLEU", m => m.Bleu, "F2"),
        new("seq-rep-2", m => m.SeqRep.GetValueOrDefault("2"), "F3"),
        new("seq-rep-3", m => m.SeqRep.GetValueOrDefault("3"), "F3"),
        new("seq-rep-4", m => m.SeqRep.GetValueOrDefault("4"), "F3"),
        new("seq-rep-5", m => m.SeqRep.GetValueOrDefault("5"), "F3"),
        new("seq-rep-6", m => m.SeqRep.GetValueOrDefault("6"), "F3"),
        new("seq-rep-avg", m => m.SeqRepAvg, "F3"),
        new("dist-1", m => m.Dist.GetValueOrDefault("1"), "F3"),
        new("dist-2", m => m.Dist.GetValueOrDefault("2"), "F3"),
        new("dist-3", m => m.Dist.GetValueOrDefault("3"), "F3"),
        new("probe acc", m => m.ProbeAccuracy, "P1"),
        new("probe acc (x_k silent)", m => m.ProbeLongRangeAccuracy, "P1"),
        new("probe from x_k (silent)", m => m.ProbeRecentLongRangeAccuracy, "P1"),
        new("probe at init", m => m.ProbeAccuracyAtInit, "P1"),
        new("probe at init (x_k silent)", m => m.ProbeLongRangeAccuracyAtInit, "P1"),
        new("chance", m => m.ProbeChance, "P1"),
    ];

    private static readonly string[] MethodOrder = ["gpt2", "infonce", "infonce-s"];

    /// <summary>The metrics files named by <paramref name="paths"/> (files, or folders searched recursively for metrics.json).</summary>
    /// <exception cref="FileNotFoundException">A path does not exist.</exception>
    public static List<string> FindMetricsFiles(IEnumerable<string> paths)
    {
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (File.Exists(path)) files.Add(path);
            else if (Directory.Exists(path)) files.AddRange(Directory.GetFiles(path, "metrics.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
            else throw new FileNotFoundException($"no such file or folder: {path}", path);
        }
        return files;
    }

    /// <summary>Reads one metrics file.</summary>
    /// <exception cref="InvalidDataException">It is not a metrics file; the message names it.</exception>
    public static RunMetrics Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<RunMetrics>(File.ReadAllText(path), TrainingOptions.JsonOptions)
                   ?? throw new InvalidDataException($"{path}: empty metrics file");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a metrics.json written by Train.Dialogue ({e.Message})", e);
        }
    }

    /// <summary>The Markdown report of <paramref name="runs"/>.</summary>
    public static string ToMarkdown(IReadOnlyList<RunMetrics> runs)
    {
        var c = CultureInfo.InvariantCulture;
        var used = Columns.Where(col => runs.Any(r => col.Value(r).HasValue)).ToList();
        var s = new StringBuilder();
        var ordered = runs.OrderBy(r => Array.IndexOf(MethodOrder, r.Method) is var i && i < 0 ? int.MaxValue : i)
                          .ThenBy(r => r.Method, StringComparer.Ordinal).ThenBy(r => r.Seed).ToList();

        s.AppendLine("### Per run").AppendLine();
        s.Append("| method | seed | ").AppendJoin(" | ", used.Select(col => col.Header)).AppendLine(" |");
        s.Append("|---|---|").AppendJoin("", used.Select(_ => "---|")).AppendLine();
        foreach (var r in ordered)
            s.Append(c, $"| {r.Method} | {r.Seed} | ").AppendJoin(" | ", used.Select(col => Format(col.Value(r), col.Format))).AppendLine(" |");

        s.AppendLine().AppendLine("### Mean ± standard deviation over seeds").AppendLine();
        s.Append("| method | runs | ").AppendJoin(" | ", used.Select(col => col.Header)).AppendLine(" |");
        s.Append("|---|---|").AppendJoin("", used.Select(_ => "---|")).AppendLine();
        foreach (var group in ordered.GroupBy(r => r.Method))
        {
            var list = group.ToList();
            s.Append(c, $"| {group.Key} | {list.Count} | ").AppendJoin(" | ", used.Select(col => MeanStd(list.Select(col.Value).ToList(), col.Format))).AppendLine(" |");
        }
        var first = ordered.FirstOrDefault();
        if (first is not null)
            s.AppendLine().AppendLine(c, $"Corpus {first.Corpus}; {first.Model}; responses by {first.Decoding}; device {first.Device}.");
        return s.ToString();
    }

    private static string Format(double? value, string format) =>
        value is { } v && double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "n/a";

    private static string MeanStd(IReadOnlyList<double?> values, string format) =>
        MeanAndDeviation.Of(values.Where(v => v is { } x && double.IsFinite(x)).Select(v => v!.Value)) is { } summary
            ? summary.Deviation is { } sd ? $"{Format(summary.Mean, format)} ± {Format(sd, format)}" : Format(summary.Mean, format)
            : "n/a";
}
