using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Decomp;

/// <summary>How per-example values are reduced (contract of the facade).</summary>
internal enum Reduction { None, Mean, Sum }

/// <summary>Critic similarity: plain dot product, or dot product of L2-normalised embeddings.</summary>
internal enum Similarity { Dot, Cosine }

/// <summary>The loss of Appendix B.1 and the three bound values it is made of (nats, means over the batch).</summary>
internal sealed record DecomposedLoss(Tensor Loss, Tensor FullViewInfoNce, Tensor RestrictedViewInfoNce, Tensor ConditionalInfoNce);

/// <summary>
/// Stand-in for the facade's <c>Decomp.Bounds</c> (see FacadeStandIn/README.md). Scores use the layout
/// <c>[batch, 1 + negatives]</c> with the positive in column 0; every bound is
/// <c>log K + log_softmax(scores)[:, 0]</c> with <c>K = 1 + negatives</c>.
/// </summary>
internal static class Bounds
{
    /// <summary>InfoNCE with in-batch negatives: key i is query i's positive, the other B-1 keys its negatives.</summary>
    public static Tensor InfoNce(Tensor queries, Tensor keys, double temperature = 1.0,
                                 Similarity similarity = Similarity.Dot, Reduction reduction = Reduction.Mean)
    {
        RequireMatrix(queries, nameof(queries));
        RequireSameShape(queries, keys, nameof(keys));
        if (queries.shape[0] < 2) throw new ArgumentException("In-batch InfoNCE needs at least 2 examples.", nameof(queries));
        RequirePositive(temperature, nameof(temperature));
        using var scope = NewDisposeScope();
        return Reduce(BoundFromScores(InBatchScores(queries, keys, temperature, similarity)), reduction).MoveToOuterDisposeScope();
    }

    /// <summary>InfoNCE with explicit negatives: <paramref name="negativeKeys"/> is [N,D] (shared) or [B,M,D].</summary>
    public static Tensor InfoNce(Tensor queries, Tensor positiveKeys, Tensor negativeKeys, double temperature = 1.0,
                                 Similarity similarity = Similarity.Dot, Reduction reduction = Reduction.Mean)
    {
        RequireMatrix(queries, nameof(queries));
        RequireSameShape(queries, positiveKeys, nameof(positiveKeys));
        RequirePositive(temperature, nameof(temperature));
        using var scope = NewDisposeScope();
        return Reduce(BoundFromScores(ExplicitScores(queries, positiveKeys, negativeKeys, temperature, similarity)), reduction)
            .MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The loss of Appendix B.1 (to minimise): <c>-(lam I_NCE(x';y) + (1-lam)(I_NCE(x'';y) + I_IS(x';y|x'')))</c>,
    /// with negatives from <paramref name="memory"/> [N,D] or, when it is null, from the other keys of the batch.
    /// <paramref name="conditional"/> = false drops the I_IS term.
    /// </summary>
    public static DecomposedLoss MemoryBankLoss(Tensor fullViewQueries, Tensor restrictedViewQueries, Tensor keys,
                                                Tensor? memory = null, double lambda = 0.5, double temperature = 0.2,
                                                Similarity similarity = Similarity.Cosine, bool conditional = true)
    {
        RequireMatrix(fullViewQueries, nameof(fullViewQueries));
        RequireSameShape(fullViewQueries, restrictedViewQueries, nameof(restrictedViewQueries));
        RequireSameShape(fullViewQueries, keys, nameof(keys));
        if (lambda is < 0 or > 1 || double.IsNaN(lambda)) throw new ArgumentException($"lambda must lie in [0, 1]; got {lambda}.", nameof(lambda));
        RequirePositive(temperature, nameof(temperature));
        using var scope = NewDisposeScope();
        var fullScores = memory is null
            ? InBatchScores(fullViewQueries, keys, temperature, similarity)
            : ExplicitScores(fullViewQueries, keys, memory, temperature, similarity);
        var restrictedScores = memory is null
            ? InBatchScores(restrictedViewQueries, keys, temperature, similarity)
            : ExplicitScores(restrictedViewQueries, keys, memory, temperature, similarity);
        var k = fullScores.shape[1];
        var full = BoundFromScores(fullScores);
        var restricted = BoundFromScores(restrictedScores);
        // I_IS (Prop. 3): the negatives of x' are re-weighted by the restricted critic's softmax over the same negatives,
        // log Z = logsumexp(s'_0, log(K-1) + log w''_k + s'_k), computed in log space.
        var logWeights = functional.log_softmax(restrictedScores.narrow(1, 1, k - 1), 1);
        var weighted = fullScores.narrow(1, 1, k - 1) + logWeights + Math.Log(k - 1);
        var logPartition = cat(new[] { fullScores.narrow(1, 0, 1), weighted }, 1).logsumexp(1);
        var conditionalBound = fullScores.select(1, 0) - logPartition + Math.Log(k);
        var combined = lambda * full + (1 - lambda) * (conditional ? restricted + conditionalBound : restricted);
        return new DecomposedLoss(
            (-combined.mean()).MoveToOuterDisposeScope(),
            full.mean().MoveToOuterDisposeScope(),
            restricted.mean().MoveToOuterDisposeScope(),
            conditionalBound.mean().MoveToOuterDisposeScope());
    }

