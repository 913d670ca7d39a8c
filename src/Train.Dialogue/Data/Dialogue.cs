namespace Decomp.Dialogue.Data;

/// <summary>
/// One conversation: its utterances in order, and, for corpora that have one (the generated corpus), the latent
/// class that governs it and which utterances state the latent outright.
/// </summary>
/// <param name="Utterances">The utterances, speakers alternating.</param>
/// <param name="Latent">The latent class (the generated corpus's topic), or null.</param>
/// <param name="RevealsLatent">Per utterance: true when the utterance alone identifies the latent; null without a latent.</param>
public sealed record Dialogue(IReadOnlyList<string> Utterances, int? Latent = null, IReadOnlyList<bool>? RevealsLatent = null);

/// <summary>A corpus split three ways, with the names of its latent classes when it has them.</summary>
public sealed record DialogueCorpus(string Name, IReadOnlyList<Dialogue> Train, IReadOnlyList<Dialogue> Valid,
                                    IReadOnlyList<Dialogue> Test, IReadOnlyList<string>? LatentNames = null)
{
    /// <summary>True when every dialogue carries a latent class (so a probe can be trained).</summary>
    public bool HasLatent => LatentNames is not null;

    /// <summary>All dialogues of the three splits.</summary>
    public IEnumerable<Dialogue> All => Train.Concat(Valid).Concat(Test);
}

/// <summary>
/// One training example: a split point k of a dialogue x = (x_1, ..., x_L) with 1 &lt; k &lt; L, its past
/// x&lt;=k (at most <see cref="DialogueExamples.MaxPast"/> utterances, ending with the recent past x_k) and its
/// future x&gt;k (at most <see cref="DialogueExamples.MaxFuture"/> utterances).
/// </summary>
public sealed record DialogueExample(int Dialogue, int SplitPoint, IReadOnlyList<string> Past, IReadOnlyList<string> Future,
                                     int? Latent, bool RecentRevealsLatent)
{
    /// <summary>The recent past x_k: the last utterance of the past.</summary>
    public string Recent => Past[^1];
}

/// <summary>Cuts dialogues into past/future examples at every admissible split point.</summary>
public static class DialogueExamples
{
    /// <summary>The most past utterances an example keeps (the paper's five).</summary>
    public const int MaxPast = 5;

    /// <summary>The most future utterances an example keeps (the paper's three).</summary>
    public const int MaxFuture = 3;

    /// <summary>
    /// Every example of <paramref name="dialogues"/>: for each dialogue of L &gt;= 3 utterances and each k in 2..L-1,
    /// past = x_{max(1, k-MaxPast+1)..k}, future = x_{k+1..min(L, k+MaxFuture)}.
    /// </summary>
    public static List<DialogueExample> From(IReadOnlyList<Dialogue> dialogues, int maxPast = MaxPast, int maxFuture = MaxFuture)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPast);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFuture);
        var examples = new List<DialogueExample>();
        for (int d = 0; d < dialogues.Count; d++)
        {
            var u = dialogues[d].Utterances;
            for (int k = 2; k < u.Count; k++)
            {
                int first = Math.Max(0, k - maxPast);
                var past = u.Skip(first).Take(k - first).ToArray();
                var future = u.Skip(k).Take(maxFuture).ToArray();
                bool reveals = dialogues[d].RevealsLatent is { } r && r[k - 1];
                examples.Add(new DialogueExample(d, k, past, future, dialogues[d].Latent, reveals));
            }
        }
        return examples;
    }
}
