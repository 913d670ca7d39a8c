using Decomp.Dialogue.Model;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Training;

/// <summary>The paper's f(.): the last layer's state at a sequence's last token.</summary>
public static class Representations
{
    /// <summary>f of each sequence (run alone, from position 0), [N, D]; gradients flow when the caller allows them.</summary>
    public static Tensor Of(Gpt2Model model, IReadOnlyList<int[]> sequences, int padding, Device device)
    {
        using var scope = NewDisposeScope();
        using var batch = Batches.Pad(sequences, padding, device);
        var states = model.Forward(batch.Tokens);
        return Gpt2Model.LastTokenStates(states, batch.Lengths).MoveToOuterDisposeScope();
    }

    /// <summary>f of many sequences in evaluation mode, in chunks, gathered on the CPU as [N, D].</summary>
    public static Tensor Collect(Gpt2Model model, IReadOnlyList<int[]> sequences, int padding, Device device, int batchSize)
    {
        model.eval();
        using var _ = no_grad();
        var parts = new List<Tensor>();
        try
        {
            for (int start = 0; start < sequences.Count; start += batchSize)
            {
                var chunk = sequences.Skip(start).Take(batchSize).ToList();
                using var features = Of(model, chunk, padding, device);
                parts.Add(features.cpu().DetachFromDisposeScope());
            }
            return cat(parts, 0);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }
}