    private static Tensor Normalise(Tensor x, Similarity similarity) =>
        similarity == Similarity.Cosine ? functional.normalize(x, 2, 1) : x;

    /// <summary>[B,B] similarities rearranged to [B, B] with the diagonal (positive) first, then the B-1 others in order.</summary>
    private static Tensor InBatchScores(Tensor queries, Tensor keys, double temperature, Similarity similarity)
    {
        var b = queries.shape[0];
        var square = Normalise(queries, similarity).matmul(Normalise(keys, similarity).t()) / temperature;
        using var offDiagonal = eye(b, dtype: ScalarType.Bool, device: square.device).logical_not();
        var negatives = square.masked_select(offDiagonal).view(b, b - 1);
        return cat(new[] { square.diagonal().unsqueeze(1), negatives }, 1);
    }

    private static Tensor ExplicitScores(Tensor queries, Tensor positiveKeys, Tensor negativeKeys, double temperature, Similarity similarity)
    {
        var q = Normalise(queries, similarity);
        var positive = (q * Normalise(positiveKeys, similarity)).sum(1, keepdim: true);
        var d = queries.shape[1];
        var shared = negativeKeys.dim() == 2 && negativeKeys.shape[1] == d;
        var perExample = negativeKeys.dim() == 3 && negativeKeys.shape[0] == queries.shape[0] && negativeKeys.shape[2] == d;
        if (!shared && !perExample)
            throw new ArgumentException(
                $"negativeKeys must be [N,{d}] or [{queries.shape[0]},M,{d}]; got [{string.Join(",", negativeKeys.shape)}].",
                nameof(negativeKeys));
        var n = similarity == Similarity.Cosine ? functional.normalize(negativeKeys, 2, negativeKeys.dim() - 1) : negativeKeys;
        var negative = shared ? q.matmul(n.t()) : n.bmm(q.unsqueeze(2)).squeeze(2);
        return cat(new[] { positive, negative }, 1) / temperature;
    }

    private static Tensor BoundFromScores(Tensor scores) =>
        functional.log_softmax(scores, 1).select(1, 0) + Math.Log(scores.shape[1]);

    private static Tensor Reduce(Tensor values, Reduction reduction) => reduction switch
    {
        Reduction.None => values,
        Reduction.Mean => values.mean(),
        Reduction.Sum => values.sum(),
        _ => throw new ArgumentOutOfRangeException(nameof(reduction), reduction, "Unknown reduction."),
    };

    private static void RequireMatrix(Tensor t, string name)
    {
        if (t.dim() != 2) throw new ArgumentException($"{name} must be [B,D]; got [{string.Join(",", t.shape)}].", name);
    }

    private static void RequireSameShape(Tensor reference, Tensor t, string name)
    {
        if (!t.shape.SequenceEqual(reference.shape))
            throw new ArgumentException($"{name} must be [{string.Join(",", reference.shape)}] like the queries; got [{string.Join(",", t.shape)}].", name);
    }

    private static void RequirePositive(double value, string name)
    {
        if (!(value > 0) || double.IsInfinity(value)) throw new ArgumentException($"{name} must be a positive number; got {value}.", name);
    }
}
