namespace Decomp.Core

open System
open Microsoft.FSharp.NativeInterop
open TorchSharp

#nowarn "9" // native pointers into libtorch's CPU storage

/// The positive-first layout of in-batch matrices [..., K, K] (`Scores.ofInBatch`) as one row-wise copy on the CPU:
/// row i becomes `[m[i, i], m[i, 0 .. i-1], m[i, i+1 .. K-1]]`, two block moves per row, and its backward pass is the
/// inverse copy. Built from libtorch's operators the layout took two copies forward (a reshape of an offset view, then
/// the join with the diagonal) and, backward, zero-filled gradients of the diagonal and of two narrowed views summed
/// together: five passes over the matrix where one suffices (issue 17).
type internal PositiveFirst() =
    inherit torch.autograd.SingleTensorFunction<PositiveFirst>()

    /// Moves each row of contiguous [rows, K] matrices (row index modulo K is the row's place in its matrix), on
    /// libtorch's threads: `toPositiveFirst` true for the layout, false for its inverse.
    static member private Move(source: torch.Tensor, target: torch.Tensor, toPositiveFirst: bool) =
        let k = source.shape[source.shape.Length - 1]
        let rows = if k = 0L then 0L else source.NumberOfElements / k
        let size = int64 source.ElementSize
        let from, into = CpuKernel.bytesOf source, CpuKernel.bytesOf target
        // count elements from column `column` of this row of `p` to column `into` of this row of `q`.
        let move (p: nativeptr<byte>) (q: nativeptr<byte>) (row: int64) (column: int64) (into: int64) (count: int64) =
            if count > 0L then
                Buffer.MemoryCopy(
                    NativePtr.toVoidPtr (NativePtr.add p (int ((row * k + column) * size))),
                    NativePtr.toVoidPtr (NativePtr.add q (int ((row * k + into) * size))),
                    count * size,
                    count * size)
        CpuKernel.forRows rows k (fun row ->
            let i = row % k
            if toPositiveFirst then
                move from into row i 0L 1L
                move from into row 0L 1L i
            else
                move from into row 0L i 1L
                move from into row 1L 0L i
            move from into row (i + 1L) (i + 1L) (k - i - 1L))

    override _.Name = "Decomp.Scores.PositiveFirst"

    override _.forward(_: torch.autograd.AutogradContext, [<ParamArray>] vars: obj[]) : torch.Tensor =
        use scope = torch.NewDisposeScope()
        let matrices = (vars[0] :?> torch.Tensor).contiguous ()
        let result = torch.empty_like matrices
        PositiveFirst.Move(matrices, result, true)
        result.MoveToOuterDisposeScope()

    override _.backward(_: torch.autograd.AutogradContext, gradient: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        let g = gradient.contiguous ()
        let result = torch.empty_like g
        PositiveFirst.Move(g, result, false)
        Collections.Generic.List [ result.MoveToOuterDisposeScope() ]

/// Decomp's one score layout, used by every bound.
///
/// A score matrix has shape `[batch, K]` with `K = 1 + negatives`: row `i` scores the example's query `x_i` against its
/// candidates, `scores[i, 0] = E(x_i, y_i)` for the positive pair drawn from p(x, y) and `scores[i, k] = E(x_i, y_{i,k})`
/// for `k = 1 .. K-1` for its negatives (the paper's y_{2:K}). Where the negatives come from (the marginal p(y), the
/// conditional p(y|x'), a proposal tau, a memory bank) is the caller's business and decides which bound the formula
/// is. Scores are unnormalised log-space values (logits); bounds never exponentiate them outside a log-sum-exp.
///
/// The other common layout, an in-batch `K x K` matrix with positives on the diagonal (every other example's key is a
/// negative), converts with `ofInBatch`.
module Scores =

    /// The number of candidates K per example (1 positive + negatives).
    let candidates (scores: torch.Tensor) : int =
        Guard.scores (nameof scores) scores
        int scores.shape[1]

    /// `log K`: the most nats that InfoNCE-type bounds over K candidates can report.
    let logCandidates (candidates: int) : float =
        Guard.atLeast (nameof candidates) 2L (int64 candidates)
        Math.Log(float candidates)

    /// `ofInBatch` without its checks, for callers that have checked the matrices' origin themselves: square matrices
    /// [..., K, K] (any leading axes, such as `Batched`'s run axis) in the positive-first layout.
    ///
    /// On the CPU, `PositiveFirst`'s row-wise copy. Elsewhere by views and two copies, not a gather (whose backward pass
    /// is a scatter): read row-major after its first element, a K x K matrix is K - 1 rows of K + 1 elements, each
    /// holding row i's elements right of the diagonal, then row i + 1's left of it, then the diagonal element (i + 1,
    /// i + 1); dropping that last column leaves the off-diagonal elements in row order, K - 1 per row.
    let internal ofInBatchUnchecked (matrix: torch.Tensor) : torch.Tensor =
        if CpuKernel.fitsOneSpan matrix then
            PositiveFirst.apply matrix
        else
        Scoped.run (fun () ->
            let k = matrix.shape[matrix.shape.Length - 1]
            let leading = matrix.shape[.. matrix.shape.Length - 3]
            let offDiagonal =
                matrix
                    .reshape(Array.append leading [| k * k |])
                    .narrow(-1L, 1L, k * k - 1L)
                    .view(Array.append leading [| k - 1L; k + 1L |])
                    .narrow(-1L, 0L, k)
                    .reshape(Array.append leading [| k; k - 1L |])
            torch.cat([| matrix.diagonal(0L, -2L, -1L).unsqueeze -1L; offDiagonal |], -1L))

    /// Converts an in-batch score matrix `matrix[i, j] = E(x_i, y_j)` (positives on the diagonal, shape [K, K]) into
    /// the `[K, K]` positive-first layout: row i becomes `[E(x_i, y_i), E(x_i, y_j) for j <> i in order]`.
    /// Differentiable (views and copies). Its values are moved, not computed on, so they are not scanned here: the bound that
    /// reads the result scans it (scanning here too would read every score twice).
    let ofInBatch (matrix: torch.Tensor) : torch.Tensor =
        Guard.rank (nameof matrix) 2 "[K, K] (in-batch, positives on the diagonal)" matrix
        Guard.floating (nameof matrix) matrix
        if matrix.shape[0] <> matrix.shape[1] || matrix.shape[0] < 2L then
            raise (ArgumentException($"{nameof matrix} must be a square [K, K] matrix with K >= 2; got {Guard.describe matrix}.", nameof matrix))
        ofInBatchUnchecked matrix

    /// Joins positive scores `[batch]` and negative scores `[batch, negatives]` into the `[batch, 1 + negatives]` layout.
    /// Like `ofInBatch`, it moves values without scanning them; the bound that reads the result does.
    let ofPositiveAndNegatives (positive: torch.Tensor) (negatives: torch.Tensor) : torch.Tensor =
        Guard.rank (nameof positive) 1 "[batch]" positive
        Guard.floating (nameof positive) positive
        Guard.rank (nameof negatives) 2 "[batch, negatives]" negatives
        Guard.companion (nameof negatives) positive (nameof positive) negatives
        if negatives.shape[0] <> positive.shape[0] || negatives.shape[1] < 1L then
            raise (ArgumentException($"{nameof negatives} must have shape [{positive.shape[0]}, negatives >= 1] to match {nameof positive}; got {Guard.describe negatives}.", nameof negatives))
        Scoped.run (fun () -> torch.cat([| positive.unsqueeze 1; negatives |], 1L))

    /// The average of per-example bound values: the Monte-Carlo estimate of the bound's expectation. Refuses NaN and
    /// ±infinity (as `Settings.FiniteCheck` says), so an overflowed NWJ, TUBA or JS value (-infinity for scores near
    /// 1e4, see `Baselines`) is an error here rather than a silent -infinity estimate.
    let mean (values: torch.Tensor) : torch.Tensor =
        Guard.floating (nameof values) values
        Guard.finite (nameof values) values
        values.mean()
