using System.Text.RegularExpressions;

namespace Decomp.Dialogue.Evaluation;

/// <summary>
/// Word-level metrics of generated responses. Texts are lower-cased and split into words and punctuation marks
/// (so "it's fine." is it ' s fine .), the same for every method and corpus.
/// </summary>
public static partial class TextMetrics
{
    [GeneratedRegex(@"\w+|[^\w\s]")]
    private static partial Regex WordPattern();

    /// <summary>The words of <paramref name="text"/>.</summary>
    public static string[] Words(string text) =>
        WordPattern().Matches(text.ToLowerInvariant()).Select(m => m.Value).ToArray();

    /// <summary>The n-grams of <paramref name="words"/>, each joined by a space.</summary>
    public static IEnumerable<string> NGrams(IReadOnlyList<string> words, int n)
    {
        for (int i = 0; i + n <= words.Count; i++) yield return string.Join(' ', Enumerable.Range(i, n).Select(j => words[j]));
    }

    /// <summary>
    /// Corpus BLEU (Papineni et al., 2002) on a 0-100 scale, one reference per hypothesis: the geometric mean of the
    /// clipped 1..<paramref name="maxN"/>-gram precisions times the brevity penalty exp(min(0, 1 - r/c)). Unsmoothed:
    /// 0 when some order has no match.
    /// </summary>
    /// <exception cref="ArgumentException">The lists differ in length.</exception>
    public static double Bleu(IReadOnlyList<string[]> hypotheses, IReadOnlyList<string[]> references, int maxN = 4)
    {
        if (hypotheses.Count != references.Count)
            throw new ArgumentException($"{hypotheses.Count} hypotheses but {references.Count} references", nameof(references));
        var matches = new long[maxN];
        var totals = new long[maxN];
        long hypothesisLength = 0, referenceLength = 0;
        for (int i = 0; i < hypotheses.Count; i++)
        {
            hypothesisLength += hypotheses[i].Length;
            referenceLength += references[i].Length;
            for (int n = 1; n <= maxN; n++)
            {
                var reference = NGrams(references[i], n).GroupBy(g => g).ToDictionary(g => g.Key, g => g.Count());
                foreach (var group in NGrams(hypotheses[i], n).GroupBy(g => g))
                {
                    totals[n - 1] += group.Count();
                    matches[n - 1] += Math.Min(group.Count(), reference.GetValueOrDefault(group.Key));
                }
            }
        }
        if (hypothesisLength == 0 || matches.Any(m => m == 0)) return 0;
        double logPrecision = Enumerable.Range(0, maxN).Average(n => Math.Log(matches[n] / (double)totals[n]));
        double brevity = Math.Min(0, 1 - referenceLength / (double)hypothesisLength);
        return 100 * Math.Exp(logPrecision + brevity);
    }

    /// <summary>
    /// seq-rep-n (Welleck et al., 2019): per sequence, 1 - (distinct n-grams / n-grams), averaged over the sequences
    /// that have at least one n-gram; null when none has. 0 means no n-gram repeats within a response.
    /// </summary>
    public static double? SequenceRepetition(IReadOnlyList<string[]> sequences, int n)
    {
        var values = sequences.Where(s => s.Length >= n).Select(s =>
        {
            var grams = NGrams(s, n).ToList();
            return 1.0 - grams.Distinct().Count() / (double)grams.Count;
        }).ToList();
        return values.Count == 0 ? null : values.Average();
    }

    /// <summary>dist-n (Li et al., 2016): distinct n-grams over all n-grams, pooled over all responses; null when there are none.</summary>
    public static double? Distinct(IReadOnlyList<string[]> sequences, int n)
    {
        var grams = sequences.SelectMany(s => NGrams(s, n)).ToList();
        return grams.Count == 0 ? null : grams.Distinct().Count() / (double)grams.Count;
    }
}
