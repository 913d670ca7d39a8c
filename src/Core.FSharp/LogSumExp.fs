namespace Decomp.Core

#nowarn "9" // native pointers into libtorch's CPU storage

open System
open System.Numerics
open Microsoft.FSharp.NativeInterop
open TorchSharp

/// `logsumexp_k scores[i, k]` per row, and its backward pass `dscores[i, k] = g[i] exp(scores[i, k] - lse[i])`, each
/// as one SIMD pass over a row while it sits in the L1 cache (issue 17). libtorch's `logsumexp` makes four passes over
/// the whole matrix forward (max, subtract, exp, sum) and three backward, each writing a temporary of the matrix's
/// size; at Figure 2's largest InfoNCE batch (20 runs x 512 x 512 scores) that was 8 to 10 ms of a 70 ms step, and
/// InfoNCE_S IS takes two.
module internal LogSumExpKernel =

    open CpuKernel

    /// log sum_k exp(row[k]) = m + log sum_k exp(row[k] - m), m the row's maximum. A row holding an infinity gives its
    /// largest value (libtorch's answer for a +infinity, or an all -infinity row); Decomp's bounds refuse such scores
    /// before they get here.
    let private rowForward (row: nativeptr<float32>) (k: int) : float32 =
        let mutable highest = Vector<float32>(Single.NegativeInfinity)
        let mutable j = 0
        while j <= k - width do
            highest <- Vector.MaxNative(highest, load row j)
            j <- j + width
        let mutable m = Single.NegativeInfinity
        for lane in 0 .. width - 1 do
            m <- max m highest[lane]
        while j < k do
            m <- max m (NativePtr.get row j)
            j <- j + 1
        if Single.IsInfinity m then
            m
        else
            let shift = Vector<float32>(m)
            let mutable total = Vector<float32>.Zero
            j <- 0
            while j <= k - width do
                total <- total + expNonPositive (load row j - shift)
                j <- j + width
            let mutable sum = Vector.Sum total
            while j < k do
                sum <- sum + MathF.Exp(NativePtr.get row j - m)
                j <- j + 1
            m + MathF.Log sum

    /// target[k] = g exp(row[k] - lse).
    let private rowBackward (row: nativeptr<float32>) (k: int) (lse: float32) (g: float32) (target: nativeptr<float32>) =
        let shift, scale = Vector<float32>(lse), Vector<float32>(g)
        let mutable j = 0
        while j <= k - width do
            store target j (scale * expNonPositive (load row j - shift))
            j <- j + width
        while j < k do
            NativePtr.set target j (g * MathF.Exp(NativePtr.get row j - lse))
            j <- j + 1

    /// lse [B] of contiguous float32 scores [B, K] (`rowForward` per row).
    let forward (scores: torch.Tensor) : torch.Tensor =
        let rows, k = int scores.shape[0], int scores.shape[1]
        let result = torch.empty([| int64 rows |], dtype = torch.float32)
        let s, out = address scores, address result
        forRows (int64 rows) (int64 k) (fun row -> let i = int row in NativePtr.set out i (rowForward (NativePtr.add s (i * k)) k))
        result

    /// dscores[i, k] = g[i] exp(s[i, k] - lse[i]) (the softmax of the row, scaled by its gradient), for contiguous
    /// float32 scores [B, K], their `forward` lse [B] and the gradient g [B].
    let backward (scores: torch.Tensor) (lse: torch.Tensor) (gradient: torch.Tensor) : torch.Tensor =
        let rows, k = int scores.shape[0], int scores.shape[1]
        let result = torch.empty([| int64 rows; int64 k |], dtype = torch.float32)
        let s, l, g, d = address scores, address lse, address gradient, address result
        forRows (int64 rows) (int64 k) (fun row ->
            let i = int row
            rowBackward (NativePtr.add s (i * k)) k (NativePtr.get l i) (NativePtr.get g i) (NativePtr.add d (i * k)))
        result

/// `LogSumExpKernel` as a differentiable function of [B, K] scores: the kernel's forward and backward passes, the
/// backward one reading the forward's saved result.
type internal RowLogSumExp() =
    inherit torch.autograd.SingleTensorFunction<RowLogSumExp>()

    override _.Name = "Decomp.RowLogSumExp"

    override _.forward(ctx: torch.autograd.AutogradContext, [<ParamArray>] vars: obj[]) : torch.Tensor =
        let scores = vars[0] :?> torch.Tensor
        use scope = torch.NewDisposeScope()
        let result = LogSumExpKernel.forward (scores.contiguous ())
        // A copy of the result for the backward pass, alive as long as the caller's tensors (not the result itself,
        // which autograd hands on).
        let saved = result.clone().MoveToOuterDisposeScope()
        ctx.save_for_backward(Collections.Generic.List [ scores; saved ])
        result.MoveToOuterDisposeScope()

    override _.backward(ctx: torch.autograd.AutogradContext, gradient: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        let saved = ctx.get_saved_variables ()
        let dScores = LogSumExpKernel.backward (saved[0].contiguous ()) saved[1] (gradient.contiguous ())
        Collections.Generic.List [ dScores.MoveToOuterDisposeScope() ]

/// Row-wise log-sum-exp for Decomp's bounds.
module internal LogSumExp =

    /// `logsumexp_k scores[i, k]` for scores [B, K]: [B]. On the CPU in float32, `RowLogSumExp`'s fused passes;
    /// elsewhere libtorch's `logsumexp`, the same function.
    let rows (scores: torch.Tensor) : torch.Tensor =
        if scores.Dimensions = 2L && scores.shape[1] > 0L && CpuKernel.applies [ scores ] then RowLogSumExp.apply scores
        else scores.logsumexp(1L, false)
