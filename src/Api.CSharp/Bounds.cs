using TorchSharp;
using static TorchSharp.torch;
using Core = Decomp.Core;

namespace Decomp;

/// <summary>
/// The contrastive mutual-information bounds of "Decomposing Mutual Information for Representation Learning", in nats.
/// </summary>
/// <remarks>
/// <para>Two levels, as in info-nce-pytorch and lightly:</para>
/// <list type="bullet">
/// <item><description>over <b>score matrices</b> in Decomp's one layout, <c>[batch, K]</c> with <c>K = 1 + negatives</c>:
/// <c>scores[i, 0] = E(x_i, y_i)</c> scores the positive pair and <c>scores[i, k]</c> (k ≥ 1) the negatives (see
/// <see cref="Scores"/> to convert an in-batch <c>K × K</c> matrix);</description></item>
/// <item><description>over <b>embeddings</b> (queries, positive keys, negative keys or a memory bank), scored by a
/// dot-product or cosine critic divided by a temperature.</description></item>
/// </list>
/// <para>Every bound returns the bound's value (higher is better; a training loss is its negative), reduced as
/// <c>reduction</c> asks (default: the mean over the batch), keeps the inputs' dtype and device, is differentiable, and
/// leaves no intermediate tensors alive. Bad input throws an <see cref="ArgumentException"/> (or
/// <see cref="ArgumentOutOfRangeException"/>) naming the argument and what was expected.</para>
/// </remarks>
public static class Bounds
{
    // ---------------------------------------------------------------- score matrices

    /// <summary>
    /// InfoNCE, Eq. 2: <c>I_NCE(x; y | E, K) = E[log(e^{E(x, y_1)} / ((1/K) Σ_k e^{E(x, y_k)}))] ≤ I(x; y)</c>, with negatives
    /// drawn from the marginal p(y). Never exceeds <c>log K</c> (<see cref="InfoNceCap"/>).
    /// </summary>
    /// <param name="scores">Critic scores <c>[batch, K]</c>, positive in column 0, K ≥ 2.</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor InfoNce(Tensor scores, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Bounds.infoNce(scores), reduction);

    /// <summary>The most nats InfoNCE-type bounds over <paramref name="candidates"/> candidates can report: <c>log K</c>.</summary>
    public static double InfoNceCap(int candidates) => Core.Bounds.infoNceCap(candidates);

    /// <summary>
    /// Conditional InfoNCE, Eq. 6 and Proposition 1:
    /// <c>I_CNCE(x''; y | x', E, K) = E_{p(x', x'', y_1) p(y_{2:K} | x')}[log(e^{E(x', x'', y_1)} / ((1/K) Σ_k e^{E(x', x'', y_k)}))] ≤ I(x''; y | x')</c>.
    /// The caller scores a three-argument critic and draws each example's negatives from p(y | x'). With the optimal critic
    /// <c>log p(y|x',x'')/p(y|x')</c> it tends to I(x''; y | x') as K grows (Proposition 1.3). Capped by log K.
    /// </summary>
    /// <param name="scores">Scores of E(x', x'', ·) <c>[batch, K]</c>, positive in column 0, negatives from p(y | x').</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor ConditionalInfoNce(Tensor scores, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Bounds.conditionalInfoNce(scores), reduction);

    /// <summary>
    /// Variational conditional InfoNCE, Eq. 7 and Proposition 2: I_CNCE with negatives drawn from a proposal τ(y | x'),
    /// minus <c>E_{p(x')} KL(p(y|x') ‖ τ(y|x'))</c>. Below I(x''; y | x') for any τ; equal to I_CNCE when τ = p(y | x').
    /// </summary>
    /// <param name="scores">Scores of E(x', x'', ·) <c>[batch, K]</c>, negatives drawn from τ(y | x').</param>
    /// <param name="klDivergence">KL(p(y|x'_i) ‖ τ(y|x'_i)) per example <c>[batch]</c> (or a Monte-Carlo estimate, see
    /// <see cref="Proposals.KlMonteCarlo"/>), or a scalar for its expectation.</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor VariationalConditionalInfoNce(Tensor scores, Tensor klDivergence, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Bounds.variationalConditionalInfoNce(scores, klDivergence), reduction);

