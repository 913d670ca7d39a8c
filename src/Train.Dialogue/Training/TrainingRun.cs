using Decomp.Apps;
using Decomp.Dialogue.Evaluation;
using Decomp.Dialogue.Reporting;
using TorchSharp;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Training;

/// <summary>What every part of a run reads once set up: the options, the run folder, the data, the objective, the device, and where it reports.</summary>
/// <param name="Options">The run's options.</param>
/// <param name="OutputDirectory">The run folder.</param>
/// <param name="Data">The corpus, vocabulary and encoded examples.</param>
/// <param name="Objective">How the contrastive terms are scored and weighted.</param>
/// <param name="Device">Where the model runs.</param>
/// <param name="ModelDescription">The model's shape and parameter count, for metrics.json.</param>
/// <param name="Report">Console lines, curves and the final files.</param>
public sealed record RunContext(TrainingOptions Options, string OutputDirectory, RunInputs Data, ObjectiveSettings Objective, Device Device,
                                string ModelDescription, RunReport Report);

/// <summary>How long training runs: batches per epoch, the steps of all epochs, and the wall-clock budget (0: none).</summary>
public sealed record TrainingPlan(int BatchesPerEpoch, long PlannedSteps, double BudgetSeconds)
{
    /// <summary>Whether the budget is spent after <paramref name="elapsedSeconds"/> of training.</summary>
    public bool BudgetSpent(double elapsedSeconds) => BudgetSeconds > 0 && elapsedSeconds >= BudgetSeconds;
}

/// <summary>
/// A whole dialogue run: fine-tunes (or trains from scratch) a GPT-2 with one of the three methods, with periodic
/// validation, early stopping on validation perplexity, a wall-clock budget, atomic checkpoints and resumption, CSV
/// logs and PNG curves; then evaluates the best weights on the test split. The step itself is <see cref="TrainingSession"/>'s,
/// the objective <see cref="Objective"/>'s, the final numbers <see cref="FinalEvaluation"/>'s, the lines and files <see cref="RunReport"/>'s.
/// </summary>
public sealed class TrainingRun
{
    private TrainingOptions _options;
    private readonly TextWriter _log;
    private readonly string _out;
    private static readonly IReadOnlySet<string> AllOptions = typeof(TrainingOptions).GetProperties().Select(p => p.Name).ToHashSet();

    /// <summary>The step of the last checkpoint this run wrote or resumed from (null: none yet), for the message of a failed write.</summary>
    private long? _savedStep;

    /// <summary>When (training seconds) the last checkpoint was written.</summary>
    private double _lastCheckpoint;

    /// <summary>A run of <paramref name="options"/> that reports to <paramref name="log"/>.</summary>
    public TrainingRun(TrainingOptions options, TextWriter log)
    {
        _options = options.Validated();
        _log = log;
        _out = options.OutputDirectory;
    }

    /// <summary>
    /// The options the command line gave (property names); on <c>--resume</c> the others come from the checkpoint. Null:
    /// every option was given, as when the options are built in code.
    /// </summary>
    internal IReadOnlySet<string>? GivenOptions { get; init; }

    /// <summary>Called after every optimizer step with the step count (tests use it to interrupt a run).</summary>
    internal Action<long>? StepCompleted { get; init; }

    private string CheckpointPath => Path.Combine(_out, Checkpoint.FileName);

