using TorchSharp;
using static TorchSharp.torch;

namespace Decomp;

/// <summary>
/// P̂(z), the estimate of a finite code's marginal distribution that <see cref="Bounds.DirectMiCoding"/> needs, kept as an
/// exponential moving average: <c>P̂ ← decay P̂ + (1 − decay) (histogram of the batch's codes)</c>. Immutable:
/// <see cref="Update"/> returns a new estimate.
/// </summary>
public sealed class SymbolMarginal
{
    internal Core.MarginalEstimate Estimate { get; }

    private SymbolMarginal(Core.MarginalEstimate estimate) => Estimate = estimate;

    /// <summary>A uniform estimate over <paramref name="vocabulary"/> symbols.</summary>
    /// <param name="vocabulary">V ≥ 2 symbols.</param>
    /// <param name="decay">Weight of the old estimate in each update, in [0, 1) (e.g. 0.99).</param>
    /// <param name="dtype">Null is float32.</param>
    /// <param name="device">Null is <see cref="Devices.Current"/>.</param>
    public static SymbolMarginal Uniform(int vocabulary, double decay = 0.99, ScalarType? dtype = null, Device? device = null) =>
        new(Core.MiCoding.uniformMarginal(vocabulary, decay, dtype ?? ScalarType.Float32, device ?? Devices.Current));

    /// <summary>An estimate from given probabilities <c>[V]</c>, non-negative and summing to 1.</summary>
    public static SymbolMarginal FromProbabilities(Tensor probabilities, double decay = 0.99)
    {
        Guard.Finite(probabilities, nameof(probabilities));
        if (probabilities.Dimensions != 1 || probabilities.shape[0] < 2 || !probabilities.is_floating_point())
            throw new ArgumentException($"probabilities must be a floating-point vector [V] with V >= 2; got shape [{string.Join(", ", probabilities.shape)}], dtype {probabilities.dtype}.", nameof(probabilities));
        if (!(decay >= 0 && decay < 1))
            throw new ArgumentOutOfRangeException(nameof(decay), decay, "decay must lie in [0, 1).");
        using (torch.no_grad())
        {
            var minimum = probabilities.min().to_type(ScalarType.Float64).cpu().item<double>();
            var total = probabilities.to_type(ScalarType.Float64).sum().cpu().item<double>();
            var tolerance = 16 * (probabilities.dtype == ScalarType.Float64 ? 2.2e-16 : 1.2e-7) * probabilities.shape[0];
            if (minimum < 0 || Math.Abs(total - 1) > tolerance)
                throw new ArgumentException($"probabilities must be non-negative and sum to 1; the smallest is {minimum:G4} and they sum to {total:G10}.", nameof(probabilities));
        }
        return new(new Core.MarginalEstimate(probabilities.detach().clone(), decay));
    }

    /// <summary>The probabilities <c>[V]</c>.</summary>
    public Tensor Probabilities => Estimate.Probabilities;

    /// <summary>The moving average's decay.</summary>
    public double Decay => Estimate.Decay;

    /// <summary>The vocabulary size V.</summary>
    public int Vocabulary => (int)Estimate.Probabilities.shape[0];

    /// <summary>H(P̂) in nats, the estimate of H(z_y).</summary>
    public Tensor Entropy() => Core.MiCoding.marginalEntropy(Estimate);

    /// <summary>The estimate after one batch of codes (int64 symbols <c>[batch]</c> or probabilities <c>[batch, V]</c>).</summary>
    public SymbolMarginal Update(Tensor codes)
    {
        Guard.Finite(codes, nameof(codes));
        return new(Core.MiCoding.updateMarginal(codes, Estimate));
    }
}
