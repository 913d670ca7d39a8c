using System.Text.Json;
using System.Text.Json.Nodes;
using Decomp.Apps;

namespace Decomp.Dialogue.Model;

/// <summary>The activation between the two MLP layers of a block.</summary>
public enum Gpt2Activation
{
    /// <summary>GELU with the tanh approximation: GPT-2's own (Hugging Face calls it <c>gelu_new</c>).</summary>
    GeluTanh,
    /// <summary>The exact (erf) GELU (Hugging Face's <c>gelu</c>).</summary>
    Gelu,
}

/// <summary>
/// The shape of a GPT-2 model, with the field names of Hugging Face's <c>config.json</c> in the docs
/// (<c>n_embd</c>, <c>n_layer</c>, <c>n_head</c>, <c>n_positions</c>, <c>vocab_size</c>, <c>layer_norm_epsilon</c>).
/// </summary>
public sealed record Gpt2Config
{
    /// <summary><c>vocab_size</c>: rows of the (tied) token embedding.</summary>
    public required int VocabSize { get; init; }
    /// <summary><c>n_positions</c>: the longest sequence the learned position embedding covers.</summary>
    public required int ContextLength { get; init; }
    /// <summary><c>n_embd</c>: the width of the residual stream.</summary>
    public required int EmbeddingSize { get; init; }
    /// <summary><c>n_layer</c>: the number of transformer blocks.</summary>
    public required int Layers { get; init; }
    /// <summary><c>n_head</c>: attention heads per block; must divide <see cref="EmbeddingSize"/>.</summary>
    public required int Heads { get; init; }
    /// <summary><c>n_inner</c>: the MLP's hidden width; null means 4 x <see cref="EmbeddingSize"/>.</summary>
    public int? InnerSize { get; init; }
    /// <summary><c>layer_norm_epsilon</c>.</summary>
    public double LayerNormEpsilon { get; init; } = 1e-5;
    /// <summary><c>embd_pdrop</c>: dropout on the summed token and position embeddings.</summary>
    public double EmbeddingDropout { get; init; } = 0.1;
    /// <summary><c>attn_pdrop</c>: dropout on attention weights.</summary>
    public double AttentionDropout { get; init; } = 0.1;
    /// <summary><c>resid_pdrop</c>: dropout on each block's residual branches.</summary>
    public double ResidualDropout { get; init; } = 0.1;
    /// <summary><c>activation_function</c>.</summary>
    public Gpt2Activation Activation { get; init; } = Gpt2Activation.GeluTanh;

    /// <summary>The MLP's hidden width.</summary>
    public int MlpSize => InnerSize ?? 4 * EmbeddingSize;

    /// <summary>The names <see cref="Preset"/> accepts.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["tiny", "mini", "small", "medium"];

    /// <summary>
    /// A named size: <c>tiny</c> (n_embd 128, 2 layers, 4 heads, 256 positions; the CPU default), <c>mini</c>
    /// (256, 4, 4, 512), <c>small</c> (GPT-2 small: 768, 12, 12, 1024) and <c>medium</c> (1024, 24, 16, 1024).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not one of <see cref="PresetNames"/>.</exception>
    public static Gpt2Config Preset(string name, int vocabSize) => name switch
    {
        "tiny" => new() { VocabSize = vocabSize, ContextLength = 256, EmbeddingSize = 128, Layers = 2, Heads = 4 },
        "mini" => new() { VocabSize = vocabSize, ContextLength = 512, EmbeddingSize = 256, Layers = 4, Heads = 4 },
        "small" => new() { VocabSize = vocabSize, ContextLength = 1024, EmbeddingSize = 768, Layers = 12, Heads = 12 },
        "medium" => new() { VocabSize = vocabSize, ContextLength = 1024, EmbeddingSize = 1024, Layers = 24, Heads = 16 },
        _ => throw new ArgumentException($"unknown model size '{name}'; expected one of {string.Join(", ", PresetNames)}", nameof(name)),
    };

