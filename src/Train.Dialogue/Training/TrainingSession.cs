using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Decomp.Apps;
using Decomp.Runtime;
using Decomp.Dialogue.Model;
using Decomp.Dialogue.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Training;

/// <summary>One step's loss and its parts, read back from the device: the bounds in nats, null when the step's objective lacks the term.</summary>
/// <param name="Loss">The loss minimised: the language-model loss minus the weighted bounds.</param>
/// <param name="LanguageModelLoss">The next-token cross-entropy.</param>
/// <param name="InfoNce">I_NCE(f(x&lt;=k); f(x&gt;k)), or I_NCE(f(x_k); f(x&gt;k)) under the recent view.</param>
/// <param name="ConditionalInfoNce">I_CNCE(x&lt;=k; x&gt;k | x_k), InfoNCE_S's conditional term.</param>
public readonly record struct StepOutcome(double Loss, double LanguageModelLoss, double? InfoNce, double? ConditionalInfoNce);

/// <summary>
/// The trainable state of a run (the model, its optimizer, where the run stands and its training clock) and one optimizer
/// step over it. A step is a pure function of this state, the seed and the step number (dropout draws from a generator
/// seeded by them, the batch from the epoch's seeded order), which is what makes a resumed run repeat an uninterrupted one.
/// </summary>
public sealed class TrainingSession : IDisposable
{
    private readonly TrainingOptions _options;
    private readonly Device _device;
    private readonly OptimizerHelper _optimizer;
    private readonly Stopwatch _clock = new();
    // Frees the steps' implicit Scalars (AdamW's among them) before they fragment the native heap.
    private readonly StepCollector _collector = new();
    private double _secondsBefore;

    /// <summary>A session over <paramref name="model"/> (owned; on <paramref name="device"/>), continuing <paramref name="restored"/> when given.</summary>
    public TrainingSession(TrainingOptions options, Gpt2Model model, Vocabulary vocabulary, Checkpoint.Contents? restored, Device device)
    {
        _options = options;
        _device = device;
        Model = model;
        Vocabulary = vocabulary;
        _optimizer = torch.optim.AdamW(model.parameters(), lr: options.EffectiveLearningRate, weight_decay: options.WeightDecay);
        if (restored is not null) Checkpoint.RestoreOptimizer(_optimizer, restored.OptimizerState);
        State = restored?.State ?? new TrainerState();
        _secondsBefore = State.ElapsedSeconds;
    }

    /// <summary>The model being trained.</summary>
    public Gpt2Model Model { get; }

    /// <summary>The model's token ids.</summary>
    public Vocabulary Vocabulary { get; }

    /// <summary>Where the run stands; <see cref="Step"/> advances it, the run records evaluations and epochs in it.</summary>
    public TrainerState State { get; set; }

    /// <summary>Training seconds so far, over every resumption: what the checkpoint held, plus this process's since <see cref="StartClock"/>.</summary>
    public double ElapsedSeconds => _secondsBefore + _clock.Elapsed.TotalSeconds;

    /// <summary>Starts counting this process's training time on top of <see cref="TrainerState.ElapsedSeconds"/>.</summary>
    public void StartClock()
    {
        _secondsBefore = State.ElapsedSeconds;
        _clock.Restart();
    }

    /// <summary>
    /// The learning rate of the next step: linear warm-up, then linear decay to zero at the end of the
    /// <paramref name="plannedSteps"/> or of the budget (<paramref name="budgetSeconds"/>, 0: none), whichever comes first.
    /// </summary>
    public double LearningRate(long plannedSteps, double budgetSeconds)
    {
        double progress = State.Step / (double)Math.Max(1, plannedSteps);
        if (budgetSeconds > 0) progress = Math.Max(progress, ElapsedSeconds / budgetSeconds);
        return LearningRateSchedule.At(_options.EffectiveLearningRate, State.Step, _options.WarmupSteps, progress,
                                       LearningRateDecay.Linear, decayDuringWarmup: true);
    }

