using Decomp.Dialogue.Data;

namespace Decomp.Dialogue.Text;

/// <summary>
/// One example in model token ids. Every utterance is its BPE tokens followed by end-of-text. The past is cut from
/// the left and the future from the right to fit the token limits.
/// </summary>
/// <param name="Index">The example's position in its split.</param>
/// <param name="Past">x&lt;=k.</param>
/// <param name="Future">x&gt;k.</param>
/// <param name="Recent">x_k alone.</param>
/// <param name="NextUtteranceLength">How many leading tokens of <paramref name="Future"/> are x_{k+1} (with its end-of-text).</param>
/// <param name="FutureUtterances">How many utterances <paramref name="Future"/> holds (a sampled negative future gets as many).</param>
/// <param name="Latent">The latent class, when the corpus has one.</param>
/// <param name="RecentRevealsLatent">True when x_k alone identifies the latent.</param>
public sealed record EncodedExample(int Index, int[] Past, int[] Future, int[] Recent, int NextUtteranceLength,
                                    int FutureUtterances, int? Latent, bool RecentRevealsLatent);

/// <summary>Encodes utterances and examples into model ids, caching repeated utterances.</summary>
public sealed class DialogueEncoder(Gpt2Tokenizer tokenizer, Vocabulary vocabulary, int maxPastTokens, int maxFutureTokens)
{
    private readonly Dictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    /// <summary>The vocabulary ids are drawn from.</summary>
    public Vocabulary Vocabulary => vocabulary;

    /// <summary>The tokenizer behind the ids.</summary>
    public Gpt2Tokenizer Tokenizer => tokenizer;

    /// <summary>The longest past kept, in tokens.</summary>
    public int MaxPastTokens => maxPastTokens;

    /// <summary>The longest future kept, in tokens.</summary>
    public int MaxFutureTokens => maxFutureTokens;

    /// <summary>The GPT-2 ids a trimmed vocabulary must hold for <paramref name="dialogues"/>.</summary>
    public static IEnumerable<int> Gpt2IdsOf(Gpt2Tokenizer tokenizer, IEnumerable<Data.Dialogue> dialogues) =>
        dialogues.SelectMany(d => d.Utterances).Distinct().SelectMany(tokenizer.Encode).Distinct();

    /// <summary>The model ids of <paramref name="text"/> followed by end-of-text.</summary>
    /// <exception cref="KeyNotFoundException">A token is outside a trimmed vocabulary.</exception>
    public int[] Utterance(string text)
    {
        if (_cache.TryGetValue(text, out var ids)) return ids;
        ids = tokenizer.Encode(text).Select(vocabulary.ToModel).Append(vocabulary.EndOfText).ToArray();
        _cache[text] = ids;
        return ids;
    }

    /// <summary>Encodes one example.</summary>
    public EncodedExample Encode(DialogueExample example, int index)
    {
        var past = example.Past.SelectMany(Utterance).ToArray();
        var future = example.Future.SelectMany(Utterance).ToArray();
        var recent = Utterance(example.Recent);
        past = past.Length > maxPastTokens ? past[^maxPastTokens..] : past;
        recent = recent.Length > maxPastTokens ? recent[^maxPastTokens..] : recent;
        future = future.Length > maxFutureTokens ? future[..maxFutureTokens] : future;
        int next = Math.Min(Utterance(example.Future[0]).Length, future.Length);
        return new EncodedExample(index, past, future, recent, next, example.Future.Count, example.Latent, example.RecentRevealsLatent);
    }

    /// <summary>Encodes a split's examples.</summary>
    public List<EncodedExample> Encode(IReadOnlyList<DialogueExample> examples) =>
        examples.Select((e, i) => Encode(e, i)).ToList();

    /// <summary>The text of model ids, with each end-of-text shown as <paramref name="separator"/>.</summary>
    public string Decode(IEnumerable<int> modelIds, string separator = " | ")
    {
        var parts = new List<string>();
        var current = new List<int>();
        foreach (var id in modelIds)
        {
            if (id == vocabulary.EndOfText)
            {
                parts.Add(tokenizer.Decode(current));
                current.Clear();
            }
            else current.Add(vocabulary.ToGpt2(id));
        }
        if (current.Count > 0) parts.Add(tokenizer.Decode(current));
        return string.Join(separator, parts.Select(p => p.Trim()));
    }
}
