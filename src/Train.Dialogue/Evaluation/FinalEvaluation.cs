using System.Globalization;
using Decomp.Apps;
using Decomp.Dialogue.Model;
using Decomp.Dialogue.Reporting;
using Decomp.Dialogue.Training;
using TorchSharp;

namespace Decomp.Dialogue.Evaluation;

/// <summary>A finished run's numbers, with the responses and probes they came from.</summary>
/// <param name="Metrics">What <c>metrics.json</c> holds.</param>
/// <param name="Samples">Generated responses beside their contexts and references.</param>
/// <param name="Probe">The latent probes of the best weights (null without a latent).</param>
/// <param name="InitialProbe">The same probe of the weights before training (null without a latent).</param>
public sealed record FinalResults(RunMetrics Metrics, IReadOnlyList<ResponseSample> Samples, ProbeMetrics? Probe, ProbeMetrics? InitialProbe);

/// <summary>
/// The end of a run: the best weights (by validation perplexity) on the test split — perplexity, I_NCE, generated
/// responses, the latent probes — and the probe of the initial weights, which are rebuilt from the seed.
/// </summary>
public static class FinalEvaluation
{
    /// <summary>Evaluates the best weights in <paramref name="context"/>'s run folder after training stopped at <paramref name="state"/>.</summary>
    /// <exception cref="BadInputException">The best weights are damaged.</exception>
    public static FinalResults Run(RunContext context, TrainerState state)
    {
        var (options, data, device) = (context.Options, context.Data, context.Device);
        var bestDirectory = Path.Combine(context.OutputDirectory, "best");
        // The best weights exist nowhere else (the checkpoint holds the last ones): refuse them damaged rather than report their numbers.
        if (Gpt2Weights.Problem(bestDirectory) is { } damage)
            throw new BadInputException($"{damage.TrimEnd('.')}. These are the best weights (step {state.BestStep}), which no checkpoint holds: "
                                        + $"to start over, delete {context.OutputDirectory} or use another --out.");
        using var best = Gpt2Weights.Load(bestDirectory, dropout: 0);
        best.to(device);
        var evaluator = new Evaluator(best, data.Encoder, context.Objective, options.BatchSize, device);
        context.Report.Say($"final evaluation of the best weights (step {state.BestStep}) on {data.Test.Count} test examples");
        var validLm = evaluator.LanguageModel(data.Valid);
        var testLm = evaluator.LanguageModel(data.Test);
        var sampling = Sampling(options);
        var generation = evaluator.Generation(Evaluator.Spread(data.Test, options.EvalGenerations), sampling, options.MaxFutureTokens,
                                              options.Seed, Math.Max(options.Samples, 20));
        var probeTrain = Evaluator.Spread(data.Train, options.ProbeTrainExamples);
        var corpus = data.Corpus;
        var probe = corpus.HasLatent ? evaluator.Probe(probeTrain, data.Test, corpus.LatentNames!.Count, options.Seed) : null;
        ProbeMetrics? initialProbe = null;
        if (corpus.HasLatent)
        {
            // The initial weights are a function of the seed (or the pretrained files), so they are rebuilt, not stored.
            using var initial = RunInputs.BuildModel(options, data.Vocabulary);
            initial.to(device);
            initialProbe = new Evaluator(initial, data.Encoder, context.Objective, options.BatchSize, device)
                .Probe(probeTrain, data.Test, corpus.LatentNames!.Count, options.Seed, recentView: false);
        }

        var metrics = new RunMetrics
        {
            Method = TrainingOptions.MethodName(options.Method),
            Seed = options.Seed,
            Corpus = corpus.Name,
            Model = context.ModelDescription,
            Device = Decomp.Devices.Describe(device),
            Steps = state.Step,
            Epochs = Math.Round(state.Step / (double)Math.Max(1, data.Train.Count / options.BatchSize), 3),
            TrainSeconds = Math.Round(state.ElapsedSeconds, 1),
            StopReason = state.StopReason ?? "unknown",
            BestStep = state.BestStep,
            ValidPerplexity = validLm.Perplexity,
            TestPerplexity = testLm.Perplexity,
            TestInfoNce = testLm.InfoNce,
            Bleu = generation.Bleu,
            SeqRep = generation.SequenceRepetition.ToDictionary(kv => kv.Key.ToString(CultureInfo.InvariantCulture), kv => kv.Value),
            SeqRepAvg = generation.SequenceRepetitionAverage,
            Dist = generation.Distinct.ToDictionary(kv => kv.Key.ToString(CultureInfo.InvariantCulture), kv => kv.Value),
            ResponseWords = generation.MeanResponseWords,
            Decoding = sampling.ToString(),
            ProbeAccuracy = probe?.Accuracy,
            ProbeLongRangeAccuracy = probe?.LongRangeAccuracy,
            ProbeRecentAccuracy = probe?.RecentAccuracy,
            ProbeRecentLongRangeAccuracy = probe?.RecentLongRangeAccuracy,
            ProbeChance = probe?.Chance,
            ProbeAccuracyAtInit = initialProbe?.Accuracy,
            ProbeLongRangeAccuracyAtInit = initialProbe?.LongRangeAccuracy,
        };
        return new FinalResults(metrics, generation.Samples, probe, initialProbe);
    }

    /// <summary>How evaluation responses are decoded: greedy, top-k or nucleus, as the options say.</summary>
    public static SamplingSettings Sampling(TrainingOptions o) => o.EvalDecoding switch
    {
        DecodingChoice.Greedy => SamplingSettings.ArgMax,
        DecodingChoice.TopK => new SamplingSettings(TopK: o.EvalTopK),
        _ => new SamplingSettings(TopP: o.EvalTopP),
    };
}
