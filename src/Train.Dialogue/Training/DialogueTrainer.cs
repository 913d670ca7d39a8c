using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Decomp.Dialogue.Data;
using Decomp.Dialogue.Evaluation;
using Decomp.Dialogue.Model;
using Decomp.Dialogue.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Decomp.Apps;

namespace Decomp.Dialogue.Training;

/// <summary>The final numbers of a run, written to <c>metrics.json</c>.</summary>
public sealed record RunMetrics
{
    /// <summary>The method's command-line name.</summary>
    public required string Method { get; init; }
    /// <summary>The training seed.</summary>
    public required long Seed { get; init; }
    /// <summary>The corpus name.</summary>
    public required string Corpus { get; init; }
    /// <summary>The model shape (n_embd x n_layer x n_head) and parameter count.</summary>
    public required string Model { get; init; }
    /// <summary>The device trained on.</summary>
    public required string Device { get; init; }
    /// <summary>Optimizer steps taken.</summary>
    public required long Steps { get; init; }
    /// <summary>Epochs started (the last may be partial).</summary>
    public required double Epochs { get; init; }
    /// <summary>Training wall-clock seconds (including negative sampling and periodic validation).</summary>
    public required double TrainSeconds { get; init; }
    /// <summary>Why training stopped.</summary>
    public required string StopReason { get; init; }
    /// <summary>The step whose weights were evaluated (best validation perplexity).</summary>
    public required long BestStep { get; init; }
    /// <summary>Validation perplexity of x_{k+1} at the best step.</summary>
    public required double ValidPerplexity { get; init; }
    /// <summary>Test perplexity of x_{k+1}.</summary>
    public required double TestPerplexity { get; init; }
    /// <summary>Test in-batch I_NCE(f(x&lt;=k); f(x&gt;k)) in nats (batch = the training batch size).</summary>
    public required double TestInfoNce { get; init; }
    /// <summary>Corpus BLEU-4 (0-100) of generated x_{k+1} against the true one.</summary>
    public required double Bleu { get; init; }
    /// <summary>seq-rep-n for n = 2..6.</summary>
    public required Dictionary<string, double?> SeqRep { get; init; }
    /// <summary>Mean of seq-rep-2..6.</summary>
    public required double? SeqRepAvg { get; init; }
    /// <summary>dist-n for n = 1..3.</summary>
    public required Dictionary<string, double?> Dist { get; init; }
    /// <summary>Mean words per generated response.</summary>
    public required double ResponseWords { get; init; }
    /// <summary>The decoding used for the responses.</summary>
    public required string Decoding { get; init; }
    /// <summary>Probe accuracy of the latent from f(x&lt;=k) on test examples (null without a latent).</summary>
    public double? ProbeAccuracy { get; init; }
    /// <summary>The same on test examples whose x_k does not reveal the latent.</summary>
    public double? ProbeLongRangeAccuracy { get; init; }
    /// <summary>Probe accuracy from f(x_k) alone (what the recent past gives).</summary>
    public double? ProbeRecentAccuracy { get; init; }
    /// <summary>The same from f(x_k) on the long-range examples.</summary>
    public double? ProbeRecentLongRangeAccuracy { get; init; }
    /// <summary>The majority-class share of the probe's test examples.</summary>
    public double? ProbeChance { get; init; }
    /// <summary>The same probe from f(x&lt;=k) of the model before training (its random or pretrained initial weights).</summary>
    public double? ProbeAccuracyAtInit { get; init; }
    /// <summary>The initial model's probe accuracy on the long-range examples.</summary>
    public double? ProbeLongRangeAccuracyAtInit { get; init; }
}

/// <summary>
/// Fine-tunes (or trains from scratch) a GPT-2 on dialogues with one of the three methods, with periodic
/// validation, early stopping on validation perplexity, a wall-clock budget, atomic checkpoints and resumption,
/// CSV logs and PNG curves; then evaluates the best weights on the test split.
/// </summary>
public sealed class DialogueTrainer
{
    private readonly TrainingOptions _options;
    private readonly TextWriter _log;
    private readonly string _out;

    private static readonly string[] TrainColumns = ["step", "epoch", "elapsed_s", "lr", "loss", "lm_loss", "infonce", "cond_infonce", "steps_per_s"];
    private static readonly string[] EvalColumns = ["step", "epoch", "elapsed_s", "valid_ppl", "valid_infonce", "probe_acc", "probe_long_range_acc"];

    /// <summary>A trainer for <paramref name="options"/> that reports to <paramref name="log"/>.</summary>
    public DialogueTrainer(TrainingOptions options, TextWriter log)
    {
        _options = options.Validated();
        _log = log;
        _out = options.OutputDirectory;
    }

    private string OutPath(string name) => Path.Combine(_out, name);

