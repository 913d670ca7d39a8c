using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Decomp.Dialogue.Model;

/// <summary>
/// GPT-2 (Radford et al., 2019): learned token and position embeddings, pre-LayerNorm transformer blocks with causal
/// self-attention, a final LayerNorm, and an output projection tied to the token embedding. Submodules carry Hugging
/// Face's names (<c>wte</c>, <c>wpe</c>, <c>h.N.ln_1</c>, <c>h.N.attn.c_attn</c>, ..., <c>ln_f</c>); Hugging Face
/// stores the projections as Conv1D ([in, out]) where these are Linear ([out, in]), see <see cref="Gpt2Weights"/>.
/// </summary>
public sealed class Gpt2Model : nn.Module
{
    private readonly Embedding _tokenEmbedding;
    private readonly Embedding _positionEmbedding;
    private readonly Dropout _embeddingDropout;
    private readonly ModuleList<Gpt2Block> _blocks;
    private readonly LayerNorm _finalNorm;

    /// <summary>The shape this model was built with.</summary>
    public Gpt2Config Config { get; }

    /// <summary>Builds a randomly initialised model (GPT-2's scheme: N(0, 0.02) weights, zero biases, residual output projections scaled by 1/sqrt(2 n_layer)).</summary>
    /// <param name="config">The shape; validated here.</param>
    /// <param name="seed">Seeds the initialisation, so two models built with one seed are equal.</param>
    public Gpt2Model(Gpt2Config config, long seed = 0) : base(nameof(Gpt2Model))
    {
        Config = config.Validated();
        _tokenEmbedding = nn.Embedding(config.VocabSize, config.EmbeddingSize);
        _positionEmbedding = nn.Embedding(config.ContextLength, config.EmbeddingSize);
        _embeddingDropout = nn.Dropout(config.EmbeddingDropout);
        _blocks = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(_ => new Gpt2Block(config)).ToArray());
        _finalNorm = nn.LayerNorm([config.EmbeddingSize], config.LayerNormEpsilon);
        register_module("wte", _tokenEmbedding);
        register_module("wpe", _positionEmbedding);
        register_module("drop", _embeddingDropout);
        register_module("h", _blocks);
        register_module("ln_f", _finalNorm);
        Initialise(seed);
    }

    /// <summary>The token embedding [vocab_size, n_embd], also the output projection.</summary>
    public Parameter TokenEmbedding => _tokenEmbedding.weight!;

    private void Initialise(long seed)
    {
        using var _ = no_grad();
        var generator = new Generator((ulong)seed);
        double residualStd = 0.02 / Math.Sqrt(2.0 * Config.Layers);
        // An explicit, disposed Scalar (see LastTokenStates): an implicit one can be finalised while libtorch reads it.
        using var one = 1.0.ToScalar();
        foreach (var (name, parameter) in named_parameters())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal)) parameter.zero_();
            else if (name.Contains(".ln_", StringComparison.Ordinal) || name.StartsWith("ln_f", StringComparison.Ordinal)) parameter.fill_(one);
            else if (name.EndsWith("c_proj.weight", StringComparison.Ordinal)) parameter.normal_(0, residualStd, generator);
            else parameter.normal_(0, 0.02, generator);
        }
    }

    /// <summary>
    /// The last layer's states (after <c>ln_f</c>) for <paramref name="tokens"/> [B, T] (int64).
    /// </summary>
    /// <param name="tokens">Token ids [B, T].</param>
    /// <param name="keyMask">[B, T_cache + T] booleans, true for real tokens; null when no position is padding.
    /// Padding may sit anywhere (generation pads on the left); padded positions never serve as keys.</param>
    /// <param name="positions">Position ids [B, T]; null means T_cache, T_cache+1, ... for every row.</param>
    /// <param name="cache">Keys and values of earlier positions; extended in place with this call's. Null to use none.</param>
    /// <returns>States [B, T, n_embd].</returns>
    /// <exception cref="ArgumentException">The sequence runs past n_positions, or the shapes disagree.</exception>
    public Tensor Forward(Tensor tokens, Tensor? keyMask = null, Tensor? positions = null, KeyValueCache? cache = null)
    {
        if (tokens.dim() != 2) throw new ArgumentException($"tokens must be [batch, length], got [{string.Join(", ", tokens.shape)}]", nameof(tokens));
        long batch = tokens.shape[0], length = tokens.shape[1];
        long past = cache?.Length ?? 0;
        if (past + length > Config.ContextLength)
            throw new ArgumentException($"a sequence of {past + length} tokens exceeds n_positions = {Config.ContextLength}", nameof(tokens));
        if (keyMask is not null && (keyMask.shape[0] != batch || keyMask.shape[1] != past + length))
            throw new ArgumentException($"keyMask must be [{batch}, {past + length}], got [{string.Join(", ", keyMask.shape)}]", nameof(keyMask));

        using var scope = NewDisposeScope();
        positions ??= arange(past, past + length, dtype: ScalarType.Int64, device: tokens.device).unsqueeze(0);
        var x = _embeddingDropout.forward(_tokenEmbedding.forward(tokens) + _positionEmbedding.forward(positions));
        var mask = AttentionMask(keyMask, past, length, tokens.device);
        // Without a mask, plain causal attention is right for a fresh sequence, and no masking at all for one new
        // token after a cache (it may see every earlier position).
        bool causal = mask is null && past == 0;
        for (int i = 0; i < _blocks.Count; i++) x = _blocks[i].Forward(x, mask, causal, cache, i);
        return _finalNorm.forward(x).MoveToOuterDisposeScope();
    }

    /// <summary>Next-token logits [.., vocab_size] from states [.., n_embd] (the tied output projection).</summary>
    public Tensor Logits(Tensor states) => F.linear(states, TokenEmbedding);

    /// <summary>
    /// The state at each row's last real token: <paramref name="states"/> [B, T, D] and <paramref name="lengths"/> [B]
    /// (int64, each in 1..T; sequences are right-padded) give [B, D]. This is the paper's f(.).
    /// </summary>
    public static Tensor LastTokenStates(Tensor states, Tensor lengths)
    {
        using var scope = NewDisposeScope();
        // An explicit, disposed Scalar: the implicit one of `lengths - 1` can be finalised by the GC while libtorch
        // still reads it (seen once as c10's "Expected false to be true" from Scalar::toLong under load).
        using var one = 1L.ToScalar();
        var index = (lengths - one).view(-1, 1, 1).expand(-1, 1, states.shape[2]);
        return states.gather(1, index).squeeze(1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Null when no mask is needed (no padding, and either no cache or a single new token); otherwise [B or 1, 1, T, T_cache + T] booleans:
    /// query t (absolute position past + t) sees key j when j &lt;= past + t and key j is real. A padded query is also
    /// let see itself, so that no row of the softmax is empty.
    /// </summary>
    private static Tensor? AttentionMask(Tensor? keyMask, long past, long length, Device device)
    {
        if (keyMask is null && (past == 0 || length == 1)) return null;
        var queryPositions = arange(past, past + length, dtype: ScalarType.Int64, device: device).view(-1, 1);
        var keyPositions = arange(0, past + length, dtype: ScalarType.Int64, device: device).view(1, -1);
        var causal = keyPositions <= queryPositions; // [T, Tk]
        if (keyMask is null) return causal.view(1, 1, length, past + length);
        var self = keyPositions == queryPositions;
        var allowed = causal.unsqueeze(0) & (keyMask.to_type(ScalarType.Bool).unsqueeze(1) | self.unsqueeze(0));
        return allowed.unsqueeze(1);
    }
}

/// <summary>One pre-LayerNorm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).</summary>
public sealed class Gpt2Block : nn.Module
{
    private readonly LayerNorm _attentionNorm;
    private readonly Gpt2Attention _attention;
    private readonly LayerNorm _mlpNorm;
    private readonly Gpt2Mlp _mlp;

    /// <summary>Builds a block of <paramref name="config"/>'s shape.</summary>
    public Gpt2Block(Gpt2Config config) : base(nameof(Gpt2Block))
    {
        _attentionNorm = nn.LayerNorm([config.EmbeddingSize], config.LayerNormEpsilon);
        _attention = new Gpt2Attention(config);
        _mlpNorm = nn.LayerNorm([config.EmbeddingSize], config.LayerNormEpsilon);
        _mlp = new Gpt2Mlp(config);
        register_module("ln_1", _attentionNorm);
        register_module("attn", _attention);
        register_module("ln_2", _mlpNorm);
        register_module("mlp", _mlp);
    }

    internal Tensor Forward(Tensor x, Tensor? mask, bool causal, KeyValueCache? cache, int layer)
    {
        x = x + _attention.Forward(_attentionNorm.forward(x), mask, causal, cache, layer);
        return x + _mlp.forward(_mlpNorm.forward(x));
    }
}

/// <summary>Multi-head causal self-attention with one fused query/key/value projection (<c>c_attn</c>) and an output projection (<c>c_proj</c>).</summary>
public sealed class Gpt2Attention : nn.Module
{
    private readonly Linear _queryKeyValue;
    private readonly Linear _output;
    private readonly Dropout _residualDropout;
    private readonly int _heads;
    private readonly long _width;
    private readonly double _attentionDropout;

    /// <summary>Builds the attention of <paramref name="config"/>'s shape.</summary>
    public Gpt2Attention(Gpt2Config config) : base(nameof(Gpt2Attention))
    {
        _heads = config.Heads;
        _width = config.EmbeddingSize;
        _attentionDropout = config.AttentionDropout;
        _queryKeyValue = nn.Linear(config.EmbeddingSize, 3L * config.EmbeddingSize);
        _output = nn.Linear(config.EmbeddingSize, config.EmbeddingSize);
        _residualDropout = nn.Dropout(config.ResidualDropout);
        register_module("c_attn", _queryKeyValue);
        register_module("c_proj", _output);
        register_module("resid_dropout", _residualDropout);
    }

    internal Tensor Forward(Tensor x, Tensor? mask, bool causal, KeyValueCache? cache, int layer)
    {
        long batch = x.shape[0], length = x.shape[1], headWidth = _width / _heads;
        var parts = _queryKeyValue.forward(x).split(_width, dim: -1);
        Tensor Heads(Tensor t) => t.view(batch, length, _heads, headWidth).transpose(1, 2);
        Tensor query = Heads(parts[0]), key = Heads(parts[1]), value = Heads(parts[2]);
        if (cache is not null) (key, value) = cache.Append(layer, key, value);
        var attended = F.scaled_dot_product_attention(query, key, value, attn_mask: mask,
                                                      p: training ? _attentionDropout : 0.0, is_casual: causal);
        var merged = attended.transpose(1, 2).contiguous().view(batch, length, _width);
        return _residualDropout.forward(_output.forward(merged));
    }
}

/// <summary>The block's feed-forward part: <c>c_fc</c>, GELU, <c>c_proj</c>, dropout.</summary>
public sealed class Gpt2Mlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear _up;
    private readonly Linear _down;
    private readonly Dropout _dropout;
    private readonly Gpt2Activation _activation;

    /// <summary>Builds the MLP of <paramref name="config"/>'s shape.</summary>
    public Gpt2Mlp(Gpt2Config config) : base(nameof(Gpt2Mlp))
    {
        _activation = config.Activation;
        _up = nn.Linear(config.EmbeddingSize, config.MlpSize);
        _down = nn.Linear(config.MlpSize, config.EmbeddingSize);
        _dropout = nn.Dropout(config.ResidualDropout);
        register_module("c_fc", _up);
        register_module("c_proj", _down);
        register_module("dropout", _dropout);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        var hidden = _up.forward(x);
        hidden = _activation == Gpt2Activation.GeluTanh ? F.gelu(hidden, GELU.Approximate.tanh) : F.gelu(hidden);
        return _dropout.forward(_down.forward(hidden));
    }
}

