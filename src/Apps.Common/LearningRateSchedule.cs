namespace Decomp.Apps;

/// <summary>How a learning rate falls from its peak to zero.</summary>
public enum LearningRateDecay
{
    /// <summary>Half a cosine: ½ (1 + cos πp).</summary>
    Cosine,
    /// <summary>A straight line: 1 - p.</summary>
    Linear,
}

/// <summary>The one learning-rate schedule of Decomp's apps: a linear warm-up, then a decay to zero.</summary>
public static class LearningRateSchedule
{
    /// <summary>
    /// The learning rate of step <paramref name="step"/> (0-based): <paramref name="peak"/> times a linear warm-up,
    /// (step + 1) / <paramref name="warmupSteps"/> until it reaches 1, times a decay from 1 to 0 as
    /// <paramref name="progress"/> goes from 0 to 1 (clamped to [0, 1]).
    /// </summary>
    /// <param name="peak">The learning rate after warm-up and before decay.</param>
    /// <param name="step">The step about to be taken.</param>
    /// <param name="warmupSteps">Steps of the warm-up (0: none).</param>
    /// <param name="progress">
    /// How far the decay has gone, which the caller measures: Vision counts steps after the warm-up, Dialogue takes the
    /// larger of the share of planned steps and the share of the wall-clock budget spent, so that a budget ends at zero.
    /// </param>
    /// <param name="decay">The decay's shape.</param>
    /// <param name="decayDuringWarmup">
    /// False (warm-up, then decay): warm-up steps are undecayed, <paramref name="peak"/> × (step + 1) / warmupSteps,
    /// and <paramref name="progress"/> is read only after them. True (Dialogue's): the two ramps multiply from step 0,
    /// because a budget-driven progress is already running while the warm-up lasts.
    /// </param>
    public static double At(double peak, long step, long warmupSteps, double progress, LearningRateDecay decay, bool decayDuringWarmup = false)
    {
        // Each mode keeps the arithmetic its app has always used, so that the learning rates, and the weights, stay bit-identical.
        if (!decayDuringWarmup && step < warmupSteps) return peak * (step + 1) / warmupSteps;
        double warm = step < warmupSteps ? (step + 1) / (double)warmupSteps : 1.0;
        double p = Math.Min(1.0, Math.Max(0.0, progress));
        double remaining = decay == LearningRateDecay.Cosine ? 0.5 * (1 + Math.Cos(Math.PI * p)) : 1.0 - p;
        return peak * warm * remaining;
    }
}
