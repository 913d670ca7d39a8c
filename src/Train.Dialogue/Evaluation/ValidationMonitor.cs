using Decomp.Dialogue.Text;

namespace Decomp.Dialogue.Evaluation;

/// <summary>
/// What a run measures while it trains: perplexity and I_NCE on a fixed spread of validation examples, and, when the
/// corpus has a latent, a lighter version of the final probe (fewer examples, no recent-view probe).
/// </summary>
/// <param name="evaluator">Evaluates the model being trained.</param>
/// <param name="valid">The validation examples perplexity is measured on.</param>
/// <param name="probeTrain">The training examples the probe is fitted on (null: no probe).</param>
/// <param name="probeTest">The validation examples the probe is scored on.</param>
/// <param name="classes">The latent's classes.</param>
/// <param name="probeSeed">Seeds the probe's fit.</param>
public sealed class ValidationMonitor(Evaluator evaluator, IReadOnlyList<EncodedExample> valid, IReadOnlyList<EncodedExample>? probeTrain,
                                      IReadOnlyList<EncodedExample> probeTest, int classes, long probeSeed)
{
    /// <summary>The validation numbers of the model as it is now.</summary>
    public (LanguageModelMetrics LanguageModel, ProbeMetrics? Probe) Measure() =>
        (evaluator.LanguageModel(valid), probeTrain is null ? null : evaluator.Probe(probeTrain, probeTest, classes, probeSeed, recentView: false));
}
