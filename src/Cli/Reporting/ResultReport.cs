using System.Globalization;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace Decomp.Cli.Reporting;

/// <summary>One finished estimate and what it was computed from, as the table, Markdown and JSON the tool writes.</summary>
/// <param name="Quantity">"I(X; Y)" or "I(X; Y | Z)".</param>
/// <param name="Estimate">The library's result.</param>
/// <param name="Inputs">name ("x", "y", "z") to (the selection as given, the columns taken).</param>
/// <param name="Rows">Rows (samples) in the data.</param>
/// <param name="Device">The device trained on.</param>
/// <param name="Output">The folder the files went to.</param>
internal sealed record ResultReport(string Quantity, MiEstimate Estimate, IReadOnlyList<(string Name, string Selection, IReadOnlyList<string> Columns)> Inputs,
                                    int Rows, string Device, string Output)
{
    /// <summary>The estimator as the command line names it.</summary>
    public string EstimatorName => CommandLine.CommandLineApp.Estimators.Single(e => e.Value == Estimate.Options.Estimator).Name;

    /// <summary>The critic as the command line names it.</summary>
    public string CriticName => CommandLine.CommandLineApp.Critics.Single(c => c.Value == Estimate.Options.Critic).Name;

    /// <summary>The route as the command line names it; null for I(X; Y).</summary>
    public string? RouteName => Estimate.Route is { } r ? CommandLine.CommandLineApp.Routes.Single(c => c.Value == r).Name : null;

    /// <summary>(label, value) rows of the table, in order.</summary>
    public IReadOnlyList<(string Label, string Value)> Lines()
    {
        var e = Estimate;
        var lines = new List<(string, string)>
        {
            ($"{Quantity}, estimate", $"{F(e.Value)} nats ({F(e.Value / Math.Log(2))} bits)"),
            ("95% interval", $"[{F(e.Lower)}, {F(e.Upper)}] nats"),
            ("standard error", $"{F(e.StandardError)} nats over {e.TestBatches} test batches"),
        };
        if (e.Cap is { } cap) lines.Add(("cap (log batch size)", $"{F(cap)} nats = log {e.Options.BatchSize}"));
        lines.Add(("estimator", $"{EstimatorName}, {CriticName} critic" + (RouteName is { } route ? $", route {route}" : "")));
        foreach (var (name, selection, columns) in Inputs)
            lines.Add((name, $"{selection} ({columns.Count} column{(columns.Count == 1 ? "" : "s")})"));
        lines.Add(("steps", $"{e.Steps} of at most {e.Options.MaxSteps}, best (kept) at step {e.BestStep}"));
        lines.Add(("rows", $"{Rows}: train {e.TrainRows}, validation {e.ValidationRows}, test {e.TestRows}"));
        lines.Add(("time", $"{e.Seconds.ToString("F1", CultureInfo.InvariantCulture)} s on {Device}"));
        lines.Add(("warnings", e.Warnings.Count == 0 ? "none" : string.Join("\n", e.Warnings)));
        return lines;
    }

    /// <summary>Writes the table to <paramref name="output"/> (Spectre.Console; no colours when it is not a terminal).</summary>
    public void WriteTable(TextWriter output)
    {
        var terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        if (!terminal) console.Profile.Width = 120;
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"{Quantity} from {Rows} rows")).AddColumn("").AddColumn("");
        table.ShowHeaders = false;
        foreach (var (label, value) in Lines()) table.AddRow(Markup.Escape(label), Markup.Escape(value));
        console.Write(table);
        console.WriteLine(Markup.Escape($"Wrote {Path.Combine(Output, "curve.png")}, estimate.md and estimate.json."));
    }

    /// <summary>The table as Markdown (estimate.md).</summary>
    public string Markdown()
    {
        var text = new StringBuilder();
        text.Append($"# {Quantity} from {Rows} rows\n\n| | |\n| --- | --- |\n");
        foreach (var (label, value) in Lines())
            text.Append($"| {label} | {value.Replace("|", "\\|").Replace("\n", "<br>")} |\n");
        text.Append("\n![training curve](curve.png)\n");
        return text.ToString();
    }

    /// <summary>The result as one JSON object (estimate.json, and standard output with --json). Numbers in nats.</summary>
    public string Json()
    {
        var e = Estimate;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("quantity", Quantity);
            json.WriteNumber("estimate", e.Value);
            json.WriteNumber("lower", e.Lower);
            json.WriteNumber("upper", e.Upper);
            json.WriteNumber("standardError", e.StandardError);
            json.WriteString("unit", "nats");
            json.WriteNumber("testBatches", e.TestBatches);
            if (e.Cap is { } cap) json.WriteNumber("cap", cap); else json.WriteNull("cap");
            json.WriteString("estimator", EstimatorName);
            json.WriteString("critic", CriticName);
            if (RouteName is { } route) json.WriteString("route", route); else json.WriteNull("route");
            json.WriteNumber("n", Rows);
            json.WriteStartObject("inputs");
            foreach (var (name, selection, columns) in Inputs)
            {
                json.WriteStartObject(name);
                json.WriteString("selection", selection);
                json.WriteStartArray("columns");
                foreach (var c in columns) json.WriteStringValue(c);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
            json.WriteStartObject("rows");
            json.WriteNumber("train", e.TrainRows);
            json.WriteNumber("validation", e.ValidationRows);
            json.WriteNumber("test", e.TestRows);
            json.WriteEndObject();
            json.WriteNumber("batchSize", e.Options.BatchSize);
            json.WriteNumber("maxSteps", e.Options.MaxSteps);
            json.WriteNumber("steps", e.Steps);
            json.WriteNumber("bestStep", e.BestStep);
            json.WriteNumber("seed", e.Options.Seed);
            json.WriteString("device", Device);
            json.WriteNumber("seconds", Math.Round(e.Seconds, 3));
            json.WriteStartArray("warnings");
            foreach (var w in e.Warnings) json.WriteStringValue(w);
            json.WriteEndArray();
            json.WriteStartArray("curve");
            foreach (var p in e.Curve)
            {
                json.WriteStartObject();
                json.WriteNumber("step", p.Step);
                json.WriteNumber("train", p.Train);
                json.WriteNumber("validation", p.Validation);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteString("output", Output);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    private static string F(double v) => v.ToString("F3", CultureInfo.InvariantCulture);
}
