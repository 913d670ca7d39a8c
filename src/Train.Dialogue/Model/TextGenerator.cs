using TorchSharp;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Model;

/// <summary>How the next token is chosen.</summary>
/// <param name="Greedy">Take the most likely token (the other fields are then ignored).</param>
/// <param name="TopK">Sample among the k most likely tokens; 0 keeps all.</param>
/// <param name="TopP">Nucleus sampling: sample among the fewest tokens whose probability adds up to at least p; 1 keeps all.</param>
/// <param name="Temperature">Logits are divided by it before sampling.</param>
public sealed record SamplingSettings(bool Greedy = false, int TopK = 0, double TopP = 1.0, double Temperature = 1.0)
{
    /// <summary>Greedy decoding.</summary>
    public static SamplingSettings ArgMax { get; } = new(Greedy: true);

    /// <summary>Checks the ranges.</summary>
    /// <exception cref="ArgumentException">top-k is negative, top-p is outside (0, 1], or the temperature is not positive.</exception>
    public SamplingSettings Validated()
    {
        if (TopK < 0) throw new ArgumentException($"top-k must be >= 0, got {TopK}", nameof(TopK));
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"top-p must lie in (0, 1], got {TopP}", nameof(TopP));
        if (!(Temperature > 0)) throw new ArgumentException($"the sampling temperature must be positive, got {Temperature}", nameof(Temperature));
        return this;
    }

    /// <summary>A short description for logs.</summary>
    public override string ToString() => Greedy ? "greedy" :
        $"sampling (top-k {(TopK == 0 ? "off" : TopK.ToString(System.Globalization.CultureInfo.InvariantCulture))}, top-p {TopP}, temperature {Temperature})";
}

/// <summary>
/// Continues token prompts with a <see cref="Gpt2Model"/>: prompts are left-padded into one batch, run once, and then
/// extended one token at a time through a key/value cache; rows that finish leave the batch.
/// </summary>
public static class TextGenerator
{
    /// <summary>
    /// Continues each prompt until it has produced <paramref name="endOfTextCounts"/>[i] end-of-text tokens, or
    /// <paramref name="maxNewTokens"/>[i] tokens, or the context is full. Returns the new tokens only (with their
    /// end-of-text tokens), in prompt order. The model is put in evaluation mode.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="prompts">Token ids, each non-empty; a prompt longer than the context keeps its end.</param>
    /// <param name="endOfTextCounts">Per prompt, how many utterances to produce.</param>
    /// <param name="endOfText">The end-of-text id.</param>
    /// <param name="maxNewTokens">Per prompt, the most tokens to add.</param>
    /// <param name="sampling">How tokens are chosen.</param>
    /// <param name="seed">Seeds the sampling, so a call is reproducible.</param>
    /// <param name="batchSize">How many prompts run together.</param>
    public static List<int[]> Generate(Gpt2Model model, IReadOnlyList<int[]> prompts, IReadOnlyList<int> endOfTextCounts,
                                       int endOfText, IReadOnlyList<int> maxNewTokens, SamplingSettings sampling, long seed, int batchSize = 256)
    {
        if (prompts.Count != endOfTextCounts.Count || prompts.Count != maxNewTokens.Count)
            throw new ArgumentException($"{prompts.Count} prompts but {endOfTextCounts.Count} end-of-text counts and {maxNewTokens.Count} lengths", nameof(endOfTextCounts));
        if (prompts.Any(p => p.Length == 0)) throw new ArgumentException("prompts must not be empty", nameof(prompts));
        if (maxNewTokens.Any(m => m < 0)) throw new ArgumentException("token limits must be >= 0", nameof(maxNewTokens));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        sampling.Validated();

        model.eval();
        using var _ = no_grad();
        var device = model.TokenEmbedding.device;
        using var generator = sampling.Greedy ? null : new Generator((ulong)seed, device);
        int context = model.Config.ContextLength;
        // Leave room for at least one new token.
        var clipped = prompts.Select(p => p.Length >= context ? p[^(context - 1)..] : p).ToArray();
        // Prompts of one length batch without padding, which keeps attention on its fast (mask-free) path.
        var order = Enumerable.Range(0, clipped.Length).OrderBy(i => clipped[i].Length).ThenBy(i => i).ToArray();
        var results = new int[prompts.Count][];
        for (int start = 0; start < order.Length; start += batchSize)
        {
            var chunk = order.Skip(start).Take(batchSize).ToArray();
            var generated = GenerateBatch(model, chunk.Select(i => clipped[i]).ToArray(), chunk.Select(i => endOfTextCounts[i]).ToArray(),
                                          chunk.Select(i => maxNewTokens[i]).ToArray(), endOfText, sampling, generator, device);
            for (int j = 0; j < chunk.Length; j++) results[chunk[j]] = generated[j];
        }
        return results.ToList();
    }

    /// <summary><see cref="Generate(Gpt2Model, IReadOnlyList{int[]}, IReadOnlyList{int}, int, IReadOnlyList{int}, SamplingSettings, long, int)"/> with one token limit for all prompts.</summary>
    public static List<int[]> Generate(Gpt2Model model, IReadOnlyList<int[]> prompts, IReadOnlyList<int> endOfTextCounts,
                                       int endOfText, int maxNewTokens, SamplingSettings sampling, long seed, int batchSize = 256) =>
        Generate(model, prompts, endOfTextCounts, endOfText, prompts.Select(_ => maxNewTokens).ToArray(), sampling, seed, batchSize);

