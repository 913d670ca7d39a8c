using static TorchSharp.torch;

namespace Decomp.Dialogue.Training;

/// <summary>The three training methods of the paper's dialogue experiment (Section 5.3).</summary>
public enum Method
{
    /// <summary>GPT2: next-token prediction only.</summary>
    Gpt2,
    /// <summary>GPT2+InfoNCE: adds I_NCE(f(x&lt;=k); f(x&gt;k)) with the batch's other futures as negatives.</summary>
    InfoNce,
    /// <summary>GPT2+InfoNCE_S: adds, on top, the conditional term I_CNCE(x&lt;=k; x&gt;k | x_k) whose negative futures the model samples from x_k alone.</summary>
    InfoNceS,
}

/// <summary>Which view the unconditional InfoNCE term of GPT2+InfoNCE_S reads.</summary>
public enum UnconditionalView
{
    /// <summary>f(x&lt;=k), the full past: GPT2+InfoNCE's term, kept, plus the conditional term.</summary>
    Past,
    /// <summary>f(x_k), the recent past: the exact chain-rule split I_NCE(x_k; y) + I_CNCE(x&lt;=k; y | x_k) of Eq. 5.</summary>
    Recent,
}

/// <summary>How the contrastive terms are scored and weighted.</summary>
/// <param name="Method">The training method.</param>
/// <param name="Weight">The factor on the contrastive terms (the paper's 0.1).</param>
/// <param name="Temperature">Scores are similarity / temperature.</param>
/// <param name="Cosine">Cosine similarity instead of the dot product of states.</param>
/// <param name="View">The view of the unconditional term under <see cref="Method.InfoNceS"/>.</param>
public sealed record ObjectiveSettings(Method Method, double Weight, double Temperature, bool Cosine, UnconditionalView View);

/// <summary>One step's loss and its parts (scalars); the bounds are in nats, null when the method lacks the term.</summary>
public sealed record ObjectiveTerms(Tensor Loss, Tensor LanguageModel, Tensor? InfoNce, Tensor? ConditionalInfoNce);

/// <summary>
/// The training objective: the language-model loss minus <c>Weight</c> times the contrastive lower bounds.
/// Every call to Decomp's bounds is in this file.
/// </summary>
public static class Objective
{
    /// <summary>
    /// Combines the parts. <paramref name="past"/> = f(x&lt;=k) [B, D], <paramref name="future"/> = f(x&gt;k) [B, D],
    /// <paramref name="recent"/> = f(x_k) [B, D] (needed for <see cref="UnconditionalView.Recent"/>),
    /// <paramref name="negatives"/> = f of futures sampled from the model given x_k alone, [B, M, D] (needed for InfoNCE_S).
    /// </summary>
    /// <exception cref="ArgumentException">A representation the method needs is missing.</exception>
    public static ObjectiveTerms Compute(ObjectiveSettings settings, Tensor languageModelLoss, Tensor? past = null,
                                         Tensor? future = null, Tensor? negatives = null, Tensor? recent = null)
    {
        if (settings.Method == Method.Gpt2)
            return new ObjectiveTerms(languageModelLoss, languageModelLoss, null, null);
        if (past is null || future is null)
            throw new ArgumentException($"{settings.Method} needs f(x<=k) and f(x>k)", past is null ? nameof(past) : nameof(future));

        var similarity = settings.Cosine ? Decomp.Similarity.Cosine : Decomp.Similarity.Dot;
        if (settings.Method == Method.InfoNce)
        {
            var nce = Decomp.Bounds.InfoNce(past, future, settings.Temperature, similarity);
            return new ObjectiveTerms(languageModelLoss - settings.Weight * nce, languageModelLoss, nce, null);
        }

        if (negatives is null) throw new ArgumentException("InfoNCE_S needs negative futures sampled from p(x>k | x_k)", nameof(negatives));
        var unconditionalView = settings.View == UnconditionalView.Recent
            ? recent ?? throw new ArgumentException("the recent view needs f(x_k)", nameof(recent))
            : past;
        var unconditional = Decomp.Bounds.InfoNce(unconditionalView, future, settings.Temperature, similarity);
        var conditional = Decomp.Bounds.ConditionalInfoNce(past, future, negatives, settings.Temperature, similarity);
        var loss = languageModelLoss - settings.Weight * (unconditional + conditional);
        return new ObjectiveTerms(loss, languageModelLoss, unconditional, conditional);
    }

    /// <summary>I_NCE(f(x&lt;=k); f(x&gt;k)) with in-batch negatives, for monitoring every method on validation data.</summary>
    public static Tensor InBatchInfoNce(ObjectiveSettings settings, Tensor past, Tensor future) =>
        Decomp.Bounds.InfoNce(past, future, settings.Temperature, settings.Cosine ? Decomp.Similarity.Cosine : Decomp.Similarity.Dot);
}
