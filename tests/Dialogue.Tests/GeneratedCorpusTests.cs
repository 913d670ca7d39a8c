using Decomp.Dialogue.Data;
using Xunit;

namespace Decomp.Dialogue.Tests;

public class GeneratedCorpusTests
{
    private static readonly DialogueCorpus Corpus = GeneratedCorpus.Generate(800, 100, 100, seed: 5);

    [Fact]
    public void TheCorpusIsAFunctionOfItsSeed()
    {
        var again = GeneratedCorpus.Generate(800, 100, 100, seed: 5);
        var other = GeneratedCorpus.Generate(800, 100, 100, seed: 6);
        Assert.Equal(Corpus.Train.Select(d => string.Join("|", d.Utterances)), again.Train.Select(d => string.Join("|", d.Utterances)));
        Assert.NotEqual(Corpus.Train.Select(d => string.Join("|", d.Utterances)), other.Train.Select(d => string.Join("|", d.Utterances)));
    }

    [Fact]
    public void TheTrainingSplitDoesNotDependOnTheOtherSplitsSizes()
    {
        var resized = GeneratedCorpus.Generate(800, 300, 50, seed: 5);
        Assert.Equal(Corpus.Train.Select(d => string.Join("|", d.Utterances)), resized.Train.Select(d => string.Join("|", d.Utterances)));
    }

    [Fact]
    public void TopicsAreBalancedInEverySplit()
    {
        foreach (var split in new[] { Corpus.Train, Corpus.Valid, Corpus.Test })
        {
            var counts = split.GroupBy(d => d.Latent!.Value).Select(g => g.Count()).ToList();
            Assert.Equal(GeneratedCorpus.TopicNames.Count, counts.Count);
            Assert.True(counts.Max() - counts.Min() <= 1);
        }
    }

    [Fact]
    public void UtterancesMarkedGenericComeFromTheSharedPoolsAndTheOthersNameTheirTopic()
    {
        var violations = new SortedSet<string>();
        foreach (var d in Corpus.All)
            for (int i = 0; i < d.Utterances.Count; i++)
            {
                var words = d.Utterances[i].Split(' ');
                int topic = d.Latent!.Value;
                bool namesOwn = words.Any(w => GeneratedCorpus.TopicOnlyWords[topic].Contains(w));
                bool namesOther = words.Any(w => GeneratedCorpus.TopicOnlyWords.Where((_, t) => t != topic).Any(s => s.Contains(w)));
                if (!d.RevealsLatent![i] && (!GeneratedCorpus.GenericUtterances.Contains(d.Utterances[i]) || namesOwn || namesOther))
                    violations.Add($"generic but topical: {d.Utterances[i]}");
                // A revealing utterance contains a word of its own topic that no other topic, pool or slot uses.
                if (d.RevealsLatent![i] && (!namesOwn || namesOther))
                    violations.Add($"{GeneratedCorpus.TopicNames[topic]} but not identifying: {d.Utterances[i]}");
            }
        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }

    [Fact]
    public void GenericUtterancesAreIndependentOfTheTopic()
    {
        // Chi-square test of independence on the (generic utterance, topic) table, against its 99.9% quantile
        // (Wilson-Hilferty approximation): by construction the generic pools ignore the topic.
        var pairs = Corpus.All.SelectMany(d => d.Utterances.Where((_, i) => !d.RevealsLatent![i]).Select(u => (u, t: d.Latent!.Value))).ToList();
        var utterances = pairs.Select(p => p.u).Distinct().ToList();
        int topics = GeneratedCorpus.TopicNames.Count;
        double n = pairs.Count, chi2 = 0;
        var rowTotals = utterances.ToDictionary(u => u, u => (double)pairs.Count(p => p.u == u));
        var columnTotals = Enumerable.Range(0, topics).Select(t => (double)pairs.Count(p => p.t == t)).ToArray();
        var cells = pairs.GroupBy(p => p).ToDictionary(g => g.Key, g => (double)g.Count());
        foreach (var u in utterances)
            for (int t = 0; t < topics; t++)
            {
                double expected = rowTotals[u] * columnTotals[t] / n;
                double observed = cells.GetValueOrDefault((u, t));
                chi2 += (observed - expected) * (observed - expected) / expected;
            }
        double df = (utterances.Count - 1) * (topics - 1), z = 3.09; // z of 0.999
        double quantile = df * Math.Pow(1 - 2 / (9 * df) + z * Math.Sqrt(2 / (9 * df)), 3);
        Assert.True(chi2 < quantile, $"chi2 {chi2:F1} >= {quantile:F1} (df {df})");
    }

    [Fact]
    public void EveryExamplesPastContainsTheLatentAndManyRecentUtterancesHideIt()
    {
        var examples = DialogueExamples.From(Corpus.Train);
        foreach (var d in Corpus.Train)
        {
            for (int k = 2; k < d.Utterances.Count; k++)
            {
                int first = Math.Max(0, k - DialogueExamples.MaxPast);
                Assert.Contains(true, d.RevealsLatent!.Skip(first).Take(k - first));
            }
        }
        double hidden = examples.Count(e => !e.RecentRevealsLatent) / (double)examples.Count;
        Assert.InRange(hidden, 0.5, 0.9);
    }

    [Fact]
    public void StatisticsCountWhatTheCorpusHolds()
    {
        var stats = CorpusStatistics.Compute(Corpus);
        Assert.Equal([800, 100, 100], stats.Dialogues);
        Assert.Equal(Corpus.All.Sum(d => d.Utterances.Count), stats.Utterances);
        Assert.Equal(DialogueExamples.From(Corpus.Train).Count, stats.Examples[0]);
        Assert.Equal(Corpus.Train.Sum(d => d.Utterances.Count - 2), stats.Examples[0]);
        Assert.Equal(8, stats.LatentClasses);
        Assert.Equal(1.0, stats.LatentFrequencies.Sum(), 9);
        Assert.InRange(stats.ProbeChance!.Value, 1.0 / 8, 0.2);
        Assert.Contains("| latent classes | 8 |", stats.ToMarkdown(Corpus.LatentNames));
    }
}
