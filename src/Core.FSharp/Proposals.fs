namespace Decomp.Core

open System
open TorchSharp

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
