using Decomp.Apps;
using Decomp.Dialogue.Model;
using Decomp.Dialogue.Text;
using Decomp.Dialogue.Training;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Evaluation;

/// <summary>Perplexity of x_{k+1} given the past, with the in-batch InfoNCE bound between f(x&lt;=k) and f(x&gt;k).</summary>
public sealed record LanguageModelMetrics(double Perplexity, double InfoNce, long ScoredTokens);

/// <summary>One generated response beside its context and the true next utterance.</summary>
public sealed record ResponseSample(string Context, string Reference, string Response);

/// <summary>Metrics of responses generated for x_{k+1}: BLEU, seq-rep-n (n = 2..6) and their mean, dist-n (n = 1..3).</summary>
public sealed record GenerationMetrics(double Bleu, IReadOnlyDictionary<int, double?> SequenceRepetition, double? SequenceRepetitionAverage,
                                       IReadOnlyDictionary<int, double?> Distinct, double MeanResponseWords, IReadOnlyList<ResponseSample> Samples);

/// <summary>Linear-probe accuracies of the latent from f(x&lt;=k), overall and where x_k does not reveal it, and from f(x_k) alone.</summary>
public sealed record ProbeMetrics(double Accuracy, double? LongRangeAccuracy, double? RecentAccuracy, double? RecentLongRangeAccuracy,
                                  double Chance, int TrainExamples, int TestExamples);

/// <summary>Evaluates a model on encoded examples.</summary>
public sealed class Evaluator(Gpt2Model model, DialogueEncoder encoder, ObjectiveSettings objective, int batchSize, Device device)
{
    private int EndOfText => encoder.Vocabulary.EndOfText;

    /// <summary>Perplexity of the next utterance and the mean in-batch InfoNCE bound (batches of the training batch size).</summary>
    public LanguageModelMetrics LanguageModel(IReadOnlyList<EncodedExample> examples)
    {
        model.eval();
        using var _ = no_grad();
        double negativeLogLikelihood = 0, infoNceSum = 0;
        long tokens = 0;
        int infoNceBatches = 0;
        for (int start = 0; start < examples.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var chunk = examples.Skip(start).Take(batchSize).ToList();
            using var batch = Batches.LanguageModel(chunk, EndOfText, device, nextUtteranceOnly: true);
            var states = model.Forward(batch.Tokens);
            var logits = model.Logits(states);
            negativeLogLikelihood += nn.functional.cross_entropy(logits.flatten(0, 1), batch.Targets.flatten(),
                                                                 ignore_index: Batches.IgnoreIndex, reduction: nn.Reduction.Sum).item<float>();
            tokens += batch.Targets.ne(Batches.IgnoreIndex).sum().item<long>();
            if (chunk.Count < 2) continue; // an in-batch bound needs a negative
            var past = Gpt2Model.LastTokenStates(states, batch.PastLengths);
            var future = Representations.Of(model, chunk.Select(e => e.Future).ToList(), EndOfText, device);
            infoNceSum += Objective.InBatchInfoNce(objective, past, future).item<float>();
            infoNceBatches++;
        }
        return new LanguageModelMetrics(Math.Exp(negativeLogLikelihood / tokens), infoNceBatches > 0 ? infoNceSum / infoNceBatches : double.NaN, tokens);
    }

    /// <summary>Generates x_{k+1} for each example's past and scores the responses against the true ones.</summary>
    public GenerationMetrics Generation(IReadOnlyList<EncodedExample> examples, SamplingSettings sampling, int maxTokens, long seed, int samplesKept)
    {
        var responses = TextGenerator.Generate(model, examples.Select(e => e.Past).ToList(), examples.Select(_ => 1).ToList(),
                                               EndOfText, maxTokens, sampling, seed, batchSize: Math.Max(batchSize, 64));
        var hypotheses = responses.Select(r => TextMetrics.Words(encoder.Decode(r.Where(t => t != EndOfText)))).ToList();
        var references = examples.Select(e => TextMetrics.Words(encoder.Decode(e.Future.Take(e.NextUtteranceLength).Where(t => t != EndOfText)))).ToList();
        var repetition = Enumerable.Range(2, 5).ToDictionary(n => n, n => TextMetrics.SequenceRepetition(hypotheses, n));
        var known = repetition.Values.Where(v => v.HasValue).Select(v => v!.Value).ToList();
        var samples = examples.Take(samplesKept).Select((e, i) =>
            new ResponseSample(encoder.Decode(e.Past), encoder.Decode(e.Future.Take(e.NextUtteranceLength)), encoder.Decode(responses[i]))).ToList();
        return new GenerationMetrics(
            TextMetrics.Bleu(hypotheses, references),
            repetition,
            known.Count == repetition.Count ? known.Average() : null,
            Enumerable.Range(1, 3).ToDictionary(n => n, n => TextMetrics.Distinct(hypotheses, n)),
            hypotheses.Average(h => h.Length),
            samples);
    }