    /// <summary>
    /// Runs training and the final evaluation; returns the metrics also written to <c>metrics.json</c>. When
    /// <paramref name="cancellation"/> fires, a checkpoint is written after the current step and
    /// <see cref="OperationCanceledException"/> is thrown; <c>--resume</c> continues from there.
    /// </summary>
    public RunMetrics Run(CancellationToken cancellation = default)
    {
        Decomp.Devices.EnsureNativesLoaded();
        if (_options.Threads > 0) torch.set_num_threads(_options.Threads);
        var device = _options.Device is null ? Decomp.Devices.Current : Decomp.Devices.Parse(_options.Device);
        // One process per run folder, from before its checkpoint is read until the run ends (or the process dies).
        using var owner = RunFolder.Acquire(_out);

        Checkpoint.Contents? restored = null;
        if (_options.Resume && File.Exists(CheckpointPath))
        {
            restored = Checkpoint.Load(CheckpointPath);
            var given = GivenOptions ?? AllOptions;
            var conflicts = ResumePolicy.Conflicts(restored.Options, _options, given, TrainingOptions.JsonOptions);
            if (conflicts.Count > 0) throw ResumePolicy.Refused(conflicts, TrainingOptions.FlagFor);
            // Options not given come from the checkpoint (its budget, logging, device...), the given operational ones win.
            _options = ResumePolicy.TakeGiven(restored.Options, _options, given, nameof(TrainingOptions.Resume), TrainingOptions.JsonOptions)
                with { OutputDirectory = _out };
            _options.Validated();
            _log.WriteLine($"resuming from {CheckpointPath} at step {restored.State.Step}");
        }
        else if (_options.Resume)
            throw CheckpointFile.OnlyPrevious(CheckpointPath) ?? (Exception)ResumePolicy.NoCheckpoint(CheckpointPath);
        else if (CheckpointFile.Exists(CheckpointPath))
            throw ResumePolicy.AlreadyHoldsRun(CheckpointPath);
        _savedStep = restored?.State.Step;
        try
        {
            return TrainAndEvaluate(restored, device, cancellation);
        }
        catch (IOException e) when (e is not (FileNotFoundException or DirectoryNotFoundException))
        {
            // A full disk, most often: say what is safe, in the same line.
            var saved = _savedStep is { } step
                ? $"The checkpoint of step {step} ({CheckpointPath}) and the files written before are intact: once the cause is fixed (free space on the disk), continue with --resume."
                : "Nothing was checkpointed yet: once the cause is fixed, run again.";
            throw new IOException($"{e.Message.TrimEnd('.')}. {saved}", e);
        }
    }

    private RunMetrics TrainAndEvaluate(Checkpoint.Contents? restored, Device device, CancellationToken cancellation)
    {
        var options = _options;
        var report = new RunReport(options, _out, _log);
        var data = RunInputs.Load(options, restored?.Vocabulary, _out, _log);
        var model = restored?.Model ?? RunInputs.BuildModel(options, data.Vocabulary);
        model.to(device);
        using var session = new TrainingSession(options, model, data.Vocabulary, restored, device);
        if (options.MaxPastTokens + options.MaxFutureTokens > model.Config.ContextLength)
            throw new ArgumentException($"--max-past-tokens + --max-future-tokens = {options.MaxPastTokens + options.MaxFutureTokens} exceeds the model's n_positions {model.Config.ContextLength}", "max-past-tokens");
        long parameterCount = model.parameters().Sum(p => p.numel());
        var modelDescription = $"GPT-2 n_embd {model.Config.EmbeddingSize}, n_layer {model.Config.Layers}, n_head {model.Config.Heads}, n_positions {model.Config.ContextLength}, vocab {model.Config.VocabSize}, {parameterCount:N0} parameters";
        report.Say($"model: {modelDescription}{(options.Pretrained is null ? " (random init)" : $" (from {options.Pretrained})")}; device {Decomp.Devices.Describe(device)}");
        report.Say($"examples (split points 1 < k < L): {data.Train.Count} / {data.Valid.Count} / {data.Test.Count}");
        if (data.Train.Count < options.BatchSize) throw new ArgumentException($"the corpus gives {data.Train.Count} training examples, fewer than --batch-size {options.BatchSize}", "batch-size");

        double temperature = options.Temperature ?? (options.Cosine ? 0.1 : Math.Sqrt(model.Config.EmbeddingSize));
        var objective = new ObjectiveSettings(options.Method, options.NceWeight, temperature, options.Cosine, options.UnconditionalView);
        report.Say($"method {TrainingOptions.MethodName(options.Method)}: weight {options.NceWeight}, {(options.Cosine ? "cosine" : "dot")} critic / {temperature:G4}" +
                   (options.Method == Method.InfoNceS ? $", M = {options.Negatives} negatives from p(x>k | x_k) per example ({EpochNegatives.Sampling(options)}), unconditional view {options.UnconditionalView.ToString().ToLowerInvariant()}" : ""));
        var context = new RunContext(options, _out, data, objective, device, modelDescription, report);

        var logs = RunLogs.Restore(_out, restored);
        session.State = session.State with { StopReason = StillStopped(session.State, options) };
        if (session.State.StopReason is null) Train(context, session, logs, cancellation);
        else report.Say($"training had already stopped ({session.State.StopReason}); evaluating");

        var results = FinalEvaluation.Run(context, session.State);
        report.Final(results);
        return results.Metrics;
    }