    private void Say(string line) => _log.WriteLine(line);

    private static readonly IReadOnlySet<string> AllOptions = typeof(TrainingOptions).GetProperties().Select(p => p.Name).ToHashSet();

    /// <summary>Called after every optimizer step with the step count (tests use it to interrupt a run).</summary>
    internal Action<long>? StepCompleted { get; init; }

    /// <summary>
    /// Runs training and the final evaluation; returns the metrics also written to <c>metrics.json</c>. When
    /// <paramref name="cancellation"/> fires, a checkpoint is written after the current step and
    /// <see cref="OperationCanceledException"/> is thrown; <c>--resume</c> continues from there.
    /// </summary>
    public RunMetrics Run(CancellationToken cancellation = default)
    {
        Decomp.Devices.EnsureNativesLoaded();
        var options = _options;
        if (options.Threads > 0) torch.set_num_threads(options.Threads);
        var device = options.Device is null ? Decomp.Devices.Current : Decomp.Devices.Parse(options.Device);
        // One process per run folder, from before its checkpoint is read until the run ends (or the process dies).
        using var owner = RunFolder.Acquire(_out);
        var checkpointPath = OutPath(Checkpoint.FileName);

        Checkpoint.Contents? restored = null;
        if (options.Resume && File.Exists(checkpointPath))
        {
            restored = Checkpoint.Load(checkpointPath);
            // The command line does not say which options were given, so every option that is not [Operational] must match.
            var conflicts = ResumePolicy.Conflicts(restored.Options, options, AllOptions, TrainingOptions.JsonOptions);
            if (conflicts.Count > 0) throw ResumePolicy.Refused(conflicts, TrainingOptions.FlagFor);
            Say($"resuming from {checkpointPath} at step {restored.State.Step}");
        }
        else if (options.Resume)
            throw CheckpointFile.OnlyPrevious(checkpointPath) ?? (Exception)ResumePolicy.NoCheckpoint(checkpointPath);
        else if (CheckpointFile.Exists(checkpointPath))
            throw ResumePolicy.AlreadyHoldsRun(checkpointPath);
        _savedStep = restored?.State.Step;
        try
        {
            return TrainAndEvaluate(options, restored, device, cancellation);
        }
        catch (IOException e) when (e is not (FileNotFoundException or DirectoryNotFoundException))
        {
            // A full disk, most often: say what is safe, in the same line.
            var saved = _savedStep is { } step
                ? $"The checkpoint of step {step} ({checkpointPath}) and the files written before are intact: once the cause is fixed (free space on the disk), continue with --resume."
                : "Nothing was checkpointed yet: once the cause is fixed, run again.";
            throw new IOException($"{e.Message.TrimEnd('.')}. {saved}", e);
        }
    }

    /// <summary>The step of the last checkpoint this run wrote or resumed from (null: none yet).</summary>
    private long? _savedStep;

