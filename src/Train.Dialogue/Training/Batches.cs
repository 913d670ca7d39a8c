using Decomp.Dialogue.Text;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Training;

/// <summary>Token ids [B, T] right-padded, with each row's length [B].</summary>
public sealed record PaddedBatch(Tensor Tokens, Tensor Lengths) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        Tokens.Dispose();
        Lengths.Dispose();
    }
}

/// <summary>
/// The language-model input past ++ future [B, T] (right-padded), its targets [B, T] (the next token where it is
/// scored, <see cref="Batches.IgnoreIndex"/> elsewhere), and each row's past length [B] (so f(x&lt;=k) is the state at
/// position past length - 1).
/// </summary>
public sealed record LanguageModelBatch(Tensor Tokens, Tensor Targets, Tensor PastLengths) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        Tokens.Dispose();
        Targets.Dispose();
        PastLengths.Dispose();
    }
}

/// <summary>Builds tensors from encoded examples.</summary>
public static class Batches
{
    /// <summary>The target value cross-entropy skips.</summary>
    public const long IgnoreIndex = -100;

    /// <summary>Right-pads <paramref name="sequences"/> with <paramref name="padding"/>.</summary>
    /// <exception cref="ArgumentException">A sequence is empty.</exception>
    public static PaddedBatch Pad(IReadOnlyList<int[]> sequences, int padding, Device device)
    {
        if (sequences.Any(s => s.Length == 0)) throw new ArgumentException("sequences must not be empty", nameof(sequences));
        int width = sequences.Max(s => s.Length);
        var tokens = new long[sequences.Count, width];
        var lengths = new long[sequences.Count];
        for (int b = 0; b < sequences.Count; b++)
        {
            for (int t = 0; t < width; t++) tokens[b, t] = t < sequences[b].Length ? sequences[b][t] : padding;
            lengths[b] = sequences[b].Length;
        }
        return new PaddedBatch(tensor(tokens, device: device), tensor(lengths, device: device));
    }

    /// <summary>
    /// The input past ++ future with targets on the future's tokens: all of them when <paramref name="nextUtteranceOnly"/>
    /// is false (training), only x_{k+1}'s when true (perplexity).
    /// </summary>
    public static LanguageModelBatch LanguageModel(IReadOnlyList<EncodedExample> examples, int padding, Device device,
                                                   bool nextUtteranceOnly = false)
    {
        int width = examples.Max(e => e.Past.Length + e.Future.Length);
        var tokens = new long[examples.Count, width];
        var targets = new long[examples.Count, width];
        var pastLengths = new long[examples.Count];
        for (int b = 0; b < examples.Count; b++)
        {
            var e = examples[b];
            int past = e.Past.Length, scored = nextUtteranceOnly ? e.NextUtteranceLength : e.Future.Length;
            for (int t = 0; t < width; t++)
            {
                tokens[b, t] = t < past ? e.Past[t] : t < past + e.Future.Length ? e.Future[t - past] : padding;
                // Position t predicts token t + 1; score it when t + 1 is one of the scored future tokens.
                int next = t + 1 - past;
                targets[b, t] = next >= 0 && next < scored ? e.Future[next] : IgnoreIndex;
            }
            pastLengths[b] = past;
        }
        return new LanguageModelBatch(tensor(tokens, device: device), tensor(targets, device: device), tensor(pastLengths, device: device));
    }
}
