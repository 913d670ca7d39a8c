using System.Globalization;
using System.Text;
using System.Text.Json;
using Decomp.Apps;
using Decomp.Dialogue.Evaluation;
using Decomp.Dialogue.Training;

namespace Decomp.Dialogue.Reporting;

/// <summary>
/// What a run tells: progress and evaluation lines on the console, the curves (<c>training.png</c>,
/// <c>validation.png</c>), and at the end <c>metrics.json</c>, <c>samples.md</c> and the summary lines.
/// </summary>
/// <param name="options">The run's options.</param>
/// <param name="outputDirectory">The run folder.</param>
/// <param name="log">Where lines go.</param>
public sealed class RunReport(TrainingOptions options, string outputDirectory, TextWriter log)
{
    private readonly TextWriter _console = log;
    private TextWriter _lines = log;
    private ConsoleProgress? _progress;

    /// <summary>Where lines go: above the progress bar while training draws one.</summary>
    public TextWriter Log => _lines;

    private string OutPath(string name) => Path.Combine(outputDirectory, name);

    /// <summary>Writes one line.</summary>
    public void Say(string line) => _lines.WriteLine(line);

    /// <summary>
    /// Starts the training's progress report (<see cref="ConsoleProgress"/>) at <paramref name="step"/>, after
    /// <paramref name="elapsed"/> seconds of training: the share of the plan done (of the budget, when that is further), and
    /// an ETA within the budget that reads "at most" when early stopping may end the run sooner. Until it is disposed,
    /// lines go above its bar.
    /// </summary>
    public ConsoleProgress StartProgress(TrainingPlan plan, long step, double elapsed)
    {
        var total = Math.Max(1, plan.PlannedSteps);
        _progress = ConsoleProgress.Start(_console, "training", total, new ProgressSettings
        {
            Completed = Math.Min(step, total), CompletedSeconds = elapsed, BudgetSeconds = plan.BudgetSeconds, MayEndEarly = options.Patience > 0,
        });
        _lines = _progress.Lines;
        return _progress;
    }

    /// <summary>
    /// Reports step <see cref="TrainerState.Step"/>: epoch and batch, the window's <paramref name="mean"/> terms, learning
    /// rate and speed (<paramref name="rate"/>, steps per second of training alone).
    /// </summary>
    public void Progress(TrainerState state, TrainingPlan plan, StepOutcome mean, double learningRate, double rate)
    {
        var terms = $"loss {mean.Loss:F4} lm {mean.LanguageModelLoss:F4}" + (mean.InfoNce is { } nce ? $" I_NCE {nce:F3}" : "")
                    + (mean.ConditionalInfoNce is { } cnce ? $" I_CNCE {cnce:F3}" : "");
        _progress?.Report(state.Step, string.Create(CultureInfo.InvariantCulture,
            $"epoch {state.Epoch + 1}/{options.Epochs} batch {state.BatchInEpoch}/{plan.BatchesPerEpoch} | {terms} | lr {learningRate:G3} | {rate:F1} steps/s"));
    }

    /// <summary>The line of a validation at <paramref name="step"/>.</summary>
    public void Evaluation(long step, LanguageModelMetrics languageModel, ProbeMetrics? probe, bool improved) =>
        Say($"  eval @ step {step}: valid ppl {languageModel.Perplexity:F3}{(improved ? " (best)" : "")}, valid I_NCE {languageModel.InfoNce:F3} nats" +
            (probe is null ? "" : $", probe acc {probe.Accuracy:P1} (long-range {probe.LongRangeAccuracy:P1}, chance {probe.Chance:P1})"));

    /// <summary>Draws <c>training.png</c> and <c>validation.png</c> from the logs so far.</summary>
    public void Curves(RunLogs logs)
    {
        var title = $"{TrainingOptions.MethodName(options.Method)}, seed {options.Seed}";
        Training.Curves.Save(OutPath("training.png"), logs.Train.Rows, title,
            [("loss", [("loss", r => r.Loss), ("lm_loss", r => r.LanguageModelLoss)]),
             ("contrastive bounds (nats)", [("infonce", r => r.InfoNce), ("cond_infonce", r => r.ConditionalInfoNce)]),
             ("learning rate", [("lr", r => r.LearningRate)])]);
        Training.Curves.Save(OutPath("validation.png"), logs.Evaluation.Rows, title,
            [("validation perplexity of x_{k+1}", [("valid_ppl", r => r.Perplexity)]), ("validation I_NCE (nats)", [("valid_infonce", r => r.InfoNce)]),
             ("latent probe accuracy", [("probe_acc", r => r.ProbeAccuracy), ("probe_long_range_acc", r => r.ProbeLongRangeAccuracy)])]);
    }

    /// <summary>Writes <c>metrics.json</c> and <c>samples.md</c>, and prints the final numbers and the first sample responses.</summary>
    public void Final(FinalResults results)
    {
        var metrics = results.Metrics;
        AtomicFile.WriteAllText(OutPath("metrics.json"), JsonSerializer.Serialize(metrics, TrainingOptions.JsonOptions) + "\n");
        AtomicFile.WriteAllText(OutPath("samples.md"), SamplesMarkdown(results.Samples));

        Say("");
        Say($"test perplexity {metrics.TestPerplexity:F3} (valid {metrics.ValidPerplexity:F3}), test I_NCE {metrics.TestInfoNce:F3} nats, BLEU {metrics.Bleu:F2}");
        Say($"seq-rep-n (n=2..6) {string.Join(" ", metrics.SeqRep.Values.Select(F3))}, avg {F3(metrics.SeqRepAvg)}; dist-1/2/3 {string.Join(" ", metrics.Dist.Values.Select(F3))}");
        if (results.Probe is { } probe)
            Say($"latent probe from f(x<=k): {probe.Accuracy:P1} (x_k not revealing: {probe.LongRangeAccuracy:P1}); from f(x_k) alone: {probe.RecentAccuracy:P1} ({probe.RecentLongRangeAccuracy:P1}); " +
                $"before training: {results.InitialProbe!.Accuracy:P1} ({results.InitialProbe.LongRangeAccuracy:P1}); chance {probe.Chance:P1}");
        Say("");
        foreach (var s in results.Samples.Take(options.Samples))
        {
            Say($"  context:   {s.Context}");
            Say($"  reference: {s.Reference}");
            Say($"  response:  {s.Response}");
            Say("");
        }
        Say($"wrote {OutPath("metrics.json")}, {OutPath("samples.md")}, corpus.md, train.csv, eval.csv, training.png, validation.png");
    }

    private static string F3(double? v) => v is { } x ? x.ToString("F3", CultureInfo.InvariantCulture) : "n/a";

    private static string SamplesMarkdown(IReadOnlyList<ResponseSample> samples)
    {
        var s = new StringBuilder("# Sample responses (best weights, test contexts)\n\n");
        foreach (var x in samples)
            s.Append("- **context:** ").Append(x.Context).Append("\n  - **reference:** ").Append(x.Reference)
             .Append("\n  - **response:** ").Append(x.Response).Append('\n');
        return s.ToString();
    }
}
