namespace Decomp.Dialogue.Text;

/// <summary>
/// The model's token ids and their GPT-2 ids. The full vocabulary is GPT-2's own (model id = GPT-2 id). A trimmed
/// vocabulary keeps only the GPT-2 tokens a corpus uses (plus <c>&lt;|endoftext|&gt;</c>), in GPT-2 id order, which
/// shrinks the embedding and the softmax from 50,257 rows to a few hundred on the generated corpus; perplexity is
/// then over the trimmed set.
/// </summary>
public sealed class Vocabulary
{
    private readonly int[] _gpt2Ids;
    private readonly Dictionary<int, int> _modelIds;

    private Vocabulary(int[] gpt2Ids)
    {
        _gpt2Ids = gpt2Ids;
        _modelIds = gpt2Ids.Select((g, m) => (g, m)).ToDictionary(p => p.g, p => p.m);
        EndOfText = _modelIds[Gpt2Tokenizer.EndOfText];
    }

    /// <summary>GPT-2's whole vocabulary.</summary>
    public static Vocabulary Full() => new(Enumerable.Range(0, Gpt2Tokenizer.VocabularySize).ToArray());

    /// <summary>The given GPT-2 ids (duplicates ignored) plus end-of-text, sorted.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id lies outside GPT-2's vocabulary.</exception>
    public static Vocabulary Trimmed(IEnumerable<int> gpt2Ids)
    {
        var ids = new SortedSet<int>(gpt2Ids) { Gpt2Tokenizer.EndOfText };
        if (ids.Min < 0 || ids.Max >= Gpt2Tokenizer.VocabularySize)
            throw new ArgumentOutOfRangeException(nameof(gpt2Ids), $"GPT-2 ids lie in 0..{Gpt2Tokenizer.VocabularySize - 1}");
        return new Vocabulary(ids.ToArray());
    }

    /// <summary>Rebuilds a vocabulary from its GPT-2 ids in model-id order (as stored in a checkpoint).</summary>
    /// <exception cref="ArgumentException">The ids repeat, are unsorted, or lack end-of-text.</exception>
    public static Vocabulary FromGpt2Ids(IReadOnlyList<int> gpt2Ids)
    {
        for (int i = 1; i < gpt2Ids.Count; i++)
            if (gpt2Ids[i] <= gpt2Ids[i - 1]) throw new ArgumentException("vocabulary ids must be strictly increasing", nameof(gpt2Ids));
        if (!gpt2Ids.Contains(Gpt2Tokenizer.EndOfText)) throw new ArgumentException("the vocabulary lacks <|endoftext|>", nameof(gpt2Ids));
        return new Vocabulary(gpt2Ids.ToArray());
    }

    /// <summary>The number of model ids.</summary>
    public int Count => _gpt2Ids.Length;

    /// <summary>True when this is GPT-2's whole vocabulary.</summary>
    public bool IsFull => Count == Gpt2Tokenizer.VocabularySize;

    /// <summary>The model id of <c>&lt;|endoftext|&gt;</c>, which ends every utterance.</summary>
    public int EndOfText { get; }

    /// <summary>GPT-2 id of each model id.</summary>
    public IReadOnlyList<int> Gpt2Ids => _gpt2Ids;

    /// <summary>The model id of GPT-2 id <paramref name="gpt2Id"/>, if the vocabulary has it.</summary>
    public bool TryToModel(int gpt2Id, out int modelId) => _modelIds.TryGetValue(gpt2Id, out modelId);

    /// <summary>The model id of GPT-2 id <paramref name="gpt2Id"/>.</summary>
    /// <exception cref="KeyNotFoundException">The trimmed vocabulary lacks it.</exception>
    public int ToModel(int gpt2Id) =>
        _modelIds.TryGetValue(gpt2Id, out var m) ? m : throw new KeyNotFoundException($"GPT-2 token {gpt2Id} is not in the trimmed vocabulary");

    /// <summary>The GPT-2 id of model id <paramref name="modelId"/>.</summary>
    public int ToGpt2(int modelId) => _gpt2Ids[modelId];
}
