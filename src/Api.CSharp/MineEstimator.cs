using static TorchSharp.torch;

namespace Decomp;

/// <summary>
/// MINE (Belghazi et al., 2018): the Donsker–Varadhan value with the bias-corrected gradient that divides the partition
/// term's gradient by a moving average of that term. A thin stateful wrapper over the pure F# function: it keeps the
/// moving average between calls.
/// </summary>
public sealed class MineEstimator
{
    private Core.Baselines.MineState _state;

    /// <summary>Creates an estimator whose moving average gives the newest batch weight <paramref name="rate"/> (MINE uses 0.01).</summary>
    public MineEstimator(double rate = 0.01) => _state = Core.Baselines.mineState(rate);

    /// <summary>log of the moving average of <c>E_{p(x)p(y)} e^{E}</c>, or null before the first call.</summary>
    public double? LogMovingAverage => Microsoft.FSharp.Core.FSharpOption<double>.get_IsSome(_state.LogMovingAverage) ? _state.LogMovingAverage.Value : null;

    /// <summary>The MINE estimate for one batch of scores <c>[batch, K]</c> (positive in column 0, marginal negatives); updates the moving average.</summary>
    public Tensor Estimate(Tensor scores, Reduction reduction = Reduction.Mean)
    {
        var (values, next) = Core.Baselines.mine(scores, _state);
        _state = next;
        return Guard.Reduce(values, reduction);
    }
}
