// TEMPORARY. The C# facade's Decomp.Bounds (src/Api.CSharp/Bounds.cs) was not on main when this driver was written.
// This file implements the two calls the driver makes, to the facade contract (notes/facade-contract.md), so the
// driver builds and its tests run; the project file drops it as soon as src/Api.CSharp/Bounds.cs exists, and
// Training/Objective.cs then calls the real facade unchanged.
using TorchSharp;
using static TorchSharp.torch;

namespace Decomp;

/// <summary>How per-example bound values are combined (contract: None gives [B]).</summary>
internal enum Reduction { None, Mean, Sum }

/// <summary>The critic: a dot product of embeddings, or of their L2-normalised versions.</summary>
internal enum Similarity { Dot, Cosine }

/// <summary>Stand-in for the facade's bounds, in nats; score layout [B, 1 + negatives] with the positive in column 0.</summary>
internal static class Bounds
{
    /// <summary>InfoNCE (Eq. 2) with in-batch negatives: key i is query i's positive, the other B-1 its negatives.</summary>
    public static Tensor InfoNce(Tensor queries, Tensor keys, double temperature = 1.0,
                                 Similarity similarity = Similarity.Dot, Reduction reduction = Reduction.Mean)
    {
        using var scope = NewDisposeScope();
        var (q, k) = Prepare(queries, keys, similarity);
        var scores = q.matmul(k.t()) / temperature;                          // [B, B], positives on the diagonal
        var values = scores.diagonal() - scores.logsumexp(1) + Math.Log(scores.shape[1]);
        return Reduce(values, reduction).MoveToOuterDisposeScope();
    }

    /// <summary>Conditional InfoNCE (Eq. 6) with per-example negatives [B, M, D] drawn by the caller from p(y|x'').</summary>
    public static Tensor ConditionalInfoNce(Tensor queries, Tensor positiveKeys, Tensor conditionalNegativeKeys,
                                            double temperature = 1.0, Similarity similarity = Similarity.Dot,
                                            Reduction reduction = Reduction.Mean)
    {
        using var scope = NewDisposeScope();
        var (q, positive) = Prepare(queries, positiveKeys, similarity);
        var negative = similarity == Similarity.Cosine ? nn.functional.normalize(conditionalNegativeKeys, dim: -1) : conditionalNegativeKeys;
        var positiveScores = (q * positive).sum(-1, keepdim: true);         // [B, 1]
        var negativeScores = negative.matmul(q.unsqueeze(-1)).squeeze(-1);   // [B, M]
        var scores = cat([positiveScores, negativeScores], 1) / temperature; // [B, 1 + M]
        var values = scores[.., 0] - scores.logsumexp(1) + Math.Log(scores.shape[1]);
        return Reduce(values, reduction).MoveToOuterDisposeScope();
    }

    private static (Tensor, Tensor) Prepare(Tensor queries, Tensor keys, Similarity similarity) =>
        similarity == Similarity.Cosine
            ? (nn.functional.normalize(queries, dim: -1), nn.functional.normalize(keys, dim: -1))
            : (queries, keys);

    private static Tensor Reduce(Tensor values, Reduction reduction) => reduction switch
    {
        Reduction.None => values,
        Reduction.Sum => values.sum(),
        _ => values.mean(),
    };
}
