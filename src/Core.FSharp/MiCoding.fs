namespace Decomp.Core

open System
open TorchSharp

/// An estimate P^(z) of the marginal distribution of a finite code z, kept as an exponential moving average.
type MarginalEstimate =
    {
        /// P^(z) over the vocabulary, [vocabulary], non-negative and summing to 1, without gradient.
        Probabilities: torch.Tensor
        /// Weight of the previous estimate in each update, in [0, 1): P^ <- decay P^ + (1 - decay) (batch histogram).
        Decay: float
    }

/// Direct mutual-information coding (McAllester, TTIC 31230 lecture "Mutual Information Coding"; SwAV-style).
///
/// With z_y a symbol from a finite vocabulary of V symbols, a model Psi predicting z_y from z_x gives
/// `I(z_x; z_y) >= H(z_y) - H^(z_y | z_x)`, `H^(z_y | z_x) = E[-ln P_Psi(z_y | z_x)]`, and the training objective
/// `min E[-ln P_Psi(z_y | z_x) + ln P^(z_y)]` with P^ an estimate (e.g. a moving average) of P(z_y). Because
/// `H(z_y) <= ln V`, the guarantee is at most `ln V`, which can be far above InfoNCE's `ln N` for N candidates.
module MiCoding =

    let private checkDecay (decay: float) =
        if not (decay >= 0.0 && decay < 1.0) then
            raise (ArgumentOutOfRangeException(nameof decay, decay, $"{nameof decay} must lie in [0, 1)."))

    /// Checks the shape of an estimate passed as argument `name`: a floating-point vector [V >= 2] and a decay in
    /// [0, 1). Its values are checked by `checkProbabilities`, after every check that reads no values.
    let private checkEstimate (name: string) (estimate: MarginalEstimate) =
        if obj.ReferenceEquals(estimate, null) then
            raise (ArgumentNullException(name))
        let probabilities = estimate.Probabilities
        if isNull (box probabilities) then
            raise (ArgumentException($"{name}.Probabilities is null.", name))
        if probabilities.IsInvalid then
            raise (ArgumentException($"{name}.Probabilities has been disposed.", name))
        if probabilities.Dimensions <> 1L || probabilities.shape[0] < 2L then
            raise (ArgumentException($"{name}.Probabilities must be a vector [V] with V >= 2; got {Guard.describe probabilities}.", name))
        Guard.floating name probabilities
        if not (estimate.Decay >= 0.0 && estimate.Decay < 1.0) then
            raise (ArgumentOutOfRangeException(name, estimate.Decay, $"{name}.Decay must lie in [0, 1)."))

    /// P^ must be finite, non-negative and sum to 1 (read as `Settings.FiniteCheck` says): any other P^ gives numbers
    /// that estimate nothing (-0.28 or 32.7 nats from a P^ summing to 1.2 or with a negative entry), so it is refused.
    let private checkProbabilities (name: string) (estimate: MarginalEstimate) =
        Guard.distribution name $"{name}.Probabilities" 0L estimate.Probabilities

    /// A uniform marginal estimate over `vocabulary` symbols (the usual starting point).
    let uniformMarginal (vocabulary: int) (decay: float) (dtype: torch.ScalarType) (device: torch.Device) : MarginalEstimate =
        Guard.atLeast (nameof vocabulary) 2L (int64 vocabulary)
        checkDecay decay
        Guard.floatingType (nameof dtype) dtype
        Guard.device (nameof device) device
        { Probabilities = torch.full([| int64 vocabulary |], (1.0 / float vocabulary).ToScalar(), dtype = dtype, device = device)
          Decay = decay }

    /// An estimate from given probabilities P^(z) ([V], V >= 2, floating point, finite, non-negative, summing to 1),
    /// copied and detached, with the moving average's `decay` in [0, 1).
    let marginalOf (probabilities: torch.Tensor) (decay: float) : MarginalEstimate =
        Guard.rank (nameof probabilities) 1 "[V] (one probability per symbol)" probabilities
        Guard.floating (nameof probabilities) probabilities
        if probabilities.shape[0] < 2L then
            raise (ArgumentException($"{nameof probabilities} must hold V >= 2 probabilities; got {Guard.describe probabilities}.", nameof probabilities))
        checkDecay decay
        Guard.distribution (nameof probabilities) (nameof probabilities) 0L probabilities
        { Probabilities = Scoped.run (fun () -> probabilities.detach().clone()); Decay = decay }

    /// The largest number of nats the bound can certify: `ln V` for a vocabulary of V symbols.
    let cap (vocabulary: int) : float =
        Guard.atLeast (nameof vocabulary) 2L (int64 vocabulary)
        Math.Log(float vocabulary)

    /// Codes as probabilities [batch, V]: hard codes (int64 symbols [batch]) become one-hot rows; soft codes
    /// (float [batch, V], e.g. a softmax over the vocabulary) are used as they are.
    let private codeDistribution (name: string) (vocabulary: int64) (codes: torch.Tensor) (like: torch.Tensor) =
        Guard.notNull name codes
        Guard.hasValues name codes
        if codes.dtype = torch.int64 then
            if codes.Dimensions <> 1L then
                raise (ArgumentException($"{name} as symbols must have shape [batch]; got {Guard.describe codes}.", name))
            // Read on every device whatever the setting: one_hot of a symbol outside [0, V) is a native error.
            if codes.NumberOfElements > 0L then
                let low = codes.min().cpu().item<int64>()
                let high = codes.max().cpu().item<int64>()
                if low < 0L || high >= vocabulary then
                    raise (ArgumentOutOfRangeException(name, $"{name} must be symbols in [0, {vocabulary}); found values in [{low}, {high}]."))
            torch.nn.functional.one_hot(codes, vocabulary).to_type(like.dtype).``to``(like.device)
        else
            Guard.rank name 2 $"[batch, {vocabulary}] (soft codes) or int64 [batch] (symbols)" codes
            Guard.companion name like "the model's logits" codes
            if codes.shape[1] <> vocabulary then
                raise (ArgumentException($"{name} must have {vocabulary} columns, one per symbol; got {Guard.describe codes}.", name))
            // Soft codes are distributions over the symbols: each row is an expectation's weights.
            Guard.distribution name name 1L codes
            codes

    /// Updates the moving average with a batch of codes (int64 symbols [batch] or probabilities [batch, V]):
    /// `P^ <- decay P^ + (1 - decay) mean_i onehot(z_i)`. Returns a new estimate; the old one is left as it was.
    /// The result is renormalised, so rounding does not accumulate over many updates.
    let updateMarginal (codes: torch.Tensor) (estimate: MarginalEstimate) : MarginalEstimate =
        checkEstimate (nameof estimate) estimate
        checkProbabilities (nameof estimate) estimate
        let vocabulary = estimate.Probabilities.shape[0]
        let updated =
            Scoped.run (fun () ->
                use _ = torch.no_grad ()
                let distribution = codeDistribution (nameof codes) vocabulary codes estimate.Probabilities
                if distribution.shape[0] < 1L then
                    raise (ArgumentException($"{nameof codes} must hold at least one code; got {Guard.describe codes}.", nameof codes))
                let batch = distribution.detach().mean([| 0L |])
                let mixed = estimate.Probabilities.mul(estimate.Decay.ToScalar()) + batch.mul((1.0 - estimate.Decay).ToScalar())
                mixed / mixed.sum())
        { estimate with Probabilities = updated }

    /// The entropy H(P^) = -sum_z P^(z) ln P^(z) of a marginal estimate, in nats (the estimate of H(z_y)).
    let marginalEntropy (estimate: MarginalEstimate) : torch.Tensor =
        checkEstimate (nameof estimate) estimate
        checkProbabilities (nameof estimate) estimate
        Scoped.run (fun () -> -torch.xlogy(estimate.Probabilities, estimate.Probabilities).sum())

    /// Per-example cross-entropy `-ln P_Psi(z_y | z_x)` ([batch]); its mean is H^(z_y | z_x). `predictionLogits` are
    /// Psi's logits over the V symbols given z_x ([batch, V]); `codes` are the symbols z_y (int64 [batch]) or soft codes
    /// ([batch, V], the expectation is then taken over them).
    let conditionalEntropy (predictionLogits: torch.Tensor) (codes: torch.Tensor) : torch.Tensor =
        Guard.rank (nameof predictionLogits) 2 "[batch, vocabulary]" predictionLogits
        Guard.floating (nameof predictionLogits) predictionLogits
        Guard.finite (nameof predictionLogits) predictionLogits
        Scoped.run (fun () ->
            let q = codeDistribution (nameof codes) predictionLogits.shape[1] codes predictionLogits
            if q.shape[0] <> predictionLogits.shape[0] then
                raise (ArgumentException($"{nameof codes} must have one code per row of {nameof predictionLogits} ({predictionLogits.shape[0]}); got {Guard.describe codes}.", nameof codes))
            -(q * predictionLogits.log_softmax(1L)).sum([| 1L |]))

    /// The direct MI coding objective per example: `ln P_Psi(z_y | z_x) - ln P^(z_y)` ([batch]), whose mean estimates
    /// `H(z_y) - H^(z_y | z_x)`, the lecture's lower bound on I(z_x; z_y) (exactly so when P^ is the batch's own
    /// histogram, and then never above ln V). Maximise it (minimise its negative) to train Phi_x, Phi_y and Psi.
    let directMiCoding (predictionLogits: torch.Tensor) (codes: torch.Tensor) (marginal: MarginalEstimate) : torch.Tensor =
        Guard.rank (nameof predictionLogits) 2 "[batch, vocabulary]" predictionLogits
        Guard.floating (nameof predictionLogits) predictionLogits
        checkEstimate (nameof marginal) marginal
        Guard.companion (nameof marginal) predictionLogits (nameof predictionLogits) marginal.Probabilities
        if marginal.Probabilities.shape[0] <> predictionLogits.shape[1] then
            raise (ArgumentException($"{nameof marginal}.Probabilities must hold one probability per symbol, [{predictionLogits.shape[1]}] like the columns of {nameof predictionLogits}; got {Guard.describe marginal.Probabilities}.", nameof marginal))
        Guard.finite (nameof predictionLogits) predictionLogits
        checkProbabilities (nameof marginal) marginal
        Scoped.run (fun () ->
            let q = codeDistribution (nameof codes) predictionLogits.shape[1] codes predictionLogits
            if q.shape[0] <> predictionLogits.shape[0] then
                raise (ArgumentException($"{nameof codes} must have one code per row of {nameof predictionLogits} ({predictionLogits.shape[0]}); got {Guard.describe codes}.", nameof codes))
            // xlogy-style guard: symbols the estimate gives probability 0 contribute only where the code puts mass.
            let logMarginal = marginal.Probabilities.detach().clamp_min((1e-30).ToScalar()).log()
            (q * (predictionLogits.log_softmax(1L) - logMarginal.unsqueeze 0)).sum([| 1L |]))
