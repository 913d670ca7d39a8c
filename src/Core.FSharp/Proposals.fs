namespace Decomp.Core

open System
open TorchSharp
open Decomp.Core.Gaussian

/// Proposal distributions tau(y | x') for the variational bound I_VAR (Eq. 7, Proposition 2): a diagonal Gaussian
/// whose mean and log standard deviation come from a network of x'. Its negatives y_{2:K} ~ tau(y | x') replace
/// samples from the unknown p(y | x'); it is fitted by maximising the log-likelihood of the observed y under
/// tau(. | x') (the supervised objective of Section 4.1, which minimises E_{p(x')} KL(p(y|x') || tau(y|x'))).
module Proposals =

    let private halfLogTwoPi = 0.5 * Math.Log(2.0 * Math.PI)

    let private checkParameters (mean: torch.Tensor) (logStd: torch.Tensor) =
        Guard.rank (nameof mean) 2 "[batch, features]" mean
        Guard.floating (nameof mean) mean
        Guard.companion (nameof logStd) mean (nameof mean) logStd
        Guard.shape (nameof logStd) mean.shape "one log standard deviation per mean" logStd

    /// `log tau(y | x') = sum_d log N(y_d; mean_d, exp(logStd_d)^2)` for `y` of shape [batch, features] (result
    /// [batch]) or [batch, M, features] (result [batch, M]: M candidates per example).
    let gaussianLogDensity (mean: torch.Tensor) (logStd: torch.Tensor) (y: torch.Tensor) : torch.Tensor =
        checkParameters mean logStd
        Guard.companion (nameof y) mean (nameof mean) y
        let expanded =
            match int y.Dimensions with
            | 2 when y.shape = mean.shape -> false
            | 3 when y.shape[0] = mean.shape[0] && y.shape[2] = mean.shape[1] -> true
            | _ -> raise (ArgumentException($"{nameof y} must have shape {Guard.shapeText mean} or [{mean.shape[0]}, M, {mean.shape[1]}]; got {Guard.describe y}.", nameof y))
        Guard.finite (nameof mean) mean
        Guard.finite (nameof logStd) logStd
        Guard.finite (nameof y) y
        Scoped.run (fun () ->
            let m, s = (if expanded then mean.unsqueeze 1, logStd.unsqueeze 1 else mean, logStd)
            let z = (y - m) * (-s).exp()
            (z.square().mul((-0.5).ToScalar()) - s).sum([| -1L |]).sub((halfLogTwoPi * float mean.shape[1]).ToScalar()))

    /// Draws `count` candidates per example from tau(y | x') = N(mean, diag(exp(logStd)^2)), shape [batch, count,
    /// features], by reparameterisation (differentiable in mean and logStd). Pass a seeded generator for reproducible
    /// draws (null uses TorchSharp's default).
    let sampleGaussian (mean: torch.Tensor) (logStd: torch.Tensor) (count: int) (generator: torch.Generator) : torch.Tensor =
        checkParameters mean logStd
        Guard.atLeast (nameof count) 1L (int64 count)
        Guard.finite (nameof mean) mean
        Guard.finite (nameof logStd) logStd
        Scoped.run (fun () ->
            let shape = [| mean.shape[0]; int64 count; mean.shape[1] |]
            let noise = torch.randn(shape, dtype = mean.dtype, device = mean.device, generator = generator)
            mean.unsqueeze(1) + noise * logStd.exp().unsqueeze 1)

    /// The supervised objective that fits tau: `-(1/B) sum_i log tau(y_i | x'_i)` over observed pairs (x'_i, y_i)
    /// ~ p(x', y), given their log-densities ([batch]). Minimising it minimises E_{p(x')} KL(p(y|x') || tau(y|x')) up to
    /// the constant conditional entropy of y given x'.
    let negativeLogLikelihood (logDensities: torch.Tensor) : torch.Tensor =
        Guard.rank (nameof logDensities) 1 "[batch]" logDensities
        Guard.floating (nameof logDensities) logDensities
        Guard.finite (nameof logDensities) logDensities
        Scoped.run (fun () -> -logDensities.mean())

    /// A Monte-Carlo estimate of KL(p(y|x') || tau(y|x')) per example from the positive pairs:
    /// `log p(y_i | x'_i) - log tau(y_i | x'_i)` (needs the true conditional density, e.g. on the Gaussian ground truth).
    /// Its mean is an unbiased estimate of E_{p(x')} KL(p(y|x') || tau(y|x')), the penalty in I_VAR.
    let klMonteCarlo (logTrueDensities: torch.Tensor) (logProposalDensities: torch.Tensor) : torch.Tensor =
        Guard.rank (nameof logTrueDensities) 1 "[batch]" logTrueDensities
        Guard.floating (nameof logTrueDensities) logTrueDensities
        Guard.companion (nameof logProposalDensities) logTrueDensities (nameof logTrueDensities) logProposalDensities
        Guard.shape (nameof logProposalDensities) logTrueDensities.shape "one value per example" logProposalDensities
        Guard.finite (nameof logTrueDensities) logTrueDensities
        Guard.finite (nameof logProposalDensities) logProposalDensities
        Scoped.run (fun () -> logTrueDensities - logProposalDensities)

    /// A trainable Gaussian proposal tau(y | x'): an MLP from x' (inputSize features) to a mean and a log standard
    /// deviation for y (outputSize features each). Call `parameters` on its output to split them.
    let gaussianProposal (inputSize: int) (hiddenSizes: int list) (outputSize: int) : torch.nn.Module<torch.Tensor, torch.Tensor> =
        Critics.mlp inputSize hiddenSizes (2 * outputSize)

    /// Splits a `gaussianProposal` output [batch, 2 * features] into (mean, logStd), each [batch, features]. Views,
    /// not computations: the functions that read mean and logStd scan them.
    let parameters (output: torch.Tensor) : torch.Tensor * torch.Tensor =
        Guard.rank (nameof output) 2 "[batch, 2 * features]" output
        Guard.floating (nameof output) output
        if output.shape[1] % 2L <> 0L then
            raise (ArgumentException($"{nameof output} must have an even number of columns (mean, then log standard deviation); got {Guard.describe output}.", nameof output))
        let half = output.shape[1] / 2L
        output.narrow(1L, 0L, half), output.narrow(1L, half, half)

    // ---------------------------------------------------------------------------------------------------------------
    // Gaussian proposals of the synthetic problem, with their KL to p(y | x') in closed form

    /// tau(y | x') = N(Weight x' + Bias, Covariance): a Gaussian stand-in for p(y | x'), the variational proposal of
    /// I_VAR (Proposition 2). Float64 tensors on the CPU: Weight [d, d], Bias [d], Covariance [d, d] positive definite.
    type GaussianProposal = { Weight: torch.Tensor; Bias: torch.Tensor; Covariance: torch.Tensor }

    let private requireProposal (name: string) (dimensions: int) (proposal: GaussianProposal) =
        if obj.ReferenceEquals(proposal, null) then nullArg name
        let d = int64 dimensions
        let check (part: string) (t: torch.Tensor) (shape: int64[]) =
            if isNull t then invalidArg name $"{name}.{part} is null."
            if t.IsInvalid then invalidArg name $"{name}.{part} has been disposed."
            if t.shape <> shape then
                let expected = String.Join(", ", shape)
                invalidArg name $"{name}.{part} must have shape [{expected}], got {Guard.shapeText t}."
        check "Weight" proposal.Weight [| d; d |]
        check "Bias" proposal.Bias [| d |]
        check "Covariance" proposal.Covariance [| d; d |]

    let private proposalDimensions (proposal: GaussianProposal) =
        if obj.ReferenceEquals(proposal, null) then nullArg (nameof proposal)
        if isNull proposal.Bias then invalidArg (nameof proposal) "proposal.Bias is null."
        if proposal.Bias.IsInvalid then invalidArg (nameof proposal) "proposal.Bias has been disposed."
        int proposal.Bias.shape[0]

    /// tau = p(y | x') itself: Weight = diag(c1), Bias = 0, Covariance = diag(exp(-2 alpha mi)). Its KL to p(y | x') is 0.
    let exactProposal (problem: Problem) : GaussianProposal =
        requireProblem problem
        {
            Weight = torch.diag (perDimension torch.CPU (problem.Blocks |> Array.map _.WeightOfZ1))
            Bias = torch.zeros(int64 problem.Dimensions, dtype = torch.ScalarType.Float64)
            Covariance = torch.diag (perDimension torch.CPU (problem.Blocks |> Array.map _.VarianceGivenFirstView))
        }

    /// A deliberately wrong tau(y | x') = N(c1 * x' + meanShift, varianceScale * diag(exp(-2 alpha mi))): p(y | x')
    /// with every mean coordinate shifted by meanShift and the variances scaled by varianceScale (meanShift = 0 and
    /// varianceScale = 1 give `exactProposal`). ArgumentException "meanShift" unless finite,
    /// ArgumentOutOfRangeException "varianceScale" unless finite and positive.
    let perturbedProposal (problem: Problem) (meanShift: float) (varianceScale: float) : GaussianProposal =
        requireProblem problem
        requireFinite (nameof meanShift) meanShift
        if not (varianceScale > 0.0) || Double.IsInfinity varianceScale then
            raise (ArgumentOutOfRangeException(nameof varianceScale, varianceScale, "varianceScale must be finite and positive."))
        {
            Weight = torch.diag (perDimension torch.CPU (problem.Blocks |> Array.map _.WeightOfZ1))
            Bias = torch.full(int64 problem.Dimensions, meanShift, dtype = torch.ScalarType.Float64)
            Covariance =
                torch.diag (perDimension torch.CPU (problem.Blocks |> Array.map (fun b -> varianceScale * b.VarianceGivenFirstView)))
        }

    /// log tau(y_bm | x'_b) = log N(y_bm; Weight x'_b + Bias, Covariance) for queries firstView [B, d] and candidates
    /// y [B, M, d]: [B, M] in y's dtype (computed in float64 on y's device).
    let proposalLogDensity (proposal: GaussianProposal) (firstView: torch.Tensor) (candidates: torch.Tensor) : torch.Tensor =
        let d = proposalDimensions proposal
        requireProposal (nameof proposal) d proposal
        let batch = requireQueries (nameof firstView) d firstView
        requireCandidates (nameof candidates) d batch candidates
        requireSameDevice (nameof candidates) firstView candidates
        inDtypeOf candidates (fun () ->
            let factor = (GaussianInformation.choleskyFactor (nameof proposal) proposal.Covariance).``to``(candidates.device)
            let weight = proposal.Weight.``to``(torch.ScalarType.Float64, candidates.device)
            let bias = proposal.Bias.``to``(torch.ScalarType.Float64, candidates.device)
            let mean = (float64 firstView).matmul(weight.t()) + bias
            let difference = float64 candidates - mean.unsqueeze(1L)
            let flat = difference.reshape(-1L, int64 d).t()
            let whitened = torch.linalg.solve_triangular(factor, flat, upper = false)
            let logDet = GaussianInformation.logDeterminantOfFactor factor
            let mahalanobis = whitened.square().sum(0L).reshape(batch, candidates.shape[1])
            (mahalanobis + logDet + float d * logTwoPi) * -0.5)

    /// k i.i.d. draws from tau(y | x') for every row of firstView [n, d]: [n, k, d] in firstView's dtype and device. Noise is drawn
    /// in float64 on the generator's device.
    let sampleProposal (proposal: GaussianProposal) (firstView: torch.Tensor) (k: int) (generator: torch.Generator) : torch.Tensor =
        let d = proposalDimensions proposal
        requireProposal (nameof proposal) d proposal
        let n = requireQueries (nameof firstView) d firstView
        requirePositiveCount (nameof k) k
        requireGenerator generator
        use scope = torch.NewDisposeScope()
        let factor = (GaussianInformation.choleskyFactor (nameof proposal) proposal.Covariance).``to``(firstView.device)
        let weight = proposal.Weight.``to``(torch.ScalarType.Float64, firstView.device)
        let bias = proposal.Bias.``to``(torch.ScalarType.Float64, firstView.device)
        let mean = (float64 firstView).matmul(weight.t()) + bias
        let noise = (standardNormal generator [| n; int64 k; int64 d |]).``to``(firstView.device)
        (mean.unsqueeze(1L) + noise.matmul(factor.t())).to_type(firstView.dtype).MoveToOuterDisposeScope()

    /// E_p(x')[KL(p(y | x') || tau(y | x'))], the penalty of I_VAR (Proposition 2), in closed form. With
    /// p(y | x') = N(B x', D), B = diag(c1), D = diag(exp(-2 alpha mi)), tau = N(A x' + b, S) and x' ~ N(0, I):
    /// KL(x') = 1/2 [tr(S^-1 D) - d + log det S - log det D + ((A - B) x' + b)^T S^-1 ((A - B) x' + b)], and
    /// E[((A - B) x' + b)^T S^-1 ((A - B) x' + b)] = b^T S^-1 b + tr(S^-1 (A - B)(A - B)^T) since E[x' x'^T] = I; so
    /// the result is GaussianInformation.kl(0, D, b, S) + 1/2 ||L^-1 (A - B)||_F^2 with S = L L^T.
    let klToProposal (problem: Problem) (proposal: GaussianProposal) : float =
        requireProblem problem
        requireProposal (nameof proposal) problem.Dimensions proposal
        use scope = torch.NewDisposeScope()
        let exact = exactProposal problem
        let bias = proposal.Bias.detach().cpu().to_type(torch.ScalarType.Float64)
        let atZero = GaussianInformation.kl (torch.zeros_like bias) exact.Covariance bias proposal.Covariance
        let factor = GaussianInformation.choleskyFactor (nameof proposal) proposal.Covariance
        let weightError = proposal.Weight.detach().cpu().to_type(torch.ScalarType.Float64) - exact.Weight
        let whitened = torch.linalg.solve_triangular(factor, weightError, upper = false)
        atZero + 0.5 * whitened.square().sum().item<float> ()
