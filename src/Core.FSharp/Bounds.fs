namespace Decomp.Core

open System
open TorchSharp

/// The paper's contrastive lower bounds on (conditional) mutual information, in nats, as pure functions of score
/// matrices in Decomp's layout (see <see cref="T:Decomp.Core.ScoresModule"/>: `[batch, K]`, positive in column 0).
///
/// Every function returns per-example values of shape `[batch]` (average them with `Scores.mean` for the Monte-Carlo
/// estimate of the bound), works in log-space, is differentiable in its inputs, keeps the dtype and device of its
/// inputs, and frees its intermediates before returning. A training loss is the negative of a bound.
module Bounds =

    /// The formulas without their checks, for Decomp's own compositions (the decomposition, the B.1 loss, the C#
    /// facade), which check their own arguments under their own names and must not scan derived scores again.
    module internal Unchecked =

        let private logK (scores: torch.Tensor) = Scores.logCandidates (int scores.shape[1])

        /// `E(x, y_1) - log (1/K) sum_k e^{E(x, y_k)}` given the positive scores and the log-partition term.
        let private contrast (positive: torch.Tensor) (logPartition: torch.Tensor) (logCandidates: float) =
            (positive - logPartition).add(logCandidates.ToScalar())

        /// `scores[i, 0] - logsumexp_k scores[i, k] + log K`: InfoNCE's formula, and conditional InfoNCE's.
        let infoNce (scores: torch.Tensor) : torch.Tensor =
            Scoped.run (fun () -> contrast (scores.select(1L, 0L)) (LogSumExp.rows scores) (logK scores))

        let variational (scores: torch.Tensor) (klDivergence: torch.Tensor) : torch.Tensor =
            Scoped.run (fun () -> contrast (scores.select(1L, 0L)) (LogSumExp.rows scores) (logK scores) - klDivergence)

        let sirResample (proposalScores: torch.Tensor) (negatives: int) (generator: torch.Generator) : torch.Tensor =
            Scoped.run (fun () ->
                use _ = torch.no_grad ()
                let weights = proposalScores.detach().softmax(1L)
                try
                    torch.multinomial(weights, int64 negatives, true, generator)
                with :? System.Runtime.InteropServices.ExternalException as e when e.Message.Contains "multinomial" ->
                    // Only NaN or ±infinity in the scores (a row of all -infinity included) make softmax an invalid
                    // distribution; this is where they land when the finite scan is switched off.
                    let native = e.Message.Split('\n')[0]
                    raise (ArgumentException($"proposalScores must be finite, and no row may be all -infinity: softmax of them is not a distribution ({native}).", "proposalScores", e)))

        let sir (positiveScores: torch.Tensor) (candidateScores: torch.Tensor) (proposalScores: torch.Tensor) (negatives: int) (generator: torch.Generator) =
            Scoped.run (fun () ->
                let picked = sirResample proposalScores negatives generator
                infoNce (torch.cat([| positiveScores.unsqueeze 1; candidateScores.gather(1L, picked) |], 1L)))

        /// I_IS given the log-weights' critic over the negatives, `logWeights` [batch, K-1] (Ebar, or log w).
        let importanceSampledOverNegatives (scores: torch.Tensor) (logWeights: torch.Tensor) : torch.Tensor =
            Scoped.run (fun () ->
                let negativesCount = scores.shape[1] - 1L
                // log((K-1) sum_k w_k e^{E_k}) with w = softmax(Ebar) is log(K-1) + lse(Ebar + E) - lse(Ebar): two
                // log-sum-exps over the negatives, no normalised weights materialised; then log(e^{E_1} + that).
                let negativeMass =
                    (LogSumExp.rows (logWeights + scores.narrow(1L, 1L, negativesCount)) - LogSumExp.rows logWeights)
                        .add(Math.Log(float negativesCount).ToScalar())
                let positive = scores.select(1L, 0L)
                contrast positive (torch.logaddexp(positive, negativeMass)) (logK scores))

        let importanceSampled (scores: torch.Tensor) (proposalScores: torch.Tensor) : torch.Tensor =
            Scoped.run (fun () -> importanceSampledOverNegatives scores (proposalScores.narrow(1L, 1L, scores.shape[1] - 1L)))

    /// InfoNCE, Eq. 2 of the paper (Oord et al., 2018):
    ///
    /// `I_NCE(x; y | E, K) = E_{p(x, y_1) p(y_{2:K})} [ log ( e^{E(x, y_1)} / ((1/K) sum_{k=1}^K e^{E(x, y_k)}) ) ] <= I(x; y)`
    ///
    /// with the negatives y_{2:K} drawn from the marginal p(y). Per example this is
    /// `scores[i, 0] - logsumexp_k scores[i, k] + log K`, which never exceeds `log K` (see `infoNceCap`). The optimal
    /// critic is `E*(x, y) = log p(y|x) / p(y) + c(x)`; adding any c(x) to a row leaves the value unchanged.
    let infoNce (scores: torch.Tensor) : torch.Tensor =
        Guard.scores (nameof scores) scores
        Guard.finite (nameof scores) scores
        Unchecked.infoNce scores

    /// The most nats InfoNCE-type bounds over K candidates can report: `log K` (Section 2.1; McAllester & Stratos, 2018).
    let infoNceCap (candidates: int) : float = Scores.logCandidates candidates

    /// Conditional InfoNCE, Eq. 6 and Proposition 1 of the paper:
    ///
    /// `I_CNCE(x''; y | x', E, K) = E_{p(x', x'', y_1) p(y_{2:K} | x')} [ log ( e^{E(x', x'', y_1)} / ((1/K) sum_{k=1}^K e^{E(x', x'', y_k)}) ) ]`
    ///
    /// The formula over scores is InfoNCE's; what makes it a bound on the conditional MI I(x''; y | x') is that the
    /// caller scores a three-argument critic E(x', x'', y) and draws each example's negatives from p(y | x'_i).
    /// Proposition 1: (1) `I_CNCE <= I(x''; y | x')`; (2) the optimal critic is `log p(y|x',x'') / p(y|x') + c(x', x'')`;
    /// (3) with that critic, `I_CNCE -> I(x''; y | x')` as K -> infinity. Capped by `log K`.
    let conditionalInfoNce (scores: torch.Tensor) : torch.Tensor = infoNce scores

    /// Variational conditional InfoNCE, Eq. 7 and Proposition 2 of the paper:
    ///
    /// `I_VAR(x'', y | x', E, tau, K) = E_{p(x', x'', y_1) tau(y_{2:K} | x')} [ log ( e^{E(x', x'', y_1)} / ((1/K) sum_k e^{E(x', x'', y_k)}) ) ] - E_{p(x')} KL(p(y|x') || tau(y|x'))`
    ///
    /// `scores` holds E(x', x'', .) against the positive and negatives drawn from a proposal tau(y | x');
    /// `klDivergence` is KL(p(y|x'_i) || tau(y|x'_i)) per example (shape [batch]), or a Monte-Carlo estimate of it such
    /// as `log p(y_i|x'_i) - log tau(y_i|x'_i)`, or a scalar for the expectation. Proposition 2: `I_VAR <= I(x''; y|x')`,
    /// `I_VAR = I_CNCE` when tau = p(y|x'), and `sup_E I_VAR -> I(x''; y | x')` as K -> infinity for any tau.
    /// Fit tau by maximising the log-likelihood of observed y under tau(. | x') (see `Proposals.negativeLogLikelihood`).
    let variationalConditionalInfoNce (scores: torch.Tensor) (klDivergence: torch.Tensor) : torch.Tensor =
        Guard.scores (nameof scores) scores
        Guard.companion (nameof klDivergence) scores (nameof scores) klDivergence
        if not (klDivergence.Dimensions = 0L || klDivergence.shape = [| scores.shape[0] |]) then
            raise (ArgumentException($"{nameof klDivergence} must be a scalar or have shape [{scores.shape[0]}] (one value per example); got {Guard.describe klDivergence}.", nameof klDivergence))
        Guard.finite (nameof scores) scores
        Guard.finite (nameof klDivergence) klDivergence
        Unchecked.variational scores klDivergence

    /// Sampling importance resampling (Section 4.2): draws `negatives` indices per example, i.i.d. with replacement
    /// from `q_SIR(y_m) = w_m = softmax_m Ebar(x', y_m)` over the M candidates in `proposalScores` ([batch, M]), where
    /// Ebar(x', y) estimates `log p(y|x') / p(y)` (InfoNCE's optimal critic for x'). As M/K -> infinity the resampled
    /// candidates are distributed as p(y | x') (Rubin, 1987). Returns int64 indices [batch, negatives]. Not
    /// differentiable (it samples); pass a seeded generator for reproducible draws (null uses TorchSharp's default).
    /// The scores must be finite: NaN, +infinity or a row of all -infinity leave no distribution to draw from, and are
    /// an ArgumentException naming `proposalScores` (from the finite scan, or from the draw itself where the scan is
    /// switched off on the CPU; on CUDA under `CpuOnly` they are a CUDA error, so use `Always` there to debug).
    let sirResample (proposalScores: torch.Tensor) (negatives: int) (generator: torch.Generator) : torch.Tensor =
        Guard.rank (nameof proposalScores) 2 "[batch, M] (Ebar(x', y_m) for M marginal candidates)" proposalScores
        Guard.floating (nameof proposalScores) proposalScores
        Guard.atLeast (nameof negatives) 1L (int64 negatives)
        if int64 negatives > proposalScores.shape[1] then
            raise (ArgumentOutOfRangeException(nameof negatives, negatives, $"{nameof negatives} (K - 1 = {negatives}) must not exceed the number of candidates M = {proposalScores.shape[1]} (the paper resamples K <= M)."))
        Guard.finite (nameof proposalScores) proposalScores
        Unchecked.sirResample proposalScores negatives generator

    /// The SIR estimator I_SIR of Section 4.2 (Eq. 8): conditional InfoNCE whose K-1 negatives are resampled from M
    /// marginal candidates y_{1:M} ~ p(y) with weights `softmax_m Ebar(x', y_m)` (see `sirResample`).
    ///
    /// `positiveScores` is E(x', x'', y_1) ([batch]); `candidateScores` is E(x', x'', y_m) for the M marginal
    /// candidates ([batch, M]); `proposalScores` is Ebar(x', y_m) on the same candidates ([batch, M]). Equivalent to
    /// `conditionalInfoNce` on the positive and the resampled candidates' scores, so it is capped by log K with
    /// K = negatives + 1. Compare `importanceSampledConditionalInfoNce`, which reweights instead of resampling.
    let sirConditionalInfoNce
        (positiveScores: torch.Tensor)
        (candidateScores: torch.Tensor)
        (proposalScores: torch.Tensor)
        (negatives: int)
        (generator: torch.Generator)
        : torch.Tensor =
        Guard.rank (nameof positiveScores) 1 "[batch]" positiveScores
        Guard.floating (nameof positiveScores) positiveScores
        Guard.rank (nameof candidateScores) 2 "[batch, M]" candidateScores
        Guard.companion (nameof candidateScores) positiveScores (nameof positiveScores) candidateScores
        Guard.shape (nameof candidateScores) [| positiveScores.shape[0]; candidateScores.shape[1] |] "one row per example" candidateScores
        Guard.companion (nameof proposalScores) positiveScores (nameof positiveScores) proposalScores
        Guard.shape (nameof proposalScores) candidateScores.shape "the proposal scores the same candidates" proposalScores
        Guard.atLeast (nameof negatives) 1L (int64 negatives)
        if int64 negatives > proposalScores.shape[1] then
            raise (ArgumentOutOfRangeException(nameof negatives, negatives, $"{nameof negatives} (K - 1 = {negatives}) must not exceed the number of candidates M = {proposalScores.shape[1]} (the paper resamples K <= M)."))
        Guard.finite (nameof positiveScores) positiveScores
        Guard.finite (nameof candidateScores) candidateScores
        Guard.finite (nameof proposalScores) proposalScores
        Unchecked.sir positiveScores candidateScores proposalScores negatives generator

    /// Importance-sampled conditional InfoNCE, I_IS of Proposition 3 (and the B.1 pseudocode):
    ///
    /// `I_IS(x'', y | x', E, K) = E_{p(x', x'', y_1) p(y_{2:K})} [ log ( e^{E(x', x'', y_1)} / ((1/K) (e^{E(x', x'', y_1)} + (K-1) sum_{k=2}^K w_k e^{E(x', x'', y_k)})) ) ]`
    ///
    /// with `w_k = exp Ebar(x', y_k) / sum_{j=2}^K exp Ebar(x', y_j)` and Ebar = argsup_E I_NCE(x', y | E, K). The
    /// negatives come from the marginal p(y), reweighted toward p(y | x') instead of resampled. `scores` holds
    /// E(x', x'', .) and `proposalScores` holds Ebar(x', .) over the same candidates, both `[batch, K]` in Decomp's
    /// layout (column 0 of `proposalScores` is not used: the weights range over negatives only). Proposition 3: as
    /// K -> infinity, `sup_E I_IS -> I(x''; y | x')` and its argsup tends to the optimal I_CNCE critic.
    ///
    /// I_IS is an approximation of I_SIR, not a proven lower bound (the paper says as much): with exact critics it can
    /// overshoot I(x''; y | x') at small K when I(x'; y) is large, and the overshoot fades as K grows.
    ///
    /// Gradients flow through the weights too, as in the paper's pseudocode; pass `proposalScores.detach()` to treat
    /// the weights as constants. With equal weights (a constant Ebar) this is exactly InfoNCE. Capped by log K.
    let importanceSampledConditionalInfoNce (scores: torch.Tensor) (proposalScores: torch.Tensor) : torch.Tensor =
        Guard.scores (nameof scores) scores
        Guard.companion (nameof proposalScores) scores (nameof scores) proposalScores
        Guard.shape (nameof proposalScores) scores.shape "Ebar(x', .) over the same candidates as scores" proposalScores
        Guard.finite (nameof scores) scores
        Guard.finite (nameof proposalScores) proposalScores
        Unchecked.importanceSampled scores proposalScores

    /// I_IS (Proposition 3) with explicit normalised importance weights `w_k` over each example's negatives instead of
    /// the critic Ebar that produces them: `importanceWeights` is [batch, K-1], every row non-negative and summing to 1
    /// (refused otherwise, as `Settings.FiniteCheck` says: the formula's `(K-1) sum_k w_k e^{E_k}` is an estimate of
    /// the partition only for normalised weights). A zero weight leaves its negative out; gradients flow into the
    /// weights through `log w`, so a zero weight's gradient is not finite: detach such weights. Capped by log K.
    let importanceSampledConditionalInfoNceWithWeights (scores: torch.Tensor) (importanceWeights: torch.Tensor) : torch.Tensor =
        Guard.scores (nameof scores) scores
        Guard.companion (nameof importanceWeights) scores (nameof scores) importanceWeights
        Guard.shape (nameof importanceWeights) [| scores.shape[0]; scores.shape[1] - 1L |] "one weight per negative" importanceWeights
        Guard.finite (nameof scores) scores
        Guard.distribution (nameof importanceWeights) (nameof importanceWeights) 1L importanceWeights
        // softmax(log w) = w for normalised weights, so log w is a critic whose importance weights are exactly w.
        Scoped.run (fun () -> Unchecked.importanceSampledOverNegatives scores (importanceWeights.log()))