    /// <summary>
    /// How the latent probe is fitted (Apps.Common's <see cref="LinearProbe"/>): 300 epochs of minibatches of 256 at a
    /// peak learning rate of 0.05, without weight decay. A probe set is a few thousand examples, not Vision's 50,000, so
    /// it takes more epochs and a larger rate than Vision's 50 at 0.01 to converge: on the features of a 400-dialogue
    /// run, Vision's settings read the topic at 23% where these read 48% (and the former full-batch probe, with its
    /// 1e-3 × ||W||² penalty, 39%). A few thousand examples of a few hundred features take seconds.
    /// </summary>
    public static readonly ProbeSettings LatentProbe = new(Epochs: 300, BatchSize: 256, LearningRate: 5e-2, WeightDecay: 0);

    /// <summary>
    /// Fits the latent probe on (<paramref name="trainFeatures"/> [N, D], <paramref name="trainLabels"/>) and scores it
    /// on the test pair; <paramref name="seed"/> draws its initial weights and minibatch order.
    /// </summary>
    public static ProbeResult FitProbe(Tensor trainFeatures, int[] trainLabels, Tensor testFeatures, int[] testLabels, int classes, long seed)
    {
        using var train = tensor(trainLabels.Select(l => (long)l).ToArray(), device: trainFeatures.device);
        using var test = tensor(testLabels.Select(l => (long)l).ToArray(), device: testFeatures.device);
        return LinearProbe.Fit(trainFeatures, train, testFeatures, test, classes, LatentProbe, seed);
    }

    /// <summary>
    /// Fits linear probes of the latent on training examples' features and scores them on <paramref name="test"/>:
    /// from f(x&lt;=k), and, with <paramref name="recentView"/>, from f(x_k) alone. <paramref name="seed"/> seeds each fit.
    /// </summary>
    public ProbeMetrics Probe(IReadOnlyList<EncodedExample> train, IReadOnlyList<EncodedExample> test, int classes, long seed, bool recentView = true)
    {
        var trainLabels = train.Select(e => e.Latent ?? throw new ArgumentException("a probe needs latent labels", nameof(train))).ToArray();
        var testLabels = test.Select(e => e.Latent ?? throw new ArgumentException("a probe needs latent labels", nameof(test))).ToArray();
        bool LongRange(int i) => !test[i].RecentRevealsLatent;

        ProbeResult FitOn(Func<EncodedExample, int[]> view)
        {
            using var trainFeatures = Representations.Collect(model, train.Select(view).ToList(), EndOfText, device, batchSize * 4);
            using var testFeatures = Representations.Collect(model, test.Select(view).ToList(), EndOfText, device, batchSize * 4);
            return FitProbe(trainFeatures, trainLabels, testFeatures, testLabels, classes, seed);
        }
        var past = FitOn(e => e.Past);
        var recent = recentView ? FitOn(e => e.Recent) : null;
        return new ProbeMetrics(past.Accuracy, past.AccuracyWhere(testLabels, LongRange), recent?.Accuracy,
                                recent?.AccuracyWhere(testLabels, LongRange), past.Chance, train.Count, test.Count);
    }

    /// <summary>At most <paramref name="count"/> examples spread evenly over <paramref name="examples"/> (all when count is 0 or more than there are).</summary>
    public static IReadOnlyList<EncodedExample> Spread(IReadOnlyList<EncodedExample> examples, int count)
    {
        if (count <= 0 || count >= examples.Count) return examples;
        return Enumerable.Range(0, count).Select(i => examples[(int)((long)i * examples.Count / count)]).ToList();
    }
}
