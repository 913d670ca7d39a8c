/// Data-parallel training: 2 ranks with B/2 examples each take the same steps as one process with B examples.
module Decomp.Distributed.Tests.Training

open System
open Expecto
open TorchSharp
open Decomp.Core
open Decomp.Distributed.Tests.Harness
open Decomp.Distributed.Tests.Collectives

let steps = 20
let lr = 0.05
let settings = { DecomposedLossSettings.Paper with Temperature = 0.5 }

/// One step's inputs, the same on every rank: two views of a global batch [B, inputs] and a restriction mask (x'' is
/// x' with features zeroed, the information-restricted view).
let views (step: int) (rows: int64) =
    let x = globalBatch (1000L + int64 step) rows Models.inputs
    let noise (seed: int64) = globalBatch seed rows Models.inputs * 0.3
    x + noise (2000L + int64 step), x + noise (3000L + int64 step), (globalBatch (4000L + int64 step) 1L Models.inputs).gt((0.0).ToScalar()).to_type(torch.float32).``to``(device)

// Tolerance of the trajectory comparisons. Both sides compute the same formulas in float32; they differ in how sums
// are split (the loss and gradients of B rows summed in one process, or as N partial sums of b rows averaged by
// allReduce), so one step's gradient differs by at most about n u |g| with n = B (hidden + inputs) the longest sum
// reaching a gradient entry (Higham, Thm 3.1). SGD adds lr times that to each parameter per step; the difference can
// grow through the Hessian by at most (1 + lr L) per step, and with lr = 0.05 and the curvature of these small
// normalised models (L < 2) that factor is below 1.1^20 < 7 over 20 steps: parameters within
// 7 T lr n u max|g|, losses within 7 n u (1 + t) max(1, |loss|) at step t.
let growth = 7.0

let private stepTolerance (rows: int64) = float (rows * (Models.hidden + Models.inputs)) * u32

/// SimCLR, symmetrised Appendix B.1 loss with in-batch negatives from the whole global batch. BatchNorm statistics are
/// per rank, so the single process runs the encoder over N BatchNorm groups of b rows in rank order (the groups each
/// rank sees), not over the whole batch (that would be SyncBN, which this library does not implement).
let simclr (g: ProcessGroup) =
    let b = 8L
    let rows = b * int64 g.WorldSize
    let n = g.WorldSize
    let single = Models.create 7L
    // Rank 1 starts from other weights: broadcastParameters must make them rank 0's.
    let distributed = Models.create (7L + int64 g.Rank)
    Distributed.broadcastParameters g distributed
    for p, q in List.zip single distributed do within "parameters after broadcastParameters" 0.0 p q
    let mutable worstGradient = 0.0
    let losses = ResizeArray()
    for step in 0 .. steps - 1 do
        use scope = torch.NewDisposeScope()
        let x1, x2, mask = views step rows
        // One process, B rows.
        let q1, q2 = Models.forward single n x1, Models.forward single n x2
        let r1, r2 = Models.forward single n (x1 * mask), Models.forward single n (x2 * mask)
        let forward = MemoryBank.decomposedLoss settings q1 r1 q2 None
        let backward = MemoryBank.decomposedLoss settings q2 r2 q1 None
        let singleLoss = (forward.Loss + backward.Loss) / 2.0
        singleLoss.backward()
        worstGradient <- max worstGradient (single |> List.map (fun p -> maxAbs p.grad) |> List.max)
        Models.sgd lr single
        // N ranks, b rows each, negatives gathered from every rank.
        let x1r, x2r = slice g x1, slice g x2
        let d1, d2 = Models.forward distributed 1 x1r, Models.forward distributed 1 x2r
        let dr1, dr2 = Models.forward distributed 1 (x1r * mask), Models.forward distributed 1 (x2r * mask)
        let forwardR = Distributed.gatheredDecomposedLoss g settings d1 dr1 d2
        let backwardR = Distributed.gatheredDecomposedLoss g settings d2 dr2 d1
        let rankLoss = (forwardR.Loss + backwardR.Loss) / 2.0
        rankLoss.backward()
        Distributed.averageGradients g 256L distributed // small buckets: several all-reduces per step
        Models.sgd lr distributed
        let globalLoss = (Distributed.allReduce g Mean rankLoss).item<float32> () |> float
        let singleValue = singleLoss.item<float32> () |> float
        losses.Add(step, singleValue, globalLoss)
    for step, s, d in losses do
        let tolerance = growth * stepTolerance rows * float (1 + step) * max 1.0 (abs s)
        if not (abs (s - d) <= tolerance) then failtestf "step %d: loss %.9g in one process, %.9g over %d ranks (tolerance %g)" step s d n tolerance
    let tolerance = growth * float steps * lr * stepTolerance rows * worstGradient
    for p, q in List.zip single distributed do within $"parameters after {steps} steps" tolerance p q
    if g.Rank = 0 then
        let worst = List.zip single distributed |> List.map (fun (p, q) -> maxDifference p q) |> List.max
        let worstLoss = losses |> Seq.map (fun (_, s, d) -> abs (s - d)) |> Seq.max
        printfn "SimCLR equivalence (%d ranks x %d vs 1 x %d, %d steps): largest loss difference %g, largest parameter difference %g (tolerance %g)" n b rows steps worstLoss worst tolerance