    private RunMetrics TrainAndEvaluate(TrainingOptions options, Checkpoint.Contents? restored, Device device, CancellationToken cancellation)
    {
        var tokenizer = Gpt2Tokenizer.Load(Gpt2TokenizerFiles.Ensure(options.TokenizerDirectory, Say));
        var corpus = LoadCorpus(options);
        Say($"corpus {corpus.Name}: {corpus.Train.Count} / {corpus.Valid.Count} / {corpus.Test.Count} dialogues (train / valid / test)");
        AtomicFile.WriteAllText(OutPath("corpus.md"), CorpusStatistics.Compute(corpus, tokenizer).ToMarkdown(corpus.LatentNames));

        var vocabulary = restored?.Vocabulary ?? (options.Vocabulary == VocabularyChoice.Full
            ? Vocabulary.Full()
            : Vocabulary.Trimmed(DialogueEncoder.Gpt2IdsOf(tokenizer, corpus.All)));
        var model = restored?.Model ?? BuildModel(options, vocabulary);
        model.to(device);
        if (options.MaxPastTokens + options.MaxFutureTokens > model.Config.ContextLength)
            throw new ArgumentException($"--max-past-tokens + --max-future-tokens = {options.MaxPastTokens + options.MaxFutureTokens} exceeds the model's n_positions {model.Config.ContextLength}", "max-past-tokens");
        long parameterCount = model.parameters().Sum(p => p.numel());
        var modelDescription = $"GPT-2 n_embd {model.Config.EmbeddingSize}, n_layer {model.Config.Layers}, n_head {model.Config.Heads}, n_positions {model.Config.ContextLength}, vocab {model.Config.VocabSize}, {parameterCount:N0} parameters";
        Say($"model: {modelDescription}{(options.Pretrained is null ? " (random init)" : $" (from {options.Pretrained})")}; device {Decomp.Devices.Describe(device)}");

        var encoder = new DialogueEncoder(tokenizer, vocabulary, options.MaxPastTokens, options.MaxFutureTokens);
        var trainExamples = DialogueExamples.From(corpus.Train);
        var train = encoder.Encode(trainExamples);
        var trainDialogueOf = trainExamples.Select(e => e.Dialogue).ToArray();
        var valid = encoder.Encode(DialogueExamples.From(corpus.Valid));
        var test = encoder.Encode(DialogueExamples.From(corpus.Test));
        Say($"examples (split points 1 < k < L): {train.Count} / {valid.Count} / {test.Count}");
        if (train.Count < options.BatchSize) throw new ArgumentException($"the corpus gives {train.Count} training examples, fewer than --batch-size {options.BatchSize}", "batch-size");

        double temperature = options.Temperature ?? (options.Cosine ? 0.1 : Math.Sqrt(model.Config.EmbeddingSize));
        var objective = new ObjectiveSettings(options.Method, options.NceWeight, temperature, options.Cosine, options.UnconditionalView);
        Say($"method {MethodName(options.Method)}: weight {options.NceWeight}, {(options.Cosine ? "cosine" : "dot")} critic / {temperature:G4}" +
            (options.Method == Method.InfoNceS ? $", M = {options.Negatives} negatives from p(x>k | x_k) per example ({NegativeSampling(options)}), unconditional view {options.UnconditionalView.ToString().ToLowerInvariant()}" : ""));

        var optimizer = torch.optim.AdamW(model.parameters(), lr: options.EffectiveLearningRate, weight_decay: options.WeightDecay);
        if (restored is not null) Checkpoint.RestoreOptimizer(optimizer, restored.OptimizerState);
        var state = restored?.State ?? new TrainerState();

        var evaluator = new Evaluator(model, encoder, objective, options.BatchSize, device);
        var validForTraining = Evaluator.Spread(valid, options.EvalExamples);
        // The probe during training is a lighter version of the final one (fewer examples, no recent-view probe).
        var probeTrain = corpus.HasLatent ? Evaluator.Spread(train, Math.Min(1000, options.ProbeTrainExamples)) : null;
        // The logs as the checkpoint saved them: rows after it (or torn by a kill) are not read back.
        var trainLog = CsvLog.Restore(OutPath("train.csv"), TrainColumns, restored?.TrainLog);
        var evalLog = CsvLog.Restore(OutPath("eval.csv"), EvalColumns, restored?.EvalLog);

        state = state with { StopReason = StillStopped(state, options) };
        if (state.StopReason is null)
            state = Train(model, optimizer, vocabulary, encoder, train, trainDialogueOf, validForTraining, valid, probeTrain, corpus, objective, evaluator, state, trainLog, evalLog, device, cancellation);
        else Say($"training had already stopped ({state.StopReason}); evaluating");

        return FinalEvaluation(options, corpus, vocabulary, encoder, objective, train, valid, test, state, modelDescription, device);
    }

