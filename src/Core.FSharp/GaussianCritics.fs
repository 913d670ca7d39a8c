namespace Decomp.Core

open TorchSharp
open Decomp.Core.Gaussian

/// The synthetic problem's log-densities and optimal critics (log-density ratios) over candidate sets: queries
/// `firstView`, `secondView` [B, d] (x', x''), `candidates` [B, M, d] (values of y), result [B, M] in the candidates'
/// dtype, computed in float64. The optimal critic of InfoNCE, of I_CNCE (Proposition 1.2) and of I_IS's importance
/// weights (Section 4.2), each with the expectation it attains.
module GaussianCritics =

    let private logDensityYFloat64 (candidates: torch.Tensor) =
        use one = torch.ones(1L, dtype = torch.ScalarType.Float64, device = candidates.device)
        use zero = torch.zeros(1L, dtype = torch.ScalarType.Float64, device = candidates.device)
        diagonalNormalLogDensity (float64 candidates) zero one

    let private logDensityGivenFirstViewFloat64 (problem: Problem) (firstView: torch.Tensor) (candidates: torch.Tensor) =
        let weight, variance = conditionalOnFirstView problem candidates.device
        diagonalNormalLogDensity (float64 candidates) ((weight * float64 firstView).unsqueeze 1L) variance

    let private logDensityGivenBothFloat64 (problem: Problem) (firstView: torch.Tensor) (secondView: torch.Tensor) (candidates: torch.Tensor) =
        let w1, w2, variance = conditionalOnBothViews problem candidates.device
        diagonalNormalLogDensity (float64 candidates) ((w1 * float64 firstView + w2 * float64 secondView).unsqueeze 1L) variance

    let private checkFirstViewCandidates (problem: Problem) (firstView: torch.Tensor) (candidates: torch.Tensor) =
        requireProblem problem
        let batch = requireQueries (nameof firstView) problem.Dimensions firstView
        requireCandidates (nameof candidates) problem.Dimensions batch candidates
        requireSameDevice (nameof candidates) firstView candidates

    let private checkBothCandidates (problem: Problem) (firstView: torch.Tensor) (secondView: torch.Tensor) (candidates: torch.Tensor) =
        checkFirstViewCandidates problem firstView candidates
        requireQueries (nameof secondView) problem.Dimensions secondView |> ignore
        requireSameBatch (nameof secondView) firstView.shape[0] secondView
        requireSameDevice (nameof secondView) firstView secondView

    /// log p(y) = sum_i log N(y_i; 0, 1) over the last dimension of y [..., d]; result [...] in y's dtype.
    let logDensityY (problem: Problem) (candidates: torch.Tensor) : torch.Tensor =
        requireProblem problem
        Guard.floating (nameof candidates) candidates
        if candidates.dim () < 1L || candidates.shape[int (candidates.dim ()) - 1] <> int64 problem.Dimensions then
            invalidArg (nameof candidates) $"candidates must end in a dimension of size {problem.Dimensions}, got {Guard.shapeText candidates}."
        Guard.finite (nameof candidates) candidates
        inDtypeOf candidates (fun () -> logDensityYFloat64 candidates)

    /// log p(y_bm | x'_b) for queries firstView [B, d] and candidates y [B, M, d]: [B, M] in y's dtype (computed in float64).
    let logDensityYGivenFirstView (problem: Problem) (firstView: torch.Tensor) (candidates: torch.Tensor) : torch.Tensor =
        checkFirstViewCandidates problem firstView candidates
        inDtypeOf candidates (fun () -> logDensityGivenFirstViewFloat64 problem firstView candidates)

    /// log p(y_bm | x'_b, x''_b) for queries firstView, secondView [B, d] and candidates y [B, M, d]: [B, M] in y's dtype.
    let logDensityYGivenBothViews (problem: Problem) (firstView: torch.Tensor) (secondView: torch.Tensor) (candidates: torch.Tensor) : torch.Tensor =
        checkBothCandidates problem firstView secondView candidates
        inDtypeOf candidates (fun () -> logDensityGivenBothFloat64 problem firstView secondView candidates)

    /// InfoNCE's optimal critic for x = [x', x'']: E*(x, y) = log p(y | x', x'') - log p(y) (Section 2.1), for queries
    /// firstView, secondView [B, d] and candidates y [B, M, d]; [B, M] in y's dtype (computed in float64).
    /// E_p(x, y)[E*(x, y)] = I({x', x''}; y).
    let optimalCritic (problem: Problem) (firstView: torch.Tensor) (secondView: torch.Tensor) (candidates: torch.Tensor) : torch.Tensor =
        checkBothCandidates problem firstView secondView candidates
        inDtypeOf candidates (fun () -> logDensityGivenBothFloat64 problem firstView secondView candidates - logDensityYFloat64 candidates)

    /// The optimal critic of I_NCE(x'; y): Ebar(x', y) = log p(y | x') - log p(y), whose softmax over candidates from
    /// p(y) gives I_IS's importance weights (Section 4.2); [B, M] in y's dtype. E_p(x', y)[Ebar] = I(x'; y).
    let optimalFirstViewCritic (problem: Problem) (firstView: torch.Tensor) (candidates: torch.Tensor) : torch.Tensor =
        checkFirstViewCandidates problem firstView candidates
        inDtypeOf candidates (fun () -> logDensityGivenFirstViewFloat64 problem firstView candidates - logDensityYFloat64 candidates)

    /// The optimal critic of I_CNCE (Proposition 1.2): E*(x', x'', y) = log p(y | x', x'') - log p(y | x');
    /// [B, M] in y's dtype. E_p(x', x'', y)[E*] = I(x''; y | x').
    let optimalConditionalCritic (problem: Problem) (firstView: torch.Tensor) (secondView: torch.Tensor) (candidates: torch.Tensor) : torch.Tensor =
        checkBothCandidates problem firstView secondView candidates
        inDtypeOf candidates (fun () -> logDensityGivenBothFloat64 problem firstView secondView candidates - logDensityGivenFirstViewFloat64 problem firstView candidates)
