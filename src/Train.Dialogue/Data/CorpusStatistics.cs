using System.Globalization;
using System.Text;
using Decomp.Dialogue.Text;

namespace Decomp.Dialogue.Data;

/// <summary>Counts that describe a corpus: sizes, lengths, vocabulary, and (with a latent) class balance and the probe's chance level.</summary>
public sealed record CorpusStatistics(
    string Name,
    int[] Dialogues,
    int[] Examples,
    int Utterances,
    double MeanUtterancesPerDialogue,
    int MinUtterancesPerDialogue,
    int MaxUtterancesPerDialogue,
    double MeanWordsPerUtterance,
    int WordVocabulary,
    int? TokenVocabulary,
    double? MeanTokensPerUtterance,
    int LatentClasses,
    double[] LatentFrequencies,
    double? ProbeChance,
    double? LongRangeFraction)
{
    /// <summary>Computes the statistics; token counts need <paramref name="tokenizer"/>.</summary>
    public static CorpusStatistics Compute(DialogueCorpus corpus, Gpt2Tokenizer? tokenizer = null)
    {
        var splits = new[] { corpus.Train, corpus.Valid, corpus.Test };
        var all = corpus.All.ToList();
        var utterances = all.SelectMany(d => d.Utterances).ToList();
        var lengths = all.Select(d => d.Utterances.Count).ToList();
        var words = utterances.SelectMany(u => u.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        var examples = splits.Select(s => DialogueExamples.From(s)).ToArray();

        int? tokenVocabulary = null;
        double? meanTokens = null;
        if (tokenizer is not null)
        {
            var ids = utterances.Distinct().ToDictionary(u => u, tokenizer.Encode);
            tokenVocabulary = ids.Values.SelectMany(x => x).Distinct().Count();
            meanTokens = utterances.Average(u => ids[u].Count);
        }

        int classes = corpus.LatentNames?.Count ?? 0;
        var frequencies = new double[classes];
        double? chance = null, longRange = null;
        if (classes > 0)
        {
            foreach (var d in all) frequencies[d.Latent!.Value] += 1.0 / all.Count;
            // The probe is scored on test examples; its chance level is the majority class's share there.
            var test = examples[2];
            chance = test.GroupBy(e => e.Latent).Max(g => g.Count()) / (double)test.Count;
            var every = examples.SelectMany(x => x).ToList();
            longRange = every.Count(e => !e.RecentRevealsLatent) / (double)every.Count;
        }

        return new CorpusStatistics(corpus.Name, splits.Select(s => s.Count).ToArray(), examples.Select(e => e.Count).ToArray(),
            utterances.Count, lengths.Average(), lengths.Min(), lengths.Max(), words.Count / (double)utterances.Count,
            words.Distinct().Count(), tokenVocabulary, meanTokens, classes, frequencies, chance, longRange);
    }

    /// <summary>A Markdown description.</summary>
    public string ToMarkdown(IReadOnlyList<string>? latentNames = null)
    {
        var c = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        s.AppendLine(c, $"| statistic | value |");
        s.AppendLine("|---|---|");
        s.AppendLine(c, $"| corpus | {Name} |");
        s.AppendLine(c, $"| dialogues (train / valid / test) | {Dialogues[0]} / {Dialogues[1]} / {Dialogues[2]} |");
        s.AppendLine(c, $"| examples, one per split point 1 < k < L (train / valid / test) | {Examples[0]} / {Examples[1]} / {Examples[2]} |");
        s.AppendLine(c, $"| utterances | {Utterances} |");
        s.AppendLine(c, $"| utterances per dialogue (mean, min, max) | {MeanUtterancesPerDialogue:F2}, {MinUtterancesPerDialogue}, {MaxUtterancesPerDialogue} |");
        s.AppendLine(c, $"| words per utterance (mean) | {MeanWordsPerUtterance:F2} |");
        s.AppendLine(c, $"| word vocabulary | {WordVocabulary} |");
        if (TokenVocabulary is { } tv) s.AppendLine(c, $"| GPT-2 BPE tokens in use | {tv} |");
        if (MeanTokensPerUtterance is { } mt) s.AppendLine(c, $"| BPE tokens per utterance (mean) | {mt:F2} |");
        if (LatentClasses > 0)
        {
            s.AppendLine(c, $"| latent classes | {LatentClasses} |");
            var names = latentNames ?? Enumerable.Range(0, LatentClasses).Select(i => i.ToString(c)).ToList();
            s.AppendLine(c, $"| class shares | {string.Join(", ", LatentFrequencies.Select((f, i) => $"{names[i]} {f:P1}"))} |");
            s.AppendLine(c, $"| probe chance (majority class of test examples) | {ProbeChance:P1} |");
            s.AppendLine(c, $"| examples whose recent utterance x_k does not reveal the latent | {LongRangeFraction:P1} |");
        }
        return s.ToString();
    }
}