/// MoCo with the B.1 loss: queue negatives, keys from a momentum encoder with shuffled BatchNorm, the queue fed with the
/// keys of every rank. The single process encodes queries over N BatchNorm groups of b rows in rank order, and keys
/// over the N groups of the same shuffle (the vision driver's --bn-splits N).
let moco (g: ProcessGroup) =
    let b = 8L
    let rows = b * int64 g.WorldSize
    let n = g.WorldSize
    let capacity = int rows * 4
    let single = Models.create 9L
    let singleKeys = Models.copy single
    let distributed = Models.create 9L
    let distributedKeys = Models.copy distributed
    use singleQueue = new KeyQueue(capacity, int Models.outputs, device, torch.float32, 5L)
    use distributedQueue = new KeyQueue(capacity, int Models.outputs, device, torch.float32, 5L)
    let mutable worstGradient = 0.0
    let losses = ResizeArray()
    let normalise (t: torch.Tensor) = torch.nn.functional.normalize(t, 2.0, 1L, 1e-12)
    for step in 0 .. steps - 1 do
        use scope = torch.NewDisposeScope()
        let x, y, mask = views step rows
        // One process: keys over the shuffled BatchNorm groups, as TrainingSession.EncodeKeys does with --bn-splits N.
        let singleLoss, keys =
            use generator = new torch.Generator(uint64 (500 + step), device)
            let keys =
                use _ = torch.no_grad ()
                let permutation = torch.randperm(rows, generator = generator, device = device)
                (Models.forward singleKeys n (y.index_select(0L, permutation))).index_select(0L, permutation.argsort())
            let loss = MemoryBank.decomposedLoss settings (Models.forward single n x) (Models.forward single n (x * mask)) keys (Some singleQueue.Keys)
            loss.Loss, keys
        singleLoss.backward()
        worstGradient <- max worstGradient (single |> List.map (fun p -> maxAbs p.grad) |> List.max)
        Models.sgd lr single
        Models.momentumUpdate 0.9 singleKeys single
        singleQueue.Enqueue(normalise keys)
        // N ranks.
        let xr, yr = slice g x, slice g y
        let rankKeys =
            use generator = new torch.Generator(uint64 (500 + step), device)
            Distributed.shuffledKeys g generator (Func<_, _>(Models.forward distributedKeys 1)) yr
        let rankLoss = (MemoryBank.decomposedLoss settings (Models.forward distributed 1 xr) (Models.forward distributed 1 (xr * mask)) rankKeys (Some distributedQueue.Keys)).Loss
        rankLoss.backward()
        Distributed.averageGradients g Distributed.DefaultBucketBytes distributed
        Models.sgd lr distributed
        Models.momentumUpdate 0.9 distributedKeys distributed
        distributedQueue.Enqueue(Distributed.allGather g (normalise rankKeys))
        losses.Add(step, float (singleLoss.item<float32> ()), float ((Distributed.allReduce g Mean rankLoss).item<float32> ()))
    for step, s, d in losses do
        let tolerance = growth * stepTolerance rows * float (1 + step) * max 1.0 (abs s)
        if not (abs (s - d) <= tolerance) then failtestf "step %d: loss %.9g in one process, %.9g over %d ranks (tolerance %g)" step s d n tolerance
    let tolerance = growth * float steps * lr * stepTolerance rows * worstGradient
    for p, q in List.zip single distributed do within $"query encoder after {steps} steps" tolerance p q
    for p, q in List.zip singleKeys distributedKeys do within $"key encoder after {steps} steps" tolerance p q
    within $"queue after {steps} steps" (float steps * stepTolerance rows) singleQueue.Keys distributedQueue.Keys
    if g.Rank = 0 then
        let worst = List.zip single distributed |> List.map (fun (p, q) -> maxDifference p q) |> List.max
        let worstLoss = losses |> Seq.map (fun (_, s, d) -> abs (s - d)) |> Seq.max
        printfn "MoCo equivalence (%d ranks x %d vs 1 x %d, %d steps, queue %d): largest loss difference %g, largest parameter difference %g (tolerance %g)" n b rows steps capacity worstLoss worst tolerance

let tests =
    testList "data-parallel training" [
        collective $"SimCLR (B.1 loss, gathered negatives): 2 ranks x B/2 = 1 x B, loss at every step and parameters after {steps} SGD steps" simclr
        collective $"MoCo (B.1 loss, gathered queue, shuffled BN): 2 ranks x B/2 = 1 x B over {steps} SGD steps" moco
        collective "averageGradients leaves the mean of the ranks' gradients, whatever the bucket size" (fun g ->
            for bucket in [ 4L; 64L; Distributed.DefaultBucketBytes ] do
                use scope = torch.NewDisposeScope()
                let ps = [ torch.zeros([| 3L |]).requires_grad_(true); torch.zeros([| 2L; 2L |]).requires_grad_(true) ]
                let loss = (ps[0].sum() + ps[1].sum()) * float (g.Rank + 1)
                loss.backward()
                Distributed.averageGradients g bucket ps
                let expected = (float g.WorldSize + 1.0) / 2.0
                for p in ps do Expect.all (toArray p.grad) (fun v -> v = expected) $"mean of 1 .. N with {bucket}-byte buckets")
    ]
