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

    /// <summary>An estimate from given probabilities <c>[V]</c>, finite, non-negative and summing to 1 (checked as <see cref="DecompSettings.FiniteCheck"/> says), copied.</summary>
    public static SymbolMarginal FromProbabilities(Tensor probabilities, double decay = 0.99) =>
        new(Core.MiCoding.marginalOf(probabilities, decay));

    /// <summary>The probabilities <c>[V]</c>.</summary>
    public Tensor Probabilities => Estimate.Probabilities;

    /// <summary>The moving average's decay.</summary>
    public double Decay => Estimate.Decay;

    /// <summary>The vocabulary size V.</summary>
    public int Vocabulary => (int)Estimate.Probabilities.shape[0];

    /// <summary>H(P̂) in nats, the estimate of H(z_y).</summary>
    public Tensor Entropy() => Core.MiCoding.marginalEntropy(Estimate);

    /// <summary>The estimate after one batch of codes (int64 symbols <c>[batch]</c> or probabilities <c>[batch, V]</c>).</summary>
    public SymbolMarginal Update(Tensor codes) => new(Core.MiCoding.updateMarginal(codes, Estimate));
}