    /// <summary>Checks that the numbers describe a buildable model.</summary>
    /// <exception cref="ArgumentException">A size is not positive, the heads do not divide the width, or a rate is outside [0, 1).</exception>
    public Gpt2Config Validated()
    {
        void Positive(int value, string field)
        {
            if (value <= 0) throw new ArgumentException($"{field} must be positive, got {value}", field);
        }
        void Rate(double value, string field)
        {
            if (!(value >= 0 && value < 1)) throw new ArgumentException($"{field} must lie in [0, 1), got {value}", field);
        }
        Positive(VocabSize, "vocab_size");
        Positive(ContextLength, "n_positions");
        Positive(EmbeddingSize, "n_embd");
        Positive(Layers, "n_layer");
        Positive(Heads, "n_head");
        Positive(MlpSize, "n_inner");
        if (EmbeddingSize % Heads != 0)
            throw new ArgumentException($"n_head ({Heads}) must divide n_embd ({EmbeddingSize})", "n_head");
        if (!(LayerNormEpsilon > 0)) throw new ArgumentException($"layer_norm_epsilon must be positive, got {LayerNormEpsilon}", "layer_norm_epsilon");
        Rate(EmbeddingDropout, "embd_pdrop");
        Rate(AttentionDropout, "attn_pdrop");
        Rate(ResidualDropout, "resid_pdrop");
        return this;
    }

    /// <summary>The same shape with every dropout rate set to <paramref name="rate"/>.</summary>
    public Gpt2Config WithDropout(double rate) =>
        this with { EmbeddingDropout = rate, AttentionDropout = rate, ResidualDropout = rate };

    /// <summary>Reads a Hugging Face GPT-2 <c>config.json</c>.</summary>
    /// <exception cref="FileNotFoundException">The file is missing.</exception>
    /// <exception cref="InvalidDataException">It is not JSON, lacks a required field, or describes an unsupported model; the message names the file.</exception>
    public static Gpt2Config ReadHuggingFace(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"config.json not found: {path}", path);
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e); }
        if (root is not JsonObject o) throw new InvalidDataException($"{path}: expected a JSON object");

        int Required(params string[] names)
        {
            foreach (var n in names)
                if (o[n] is JsonValue v && v.TryGetValue<int>(out var x)) return x;
            throw new InvalidDataException($"{path}: missing integer field '{names[0]}'");
        }
        double Optional(string name, double fallback) =>
            o[name] is JsonValue v && v.TryGetValue<double>(out var x) ? x : fallback;

        if (o["model_type"] is JsonValue mt && mt.TryGetValue<string>(out var modelType) && modelType != "gpt2")
            throw new InvalidDataException($"{path}: model_type is '{modelType}', expected 'gpt2'");
        var activation = o["activation_function"] is JsonValue av && av.TryGetValue<string>(out var a) ? a : "gelu_new";
        var config = new Gpt2Config
        {
            VocabSize = Required("vocab_size"),
            ContextLength = Required("n_positions", "n_ctx"),
            EmbeddingSize = Required("n_embd"),
            Layers = Required("n_layer"),
            Heads = Required("n_head"),
            InnerSize = o["n_inner"] is JsonValue iv && iv.TryGetValue<int>(out var inner) ? inner : null,
            LayerNormEpsilon = Optional("layer_norm_epsilon", 1e-5),
            EmbeddingDropout = Optional("embd_pdrop", 0.1),
            AttentionDropout = Optional("attn_pdrop", 0.1),
            ResidualDropout = Optional("resid_pdrop", 0.1),
            Activation = activation switch
            {
                "gelu_new" or "gelu_pytorch_tanh" => Gpt2Activation.GeluTanh,
                "gelu" => Gpt2Activation.Gelu,
                _ => throw new InvalidDataException($"{path}: activation_function '{activation}' is not supported (gelu_new, gelu)"),
            },
        };
        try { return config.Validated(); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    /// <summary>Writes this shape as a Hugging Face GPT-2 <c>config.json</c> (atomically).</summary>
    public void WriteHuggingFace(string path) => AtomicFile.WriteAllText(path, HuggingFaceJson());

    /// <summary>The text of <see cref="WriteHuggingFace"/>.</summary>
    public string HuggingFaceJson()
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray("GPT2LMHeadModel"),
            ["model_type"] = "gpt2",
            ["vocab_size"] = VocabSize,
            ["n_positions"] = ContextLength,
            ["n_ctx"] = ContextLength,
            ["n_embd"] = EmbeddingSize,
            ["n_layer"] = Layers,
            ["n_head"] = Heads,
            ["n_inner"] = InnerSize,
            ["layer_norm_epsilon"] = LayerNormEpsilon,
            ["activation_function"] = Activation == Gpt2Activation.GeluTanh ? "gelu_new" : "gelu",
            ["embd_pdrop"] = EmbeddingDropout,
            ["attn_pdrop"] = AttentionDropout,
            ["resid_pdrop"] = ResidualDropout,
            ["tie_word_embeddings"] = true,
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }
}