    private static int[][] GenerateBatch(Gpt2Model model, int[][] prompts, int[] endOfTextCounts, int[] maxNewTokens, int endOfText,
                                         SamplingSettings sampling, Generator? generator, Device device)
    {
        int rows = prompts.Length, width = prompts.Max(p => p.Length);
        var limits = maxNewTokens.Select(m => Math.Min(m, model.Config.ContextLength - width)).ToArray();
        var generated = prompts.Select(_ => new List<int>()).ToArray();
        var remaining = endOfTextCounts.Select((c, r) => limits[r] > 0 ? c : 0).ToArray();
        var active = Enumerable.Range(0, rows).Where(r => remaining[r] > 0).ToList();
        if (active.Count == 0) return generated.Select(g => g.ToArray()).ToArray();
        bool padded = prompts.Any(p => p.Length != width);

        var tokens = new long[rows, width];
        var positions = new long[rows, width];
        var mask = new bool[rows, width];
        var nextPosition = new long[rows];
        for (int r = 0; r < rows; r++)
        {
            int pad = width - prompts[r].Length;
            for (int t = 0; t < width; t++)
            {
                mask[r, t] = t >= pad;
                tokens[r, t] = t >= pad ? prompts[r][t - pad] : endOfText;
                positions[r, t] = Math.Max(0, t - pad);
            }
            nextPosition[r] = prompts[r].Length;
        }

        using var cache = new KeyValueCache(model.Config.Layers);
        // The key mask (true = real token) lives across steps, like the cache; null when no row is padded.
        Tensor? keyMask = padded ? tensor(mask, device: device).DetachFromDisposeScope() : null;
        try
        {
            long[] next;
            using (var scope = NewDisposeScope())
            {
                var states = model.Forward(tensor(tokens, device: device), keyMask, padded ? tensor(positions, device: device) : null, cache);
                next = Choose(model.Logits(states[.., -1]), sampling, generator);
            }
            var rowOf = Enumerable.Range(0, rows).ToList(); // batch row -> prompt row
            Narrow(active, ref rowOf, ref next, cache, ref keyMask, device);

            for (int step = 1; ; step++)
            {
                var stillActive = new List<int>();
                for (int i = 0; i < active.Count; i++)
                {
                    int r = active[i];
                    generated[r].Add((int)next[i]);
                    if (next[i] == endOfText) remaining[r]--;
                    if (remaining[r] > 0 && generated[r].Count < limits[r]) stillActive.Add(r);
                }
                if (stillActive.Count == 0) break;
                Narrow(stillActive, ref rowOf, ref next, cache, ref keyMask, device);
                active = stillActive;

                using var scope = NewDisposeScope();
                if (keyMask is not null)
                {
                    var grown = cat([keyMask, ones(active.Count, 1, dtype: ScalarType.Bool, device: device)], 1).DetachFromDisposeScope();
                    keyMask.Dispose();
                    keyMask = grown;
                }
                var input = tensor(next, device: device).view(-1, 1);
                var position = padded ? tensor(active.Select(r => nextPosition[r] + step - 1).ToArray(), device: device).view(-1, 1) : null;
                var states = model.Forward(input, keyMask, position, cache);
                next = Choose(model.Logits(states[.., -1]), sampling, generator);
            }
        }
        finally
        {
            keyMask?.Dispose();
        }
        return generated.Select(g => g.ToArray()).ToArray();
    }

    /// <summary>Keeps only the batch rows of the prompts in <paramref name="keep"/> (a subsequence of <paramref name="rowOf"/>).</summary>
    private static void Narrow(List<int> keep, ref List<int> rowOf, ref long[] next, KeyValueCache cache, ref Tensor? keyMask, Device device)
    {
        if (keep.Count == rowOf.Count) return;
        var keepSet = keep.ToHashSet();
        var rows = rowOf;
        var indices = Enumerable.Range(0, rows.Count).Where(i => keepSet.Contains(rows[i])).ToArray();
        using (var index = tensor(indices.Select(i => (long)i).ToArray(), device: device))
        {
            cache.SelectRows(index);
            if (keyMask is not null)
            {
                var narrowed = keyMask.index_select(0, index).DetachFromDisposeScope();
                keyMask.Dispose();
                keyMask = narrowed;
            }
        }
        var oldNext = next;
        next = indices.Select(i => oldNext[i]).ToArray();
        rowOf = indices.Select(i => rows[i]).ToList();
    }

    /// <summary>The next token of each row of <paramref name="logits"/> [rows, vocab].</summary>
    internal static long[] Choose(Tensor logits, SamplingSettings sampling, Generator? generator)
    {
        using var scope = NewDisposeScope();
        if (sampling.Greedy) return logits.argmax(-1).cpu().data<long>().ToArray();
        var filtered = Filter(logits.to_type(ScalarType.Float32) / sampling.Temperature, sampling.TopK, sampling.TopP);
        var probabilities = filtered.softmax(-1);
        return probabilities.multinomial(1, generator: generator).view(-1).cpu().data<long>().ToArray();
    }

    /// <summary>Sets to -inf the logits outside the top-k and outside the nucleus of mass top-p (the most likely token always stays).</summary>
    internal static Tensor Filter(Tensor logits, int topK, double topP)
    {
        using var scope = NewDisposeScope();
        var result = logits;
        if (topK > 0 && topK < logits.shape[^1])
        {
            var kth = result.topk(topK, dim: -1).values[.., ^1..];
            result = result.masked_fill(result < kth, double.NegativeInfinity);
        }
        if (topP < 1.0)
        {
            var (sorted, order) = result.sort(-1, descending: true);
            var cumulative = sorted.softmax(-1).cumsum(-1);
            // Remove a token when the tokens before it already reach top-p.
            var remove = (cumulative - sorted.softmax(-1)) >= topP;
            var removeInPlace = zeros_like(remove).scatter(-1, order, remove);
            result = result.masked_fill(removeInPlace, double.NegativeInfinity);
        }
        return result.MoveToOuterDisposeScope();
    }
}
