using System.Text.Json;
using Decomp.Apps;
using Decomp.Dialogue.Model;
using Decomp.Dialogue.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Training;

/// <summary>Where a run stands: what a checkpoint needs besides weights and optimizer moments to continue exactly.</summary>
public sealed record TrainerState
{
    /// <summary>Optimizer steps taken.</summary>
    public long Step { get; init; }
    /// <summary>The current epoch (0-based).</summary>
    public int Epoch { get; init; }
    /// <summary>Batches of the current epoch already taken.</summary>
    public int BatchInEpoch { get; init; }
    /// <summary>Training wall-clock seconds so far (summed over resumptions).</summary>
    public double ElapsedSeconds { get; init; }
    /// <summary>The best validation perplexity seen.</summary>
    public double BestValidPerplexity { get; init; } = double.PositiveInfinity;
    /// <summary>The step of <see cref="BestValidPerplexity"/> (-1: none yet).</summary>
    public long BestStep { get; init; } = -1;
    /// <summary>Evaluations since the best one.</summary>
    public int EvaluationsWithoutImprovement { get; init; }
    /// <summary>The step of the last evaluation (-1: none yet).</summary>
    public long LastEvaluationStep { get; init; } = -1;
    /// <summary>Why training stopped (null while it runs): "epochs", "budget" or "early stopping".</summary>
    public string? StopReason { get; init; }
}

/// <summary>
/// A training checkpoint, in the apps' one format (<see cref="CheckpointFile"/>): one safetensors file holding the model
/// under Hugging Face names (so it loads as pretrained weights too), the vocabulary (<c>decomp.vocabulary</c>, GPT-2 ids),
/// the optimizer state (<c>decomp.optimizer</c>, TorchSharp's serialisation as bytes), and in its metadata the model
/// shape, the options, the trainer state, the logs so far (<c>train.csv</c>, <c>eval.csv</c>) and the SHA-256 of the file.
/// Written atomically (temporary file, flush, rename), keeping the checkpoint it replaces as
/// <c>checkpoint.prev.safetensors</c>. <see cref="Load"/> verifies the checksum before it reads anything, and refuses a
/// damaged file, or one written before checkpoints carried a checksum, by name.
/// </summary>
public static class Checkpoint
{
    /// <summary>The checkpoint's file name in a run folder.</summary>
    public const string FileName = "checkpoint.safetensors";

    private const string VocabularyTensor = Gpt2Weights.CheckpointPrefix + "vocabulary";
    private const string OptimizerTensor = Gpt2Weights.CheckpointPrefix + "optimizer";
    private const string ConfigKey = "decomp.config";
    private const string OptionsKey = "decomp.options";
    private const string StateKey = "decomp.state";
    private const string TrainLogKey = "decomp.train_log";
    private const string EvalLogKey = "decomp.eval_log";

    /// <summary>Everything a checkpoint restores.</summary>
    public sealed record Contents(Gpt2Model Model, Vocabulary Vocabulary, TrainingOptions Options, TrainerState State, byte[] OptimizerState,
                                  string TrainLog, string EvalLog);

    /// <summary>Writes a checkpoint to <paramref name="path"/>, keeping the one it replaces as <see cref="CheckpointFile.PreviousPathFor"/>.</summary>
    /// <exception cref="IOException">The file could not be written (a full disk); the message names it, and the previous checkpoints are unchanged.</exception>
    public static void Save(string path, Gpt2Model model, OptimizerHelper optimizer, Vocabulary vocabulary,
                            TrainingOptions options, TrainerState state, CsvLog<TrainRow> trainLog, CsvLog<EvaluationRow> evalLog)
    {
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            [ConfigKey] = JsonSerializer.Serialize(model.Config, TrainingOptions.JsonOptions),
            [OptionsKey] = options.ToJson(),
            [StateKey] = JsonSerializer.Serialize(state, TrainingOptions.JsonOptions),
            [TrainLogKey] = trainLog.Text,
            [EvalLogKey] = evalLog.Text,
        };
        CheckpointFile.Save(path, metadata, tensors =>
        {
            foreach (var (name, weight) in Gpt2Weights.ToHuggingFace(model)) tensors.Add(name, weight);
            tensors.Add(VocabularyTensor, tensor(vocabulary.Gpt2Ids.Select(i => (long)i).ToArray()));
            tensors.Add(OptimizerTensor, optimizer);
        });
    }

    /// <summary>Reads a checkpoint; the model is on the CPU.</summary>
    /// <exception cref="BadInputException">The file's checksum does not match its bytes, or it has none; the message names it and says what to do.</exception>
    /// <exception cref="InvalidDataException">The file is intact but not one of our checkpoints; the message names it.</exception>
    public static Contents Load(string path)
    {
        using var file = CheckpointFile.Open(path);
        string Meta(string key) => file.Metadata.TryGetValue(key, out var v) ? v
            : throw new InvalidDataException($"{path}: not a training checkpoint (no '{key}' metadata)");
        Gpt2Config config;
        TrainingOptions options;
        TrainerState state;
        try
        {
            config = JsonSerializer.Deserialize<Gpt2Config>(Meta(ConfigKey), TrainingOptions.JsonOptions)!.Validated();
            options = TrainingOptions.FromJson(Meta(OptionsKey));
            state = JsonSerializer.Deserialize<TrainerState>(Meta(StateKey), TrainingOptions.JsonOptions)!;
        }
        catch (Exception e) when (e is JsonException or ArgumentException or NullReferenceException)
        {
            throw new InvalidDataException($"{path}: unreadable checkpoint metadata ({e.Message})", e);
        }
        using var ids = file.Read(VocabularyTensor);
        var vocabulary = Vocabulary.FromGpt2Ids(ids.data<long>().Select(i => (int)i).ToArray());
        var optimizerState = file.ReadBytes(OptimizerTensor);
        var model = new Gpt2Model(config);
        Gpt2Weights.LoadInto(model, file);
        return new Contents(model, vocabulary, options, state, optimizerState, Meta(TrainLogKey), Meta(EvalLogKey));
    }

    /// <summary>Restores <paramref name="optimizer"/> from bytes saved by <see cref="Save"/>.</summary>
    public static void RestoreOptimizer(OptimizerHelper optimizer, byte[] state)
    {
        using var reader = new BinaryReader(new MemoryStream(state));
        optimizer.load_state_dict(reader);
    }
}