/// <summary>
/// Keys and values of the positions a model has already seen, per layer ([B, heads, T_cache, head width]), so that
/// generation computes each new token once. The cache owns its tensors (they live outside dispose scopes).
/// </summary>
public sealed class KeyValueCache : IDisposable
{
    private readonly Tensor?[] _keys;
    private readonly Tensor?[] _values;

    /// <summary>An empty cache for a model of <paramref name="layers"/> blocks.</summary>
    public KeyValueCache(int layers)
    {
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
    }

    /// <summary>The number of cached positions.</summary>
    public long Length => _keys[^1]?.shape[2] ?? _keys[0]?.shape[2] ?? 0;

    internal (Tensor Key, Tensor Value) Append(int layer, Tensor key, Tensor value)
    {
        var oldKey = _keys[layer];
        var oldValue = _values[layer];
        var newKey = oldKey is null ? key.alias() : cat([oldKey, key], 2);
        var newValue = oldValue is null ? value.alias() : cat([oldValue, value], 2);
        _keys[layer] = newKey.DetachFromDisposeScope();
        _values[layer] = newValue.DetachFromDisposeScope();
        oldKey?.Dispose();
        oldValue?.Dispose();
        return (newKey, newValue);
    }

    /// <summary>Keeps only the rows in <paramref name="rows"/> (int64 indices), e.g. to drop finished sequences.</summary>
    public void SelectRows(Tensor rows)
    {
        for (int i = 0; i < _keys.Length; i++)
        {
            if (_keys[i] is null) continue;
            var k = _keys[i]!.index_select(0, rows).DetachFromDisposeScope();
            var v = _values[i]!.index_select(0, rows).DetachFromDisposeScope();
            _keys[i]!.Dispose();
            _values[i]!.Dispose();
            _keys[i] = k;
            _values[i] = v;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        for (int i = 0; i < _keys.Length; i++)
        {
            _keys[i]?.Dispose();
            _values[i]?.Dispose();
            _keys[i] = _values[i] = null;
        }
    }
}
