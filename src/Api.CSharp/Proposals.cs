using TorchSharp;
using static TorchSharp.torch;

namespace Decomp;

/// <summary>
/// Proposal distributions τ(y | x') for the variational bound (<see cref="Bounds.VariationalConditionalInfoNce"/>, Eq. 7):
/// a diagonal Gaussian whose mean and log standard deviation come from a network of x', fitted by maximum likelihood on
/// observed (x', y) pairs (Section 4.1).
/// </summary>
public static class Proposals
{
    /// <summary><c>log τ(y | x') = Σ_d log N(y_d; mean_d, exp(logStd_d)²)</c> for <c>y</c> <c>[batch, D]</c> (result <c>[batch]</c>) or <c>[batch, M, D]</c> (result <c>[batch, M]</c>).</summary>
    public static Tensor GaussianLogDensity(Tensor mean, Tensor logStd, Tensor y) => Core.Proposals.gaussianLogDensity(mean, logStd, y);

    /// <summary>Draws <paramref name="count"/> candidates per example from τ, <c>[batch, count, D]</c>, by reparameterisation.</summary>
    public static Tensor SampleGaussian(Tensor mean, Tensor logStd, int count, Generator? generator = null) =>
        Core.Proposals.sampleGaussian(mean, logStd, count, generator!);

    /// <summary>The supervised objective that fits τ: <c>−mean_i log τ(y_i | x'_i)</c>, given the log-densities of observed pairs <c>[batch]</c>.</summary>
    public static Tensor NegativeLogLikelihood(Tensor logDensities) => Core.Proposals.negativeLogLikelihood(logDensities);

    /// <summary>A Monte-Carlo estimate of KL(p(y|x') ‖ τ(y|x')) per example: <c>log p(y_i|x'_i) − log τ(y_i|x'_i)</c>.</summary>
    public static Tensor KlMonteCarlo(Tensor logTrueDensities, Tensor logProposalDensities) =>
        Core.Proposals.klMonteCarlo(logTrueDensities, logProposalDensities);

    /// <summary>A trainable Gaussian proposal: an MLP from x' (<paramref name="inputSize"/> features) to a mean and a log standard deviation (<paramref name="outputSize"/> each). Split its output with <see cref="SplitParameters"/>.</summary>
    public static nn.Module<Tensor, Tensor> GaussianProposal(int inputSize, IReadOnlyList<int> hiddenSizes, int outputSize)
    {
        if (hiddenSizes is null) throw new ArgumentNullException(nameof(hiddenSizes));
        return Core.Proposals.gaussianProposal(inputSize, Microsoft.FSharp.Collections.ListModule.OfSeq(hiddenSizes), outputSize);
    }

    /// <summary>Splits a <see cref="GaussianProposal"/> output <c>[batch, 2D]</c> into (mean, logStd), each <c>[batch, D]</c>.</summary>
    public static (Tensor Mean, Tensor LogStd) SplitParameters(Tensor output)
    {
        var (mean, logStd) = Core.Proposals.parameters(output);
        return (mean, logStd);
    }
}
