using TorchSharp;
using static TorchSharp.torch;
using CoreGaussian = Decomp.Core.Gaussian;
using CoreCritics = Decomp.Core.GaussianCritics;

namespace Decomp;

/// <summary>
/// The paper's synthetic ground truth (Section 5.1, Appendix B.2): x', x'', y jointly Gaussian with d dimensions each and a
/// chosen total I({x', x''}; y), with every quantity in closed form: the MIs, exact samplers of the joint, of p(y | x')
/// and p(y | x', x''), and the optimal critics. Randomness always comes from an explicit generator.
/// </summary>
public sealed class SyntheticGaussian
{
    private readonly CoreGaussian.Problem _problem;

    private SyntheticGaussian(CoreGaussian.Problem problem) => _problem = problem;

    /// <summary>Draws a problem: the total MI split across dimensions at random (Dirichlet(1) proportions), α = I(x'; y)/I({x', x''}; y) ~ U(0, 1) per dimension.</summary>
    /// <param name="dimensions">d ≥ 1 (the paper uses 20).</param>
    /// <param name="totalMutualInformation">I({x', x''}; y) in nats, > 0.</param>
    /// <param name="seed">Seed of the draw.</param>
    public static SyntheticGaussian Create(int dimensions, double totalMutualInformation, long seed = 0)
    {
        using var generator = new Generator((ulong)seed);
        return new(CoreGaussian.create(generator, dimensions, totalMutualInformation));
    }

    /// <summary>d, the dimensions of each view.</summary>
    public int Dimensions => _problem.Dimensions;

    /// <summary>I({x', x''}; y) in nats.</summary>
    public double MutualInformation => CoreGaussian.mutualInformation(_problem);

    /// <summary>I(x'; y) in nats.</summary>
    public double MutualInformationFirstView => CoreGaussian.mutualInformationFirstView(_problem);

    /// <summary>I(x''; y | x') in nats.</summary>
    public double ConditionalMutualInformation => CoreGaussian.conditionalMutualInformation(_problem);

    /// <summary>The float64 covariance <c>[3d, 3d]</c> of (x', x'', y).</summary>
    public Tensor Covariance => _problem.Covariance;

    /// <summary>Draws <paramref name="count"/> joint samples: x', x'', y, each <c>[count, d]</c>.</summary>
    public (Tensor FirstView, Tensor SecondView, Tensor Y) SampleJoint(int count, Generator generator, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var (firstView, secondView, y) = CoreGaussian.sampleJoint(_problem, count, generator, dtype, device ?? Devices.Current);
        return (firstView, secondView, y);
    }

    /// <summary>Draws <paramref name="k"/> samples of y from p(y | x') per row of <paramref name="firstView"/>: <c>[count, k, d]</c>.</summary>
    public Tensor SampleYGivenFirstView(Tensor firstView, int k, Generator generator) =>
        CoreGaussian.sampleYGivenFirstView(_problem, firstView, k, generator);

    /// <summary>InfoNCE's optimal critic <c>log p(y | x', x'') − log p(y)</c> for candidates <c>[batch, M, d]</c>: scores <c>[batch, M]</c>.</summary>
    public Tensor OptimalCritic(Tensor firstView, Tensor secondView, Tensor candidates) =>
        CoreCritics.optimalCritic(_problem, firstView, secondView, candidates);

    /// <summary>Ē(x', y) = <c>log p(y | x') − log p(y)</c>, the importance weights' optimal critic: scores <c>[batch, M]</c>.</summary>
    public Tensor OptimalFirstViewCritic(Tensor firstView, Tensor candidates) =>
        CoreCritics.optimalFirstViewCritic(_problem, firstView, candidates);

    /// <summary>I_CNCE's optimal critic <c>log p(y | x', x'') − log p(y | x')</c> (Proposition 1.2): scores <c>[batch, M]</c>.</summary>
    public Tensor OptimalConditionalCritic(Tensor firstView, Tensor secondView, Tensor candidates) =>
        CoreCritics.optimalConditionalCritic(_problem, firstView, secondView, candidates);
}
