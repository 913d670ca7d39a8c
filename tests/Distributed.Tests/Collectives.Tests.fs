/// The collectives over a real 2-rank MPI job: values, the gradient through allGather, errors for mismatched shapes.
module Decomp.Distributed.Tests.Collectives

open System
open Expecto
open TorchSharp
open Decomp.Core
open Decomp.Distributed.Tests.Harness

/// Data every rank can rebuild: a global batch [B, D] from a seed; rank r's slice is rows r b .. r b + b - 1.
let globalBatch (seed: int64) (rows: int64) (columns: int64) =
    use generator = new torch.Generator(uint64 seed)
    torch.randn([| rows; columns |], generator = generator).``to``(device)

let slice (group: ProcessGroup) (t: torch.Tensor) =
    let b = t.shape[0] / int64 group.WorldSize
    t.narrow(0L, int64 group.Rank * b, b)

/// Per-example InfoNCE of queries tanh(x A) against keys x, in-batch over all B rows, in one process.
let singleProcessInfoNce (a: torch.Tensor) (x: torch.Tensor) =
    Bounds.infoNce (Scores.ofInBatch (Critics.cosine 0.5 ((x.matmul a).tanh()) x))

let tests =
    testList "collectives" [
        collective "the group is the launcher's: world size from PMI_SIZE, ranks 0 and 1, one machine" (fun g ->
            Expect.equal g.WorldSize (int (Environment.GetEnvironmentVariable "PMI_SIZE")) "world size"
            use ranks = Distributed.allGather g (torch.tensor([| int64 g.Rank; int64 g.LocalRank |]).unsqueeze 0)
            Expect.equal (ranks.data<int64>().ToArray()) [| 0L; 0L; 1L; 1L |] "ranks and local ranks, in rank order")

        collective "allGather stacks every rank's rows in rank order" (fun g ->
            use mine = torch.arange(6.0).reshape(3L, 2L) + 100.0 * float g.Rank
            use gathered = Distributed.allGather g mine
            use expected = torch.cat([| torch.arange(6.0).reshape(3L, 2L); torch.arange(6.0).reshape(3L, 2L) + 100.0 |], 0L)
            Expect.equal (toArray gathered) (toArray expected) "gathered rows")

        collective "allReduce sums and averages; broadcast copies the root's values; barrier returns" (fun g ->
            use t = torch.tensor([| 1.0; 2.0 |], dtype = torch.float64) * float (g.Rank + 1)
            use sum = Distributed.allReduce g Sum t
            use mean = Distributed.allReduce g Mean t
            Expect.equal (toArray sum) [| 3.0; 6.0 |] "sum over ranks of (r + 1) [1, 2]"
            Expect.equal (toArray mean) [| 1.5; 3.0 |] "mean"
            Expect.equal (toArray t) [| float (g.Rank + 1); 2.0 * float (g.Rank + 1) |] "the input is unchanged"
            use fromOne = Distributed.broadcast g 1 t
            Expect.equal (toArray fromOne) [| 2.0; 4.0 |] "rank 1's values"
            Distributed.barrier g)

        // Gradient through allGather. Every rank rebuilds the global batch x [B, D] and takes its rows x_r as a leaf;
        // its loss L_r = -(mean over its rows of InfoNCE of tanh(x_r A) against the keys gathered from every rank).
        // allGather's backward must give x_r the gradient of sum_s L_s (every rank's loss reads x_r), which one process
        // computes directly from the whole batch. Tolerance: both sides evaluate the same formulas on the same values,
        // differing only in how sums are split (rows of a matrix product, the sum over ranks of the gathered gradient).
        // A sum of n float32 terms is off by at most about n u times the magnitude of its terms (Higham, Thm 3.1); the
        // longest sums reaching a gradient entry have n = B D terms (B candidates, D features), so the tolerance is
        // B D u max|gradient|.
        collective "the gradient through allGather is the single-process gradient (sum over ranks of its slice)" (fun g ->
            let b, d = 4L, 5L
            let rows = b * int64 g.WorldSize
            use x = globalBatch 11L rows d
            use a = globalBatch 12L d d
            use whole = x.clone().requires_grad_(true)
            use perRank = singleProcessInfoNce a whole
            use singleLoss = -(torch.stack(perRank.chunk(int64 g.WorldSize, 0L) |> Array.map (fun c -> c.mean())).sum())
            singleLoss.backward()
            use expected = slice g whole.grad
            use mine = (slice g x).clone().requires_grad_(true)
            use bound = Distributed.gatheredInfoNce g Cosine 0.5 ((mine.matmul a).tanh()) mine
            use loss = -(bound.mean())
            loss.backward()
            let tolerance = float (rows * d) * u32 * maxAbs expected
            printfn "rank %d: gradient through allGather against one process: largest difference %g (tolerance %g, largest entry %g)" g.Rank (maxDifference mine.grad expected) tolerance (maxAbs expected)
            within "gradient of x_r" tolerance mine.grad expected

            // The same computation with lightly's backward (issue #1528: each rank keeps only its own loss's gradient
            // of its rows) is far outside that tolerance: the test above can tell the two apart.
            use wrongLeaf = (slice g x).clone().requires_grad_(true)
            use others = Distributed.allGather g (wrongLeaf.detach())
            let parts =
                [| for r in 0 .. g.WorldSize - 1 -> if r = g.Rank then wrongLeaf else others.narrow(0L, int64 r * b, b) |]
            use keys = torch.cat(parts, 0L)
            use scores = Distributed.positiveFirst (int64 g.Rank * b) (Critics.cosine 0.5 ((wrongLeaf.matmul a).tanh()) keys)
            use wrongLoss = -(Bounds.infoNce(scores).mean())
            wrongLoss.backward()
            let gap = maxDifference wrongLeaf.grad expected
            printfn "rank %d: lightly's backward (issue #1528) against one process: largest difference %g" g.Rank gap
            Expect.isGreaterThan gap (100.0 * tolerance) "lightly's backward differs from the single-process gradient by far more than the tolerance")

        collective "a shape that differs across ranks is an ArgumentException naming the argument and every rank's shape" (fun g ->
            use t = torch.zeros([| 2L + int64 g.Rank; 3L |])
            let e = throwsArgument "allGather of [2, 3] and [3, 3]" (fun () -> Distributed.allGather g t |> ignore)
            Expect.equal e.ParamName "tensor" "names the argument"
            Expect.stringContains e.Message "rank 0: [2, 3] Float32; rank 1: [3, 3] Float32" "lists each rank's shape"
            let e = throwsArgument "allReduce" (fun () -> Distributed.allReduce g Sum t |> ignore)
            Expect.stringContains e.Message "allReduce" "names the collective"
            use typed = if g.Rank = 0 then torch.zeros([| 2L |]) else torch.zeros([| 2L |], dtype = torch.float64)
            let e = throwsArgument "broadcast of float32 and float64" (fun () -> Distributed.broadcast g 0 typed |> ignore)
            Expect.stringContains e.Message "Float64" "names the dtypes"
            // The group still works: the check failed on every rank before any data moved.
            use ok = Distributed.allReduce g Sum (torch.ones([| 1L |]))
            Expect.equal (ok.item<float32> ()) 2.0f "a collective after the refused ones")

        collective "bad arguments name the argument" (fun g ->
            use t = torch.zeros([| 2L |])
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> Distributed.broadcast g 2 t |> ignore) "root 2 of 2" |> ignore
            Expect.throwsT<ArgumentException> (fun () -> Distributed.allGather g (torch.tensor(1.0f)) |> ignore) "a scalar has no rows" |> ignore
            Expect.throwsT<ArgumentException> (fun () -> Distributed.allReduce g Mean (torch.zeros([| 2L |], dtype = torch.int64)) |> ignore) "mean of integers" |> ignore)
    ]
