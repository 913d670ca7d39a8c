using static TorchSharp.torch;

namespace Decomp;

/// <summary>
/// Decomp's one score layout: <c>[batch, K]</c> with <c>K = 1 + negatives</c>, <c>scores[i, 0] = E(x_i, y_i)</c> for the
/// positive pair and <c>scores[i, k]</c> (k ≥ 1) for the negatives. Scores are logits; bounds never exponentiate them
/// outside a log-sum-exp.
/// </summary>
public static class Scores
{
    /// <summary>Converts an in-batch matrix <c>[K, K]</c> with positives on the diagonal into the positive-first layout: row i becomes <c>[E(x_i, y_i), E(x_i, y_j) for j ≠ i]</c>.</summary>
    public static Tensor OfInBatch(Tensor matrix) => Core.Scores.ofInBatch(matrix);

    /// <summary>Joins positive scores <c>[batch]</c> and negative scores <c>[batch, negatives]</c> into <c>[batch, 1 + negatives]</c>.</summary>
    public static Tensor OfPositiveAndNegatives(Tensor positive, Tensor negatives) =>
        Core.Scores.ofPositiveAndNegatives(positive, negatives);

    /// <summary>The number of candidates K (1 positive + negatives) per example.</summary>
    public static int Candidates(Tensor scores) => Core.Scores.candidates(scores);

    /// <summary><c>log K</c>: the most nats an InfoNCE-type bound over <paramref name="candidates"/> = K candidates can report.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="candidates"/> is below 2.</exception>
    public static double LogCandidates(int candidates) => Core.Scores.logCandidates(candidates);
}
