using static TorchSharp.torch;

namespace Decomp;

/// <summary>
/// The result of <see cref="Bounds.MemoryBankLoss"/>: the loss to minimise and, for logging, the mean value of each bound
/// it combines (in nats, detached). Dispose it (or let a dispose scope do it) when the step is done.
/// </summary>
/// <param name="Loss">The differentiable scalar loss of Appendix B.1.</param>
/// <param name="FullViewInfoNce">Mean I_NCE(x'; y).</param>
/// <param name="RestrictedViewInfoNce">Mean I_NCE(x''; y).</param>
/// <param name="ConditionalInfoNce">Mean I_IS(x'; y | x''), computed even when the loss leaves it out.</param>
public sealed record DecomposedLoss(Tensor Loss, Tensor FullViewInfoNce, Tensor RestrictedViewInfoNce, Tensor ConditionalInfoNce) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        Loss.Dispose();
        FullViewInfoNce.Dispose();
        RestrictedViewInfoNce.Dispose();
        ConditionalInfoNce.Dispose();
    }
}