    /// <summary>The epochs: a step per batch, progress lines and log rows, validations, checkpoints, and the stops (epochs, budget, patience, cancellation).</summary>
    private void Train(RunContext context, TrainingSession session, RunLogs logs, CancellationToken cancellation)
    {
        var (options, data, report) = (context.Options, context.Data, context.Report);
        int batchesPerEpoch = TrainingSession.EpochExamples(options, data.Train, data.TrainDialogueOf, 0).Count / options.BatchSize;
        var plan = new TrainingPlan(batchesPerEpoch, (long)batchesPerEpoch * options.Epochs, options.BudgetMinutes * 60);
        var evaluator = new Evaluator(session.Model, data.Encoder, context.Objective, options.BatchSize, context.Device);
        var probeTrain = data.Corpus.HasLatent ? Evaluator.Spread(data.Train, Math.Min(1000, options.ProbeTrainExamples)) : null;
        var monitor = new ValidationMonitor(evaluator, Evaluator.Spread(data.Valid, options.EvalExamples), probeTrain,
                                            Evaluator.Spread(data.Valid, 1000), data.Corpus.LatentNames?.Count ?? 0, options.Seed);
        session.StartClock();
        _lastCheckpoint = session.ElapsedSeconds;
        using var progress = report.StartProgress(plan, session.State.Step, session.ElapsedSeconds);
        var negativesCache = new EpochNegatives(options, _out, report.Log);
        var window = new ProgressWindow(session.ElapsedSeconds, session.State.Step);

        report.Say($"training: {plan.BatchesPerEpoch} steps per epoch, {options.Epochs} epochs ({plan.PlannedSteps} steps)" +
                   (plan.BudgetSeconds > 0 ? $", budget {options.BudgetMinutes} min" : "") + $", lr {options.EffectiveLearningRate:G3}");
        if (session.State.LastEvaluationStep < 0) Evaluate(context, session, monitor, logs, window); // the starting point, for the curves

        string? stop = null;
        for (; session.State.Epoch < options.Epochs && stop is null; session.State = session.State with { Epoch = session.State.Epoch + 1, BatchInEpoch = 0 })
        {
            var epoch = session.State.Epoch;
            var epochExamples = TrainingSession.EpochExamples(options, data.Train, data.TrainDialogueOf, epoch);
            bool conditional = options.Method == Method.InfoNceS && epoch + 1 >= options.EffectiveConditionalStartEpoch;
            var epochObjective = options.Method == Method.InfoNceS && !conditional ? context.Objective with { Method = Method.InfoNce } : context.Objective;
            NegativeFutures? negatives = null;
            if (conditional)
            {
                negatives = negativesCache.For(session.Model, epochExamples, session.Vocabulary, epoch,
                                               session.State.BatchInEpoch > 0 && session.State.BatchInEpoch < plan.BatchesPerEpoch);
                window.RestartClock(session.ElapsedSeconds, session.State.Step);
            }
            else if (options.Method == Method.InfoNceS && session.State.BatchInEpoch == 0)
                report.Say($"epoch {epoch + 1}: InfoNCE_S's conditional term starts at epoch {options.EffectiveConditionalStartEpoch}; until then the loss is GPT2+InfoNCE's");

            while (session.State.BatchInEpoch < plan.BatchesPerEpoch)
            {
                var batch = epochExamples.Skip(session.State.BatchInEpoch * options.BatchSize).Take(options.BatchSize).ToList();
                double lr = session.LearningRate(plan.PlannedSteps, plan.BudgetSeconds);
                window.Add(session.Step(batch, negatives, epochObjective, lr));
                var state = session.State;

                if (window.Due(session.ElapsedSeconds, options.LogSeconds) || state.BatchInEpoch == plan.BatchesPerEpoch)
                {
                    double rate = window.Rate(session.ElapsedSeconds, state.Step);
                    var mean = window.TakeMean();
                    logs.Train.Append(new TrainRow
                    {
                        Step = state.Step, Epoch = state.Epoch + state.BatchInEpoch / (double)plan.BatchesPerEpoch, ElapsedSeconds = session.ElapsedSeconds,
                        LearningRate = lr, Loss = mean.Loss, LanguageModelLoss = mean.LanguageModelLoss, InfoNce = mean.InfoNce,
                        ConditionalInfoNce = mean.ConditionalInfoNce, StepsPerSecond = rate,
                    });
                    report.Progress(state, plan, mean, lr, rate);
                    window.RestartClock(session.ElapsedSeconds, state.Step);
                }
                if (options.EvalEverySteps > 0 && state.Step % options.EvalEverySteps == 0 && Evaluate(context, session, monitor, logs, window)) { stop = "early stopping"; break; }
                if (plan.BudgetSpent(session.ElapsedSeconds)) { stop = "budget"; break; }
                StepCompleted?.Invoke(state.Step);
                if (cancellation.IsCancellationRequested)
                {
                    SaveCheckpoint(session, logs);
                    report.Say($"interrupted at step {state.Step}; checkpoint written, continue with --resume");
                    throw new OperationCanceledException(cancellation);
                }
                if (session.ElapsedSeconds - _lastCheckpoint >= options.CheckpointMinutes * 60) SaveCheckpoint(session, logs);
            }
            if (stop is null && session.State.LastEvaluationStep != session.State.Step && Evaluate(context, session, monitor, logs, window)) stop = "early stopping";
            if (stop is null && plan.BudgetSpent(session.ElapsedSeconds)) stop = "budget";
            if (stop is not null) break;
        }
        stop ??= "epochs";
        if (session.State.LastEvaluationStep != session.State.Step) Evaluate(context, session, monitor, logs, window);
        session.State = session.State with { StopReason = stop, ElapsedSeconds = session.ElapsedSeconds };
        SaveCheckpoint(session, logs);
        progress.Dispose();
        report.Say($"training stopped ({stop}) at step {session.State.Step} after {Durations.Format(session.State.ElapsedSeconds)}; best valid ppl {session.State.BestValidPerplexity:F3} at step {session.State.BestStep}");
    }

