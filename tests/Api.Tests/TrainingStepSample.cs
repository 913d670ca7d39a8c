using TorchSharp;
using static TorchSharp.torch;

namespace Decomp.Tests;

/// <summary>The README's C# sample, compiled and run by <see cref="SampleTests"/>: one step of the Appendix B.1 loss.</summary>
public static class TrainingStepSample
{
    public static float Step(nn.Module<Tensor, Tensor> encoder, optim.Optimizer optimizer, KeyQueue bank,
                             Tensor view, Tensor restrictedView, Tensor otherView)
    {
        using var scope = torch.NewDisposeScope();          // frees every tensor of this step
        var fullQueries = encoder.forward(view);              // f(x')
        var restrictedQueries = encoder.forward(restrictedView); // f(x''), an information-restricted view
        Tensor keys;
        using (torch.no_grad()) keys = encoder.forward(otherView); // f_ema(y); a momentum encoder in MoCo
        using var loss = Bounds.MemoryBankLoss(fullQueries, restrictedQueries, keys, bank.Keys, lambda: 0.5, temperature: 0.2);
        optimizer.zero_grad();
        loss.Loss.backward();
        optimizer.step();
        bank.Enqueue(keys);                                   // after backward: the bank changes in place
        return loss.Loss.item<float>();
    }
}
