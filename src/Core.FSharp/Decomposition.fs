namespace Decomp.Core

open System
open TorchSharp

/// The paper's decomposition of mutual information into a chain of unconditional and conditional terms (Section 3).
///
/// By the data processing inequality and the chain rule, for subviews x_1 .. x_N of x:
/// `I(x; y) >= I({x_1, .., x_N}; y) = I(x_1; y) + sum_{i=2}^N I(x_i; y | x_{<i})`.
/// Each term is estimated by its own contrastive bound with its own negatives, so the sum can report up to
/// `sum_i log K_i` nats where a single InfoNCE over the whole of x stops at `log K`.
module Decomposition =

    /// InfoNCE_S, Eq. 5 of the paper: `I_NCE_S(x; y) = I_NCE(x'; y) + I_CNCE(x''; y | x') <= I(x; y)`.
    ///
    /// `unconditionalScores` are E(x', .) against the positive and marginal negatives ([batch, K1]);
    /// `conditionalScores` are E(x', x'', .) against the positive and negatives drawn from p(y | x') ([batch, K2]).
    /// Per-example values [batch]; capped by `log K1 + log K2`.
    let decomposedInfoNce (unconditionalScores: torch.Tensor) (conditionalScores: torch.Tensor) : torch.Tensor =
        Guard.scores (nameof unconditionalScores) unconditionalScores
        Guard.scores (nameof conditionalScores) conditionalScores
        Guard.sameDevice (nameof conditionalScores) unconditionalScores (nameof unconditionalScores) conditionalScores
        Guard.sameDtype (nameof conditionalScores) unconditionalScores (nameof unconditionalScores) conditionalScores
        if conditionalScores.shape[0] <> unconditionalScores.shape[0] then
            raise (ArgumentException($"{nameof conditionalScores} must have one row per example like {nameof unconditionalScores} ({unconditionalScores.shape[0]} rows); got {Guard.describe conditionalScores}.", nameof conditionalScores))
        Guard.finite (nameof unconditionalScores) unconditionalScores
        Guard.finite (nameof conditionalScores) conditionalScores
        Scoped.run (fun () -> Bounds.Unchecked.infoNce unconditionalScores + Bounds.Unchecked.infoNce conditionalScores)

    /// "InfoNCE_S IS" of Section 5.1: `I_NCE(x'; y | K) + I_IS(x''; y | x', K)`, which needs no conditional sampler.
    ///
    /// Both terms score the same K candidates (positive + marginal negatives): `unconditionalScores` are E(x', .) and
    /// also serve as Ebar(x', .), the importance weights' critic; `conditionalScores` are E(x', x'', .).
    /// Per-example values [batch]; capped by `2 log K`. Since I_IS is not a proven bound, neither is this sum: the paper
    /// observes it below the truth in Figure 2 without a proof, and it can overshoot when I(x'; y) is large and K small.
    let decomposedInfoNceImportanceSampled (unconditionalScores: torch.Tensor) (conditionalScores: torch.Tensor) : torch.Tensor =
        Guard.scores (nameof unconditionalScores) unconditionalScores
        Guard.scores (nameof conditionalScores) conditionalScores
        Guard.companion (nameof conditionalScores) unconditionalScores (nameof unconditionalScores) conditionalScores
        Guard.shape (nameof conditionalScores) unconditionalScores.shape "both terms score the same candidates" conditionalScores
        Guard.finite (nameof unconditionalScores) unconditionalScores
        Guard.finite (nameof conditionalScores) conditionalScores
        Scoped.run (fun () ->
            Bounds.Unchecked.infoNce unconditionalScores
            + Bounds.Unchecked.importanceSampled conditionalScores unconditionalScores)

    /// The decomposition over any number of subviews (Section 3):
    /// `I(x_1; y) + sum_{i=2}^N I(x_i; y | x_{<i})`, each term a contrastive bound with its own negatives.
    ///
    /// `scoresPerSubview[0]` scores E(x_1, .) against marginal negatives (InfoNCE); `scoresPerSubview[i]` for i >= 1
    /// scores E(x_{<=i}, .) against negatives drawn from p(y | x_{<i}) (conditional InfoNCE). Shapes `[batch, K_i]`,
    /// one row per example in every term. Per-example values [batch]; capped by `sum_i log K_i` (see `cap`).
    let decomposedInfoNceOverSubviews (scoresPerSubview: torch.Tensor seq) : torch.Tensor =
        if isNull (box scoresPerSubview) then
            raise (ArgumentNullException(nameof scoresPerSubview))
        let terms = Array.ofSeq scoresPerSubview
        if terms.Length = 0 then
            raise (ArgumentException($"{nameof scoresPerSubview} must hold one score matrix per subview (at least one).", nameof scoresPerSubview))
        terms |> Array.iteri (fun i t -> Guard.scores $"{nameof scoresPerSubview}[{i}]" t)
        let first = terms[0]
        terms
        |> Array.iteri (fun i t ->
            let name = $"{nameof scoresPerSubview}[{i}]"
            Guard.sameDevice name first $"{nameof scoresPerSubview}[0]" t
            Guard.sameDtype name first $"{nameof scoresPerSubview}[0]" t
            if t.shape[0] <> first.shape[0] then
                raise (ArgumentException($"{name} must have {first.shape[0]} rows like {nameof scoresPerSubview}[0]; got {Guard.describe t}.", nameof scoresPerSubview)))
        terms |> Array.iteri (fun i t -> Guard.finite $"{nameof scoresPerSubview}[{i}]" t)
        // The first term is InfoNCE and the others conditional InfoNCE: one formula over scores, different negatives.
        Scoped.run (fun () -> terms |> Array.map Bounds.Unchecked.infoNce |> Array.reduce (+))

    /// The most nats a decomposition whose terms have K_1 .. K_N candidates can report: `sum_i log K_i`
    /// (`N log K` when every term has K candidates), against `log K` for a single InfoNCE.
    let cap (candidatesPerSubview: int seq) : float =
        if isNull (box candidatesPerSubview) then
            raise (ArgumentNullException(nameof candidatesPerSubview))
        candidatesPerSubview
        |> Seq.sumBy (fun k ->
            Guard.atLeast (nameof candidatesPerSubview) 2L (int64 k)
            Scores.logCandidates k)
