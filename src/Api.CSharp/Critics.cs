using TorchSharp;
using static TorchSharp.torch;

namespace Decomp;

/// <summary>
/// Critics E(x, y) from embeddings, kept apart from the bounds. Each takes queries <c>[batch, Dq]</c> and candidates either
/// shared <c>[N, Dk]</c> (scores <c>[batch, N]</c>, all pairs) or per query <c>[batch, M, Dk]</c> (scores <c>[batch, M]</c>).
/// <see cref="ScoresOf"/> and <see cref="InBatchScores"/> assemble the <c>[batch, 1 + negatives]</c> layout the bounds read.
/// </summary>
public static class Critics
{
    /// <summary>Separable dot product <c>E(x, y) = f(x) · g(y)</c>.</summary>
    public static Tensor Dot(Tensor queries, Tensor keys) => Core.Critics.dot(queries, keys);

    /// <summary>Cosine similarity divided by a temperature, <c>cos(f(x), g(y)) / temperature</c> (SimCLR uses 0.5).</summary>
    public static Tensor Cosine(Tensor queries, Tensor keys, double temperature = 0.5) => Core.Critics.cosine(temperature, queries, keys);

    /// <summary>A separable critic chosen by <paramref name="similarity"/>, divided by <paramref name="temperature"/>.</summary>
    public static Tensor Separable(Tensor queries, Tensor keys, Similarity similarity = Similarity.Dot, double temperature = 1.0) =>
        Core.Critics.separable(Guard.ToCore(similarity), temperature, queries, keys);

    /// <summary>Bilinear critic <c>E(x, y) = f(x)ᵀ W g(y)</c> with <paramref name="weight"/> W <c>[Dq, Dk]</c>.</summary>
    public static Tensor Bilinear(Tensor weight, Tensor queries, Tensor keys) => Core.Critics.bilinear(weight, queries, keys);

    /// <summary>Concatenation critic <c>E(x, y) = network([f(x), g(y)])</c> over every (query, candidate) pair; <paramref name="network"/> maps <c>[..., Dq + Dk]</c> to <c>[..., 1]</c>.</summary>
    public static Tensor Concatenation(Func<Tensor, Tensor> network, Tensor queries, Tensor keys)
    {
        if (network is null) throw new ArgumentNullException(nameof(network));
        return Core.Critics.concatenation(Microsoft.FSharp.Core.FuncConvert.FromFunc(network), queries, keys);
    }

    /// <summary>The three-argument critic E(x', x'', y) of the conditional bounds: <paramref name="critic"/> applied to the joint query <c>[f(x'), f(x'')]</c>.</summary>
    public static Tensor Conditional(Func<Tensor, Tensor, Tensor> critic, Tensor firstView, Tensor secondView, Tensor keys) =>
        Core.Critics.conditional(Guard.ToCore(critic, nameof(critic)), firstView, secondView, keys);

    /// <summary>Scores in Decomp's layout: each query's positive key in column 0, then its negatives (shared <c>[N, D]</c> or per query <c>[batch, M, D]</c>).</summary>
    public static Tensor ScoresOf(Func<Tensor, Tensor, Tensor> critic, Tensor queries, Tensor positiveKeys, Tensor negativeKeys) =>
        Core.Critics.scores(Guard.ToCore(critic, nameof(critic)), queries, positiveKeys, negativeKeys);

    /// <summary>In-batch scores <c>[batch, batch]</c>: key i is query i's positive, the other keys its negatives.</summary>
    public static Tensor InBatchScores(Func<Tensor, Tensor, Tensor> critic, Tensor queries, Tensor keys) =>
        Core.Critics.inBatchScores(Guard.ToCore(critic, nameof(critic)), queries, keys);

    /// <summary>A multi-layer perceptron with ReLU between layers: the paper's critic encoder is <c>Mlp(d, new[] { 100 }, 100)</c> (Appendix B.2).</summary>
    public static nn.Module<Tensor, Tensor> Mlp(int inputSize, IReadOnlyList<int> hiddenSizes, int outputSize)
    {
        if (hiddenSizes is null) throw new ArgumentNullException(nameof(hiddenSizes));
        return Core.Critics.mlp(inputSize, Microsoft.FSharp.Collections.ListModule.OfSeq(hiddenSizes), outputSize);
    }
}
