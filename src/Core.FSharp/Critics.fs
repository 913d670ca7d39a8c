namespace Decomp.Core

open System
open TorchSharp

/// How a separable critic compares a query embedding with a key embedding.
type Similarity =
    /// E(x, y) = f(x) . g(y) / temperature.
    | Dot
    /// E(x, y) = cos(f(x), g(y)) / temperature, the dot product of L2-normalised embeddings (SimCLR, MoCo).
    | Cosine

/// Critics E(x, y): functions from embeddings to scores, kept apart from the bounds (a bound never knows which network
/// produced its scores).
///
/// Every critic here takes queries `[batch, Dq]` and candidates in one of two forms and returns scores:
/// - shared candidates `[N, Dk]` (other examples' keys, a memory bank): scores `[batch, N]`, all pairs;
/// - per-example candidates `[batch, M, Dk]` (e.g. negatives drawn from p(y | x'_i)): scores `[batch, M]`.
/// `scores` and `inBatchScores` then assemble Decomp's `[batch, 1 + negatives]` layout.
///
/// Every critic refuses NaN and ±infinity in its embeddings (as `Settings.FiniteCheck` says). Finite embeddings can
/// still give infinite scores when a dot product overflows (|f(x) . g(y)| above about 3e38 in float32); the bound
/// that reads the scores then refuses them.
module Critics =

    /// Queries [batch, features], floating point and finite, checked under the caller's `name`.
    let internal checkQueriesNamed (name: string) (queries: torch.Tensor) =
        Guard.rank name 2 "[batch, features]" queries
        Guard.floating name queries
        Guard.finite name queries

    let private checkQueries (queries: torch.Tensor) = checkQueriesNamed (nameof queries) queries

    /// Queries scored against the same keys as `reference` (already checked): same shape, device and dtype, and finite.
    let internal checkQueriesLike (name: string) (reference: torch.Tensor) (referenceName: string) (queries: torch.Tensor) =
        Guard.rank name 2 "[batch, features]" queries
        Guard.companion name reference referenceName queries
        Guard.shape name reference.shape $"scored against the same keys as {referenceName}" queries
        Guard.finite name queries

    let private checkKeys (queries: torch.Tensor) (keys: torch.Tensor) (sameWidth: bool) =
        Guard.companion (nameof keys) queries (nameof queries) keys
        match int keys.Dimensions with
        | 2 -> ()
        | 3 when keys.shape[0] = queries.shape[0] -> ()
        | _ ->
            raise (ArgumentException($"{nameof keys} must have shape [N, features] (shared by all queries) or [{queries.shape[0]}, M, features] (per query); got {Guard.describe keys}.", nameof keys))
        if sameWidth && keys.shape[keys.shape.Length - 1] <> queries.shape[1] then
            raise (ArgumentException($"{nameof keys} must have {queries.shape[1]} features like {nameof queries}; got {Guard.describe keys}.", nameof keys))
        Guard.finite (nameof keys) keys

    /// `q . k` for shared keys ([batch, N]) or per-example keys ([batch, M]); no checks.
    let private rawDot (queries: torch.Tensor) (keys: torch.Tensor) =
        if keys.Dimensions = 2L then queries.matmul(keys.mT)
        else keys.matmul(queries.unsqueeze -1).squeeze -1

    /// Separable dot-product critic `E(x, y) = f(x) . g(y)` on embeddings f(x) = queries, g(y) = keys.
    let dot (queries: torch.Tensor) (keys: torch.Tensor) : torch.Tensor =
        checkQueries queries
        checkKeys queries keys true
        Scoped.run (fun () -> rawDot queries keys)

    /// Cosine critic with temperature `E(x, y) = cos(f(x), g(y)) / temperature` (SimCLR uses 0.5 on CIFAR-10).
    let cosine (temperature: float) (queries: torch.Tensor) (keys: torch.Tensor) : torch.Tensor =
        Guard.positive (nameof temperature) temperature
        checkQueries queries
        checkKeys queries keys true
        Scoped.run (fun () ->
            let normalise (t: torch.Tensor) = torch.nn.functional.normalize(t, 2.0, -1L, 1e-12)
            (rawDot (normalise queries) (normalise keys)).div(temperature.ToScalar()))

    /// A separable critic by `similarity`, divided by `temperature` (`Dot` with temperature 1 is the plain dot product).
    let separable (similarity: Similarity) (temperature: float) (queries: torch.Tensor) (keys: torch.Tensor) : torch.Tensor =
        match similarity with
        | Cosine -> cosine temperature queries keys
        | Dot ->
            Guard.positive (nameof temperature) temperature
            checkQueries queries
            checkKeys queries keys true
            Scoped.run (fun () -> (rawDot queries keys).div(temperature.ToScalar()))

    /// Bilinear critic `E(x, y) = f(x)^T W g(y)` with `weight` W of shape [Dq, Dk].
    let bilinear (weight: torch.Tensor) (queries: torch.Tensor) (keys: torch.Tensor) : torch.Tensor =
        checkQueries queries
        Guard.rank (nameof weight) 2 "[query features, key features]" weight
        Guard.companion (nameof weight) queries (nameof queries) weight
        if weight.shape[0] <> queries.shape[1] then
            raise (ArgumentException($"{nameof weight} must have {queries.shape[1]} rows (the query width); got {Guard.describe weight}.", nameof weight))
        checkKeys queries keys false
        if keys.shape[keys.shape.Length - 1] <> weight.shape[1] then
            raise (ArgumentException($"{nameof keys} must have {weight.shape[1]} features (the columns of {nameof weight}); got {Guard.describe keys}.", nameof keys))
        Guard.finite (nameof weight) weight
        Scoped.run (fun () -> rawDot (queries.matmul weight) keys)

    /// Concatenation critic `E(x, y) = network([f(x), g(y)])` over every (query, candidate) pair (Poole et al.'s
    /// "concat" critic). `network` maps `[..., Dq + Dk]` to `[..., 1]` (e.g. an MLP built by `mlp`); it runs on
    /// batch x N (or batch x M) pairs, so it costs that many forward passes.
    let concatenation (network: torch.Tensor -> torch.Tensor) (queries: torch.Tensor) (keys: torch.Tensor) : torch.Tensor =
        checkQueries queries
        checkKeys queries keys false
        Scoped.run (fun () ->
            let batch = queries.shape[0]
            let candidates, pairedKeys =
                if keys.Dimensions = 2L then keys.shape[0], keys.unsqueeze(0).expand(batch, keys.shape[0], keys.shape[1])
                else keys.shape[1], keys
            let pairedQueries = queries.unsqueeze(1).expand(batch, candidates, queries.shape[1])
            let scores = network (torch.cat([| pairedQueries; pairedKeys |], -1L))
            if scores.shape <> [| batch; candidates; 1L |] then
                raise (ArgumentException($"{nameof network} must map [..., features] to [..., 1]; it returned shape {Guard.shapeText scores} for input [{batch}, {candidates}, {queries.shape[1] + pairedKeys.shape[2]}].", nameof network))
            scores.squeeze -1)

    /// The three-argument critic E(x', x'', y) the conditional bounds need, built from a two-argument critic over the
    /// joint query [f(x'), f(x'')] (their concatenation), as in the paper's synthetic experiment where
    /// E(x', x'', y) = f([x', x''])^T f(y).
    let conditional (critic: torch.Tensor -> torch.Tensor -> torch.Tensor) (firstView: torch.Tensor) (secondView: torch.Tensor) (keys: torch.Tensor) : torch.Tensor =
        Guard.rank (nameof firstView) 2 "[batch, features]" firstView
        Guard.floating (nameof firstView) firstView
        Guard.rank (nameof secondView) 2 "[batch, features]" secondView
        Guard.companion (nameof secondView) firstView (nameof firstView) secondView
        if secondView.shape[0] <> firstView.shape[0] then
            raise (ArgumentException($"{nameof secondView} must have {firstView.shape[0]} rows like {nameof firstView}; got {Guard.describe secondView}.", nameof secondView))
        Guard.companion (nameof keys) firstView (nameof firstView) keys
        Guard.finite (nameof firstView) firstView
        Guard.finite (nameof secondView) secondView
        Guard.finite (nameof keys) keys
        // The critic reads values scanned just above; a Decomp critic would scan them again.
        Scoped.run (fun () -> Guard.scanned (fun () -> critic (torch.cat([| firstView; secondView |], -1L)) keys))

    /// `scores` without its checks: the critic is called on inputs its caller has already checked and scanned.
    let internal scoresUnchecked (critic: torch.Tensor -> torch.Tensor -> torch.Tensor) (queries: torch.Tensor) (positiveKeys: torch.Tensor) (negativeKeys: torch.Tensor) : torch.Tensor =
        Scoped.run (fun () ->
            Guard.scanned (fun () ->
                if negativeKeys.Dimensions = 3L then
                    critic queries (torch.cat([| positiveKeys.unsqueeze 1; negativeKeys |], 1L))
                else
                    torch.cat([| critic queries (positiveKeys.unsqueeze 1); critic queries negativeKeys |], 1L)))

    // The checks of `scores`, with the negatives named as the public function names them.
    let private checkedScores (negativesName: string) (critic: torch.Tensor -> torch.Tensor -> torch.Tensor) (queries: torch.Tensor)
                              (positiveKeys: torch.Tensor) (negativeKeys: torch.Tensor) : torch.Tensor =
        if isNull (box critic) then
            raise (ArgumentNullException(nameof critic))
        checkQueries queries
        Guard.rank (nameof positiveKeys) 2 "[batch, features]" positiveKeys
        Guard.companion (nameof positiveKeys) queries (nameof queries) positiveKeys
        if positiveKeys.shape[0] <> queries.shape[0] then
            raise (ArgumentException($"{nameof positiveKeys} must have one key per query ({queries.shape[0]} rows); got {Guard.describe positiveKeys}.", nameof positiveKeys))
        Guard.companion negativesName queries (nameof queries) negativeKeys
        match int negativeKeys.Dimensions with
        | 3 when negativeKeys.shape[0] = queries.shape[0] && negativeKeys.shape[2] = positiveKeys.shape[1] -> ()
        | 2 when negativeKeys.shape[1] = positiveKeys.shape[1] -> ()
        | _ ->
            raise (ArgumentException($"{negativesName} must have shape [N, {positiveKeys.shape[1]}] (shared) or [{queries.shape[0]}, M, {positiveKeys.shape[1]}] (per query); got {Guard.describe negativeKeys}.", negativesName))
        Guard.finite (nameof positiveKeys) positiveKeys
        Guard.finite negativesName negativeKeys
        scoresUnchecked critic queries positiveKeys negativeKeys

    /// Scores in Decomp's layout from embeddings: each query's positive key (`positiveKeys`, [batch, Dk]) in column 0,
    /// then its negatives: `negativeKeys` shared `[N, Dk]` (a memory bank) or per example `[batch, M, Dk]`.
    let scores (critic: torch.Tensor -> torch.Tensor -> torch.Tensor) (queries: torch.Tensor) (positiveKeys: torch.Tensor) (negativeKeys: torch.Tensor) : torch.Tensor =
        checkedScores (nameof negativeKeys) critic queries positiveKeys negativeKeys

    /// `scores` for I_CNCE (Proposition 1): the negatives are drawn from p(y | x'_i), not from p(y):
    /// `conditionalNegativeKeys` shared `[N, Dk]` or per example `[batch, M, Dk]`. The layout is the same, so I_CNCE is
    /// I_NCE's formula over these scores.
    let conditionalScores (critic: torch.Tensor -> torch.Tensor -> torch.Tensor) (queries: torch.Tensor) (positiveKeys: torch.Tensor)
                          (conditionalNegativeKeys: torch.Tensor) : torch.Tensor =
        checkedScores (nameof conditionalNegativeKeys) critic queries positiveKeys conditionalNegativeKeys

    /// In-batch scores in Decomp's layout: key i is query i's positive and the other batch-1 keys its negatives
    /// (SimCLR, CPC). `queries` and `keys` are [batch, D]; the result is [batch, batch].
    let inBatchScores (critic: torch.Tensor -> torch.Tensor -> torch.Tensor) (queries: torch.Tensor) (keys: torch.Tensor) : torch.Tensor =
        checkQueries queries
        Guard.rank (nameof keys) 2 "[batch, features]" keys
        Guard.companion (nameof keys) queries (nameof queries) keys
        if keys.shape[0] <> queries.shape[0] || queries.shape[0] < 2L then
            raise (ArgumentException($"{nameof keys} must have one key per query and the batch at least 2 ({queries.shape[0]} queries); got {Guard.describe keys}.", nameof keys))
        Guard.finite (nameof keys) keys
        Scoped.run (fun () ->
            let matrix = Guard.scanned (fun () -> critic queries keys)
            if matrix.shape <> [| queries.shape[0]; queries.shape[0] |] then
                raise (ArgumentException($"{nameof critic} must score every query against every key, [{queries.shape[0]}, {queries.shape[0]}]; it returned {Guard.describe matrix}.", nameof critic))
            Scores.ofInBatchUnchecked matrix)

    /// A multi-layer perceptron `inputSize -> hidden.. -> outputSize` with ReLU between layers, the paper's critic
    /// encoder (Appendix B.2 uses one hidden layer of 100 and an output of 100: `mlp d [100] 100`).
    let mlp (inputSize: int) (hiddenSizes: int list) (outputSize: int) : torch.nn.Module<torch.Tensor, torch.Tensor> =
        Guard.atLeast (nameof inputSize) 1L (int64 inputSize)
        Guard.atLeast (nameof outputSize) 1L (int64 outputSize)
        hiddenSizes |> List.iter (fun h -> Guard.atLeast (nameof hiddenSizes) 1L (int64 h))
        let sizes = inputSize :: hiddenSizes @ [ outputSize ]
        let layers =
            sizes
            |> List.pairwise
            |> List.mapi (fun i (input, output) ->
                let linear = torch.nn.Linear(int64 input, int64 output) :> torch.nn.Module<torch.Tensor, torch.Tensor>
                if i < sizes.Length - 2 then [ linear; torch.nn.ReLU() :> torch.nn.Module<torch.Tensor, torch.Tensor> ]
                else [ linear ])
            |> List.concat
        torch.nn.Sequential(Array.ofList layers)