    private TrainerState Train(Gpt2Model model, OptimizerHelper optimizer, Vocabulary vocabulary, DialogueEncoder encoder,
                               List<EncodedExample> train, int[] trainDialogueOf, IReadOnlyList<EncodedExample> validForTraining, List<EncodedExample> valid,
                               IReadOnlyList<EncodedExample>? probeTrain, DialogueCorpus corpus, ObjectiveSettings objective,
                               Evaluator evaluator, TrainerState state, CsvLog trainLog, CsvLog evalLog, Device device,
                               CancellationToken cancellation)
    {
        var options = _options;
        int batchesPerEpoch = EpochExamples(train, trainDialogueOf, 0).Count / options.BatchSize;
        long plannedSteps = (long)batchesPerEpoch * options.Epochs;
        double budgetSeconds = options.BudgetMinutes * 60;
        var clock = Stopwatch.StartNew();
        double startElapsed = state.ElapsedSeconds;
        double Elapsed() => startElapsed + clock.Elapsed.TotalSeconds;
        double lastCheckpoint = Elapsed(), lastLog = Elapsed();
        long stepsAtLastLog = state.Step;
        var sums = new double[4];
        int summed = 0;
        NegativeFutures? negatives = null;
        bool BudgetSpent() => budgetSeconds > 0 && Elapsed() >= budgetSeconds;

        void SaveCheckpoint()
        {
            Checkpoint.Save(OutPath(Checkpoint.FileName), model, optimizer, vocabulary, options, state with { ElapsedSeconds = Elapsed() }, trainLog, evalLog);
            _savedStep = state.Step;
            lastCheckpoint = Elapsed();
        }

        // Evaluation and negative sampling take time that is not training speed; progress lines measure steps only.
        void RestartRate()
        {
            lastLog = Elapsed();
            stepsAtLastLog = state.Step;
        }

        bool Evaluate() // returns true when early stopping triggers
        {
            var lm = evaluator.LanguageModel(validForTraining);
            var probe = probeTrain is not null ? evaluator.Probe(probeTrain, Evaluator.Spread(valid, 1000), corpus.LatentNames!.Count, recentView: false) : null;
            bool improved = lm.Perplexity < state.BestValidPerplexity;
            state = state with
            {
                LastEvaluationStep = state.Step,
                BestValidPerplexity = improved ? lm.Perplexity : state.BestValidPerplexity,
                BestStep = improved ? state.Step : state.BestStep,
                EvaluationsWithoutImprovement = improved ? 0 : state.EvaluationsWithoutImprovement + 1,
            };
            if (improved) SaveBest(model, vocabulary, state.Step);
            evalLog.Append(state.Step, state.Epoch, Elapsed(), lm.Perplexity, lm.InfoNce, probe?.Accuracy ?? double.NaN, probe?.LongRangeAccuracy ?? double.NaN);
            Say($"  eval @ step {state.Step}: valid ppl {lm.Perplexity:F3}{(improved ? " (best)" : "")}, valid I_NCE {lm.InfoNce:F3} nats" +
                (probe is null ? "" : $", probe acc {probe.Accuracy:P1} (long-range {probe.LongRangeAccuracy:P1}, chance {probe.Chance:P1})"));
            PlotCurves(trainLog, evalLog);
            SaveCheckpoint();
            RestartRate();
            return options.Patience > 0 && state.EvaluationsWithoutImprovement >= options.Patience;
        }

        Say($"training: {batchesPerEpoch} steps per epoch, {options.Epochs} epochs ({plannedSteps} steps)" +
            (budgetSeconds > 0 ? $", budget {options.BudgetMinutes} min" : "") + $", lr {options.EffectiveLearningRate:G3}");
        if (state.LastEvaluationStep < 0) Evaluate(); // the starting point, for the curves

        string? stop = null;
        for (; state.Epoch < options.Epochs && stop is null; state = state with { Epoch = state.Epoch + 1, BatchInEpoch = 0 })
        {
            var epochExamples = EpochExamples(train, trainDialogueOf, state.Epoch);
            bool conditional = options.Method == Method.InfoNceS && state.Epoch + 1 >= options.EffectiveConditionalStartEpoch;
            var epochObjective = options.Method == Method.InfoNceS && !conditional ? objective with { Method = Method.InfoNce } : objective;
            negatives = null;
            if (conditional)
            {
                negatives = NegativesForEpoch(model, epochExamples, vocabulary, state.Epoch, state.BatchInEpoch > 0 && state.BatchInEpoch < batchesPerEpoch);
                RestartRate();
            }
            else if (options.Method == Method.InfoNceS && state.BatchInEpoch == 0)
                Say($"epoch {state.Epoch + 1}: InfoNCE_S's conditional term starts at epoch {options.EffectiveConditionalStartEpoch}; until then the loss is GPT2+InfoNCE's");

            while (state.BatchInEpoch < batchesPerEpoch)
            {
                var batch = epochExamples.Skip(state.BatchInEpoch * options.BatchSize).Take(options.BatchSize).ToList();
                double lr = LearningRate(state.Step, plannedSteps, Elapsed(), budgetSeconds);
                foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
                var parts = Step(model, optimizer, batch, negatives, epochObjective, encoder.Vocabulary.EndOfText, state.Step, device);
                for (int i = 0; i < 4; i++) sums[i] += parts[i];
                summed++;
                state = state with { Step = state.Step + 1, BatchInEpoch = state.BatchInEpoch + 1 };

                if (Elapsed() - lastLog >= options.LogSeconds || state.BatchInEpoch == batchesPerEpoch)
                {
                    double rate = (state.Step - stepsAtLastLog) / Math.Max(1e-9, Elapsed() - lastLog);
                    var mean = sums.Select(s => s / summed).ToArray();
                    trainLog.Append(state.Step, state.Epoch + state.BatchInEpoch / (double)batchesPerEpoch, Elapsed(), lr, mean[0], mean[1], mean[2], mean[3], rate);
                    Say(ProgressLine(state, batchesPerEpoch, plannedSteps, mean, lr, rate, Elapsed(), budgetSeconds));
                    Array.Clear(sums);
                    summed = 0;
                    lastLog = Elapsed();
                    stepsAtLastLog = state.Step;
                }
                if (options.EvalEverySteps > 0 && state.Step % options.EvalEverySteps == 0 && Evaluate()) { stop = "early stopping"; break; }
                if (BudgetSpent()) { stop = "budget"; break; }
                StepCompleted?.Invoke(state.Step);
                if (cancellation.IsCancellationRequested)
                {
                    SaveCheckpoint();
                    Say($"interrupted at step {state.Step}; checkpoint written, continue with --resume");
                    throw new OperationCanceledException(cancellation);
                }
                if (Elapsed() - lastCheckpoint >= options.CheckpointMinutes * 60) SaveCheckpoint();
            }
            if (stop is null && state.LastEvaluationStep != state.Step && Evaluate()) stop = "early stopping";
            if (stop is null && BudgetSpent()) stop = "budget";
            if (stop is not null) break;
        }
        stop ??= "epochs";
        if (state.LastEvaluationStep != state.Step) Evaluate();
        state = state with { StopReason = stop, ElapsedSeconds = Elapsed() };
        SaveCheckpoint();
        Say($"training stopped ({stop}) at step {state.Step} after {FormatDuration(state.ElapsedSeconds)}; best valid ppl {state.BestValidPerplexity:F3} at step {state.BestStep}");
        return state;
    }