    /// <summary>
    /// One optimizer step on <paramref name="batch"/> at <paramref name="learningRate"/> under <paramref name="objective"/>
    /// (InfoNCE_S reads each example's sampled futures from <paramref name="negatives"/>); advances <see cref="State"/> by a batch.
    /// </summary>
    public StepOutcome Step(IReadOnlyList<EncodedExample> batch, NegativeFutures? negatives, ObjectiveSettings objective, double learningRate)
    {
        foreach (var group in _optimizer.ParamGroups) group.LearningRate = learningRate;
        int endOfText = Vocabulary.EndOfText;
        StepOutcome outcome;
        using (var scope = NewDisposeScope())
        {
            // Dropout draws from a generator seeded by (seed, step), so a resumed run repeats an uninterrupted one.
            torch.random.manual_seed(_options.Seed * 1_000_003 + State.Step);
            Model.train();
            _optimizer.zero_grad();
            using var lm = Batches.LanguageModel(batch, endOfText, _device);
            var states = Model.Forward(lm.Tokens);
            var logits = Model.Logits(states);
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
                var encoded = Representations.Of(Model, sequences, endOfText, _device);
                int b = batch.Count;
                future = encoded[..b];
                if (objective.Method == Method.InfoNceS) negativeStates = encoded[b..(b + b * m)].view(b, m, -1);
                if (needRecent) recent = encoded[(b + b * m)..];
            }
            var terms = Objective.Compute(objective, lmLoss, past, future, negativeStates, recent);
            terms.Loss.backward();
            if (_options.ClipGradient > 0) nn.utils.clip_grad_norm_(Model.parameters(), _options.ClipGradient);
            _optimizer.step();
            outcome = new StepOutcome(terms.Loss.item<float>(), terms.LanguageModel.item<float>(), terms.InfoNce?.item<float>(),
                                      terms.ConditionalInfoNce?.item<float>());
        }
        _collector.AfterStep();
        State = State with { Step = State.Step + 1, BatchInEpoch = State.BatchInEpoch + 1 };
        return outcome;
    }

    /// <summary>Writes a checkpoint of the model, the optimizer, <see cref="State"/> (with the elapsed time) and the logs to <paramref name="path"/>.</summary>
    public void SaveCheckpoint(string path, RunLogs logs) =>
        Checkpoint.Save(path, Model, _optimizer, Vocabulary, _options, State with { ElapsedSeconds = ElapsedSeconds }, logs.Train, logs.Evaluation);

    /// <summary>Writes the model as the run's best weights (Hugging Face layout, with its vocabulary) into <paramref name="directory"/>.</summary>
    public void SaveBest(string directory)
    {
        Gpt2Weights.Save(Model, directory, new Dictionary<string, string> { ["decomp.step"] = State.Step.ToString(CultureInfo.InvariantCulture) });
        AtomicFile.WriteAllText(Path.Combine(directory, "vocabulary.json"), JsonSerializer.Serialize(Vocabulary.Gpt2Ids));
    }

    /// <summary>
    /// The examples of epoch <paramref name="epoch"/> in the order they are visited: every example, or one split point
    /// per dialogue (<see cref="SplitChoice"/>), shuffled by (seed, epoch). Each carries its position as
    /// <see cref="EncodedExample.Index"/>, which is how the epoch's negative futures are looked up.
    /// </summary>
    public static List<EncodedExample> EpochExamples(TrainingOptions options, List<EncodedExample> train, int[] dialogueOf, int epoch)
    {
        var random = SplitMix64.ForStream(options.Seed, 1000 + epoch);
        List<EncodedExample> chosen;
        if (options.Splits == SplitChoice.All) chosen = train;
        else
            chosen = Enumerable.Range(0, train.Count).GroupBy(i => dialogueOf[i])
                .Select(g => g.ToList()).Select(indices => train[indices[random.NextInt(indices.Count)]]).ToList();
        var order = random.Permutation(chosen.Count);
        return order.Select((o, position) => chosen[o] with { Index = position }).ToList();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _optimizer.Dispose();
        Model.Dispose();
    }
}