    /// <summary>
    /// Sampling importance resampling (Section 4.2): for each example, draws <paramref name="negatives"/> indices i.i.d. with
    /// replacement from <c>softmax_m Ē(x', y_m)</c> over its M candidates. As M/K → ∞ the picks follow p(y | x').
    /// </summary>
    /// <param name="proposalScores">Ē(x', y_m) for M marginal candidates, <c>[batch, M]</c>.</param>
    /// <param name="negatives">How many to draw (K − 1), at most M.</param>
    /// <param name="generator">A seeded generator for reproducible draws; null uses TorchSharp's default.</param>
    /// <returns>int64 indices <c>[batch, negatives]</c>.</returns>
    public static Tensor SirResample(Tensor proposalScores, int negatives, Generator? generator = null) =>
        Core.Bounds.sirResample(proposalScores, negatives, generator!);

    /// <summary>
    /// The SIR estimator I_SIR (Section 4.2, Eq. 8): conditional InfoNCE whose K − 1 negatives are resampled from M
    /// marginal candidates with weights <c>softmax_m Ē(x', y_m)</c>. Capped by <c>log(negatives + 1)</c>.
    /// </summary>
    /// <param name="positiveScores">E(x', x'', y_1) per example, <c>[batch]</c>.</param>
    /// <param name="candidateScores">E(x', x'', y_m) for the M marginal candidates, <c>[batch, M]</c>.</param>
    /// <param name="proposalScores">Ē(x', y_m) on the same candidates, <c>[batch, M]</c>.</param>
    /// <param name="negatives">K − 1 negatives to resample, at most M.</param>
    /// <param name="generator">A seeded generator for reproducible draws; null uses TorchSharp's default.</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor SirConditionalInfoNce(Tensor positiveScores, Tensor candidateScores, Tensor proposalScores, int negatives,
                                               Generator? generator = null, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Bounds.sirConditionalInfoNce(positiveScores, candidateScores, proposalScores, negatives, generator!), reduction);

    /// <summary>
    /// Importance-sampled conditional InfoNCE, Proposition 3 and the Appendix B.1 pseudocode:
    /// <c>I_IS = E[log(e^{E(x', x'', y_1)} / ((1/K)(e^{E(x', x'', y_1)} + (K − 1) Σ_{k≥2} w_k e^{E(x', x'', y_k)})))]</c>
    /// with <c>w_k = softmax_k Ē(x', y_k)</c> over the negatives, which come from the marginal p(y). Tends to
    /// I(x''; y | x') as K grows. Gradients flow through the weights, as in the paper's pseudocode: pass
    /// <c>proposalScores.detach()</c> to hold them constant. Capped by log K.
    /// </summary>
    /// <param name="scores">E(x', x'', ·) <c>[batch, K]</c>, positive in column 0, marginal negatives.</param>
    /// <param name="proposalScores">Ē(x', ·) on the same candidates <c>[batch, K]</c> (column 0 is not used).</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor ImportanceSampledConditionalInfoNce(Tensor scores, Tensor proposalScores, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Bounds.importanceSampledConditionalInfoNce(scores, proposalScores), reduction);

    /// <summary>
    /// I_IS (Proposition 3) with explicit normalised importance weights <c>w_k</c> over each example's negatives instead
    /// of the critic Ē that produces them.
    /// </summary>
    /// <param name="scores">E(x', x'', ·) <c>[batch, K]</c>, positive in column 0.</param>
    /// <param name="importanceWeights">Non-negative weights <c>[batch, K − 1]</c>, each row summing to 1.</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor ImportanceSampledConditionalInfoNceWithWeights(Tensor scores, Tensor importanceWeights, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Bounds.importanceSampledConditionalInfoNceWithWeights(scores, importanceWeights), reduction);

    /// <summary>
    /// InfoNCE_S, Eq. 5: <c>I_NCE(x'; y) + I_CNCE(x''; y | x') ≤ I(x; y)</c>, each term with its own negatives. Capped by
    /// <c>log K1 + log K2</c>.
    /// </summary>
    /// <param name="unconditionalScores">E(x', ·) against the positive and marginal negatives, <c>[batch, K1]</c>.</param>
    /// <param name="conditionalScores">E(x', x'', ·) against the positive and negatives from p(y | x'), <c>[batch, K2]</c>.</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor Decomposed(Tensor unconditionalScores, Tensor conditionalScores, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Decomposition.decomposedInfoNce(unconditionalScores, conditionalScores), reduction);

    /// <summary>
    /// The decomposition over any number of subviews (Section 3): <c>I(x_1; y) + Σ_{i≥2} I(x_i; y | x_{&lt;i})</c>, the
    /// first term InfoNCE, the others conditional InfoNCE, each with its own negatives. Capped by <c>Σ_i log K_i</c>
    /// (<see cref="DecomposedCap"/>), against log K for a single InfoNCE.
    /// </summary>
    /// <param name="scoresPerSubview">One score matrix <c>[batch, K_i]</c> per subview, in order.</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor Decomposed(IEnumerable<Tensor> scoresPerSubview, Reduction reduction = Reduction.Mean)
    {
        if (scoresPerSubview is null) throw new ArgumentNullException(nameof(scoresPerSubview));
        var terms = scoresPerSubview.ToArray();
        return Guard.Reduce(Core.Decomposition.decomposedInfoNceOverSubviews(terms), reduction);
    }

    /// <summary>
    /// "InfoNCE_S IS" of Section 5.1: <c>I_NCE(x'; y | K) + I_IS(x''; y | x', K)</c> over the same K candidates; the
    /// unconditional scores also give the importance weights. Needs no conditional sampler. Capped by 2 log K.
    /// </summary>
    /// <param name="unconditionalScores">E(x', ·) <c>[batch, K]</c> (also Ē, the weights' critic).</param>
    /// <param name="conditionalScores">E(x', x'', ·) on the same candidates <c>[batch, K]</c>.</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor DecomposedImportanceSampled(Tensor unconditionalScores, Tensor conditionalScores, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Decomposition.decomposedInfoNceImportanceSampled(unconditionalScores, conditionalScores), reduction);

    /// <summary>The most nats a decomposition with <c>K_i</c> candidates per term can report: <c>Σ_i log K_i</c>.</summary>
    public static double DecomposedCap(IEnumerable<int> candidatesPerSubview)
    {
        if (candidatesPerSubview is null) throw new ArgumentNullException(nameof(candidatesPerSubview));
        return Core.Decomposition.cap(candidatesPerSubview);
    }

    // ---------------------------------------------------------------- embeddings

    /// <summary>
    /// InfoNCE (Eq. 2) over embeddings with in-batch negatives (SimCLR, CPC): key i is query i's positive and the other
    /// batch − 1 keys are its negatives. Scores are <c>similarity(query, key) / temperature</c>. Capped by log(batch).
    /// </summary>
    /// <param name="queries">f(x) <c>[batch, D]</c>.</param>
    /// <param name="keys">g(y) <c>[batch, D]</c>, one per query.</param>
    /// <param name="temperature">Scores are divided by it; > 0.</param>
    /// <param name="similarity">Dot product or cosine.</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor InfoNce(Tensor queries, Tensor keys, double temperature = 1.0, Similarity similarity = Similarity.Dot,
                                 Reduction reduction = Reduction.Mean)
    {
        using var scope = torch.NewDisposeScope();
        // The critic checks queries and keys; the scores come from them, so the formula runs unchecked.
        var scores = Core.Critics.inBatchScores(Critic(similarity, temperature), queries, keys);
        return Guard.Reduce(Core.Bounds.Unchecked.infoNce(scores), reduction).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// InfoNCE (Eq. 2) over embeddings with explicit negatives drawn from the marginal p(y).
    /// </summary>
    /// <param name="queries">f(x) <c>[batch, D]</c>.</param>
    /// <param name="positiveKeys">g(y) of each query's positive, <c>[batch, D]</c>.</param>
    /// <param name="negativeKeys">Negatives shared by every query <c>[N, D]</c> (a memory bank) or per query <c>[batch, M, D]</c>.</param>
    /// <param name="temperature">Scores are divided by it; > 0.</param>
    /// <param name="similarity">Dot product or cosine.</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor InfoNce(Tensor queries, Tensor positiveKeys, Tensor negativeKeys, double temperature = 1.0,
                                 Similarity similarity = Similarity.Dot, Reduction reduction = Reduction.Mean)
    {
        using var scope = torch.NewDisposeScope();
        var scores = Core.Critics.scores(Critic(similarity, temperature), queries, positiveKeys, negativeKeys);
        return Guard.Reduce(Core.Bounds.Unchecked.infoNce(scores), reduction).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Conditional InfoNCE (Eq. 6) over embeddings: the queries embed (x', x'') (e.g. the full past of a dialogue) and each
    /// query's negatives are drawn from p(y | x') by the caller (e.g. futures generated from the recent past).
    /// </summary>
    /// <param name="queries">f(x', x'') <c>[batch, D]</c>.</param>
    /// <param name="positiveKeys">g(y) of each query's positive, <c>[batch, D]</c>.</param>
    /// <param name="conditionalNegativeKeys">g(y) of negatives drawn from p(y | x'_i): <c>[batch, M, D]</c> (or shared <c>[N, D]</c>).</param>
    /// <param name="temperature">Scores are divided by it; > 0.</param>
    /// <param name="similarity">Dot product or cosine.</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor ConditionalInfoNce(Tensor queries, Tensor positiveKeys, Tensor conditionalNegativeKeys, double temperature = 1.0,
                                            Similarity similarity = Similarity.Dot, Reduction reduction = Reduction.Mean)
    {
        using var scope = torch.NewDisposeScope();
        var scores = Core.Critics.conditionalScores(Critic(similarity, temperature), queries, positiveKeys, conditionalNegativeKeys);
        return Guard.Reduce(Core.Bounds.Unchecked.infoNce(scores), reduction).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// I_IS (Proposition 3) over embeddings: <paramref name="queries"/> embed (x', x'') and are scored against the candidates
    /// for E, <paramref name="proposalQueries"/> embed x' alone and give the importance weights' critic Ē, all against the
    /// same positive and marginal negatives.
    /// </summary>
    /// <param name="queries">f(x', x'') <c>[batch, D]</c>.</param>
    /// <param name="proposalQueries">f(x') <c>[batch, D]</c>.</param>
    /// <param name="positiveKeys">g(y) <c>[batch, D]</c>.</param>
    /// <param name="negativeKeys">Marginal negatives <c>[N, D]</c> or <c>[batch, M, D]</c>.</param>
    /// <param name="temperature">Scores are divided by it; > 0.</param>
    /// <param name="similarity">Dot product or cosine.</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor ImportanceSampledConditionalInfoNce(Tensor queries, Tensor proposalQueries, Tensor positiveKeys, Tensor negativeKeys,
                                                             double temperature = 1.0, Similarity similarity = Similarity.Dot,
                                                             Reduction reduction = Reduction.Mean)
    {
        using var scope = torch.NewDisposeScope();
        var critic = Critic(similarity, temperature);
        var scores = Core.Critics.scores(critic, queries, positiveKeys, negativeKeys);
        // The keys were checked with the first scores; only the proposal's queries are new, so only they are checked.
        Core.Critics.checkQueriesLike(nameof(proposalQueries), queries, nameof(queries), proposalQueries);
        var proposal = Core.Critics.scoresUnchecked(critic, proposalQueries, positiveKeys, negativeKeys);
        return Guard.Reduce(Core.Bounds.Unchecked.importanceSampled(scores, proposal), reduction).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The loss of Appendix B.1 (MoCo v2 backbone), to <b>minimise</b>:
    /// <c>λ nce(x'; y) + (1 − λ)(nce(x''; y) + nce(x'; y | x''))</c>, where x' is the full view, x'' an
    /// information-restricted view, each nce term is <c>log K</c> minus its bound (I_NCE, I_NCE, I_IS), and the conditional
    /// term reweights the full view's negatives by the restricted view's softmax (Eq. 12). Both queries are scored in one
    /// matrix product and the conditional term reuses those logits, so it adds no matrix product.
    /// </summary>
    /// <param name="fullViewQueries">f(x') <c>[batch, D]</c>.</param>
    /// <param name="restrictedViewQueries">f(x'') <c>[batch, D]</c>.</param>
    /// <param name="keys">f_ema(y) <c>[batch, D]</c>, detached (momentum encoder).</param>
    /// <param name="memory">The queue of negative keys <c>[N, D]</c> (e.g. <see cref="KeyQueue.Keys"/>), or null for in-batch negatives (SimCLR-style).</param>
    /// <param name="lambda">λ in [0, 1]; 1 is plain InfoNCE (the baseline).</param>
    /// <param name="temperature">Logits are similarity / temperature; > 0 (MoCo v2 uses 0.2).</param>
    /// <param name="similarity">Cosine (the default, as MoCo) or dot product.</param>
    /// <param name="conditional">False drops the I_IS term: the paper's "without cond. MI" ablation.</param>
    public static DecomposedLoss MemoryBankLoss(Tensor fullViewQueries, Tensor restrictedViewQueries, Tensor keys, Tensor? memory = null,
                                                double lambda = 0.5, double temperature = 0.2, Similarity similarity = Similarity.Cosine,
                                                bool conditional = true)
    {
        var settings = LossSettings(lambda, temperature, similarity, conditional);
        var negatives = memory is null ? null : Microsoft.FSharp.Core.FSharpOption<Tensor>.Some(memory);
        var result = Core.MemoryBank.decomposedLoss(settings, fullViewQueries, restrictedViewQueries, keys, negatives);
        return new DecomposedLoss(result.Loss, result.FullViewInfoNce, result.RestrictedViewInfoNce, result.ConditionalInfoNce);
    }

    /// <summary>The core's settings of the B.1 loss, after checking λ and the temperature (shared with <see cref="Distributed"/>).</summary>
    internal static Core.DecomposedLossSettings LossSettings(double lambda, double temperature, Similarity similarity, bool conditional)
    {
        if (!(lambda >= 0 && lambda <= 1))
            throw new ArgumentOutOfRangeException(nameof(lambda), lambda, "lambda must lie in [0, 1].");
        Guard.Positive(temperature, nameof(temperature));
        return new Core.DecomposedLossSettings(lambda, temperature, Guard.ToCore(similarity), conditional);
    }

    // ---------------------------------------------------------------- direct MI coding

    /// <summary>
    /// Direct MI coding (McAllester's lecture; SwAV-style): per example <c>ln P_Ψ(z_y | z_x) − ln P̂(z_y)</c>, whose mean
    /// estimates <c>H(z_y) − Ĥ(z_y | z_x) ≤ I(z_x; z_y)</c> for a code z_y from a finite vocabulary of V symbols. Capped by
    /// <c>ln V</c> (<see cref="DirectMiCodingCap"/>) rather than InfoNCE's ln N. Maximise it (its negative is the loss).
    /// </summary>
    /// <param name="predictionLogits">Ψ's logits over the V symbols given z_x, <c>[batch, V]</c>.</param>
    /// <param name="codes">The symbols z_y (int64 <c>[batch]</c>) or soft codes (<c>[batch, V]</c> probabilities).</param>
    /// <param name="marginal">P̂(z_y), a moving average of the codes' distribution.</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor DirectMiCoding(Tensor predictionLogits, Tensor codes, SymbolMarginal marginal, Reduction reduction = Reduction.Mean)
    {
        if (marginal is null) throw new ArgumentNullException(nameof(marginal));
        return Guard.Reduce(Core.MiCoding.directMiCoding(predictionLogits, codes, marginal.Estimate), reduction);
    }

    /// <summary>
    /// The lecture's conditional entropy term <c>-ln P_Ψ(z_y | z_x)</c> per example, whose mean is Ĥ(z_y | z_x): the part
    /// of <see cref="DirectMiCoding"/> that does not depend on the marginal.
    /// </summary>
    /// <param name="predictionLogits">Ψ's logits over the V symbols given z_x, <c>[batch, V]</c>.</param>
    /// <param name="codes">The symbols z_y (int64 <c>[batch]</c>) or soft codes (<c>[batch, V]</c> probabilities).</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor ConditionalEntropy(Tensor predictionLogits, Tensor codes, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.MiCoding.conditionalEntropy(predictionLogits, codes), reduction);

    /// <summary>The most nats direct MI coding can certify with a vocabulary of <paramref name="vocabulary"/> symbols: ln V.</summary>
    public static double DirectMiCodingCap(int vocabulary) => Core.MiCoding.cap(vocabulary);

    // ---------------------------------------------------------------- baselines (Poole et al., 2019)

    /// <summary>NWJ: <c>E_p[E] − e^{−1} E_{p(x)p(y)}[e^{E}]</c> (Nguyen, Wainwright &amp; Jordan; Poole et al. Eq. 11). Negatives from p(y).</summary>
    public static Tensor Nwj(Tensor scores, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Baselines.nwj(scores), reduction);

    /// <summary>TUBA: <c>E_p[E] − E_{p(x)}[E_{p(y)}[e^{E}] / a(x) + log a(x) − 1]</c> (Poole et al. Eq. 10) for a baseline a(x) > 0.</summary>
    /// <param name="scores">Scores <c>[batch, K]</c>, marginal negatives.</param>
    /// <param name="logBaseline">log a(x_i) per example <c>[batch]</c>, or a scalar.</param>
    /// <param name="reduction">How per-example values are combined.</param>
    public static Tensor Tuba(Tensor scores, Tensor logBaseline, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Baselines.tuba(scores, logBaseline), reduction);

    /// <summary>Donsker–Varadhan (MINE's objective): <c>E_p[E] − log E_{p(x)p(y)}[e^{E}]</c>, the partition estimated over every negative of the batch.</summary>
    public static Tensor DonskerVaradhan(Tensor scores, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Baselines.donskerVaradhan(scores), reduction);

    /// <summary>SMILE (Song &amp; Ermon, 2020): Donsker–Varadhan with the negatives' scores clipped to [−clip, clip] in the partition.</summary>
    public static Tensor Smile(Tensor scores, double clip = 5.0, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Baselines.smile(scores, clip), reduction);

    /// <summary>MI from a Jensen–Shannon-trained critic: the value of NWJ at E + 1, the gradient of the JS f-GAN objective (Poole et al.).</summary>
    public static Tensor JensenShannon(Tensor scores, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Baselines.jensenShannon(scores), reduction);

    /// <summary>The Jensen–Shannon f-GAN objective <c>E_p[−softplus(−E)] − E_{p(x)p(y)}[softplus(E)]</c> (trains a critic; not an MI estimate).</summary>
    public static Tensor JensenShannonObjective(Tensor scores, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Baselines.jensenShannonObjective(scores), reduction);

    // ---------------------------------------------------------------- helpers

    private static Microsoft.FSharp.Core.FSharpFunc<Tensor, Microsoft.FSharp.Core.FSharpFunc<Tensor, Tensor>> Critic(Similarity similarity, double temperature)
    {
        Guard.Positive(temperature, nameof(temperature));
        var core = Guard.ToCore(similarity);
        return Guard.ToCore((q, k) => Core.Critics.separable(core, temperature, q, k), "critic");
    }
}
