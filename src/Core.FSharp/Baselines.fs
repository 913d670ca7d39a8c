namespace Decomp.Core

open System
open TorchSharp

/// The unconditional bounds users compare against (Poole et al., 2019, "On Variational Bounds of Mutual
/// Information"), over Decomp's score layout `[batch, 1 + negatives]` with the negatives drawn from p(y) (for
/// in-batch critics, convert with `Scores.ofInBatch`). Per-example values [batch]; average with `Scores.mean`.
///
/// Unlike the InfoNCE family these are not capped by log K, and NWJ, TUBA and JS contain `e^{E}` terms outside a
/// logarithm: they are unbiased but high-variance, and overflow to -infinity for very large scores by construction
/// (in float32 once the negatives' scores pass about 90, in float64 about 710; at scores of 1e4 every example is
/// -infinity in both). Their inputs are checked for NaN and ±infinity like every bound's; their results are not, so
/// scale the critic down (a temperature) when the scores are large.
module Baselines =

    let private positives (scores: torch.Tensor) = scores.select(1L, 0L)

    let private negatives (scores: torch.Tensor) = scores.narrow(1L, 1L, scores.shape[1] - 1L)

    /// `log (1/M) sum_k e^{s_k}` over each row's negatives: the log of the Monte-Carlo estimate of E_{p(y)} e^{E(x, y)}.
    let private logMeanExpNegatives (scores: torch.Tensor) =
        (LogSumExp.rows (negatives scores)).sub(Math.Log(float (scores.shape[1] - 1L)).ToScalar())

    let private nwjUnchecked (scores: torch.Tensor) =
        Scoped.run (fun () -> positives scores - (logMeanExpNegatives scores).sub((1.0).ToScalar()).exp())

    let private jensenShannonObjectiveUnchecked (scores: torch.Tensor) =
        // softplus(v) = log(1 + e^v) = logaddexp(0, v), exact at every magnitude (torch's softplus switches to v above 20).
        let softplus (v: torch.Tensor) = torch.logaddexp(torch.zeros_like v, v)
        Scoped.run (fun () -> -softplus (-(positives scores)) - (softplus (negatives scores)).mean([| 1L |]))

    /// TUBA (Poole et al., Eq. 10): `I_TUBA = E_p[E(x, y)] - E_{p(x)}[ E_{p(y)}[e^{E(x, y)}] / a(x) + log a(x) - 1 ]`,
    /// a lower bound for any positive baseline a(x); `logBaseline` is log a(x_i) per example ([batch]) or a scalar.
    /// The bound is tight for a(x) = E_{p(y)} e^{E(x, y)}. Overflows to -infinity when `E_{p(y)} e^{E} / a(x)` does
    /// (negatives' scores more than about 89 above log a(x) in float32, 709 in float64).
    let tuba (scores: torch.Tensor) (logBaseline: torch.Tensor) : torch.Tensor =
        Guard.scores (nameof scores) scores
        Guard.companion (nameof logBaseline) scores (nameof scores) logBaseline
        if not (logBaseline.Dimensions = 0L || logBaseline.shape = [| scores.shape[0] |]) then
            raise (ArgumentException($"{nameof logBaseline} must be a scalar or have shape [{scores.shape[0]}]; got {Guard.describe logBaseline}.", nameof logBaseline))
        Guard.finite (nameof scores) scores
        Guard.finite (nameof logBaseline) logBaseline
        Scoped.run (fun () ->
            (positives scores - (logMeanExpNegatives scores - logBaseline).exp() - logBaseline).add((1.0).ToScalar()))

    /// NWJ / f-divergence bound (Nguyen, Wainwright & Jordan, 2010; Poole et al., Eq. 11):
    /// `I_NWJ = E_p[E(x, y)] - e^{-1} E_{p(x)p(y)}[e^{E(x, y)}]`. TUBA with a(x) = e; optimal critic `1 + log p(y|x)/p(y)`.
    /// Overflows to -infinity for large negatives' scores (above about 90 in float32, 711 in float64; at 1e4 always).
    let nwj (scores: torch.Tensor) : torch.Tensor =
        Guard.scores (nameof scores) scores
        Guard.finite (nameof scores) scores
        nwjUnchecked scores

    /// Donsker-Varadhan (the MINE objective; Belghazi et al., 2018; Poole et al., Eq. 9):
    /// `I_DV = E_p[E(x, y)] - log E_{p(x)p(y)}[e^{E(x, y)}]`. The second expectation is over the product of marginals,
    /// so it is estimated once over all the negatives of the batch; example i's value is its positive score minus that
    /// shared term, and their mean is the DV estimate. Biased for finite batches; invariant to adding one constant to
    /// every score, not to per-row constants.
    let donskerVaradhan (scores: torch.Tensor) : torch.Tensor =
        Guard.scores (nameof scores) scores
        Guard.finite (nameof scores) scores
        Scoped.run (fun () ->
            let all = negatives scores
            let logMean = all.reshape(-1L).logsumexp(0L, false).sub(Math.Log(float all.NumberOfElements).ToScalar())
            positives scores - logMean)

    /// SMILE (Song & Ermon, 2020): Donsker-Varadhan with the negatives' scores clipped to [-clip, clip] inside the
    /// partition term, which trades a little bias for much less variance than DV/MINE. `clip` > 0 (they use 1 to 20).
    let smile (scores: torch.Tensor) (clip: float) : torch.Tensor =
        Guard.scores (nameof scores) scores
        Guard.positive (nameof clip) clip
        Guard.finite (nameof scores) scores
        Scoped.run (fun () ->
            let clipped = (negatives scores).clamp((-clip).ToScalar(), clip.ToScalar())
            let logMean = clipped.reshape(-1L).logsumexp(0L, false).sub(Math.Log(float clipped.NumberOfElements).ToScalar())
            positives scores - logMean)

    /// The Jensen-Shannon f-GAN objective (Nowozin et al., 2016; Poole et al., Section 2.3):
    /// `E_p[-softplus(-E(x, y))] - E_{p(x)p(y)}[softplus(E(x, y))]`, a lower bound on 2 JS(p(x,y) || p(x)p(y)) - 2 log 2.
    /// Not an MI estimate itself: it trains a critic whose optimum is `log p(y|x)/p(y)`; use `jensenShannon` for MI.
    let jensenShannonObjective (scores: torch.Tensor) : torch.Tensor =
        Guard.scores (nameof scores) scores
        Guard.finite (nameof scores) scores
        jensenShannonObjectiveUnchecked scores

    /// MI from a JS-trained critic (Poole et al., "JS" estimator; Hjelm et al., 2019): the value is NWJ evaluated at
    /// `E + 1` (the JS objective's optimal critic is `log p(y|x)/p(y)`, NWJ's is one more), while the gradient is the
    /// JS objective's, which is far less noisy. Per example [batch]. Its value overflows to -infinity where NWJ's
    /// does at E + 1 (negatives' scores above about 89 in float32, 710 in float64; at 1e4 always), although its gradient stays finite.
    let jensenShannon (scores: torch.Tensor) : torch.Tensor =
        Guard.scores (nameof scores) scores
        Guard.finite (nameof scores) scores
        Scoped.run (fun () ->
            let objective = jensenShannonObjectiveUnchecked scores
            let estimate = nwjUnchecked (scores.add((1.0).ToScalar()))
            objective + (estimate - objective).detach())

    /// The state MINE keeps between steps: an exponential moving average of the partition term
    /// `E_{p(x)p(y)} e^{E(x, y)}`, held in log-space as a plain number (no tensor outlives a step).
    type MineState =
        { LogMovingAverage: float option
          /// Weight of the newest batch in the moving average, in (0, 1] (MINE uses 0.01).
          Rate: float }

    /// A fresh MINE state with the given moving-average rate in (0, 1].
    let mineState (rate: float) : MineState =
        if not (rate > 0.0 && rate <= 1.0) then
            raise (ArgumentOutOfRangeException(nameof rate, rate, $"{nameof rate} must lie in (0, 1]."))
        { LogMovingAverage = None; Rate = rate }

    /// MINE (Belghazi et al., 2018): the Donsker-Varadhan value with MINE's bias-corrected gradient, which divides the
    /// partition term's gradient by the moving average of that term instead of by the current batch's value.
    /// Returns the per-example values and the next state; nothing is mutated. Reads one number back from the device
    /// per call (the moving average).
    let mine (scores: torch.Tensor) (state: MineState) : torch.Tensor * MineState =
        Guard.scores (nameof scores) scores
        if obj.ReferenceEquals(state, null) then
            raise (ArgumentNullException(nameof state))
        if not (state.Rate > 0.0 && state.Rate <= 1.0) then
            raise (ArgumentOutOfRangeException(nameof state, state.Rate, $"{nameof state}.Rate must lie in (0, 1]."))
        match state.LogMovingAverage with
        | Some previous when not (Double.IsFinite previous) ->
            raise (ArgumentOutOfRangeException(nameof state, previous, $"{nameof state}.LogMovingAverage must be finite (a log of a positive average)."))
        | _ -> ()
        Guard.finite (nameof scores) scores
        use scope = torch.NewDisposeScope()
        let all = negatives scores
        let logMean = all.reshape(-1L).logsumexp(0L, false).sub(Math.Log(float all.NumberOfElements).ToScalar())
        let batchValue = logMean.detach()
        let batchLogMean = batchValue.to_type(torch.float64).cpu().item<float>()
        let logAverage =
            match state.LogMovingAverage with
            | None -> batchLogMean
            | Some previous ->
                let a = Math.Log(1.0 - state.Rate) + previous
                let b = Math.Log state.Rate + batchLogMean
                max a b + Math.Log(1.0 + Math.Exp(-(abs (a - b))))
        // Forward value: the batch's log-mean. Gradient: grad(mean) / movingAverage. The bracket is zero, its gradient not.
        let corrected = batchValue + ((logMean.sub(logAverage.ToScalar())).exp() - (batchValue.sub(logAverage.ToScalar())).exp())
        let values = (positives scores - corrected).MoveToOuterDisposeScope()
        values, { state with LogMovingAverage = Some logAverage }