    /// <summary>
    /// The examples of epoch <paramref name="epoch"/> in the order they are visited: every example, or one split point
    /// per dialogue (<see cref="SplitChoice"/>), shuffled by (seed, epoch). Each carries its position as
    /// <see cref="EncodedExample.Index"/>, which is how the epoch's negative futures are looked up.
    /// </summary>
    internal List<EncodedExample> EpochExamples(List<EncodedExample> train, int[] dialogueOf, int epoch)
    {
        var random = SplitMix64.ForStream(_options.Seed, 1000 + epoch);
        List<EncodedExample> chosen;
        if (_options.Splits == SplitChoice.All) chosen = train;
        else
            chosen = Enumerable.Range(0, train.Count).GroupBy(i => dialogueOf[i])
                .Select(g => g.ToList()).Select(indices => train[indices[random.NextInt(indices.Count)]]).ToList();
        var order = random.Permutation(chosen.Count);
        return order.Select((o, position) => chosen[o] with { Index = position }).ToList();
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

    /// <summary>One optimizer step; returns (loss, LM loss, I_NCE, I_CNCE) as numbers (NaN for absent terms).</summary>
    private double[] Step(Gpt2Model model, OptimizerHelper optimizer, List<EncodedExample> batch, NegativeFutures? negatives,
                          ObjectiveSettings objective, int endOfText, long step, Device device)
    {
        using var scope = NewDisposeScope();
        // Dropout draws from a generator seeded by (seed, step), so a resumed run repeats an uninterrupted one.
        torch.random.manual_seed(_options.Seed * 1_000_003 + step);
        model.train();
        optimizer.zero_grad();
        using var lm = Batches.LanguageModel(batch, endOfText, device);
        var states = model.Forward(lm.Tokens);
        var logits = model.Logits(states);
        var lmLoss = nn.functional.cross_entropy(logits.flatten(0, 1), lm.Targets.flatten(), ignore_index: Batches.IgnoreIndex);

        Tensor? past = null, future = null, negativeStates = null, recent = null;
        if (objective.Method != Method.Gpt2)
        {
            past = Gpt2Model.LastTokenStates(states, lm.PastLengths);
            // One forward pass for every sequence encoded alone: true futures, then sampled futures, then recent pasts.
            var sequences = batch.Select(e => e.Future).ToList();
            int m = negatives?.PerExample ?? 0;
            if (objective.Method == Method.InfoNceS)
                sequences.AddRange(batch.SelectMany(e => negatives!.Futures[e.Index]));
            bool needRecent = objective.Method == Method.InfoNceS && objective.View == UnconditionalView.Recent;
            if (needRecent) sequences.AddRange(batch.Select(e => e.Recent));
            var encoded = Representations.Of(model, sequences, endOfText, device);
            int b = batch.Count;
            future = encoded[..b];
            if (objective.Method == Method.InfoNceS) negativeStates = encoded[b..(b + b * m)].view(b, m, -1);
            if (needRecent) recent = encoded[(b + b * m)..];
        }
        var terms = Objective.Compute(objective, lmLoss, past, future, negativeStates, recent);
        terms.Loss.backward();
        if (_options.ClipGradient > 0) nn.utils.clip_grad_norm_(model.parameters(), _options.ClipGradient);
        optimizer.step();
        return [terms.Loss.item<float>(), terms.LanguageModel.item<float>(), terms.InfoNce?.item<float>() ?? double.NaN,
                terms.ConditionalInfoNce?.item<float>() ?? double.NaN];
    }

    /// <summary>Linear warm-up, then linear decay to zero at the end of the planned steps or of the budget, whichever comes first.</summary>
    internal double LearningRate(long step, long plannedSteps, double elapsedSeconds, double budgetSeconds)
    {
        double peak = _options.EffectiveLearningRate;
        double warm = _options.WarmupSteps > 0 ? Math.Min(1.0, (step + 1) / (double)_options.WarmupSteps) : 1.0;
        double progress = step / (double)Math.Max(1, plannedSteps);
        if (budgetSeconds > 0) progress = Math.Max(progress, elapsedSeconds / budgetSeconds);
        return peak * warm * Math.Max(0.0, 1.0 - progress);
    }

    /// <summary>
    /// The negative futures of <paramref name="epoch"/>: from its cache when that is intact, else sampled by
    /// <paramref name="model"/>. Sampling again gives the same futures only at the epoch's start; a run resumed in the
    /// middle of an epoch (<paramref name="midEpoch"/>) refuses a damaged cache rather than silently training the rest of
    /// the epoch on other negatives.
    /// </summary>
    private NegativeFutures NegativesForEpoch(Gpt2Model model, List<EncodedExample> train, Vocabulary vocabulary, int epoch, bool midEpoch)
    {
        var directory = OutPath("negatives");
        var path = Path.Combine(directory, $"epoch-{epoch:D3}.bin");
        if (File.Exists(path))
        {
            try
            {
                var cached = NegativeFutures.Load(path, train, _options.Negatives, vocabulary.Count);
                Say($"negatives for epoch {epoch + 1}: loaded from {path}");
                return cached;
            }
            catch (InvalidDataException e) when (midEpoch)
            {
                throw new BadInputException(
                    $"{e.Message.TrimEnd('.')}. The checkpoint is in the middle of epoch {epoch + 1}, whose negatives were sampled at its start by "
                    + "the model of then, so they cannot be sampled again exactly: to continue anyway, delete it and run again with --resume "
                    + "(the rest of the epoch then trains on negatives sampled by the checkpoint's model, and the run no longer repeats an "
                    + $"uninterrupted one); to start over, delete {_out} or use another --out.", e);
            }
            catch (InvalidDataException e)
            {
                Say($"negatives for epoch {epoch + 1}: cache unusable ({e.Message}); sampling again (the epoch has not started, so they are the same)");
            }
        }
        else if (midEpoch)
            Say($"negatives for epoch {epoch + 1}: no cache at {path}; sampling them with the checkpoint's model, in the middle of the epoch "
                + "(the run no longer repeats an uninterrupted one)");
        var clock = Stopwatch.StartNew();
        double lastReport = 0;
        var sampled = NegativeFutures.Sample(model, train, _options.Negatives, vocabulary.EndOfText, _options.MaxFutureTokens,
            NegativeSampling(_options), _options.Seed * 7919 + epoch, _options.GenerationBatch, (done, total) =>
            {
                if (clock.Elapsed.TotalSeconds - lastReport < _options.LogSeconds && done < total) return;
                lastReport = clock.Elapsed.TotalSeconds;
                double eta = clock.Elapsed.TotalSeconds / done * (total - done);
                Say($"  sampling negatives for epoch {epoch + 1}: {done}/{total} examples, ETA {FormatDuration(eta)}");
            });
        Directory.CreateDirectory(directory);
        sampled.Save(path);
        // Resuming needs the current epoch's cache; resuming from the previous checkpoint may need the previous epoch's.
        var previous = Path.Combine(directory, $"epoch-{epoch - 1:D3}.bin");
        foreach (var old in Directory.GetFiles(directory, "epoch-*.bin").Where(f => f != path && f != previous)) File.Delete(old);
        Say($"negatives for epoch {epoch + 1}: {train.Count} x {_options.Negatives} futures sampled in {FormatDuration(clock.Elapsed.TotalSeconds)}, cached at {path}");
        return sampled;
    }

    private static SamplingSettings NegativeSampling(TrainingOptions o) =>
        new SamplingSettings(TopK: o.NegativeTopK, TopP: o.NegativeTopP, Temperature: o.NegativeTemperature).Validated();

    private static SamplingSettings EvaluationSampling(TrainingOptions o) => o.EvalDecoding switch
    {
        DecodingChoice.Greedy => SamplingSettings.ArgMax,
        DecodingChoice.TopK => new SamplingSettings(TopK: o.EvalTopK),
        _ => new SamplingSettings(TopP: o.EvalTopP),
    };

    private void SaveBest(Gpt2Model model, Vocabulary vocabulary, long step)
    {
        var directory = OutPath("best");
        Gpt2Weights.Save(model, directory, new Dictionary<string, string> { ["decomp.step"] = step.ToString(CultureInfo.InvariantCulture) });
        AtomicFile.WriteAllText(Path.Combine(directory, "vocabulary.json"), JsonSerializer.Serialize(vocabulary.Gpt2Ids));
    }

    private RunMetrics FinalEvaluation(TrainingOptions options, DialogueCorpus corpus, Vocabulary vocabulary, DialogueEncoder encoder,
                                       ObjectiveSettings objective, List<EncodedExample> train, List<EncodedExample> valid,
                                       List<EncodedExample> test, TrainerState state, string modelDescription, Device device)
    {
        // The best weights exist nowhere else (the checkpoint holds the last ones): refuse them damaged rather than report their numbers.
        if (Gpt2Weights.Problem(OutPath("best")) is { } damage)
            throw new BadInputException($"{damage.TrimEnd('.')}. These are the best weights (step {state.BestStep}), which no checkpoint holds: "
                                        + $"to start over, delete {_out} or use another --out.");
        using var best = Gpt2Weights.Load(OutPath("best"), dropout: 0);
        best.to(device);
        var evaluator = new Evaluator(best, encoder, objective, options.BatchSize, device);
        Say($"final evaluation of the best weights (step {state.BestStep}) on {test.Count} test examples");
        var validLm = evaluator.LanguageModel(valid);
        var testLm = evaluator.LanguageModel(test);
        var sampling = EvaluationSampling(options);
        var generation = evaluator.Generation(Evaluator.Spread(test, options.EvalGenerations), sampling, options.MaxFutureTokens,
                                              options.Seed, Math.Max(options.Samples, 20));
        var probeTrain = Evaluator.Spread(train, options.ProbeTrainExamples);
        var probe = corpus.HasLatent ? evaluator.Probe(probeTrain, test, corpus.LatentNames!.Count) : null;
        ProbeMetrics? initialProbe = null;
        if (corpus.HasLatent)
        {
            // The initial weights are a function of the seed (or the pretrained files), so they are rebuilt, not stored.
            using var initial = BuildModel(options, vocabulary);
            initial.to(device);
            initialProbe = new Evaluator(initial, encoder, objective, options.BatchSize, device)
                .Probe(probeTrain, test, corpus.LatentNames!.Count, recentView: false);
        }

        var metrics = new RunMetrics
        {
            Method = MethodName(options.Method),
            Seed = options.Seed,
            Corpus = corpus.Name,
            Model = modelDescription,
            Device = Decomp.Devices.Describe(device),
            Steps = state.Step,
            Epochs = Math.Round(state.Step / (double)Math.Max(1, train.Count / options.BatchSize), 3),
            TrainSeconds = Math.Round(state.ElapsedSeconds, 1),
            StopReason = state.StopReason ?? "unknown",
            BestStep = state.BestStep,
            ValidPerplexity = validLm.Perplexity,
            TestPerplexity = testLm.Perplexity,
            TestInfoNce = testLm.InfoNce,
            Bleu = generation.Bleu,
            SeqRep = generation.SequenceRepetition.ToDictionary(kv => kv.Key.ToString(CultureInfo.InvariantCulture), kv => kv.Value),
            SeqRepAvg = generation.SequenceRepetitionAverage,
            Dist = generation.Distinct.ToDictionary(kv => kv.Key.ToString(CultureInfo.InvariantCulture), kv => kv.Value),
            ResponseWords = generation.MeanResponseWords,
            Decoding = sampling.ToString(),
            ProbeAccuracy = probe?.Accuracy,
            ProbeLongRangeAccuracy = probe?.LongRangeAccuracy,
            ProbeRecentAccuracy = probe?.RecentAccuracy,
            ProbeRecentLongRangeAccuracy = probe?.RecentLongRangeAccuracy,
            ProbeChance = probe?.Chance,
            ProbeAccuracyAtInit = initialProbe?.Accuracy,
            ProbeLongRangeAccuracyAtInit = initialProbe?.LongRangeAccuracy,
        };
        AtomicFile.WriteAllText(OutPath("metrics.json"), JsonSerializer.Serialize(metrics, TrainingOptions.JsonOptions) + "\n");
        var samples = SamplesMarkdown(generation.Samples);
        AtomicFile.WriteAllText(OutPath("samples.md"), samples);

        Say("");
        Say($"test perplexity {metrics.TestPerplexity:F3} (valid {metrics.ValidPerplexity:F3}), test I_NCE {metrics.TestInfoNce:F3} nats, BLEU {metrics.Bleu:F2}");
        Say($"seq-rep-n (n=2..6) {string.Join(" ", metrics.SeqRep.Values.Select(F3))}, avg {F3(metrics.SeqRepAvg)}; dist-1/2/3 {string.Join(" ", metrics.Dist.Values.Select(F3))}");
        if (probe is not null)
            Say($"latent probe from f(x<=k): {probe.Accuracy:P1} (x_k not revealing: {probe.LongRangeAccuracy:P1}); from f(x_k) alone: {probe.RecentAccuracy:P1} ({probe.RecentLongRangeAccuracy:P1}); " +
                $"before training: {initialProbe!.Accuracy:P1} ({initialProbe.LongRangeAccuracy:P1}); chance {probe.Chance:P1}");
        Say("");
        foreach (var s in generation.Samples.Take(options.Samples))
        {
            Say($"  context:   {s.Context}");
            Say($"  reference: {s.Reference}");
            Say($"  response:  {s.Response}");
            Say("");
        }
        Say($"wrote {OutPath("metrics.json")}, {OutPath("samples.md")}, corpus.md, train.csv, eval.csv, training.png, validation.png");
        return metrics;
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

    private void PlotCurves(CsvLog trainLog, CsvLog evalLog)
    {
        var title = $"{MethodName(_options.Method)}, seed {_options.Seed}";
        Curves.Save(OutPath("training.png"), trainLog, title,
            [("loss", ["loss", "lm_loss"]), ("contrastive bounds (nats)", ["infonce", "cond_infonce"]), ("learning rate", ["lr"])]);
        Curves.Save(OutPath("validation.png"), evalLog, title,
            [("validation perplexity of x_{k+1}", ["valid_ppl"]), ("validation I_NCE (nats)", ["valid_infonce"]),
             ("latent probe accuracy", ["probe_acc", "probe_long_range_acc"])]);
    }

    private string ProgressLine(TrainerState state, int batchesPerEpoch, long plannedSteps, double[] mean, double lr, double rate,
                                double elapsed, double budgetSeconds)
    {
        double stepsLeft = (plannedSteps - state.Step) / Math.Max(rate, 1e-9);
        double eta = budgetSeconds > 0 ? Math.Min(budgetSeconds - elapsed, stepsLeft) : stepsLeft;
        double percent = budgetSeconds > 0 ? Math.Max(elapsed / budgetSeconds, state.Step / (double)plannedSteps) : state.Step / (double)plannedSteps;
        var terms = $"loss {mean[0]:F4} lm {mean[1]:F4}" + (double.IsNaN(mean[2]) ? "" : $" I_NCE {mean[2]:F3}") + (double.IsNaN(mean[3]) ? "" : $" I_CNCE {mean[3]:F3}");
        return string.Create(CultureInfo.InvariantCulture,
            $"epoch {state.Epoch + 1}/{_options.Epochs} batch {state.BatchInEpoch}/{batchesPerEpoch} step {state.Step} ({percent:P0}) | {terms} | lr {lr:G3} | {rate:F1} steps/s | {FormatDuration(elapsed)} elapsed, ETA {FormatDuration(Math.Max(0, eta))}");
    }

    internal static string FormatDuration(double seconds) =>
        TimeSpan.FromSeconds(Math.Round(Math.Max(0, seconds))).ToString(seconds >= 3600 ? @"h\:mm\:ss" : @"m\:ss", CultureInfo.InvariantCulture);

    /// <summary>The command-line name of <paramref name="method"/>.</summary>
    public static string MethodName(Method method) => method switch
    {
        Method.Gpt2 => "gpt2",
        Method.InfoNce => "infonce",
        _ => "infonce-s",
    };

    internal static DialogueCorpus LoadCorpus(TrainingOptions options)
    {
        var corpus = options.Data switch
        {
            DataSource.Wow => WizardOfWikipedia.Load(options.DataDirectory!, options.WowSplit),
            DataSource.DailyDialog => DailyDialog.Load(options.DataDirectory!),
            _ => GeneratedCorpus.Generate(options.CorpusDialogues, HeldOutDialogues(options.CorpusDialogues),
                                          HeldOutDialogues(options.CorpusDialogues), options.CorpusSeed),
        };
        return options.MaxDialogues > 0 && corpus.Train.Count > options.MaxDialogues
            ? corpus with { Train = corpus.Train.Take(options.MaxDialogues).ToList() }
            : corpus;
    }

    /// <summary>Validation and test dialogues of the generated corpus: a tenth of the training ones, at least 20.</summary>
    internal static int HeldOutDialogues(int trainDialogues) => Math.Max(20, trainDialogues / 10);

    private static Gpt2Model BuildModel(TrainingOptions options, Vocabulary vocabulary)
    {
        if (options.Pretrained is not null)
            return Gpt2Weights.Load(options.Pretrained, vocabulary.IsFull ? null : vocabulary.Gpt2Ids, options.Dropout);
        var preset = Gpt2Config.Preset(options.ModelSize, vocabulary.Count);
        var config = preset with
        {
            EmbeddingSize = options.EmbeddingSize ?? preset.EmbeddingSize,
            Layers = options.Layers ?? preset.Layers,
            Heads = options.Heads ?? preset.Heads,
            ContextLength = options.ContextLength ?? preset.ContextLength,
        };
        return new Gpt2Model(config.WithDropout(options.Dropout), options.Seed);
    }
}