    /// <summary>
    /// Validates the model as it is: records the numbers in <c>eval.csv</c> and the state, keeps the weights when they are
    /// the best so far, redraws the curves and checkpoints. Returns true when early stopping triggers.
    /// </summary>
    private bool Evaluate(RunContext context, TrainingSession session, ValidationMonitor monitor, RunLogs logs, ProgressWindow window)
    {
        var (lm, probe) = monitor.Measure();
        var state = session.State;
        bool improved = lm.Perplexity < state.BestValidPerplexity;
        session.State = state = state with
        {
            LastEvaluationStep = state.Step,
            BestValidPerplexity = improved ? lm.Perplexity : state.BestValidPerplexity,
            BestStep = improved ? state.Step : state.BestStep,
            EvaluationsWithoutImprovement = improved ? 0 : state.EvaluationsWithoutImprovement + 1,
        };
        if (improved) session.SaveBest(Path.Combine(_out, "best"));
        logs.Evaluation.Append(new EvaluationRow
        {
            Step = state.Step, Epoch = state.Epoch, ElapsedSeconds = session.ElapsedSeconds, Perplexity = lm.Perplexity, InfoNce = lm.InfoNce,
            ProbeAccuracy = probe?.Accuracy, ProbeLongRangeAccuracy = probe?.LongRangeAccuracy,
        });
        context.Report.Evaluation(state.Step, lm, probe, improved);
        context.Report.Curves(logs);
        SaveCheckpoint(session, logs);
        // Evaluation takes time that is not training speed; progress lines measure steps only.
        window.RestartClock(session.ElapsedSeconds, state.Step);
        return context.Options.Patience > 0 && state.EvaluationsWithoutImprovement >= context.Options.Patience;
    }

    private void SaveCheckpoint(TrainingSession session, RunLogs logs)
    {
        session.SaveCheckpoint(CheckpointPath, logs);
        _savedStep = session.State.Step;
        _lastCheckpoint = session.ElapsedSeconds;
    }

    /// <summary>
    /// Why a resumed run should stay stopped under the (possibly changed) options, or null to continue training:
    /// more epochs, a larger budget or more patience lift the matching stop.
    /// </summary>
    private static string? StillStopped(TrainerState state, TrainingOptions options) => state.StopReason switch
    {
        "epochs" when state.Epoch < options.Epochs => null,
        "budget" when options.BudgetMinutes == 0 || state.ElapsedSeconds < options.BudgetMinutes * 60 => null,
        "early stopping" when options.Patience == 0 || state.EvaluationsWithoutImprovement < options.Patience => null,
        var reason => reason,
    };
}
