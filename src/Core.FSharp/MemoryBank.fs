namespace Decomp.Core

open System
open TorchSharp

/// The decomposed contrastive loss of Appendix B.1 and its parts.
type DecomposedLoss =
    {
        /// The loss to minimise: a differentiable scalar.
        Loss: torch.Tensor
        /// Mean I_NCE(x'; y) over the batch, in nats (detached, for logging).
        FullViewInfoNce: torch.Tensor
        /// Mean I_NCE(x''; y) over the batch, in nats (detached).
        RestrictedViewInfoNce: torch.Tensor
        /// Mean I_IS(x'; y | x'') over the batch, in nats (detached); computed even when it is left out of the loss.
        ConditionalInfoNce: torch.Tensor
    }

    interface IDisposable with
        member this.Dispose() =
            this.Loss.Dispose()
            this.FullViewInfoNce.Dispose()
            this.RestrictedViewInfoNce.Dispose()
            this.ConditionalInfoNce.Dispose()

/// Settings of the Appendix B.1 loss.
type DecomposedLossSettings =
    {
        /// lambda in `lambda nce(x'; y) + (1 - lambda)(nce(x''; y) + I_IS term)`, in [0, 1]; 1 is plain InfoNCE.
        Lambda: float
        /// Scores are similarity / temperature (MoCo v2 and InfoMin use 0.2).
        Temperature: float
        Similarity: Similarity
        /// false drops the conditional I_IS term: the paper's "without cond. MI" ablation.
        Conditional: bool
    }

    /// The paper's ImageNet set-up: lambda 0.5, temperature 0.2, cosine similarity, with the conditional term.
    static member Paper = { Lambda = 0.5; Temperature = 0.2; Similarity = Cosine; Conditional = true }

/// The memory-bank loss of Appendix B.1 (MoCo v2 backbone) as a pure function, and the queue of keys it reads.
module MemoryBank =

    /// The Appendix B.1 loss given its two score matrices in the positive-first layout, `full` = logits of f(x') and
    /// `restricted` = logits of f(x'') against the same K candidates ([batch, K] each, already divided by the
    /// temperature). Unchecked: for `decomposedLoss` and `Distributed.decomposedLoss`, which build the scores from inputs
    /// they have checked. The result's tensors belong to the caller's dispose scope; intermediates are freed.
    let internal ofScores (settings: DecomposedLossSettings) (full: torch.Tensor) (restricted: torch.Tensor) : DecomposedLoss =
        use scope = torch.NewDisposeScope()
        let logK = Scores.logCandidates (int full.shape[1])
        let fullNce = Bounds.Unchecked.infoNce full
        let restrictedNce = Bounds.Unchecked.infoNce restricted
        let conditional = Bounds.Unchecked.importanceSampled full restricted
        let lambda = settings.Lambda
        let objective =
            if settings.Conditional then
                fullNce.mul(lambda.ToScalar()) + (restrictedNce + conditional).mul((1.0 - lambda).ToScalar())
            else
                fullNce.mul(lambda.ToScalar()) + restrictedNce.mul((1.0 - lambda).ToScalar())
        // Each nce term of the pseudocode is log K minus its bound: restore those constants so the value matches B.1.
        let constant = (if settings.Conditional then lambda + 2.0 * (1.0 - lambda) else 1.0) * logK
        let detachedMean (t: torch.Tensor) = t.detach().mean().MoveToOuterDisposeScope()
        { Loss = (-objective).mean().add(constant.ToScalar()).MoveToOuterDisposeScope()
          FullViewInfoNce = detachedMean fullNce
          RestrictedViewInfoNce = detachedMean restrictedNce
          ConditionalInfoNce = detachedMean conditional }

    /// `loss` with its tensors moved to the dispose scope outside the caller's (which is about to close).
    let internal movedOut (loss: DecomposedLoss) : DecomposedLoss =
        { Loss = loss.Loss.MoveToOuterDisposeScope()
          FullViewInfoNce = loss.FullViewInfoNce.MoveToOuterDisposeScope()
          RestrictedViewInfoNce = loss.RestrictedViewInfoNce.MoveToOuterDisposeScope()
          ConditionalInfoNce = loss.ConditionalInfoNce.MoveToOuterDisposeScope() }

    /// The loss of Appendix B.1, with x' the full view and x'' an information-restricted view of x:
    ///
    /// `loss = lambda nce(x'; y) + (1 - lambda) (nce(x''; y) + nce(x'; y | x''))`
    ///
    /// where `nce(a; y) = -log softmax(logits(a, y))[0]` and the conditional term is the I_IS partition of Eq. 12:
    /// `Z = e^{l_{x'}[0]} + (K - 1) sum_{k>=1} softmax(l_{x''}[1:])_k e^{l_{x'}[k]}`, `nce(x'; y | x'') = log Z - l_{x'}[0]`.
    /// Each nce term equals `log K` minus the corresponding bound (I_NCE, I_NCE, I_IS), so minimising the loss maximises
    /// `lambda I_NCE(x'; y) + (1 - lambda) (I_NCE(x''; y) + I_IS(x'; y | x''))` (Section 5.2).
    ///
    /// `fullViewQueries` = f(x') and `restrictedViewQueries` = f(x'') are [batch, D]; `keys` = f_ema(y) [batch, D]
    /// (detach them: they come from the momentum encoder); `memory` is the queue of negative keys [N, D], or None for in-batch
    /// negatives (every other example's key, SimCLR-style). Both queries are scored against all candidates in one
    /// matrix product, and the conditional term reuses those logits, so it adds no matrix product.
    let decomposedLoss
        (settings: DecomposedLossSettings)
        (fullViewQueries: torch.Tensor)
        (restrictedViewQueries: torch.Tensor)
        (keys: torch.Tensor)
        (memory: torch.Tensor option)
        : DecomposedLoss =
        Guard.unitInterval "lambda" settings.Lambda
        Guard.positive "temperature" settings.Temperature
        Guard.rank (nameof fullViewQueries) 2 "[batch, features]" fullViewQueries
        Guard.floating (nameof fullViewQueries) fullViewQueries
        Guard.companion (nameof restrictedViewQueries) fullViewQueries (nameof fullViewQueries) restrictedViewQueries
        Guard.shape (nameof restrictedViewQueries) fullViewQueries.shape "one restricted view per full view" restrictedViewQueries
        Guard.companion (nameof keys) fullViewQueries (nameof fullViewQueries) keys
        Guard.shape (nameof keys) fullViewQueries.shape "one key per query" keys
        let batch = fullViewQueries.shape[0]
        if batch < 1L then
            raise (ArgumentException($"{nameof fullViewQueries} must hold at least one query; got {Guard.describe fullViewQueries}.", nameof fullViewQueries))
        match memory with
        | Some bank ->
            Guard.rank (nameof memory) 2 "[N, features]" bank
            Guard.companion (nameof memory) fullViewQueries (nameof fullViewQueries) bank
            if bank.shape[1] <> fullViewQueries.shape[1] || bank.shape[0] < 1L then
                raise (ArgumentException($"{nameof memory} must have shape [N >= 1, {fullViewQueries.shape[1]}]; got {Guard.describe bank}.", nameof memory))
        | None ->
            if batch < 2L then
                raise (ArgumentException($"in-batch negatives need a batch of at least 2; got {Guard.describe fullViewQueries}.", nameof fullViewQueries))
        Guard.finite (nameof fullViewQueries) fullViewQueries
        Guard.finite (nameof restrictedViewQueries) restrictedViewQueries
        Guard.finite (nameof keys) keys
        memory |> Option.iter (Guard.finite (nameof memory))
        use scope = torch.NewDisposeScope()
        let prepare (t: torch.Tensor) =
            match settings.Similarity with
            | Cosine -> torch.nn.functional.normalize(t, 2.0, -1L, 1e-12)
            | Dot -> t
        let queries = prepare (torch.cat([| fullViewQueries; restrictedViewQueries |], 0L))
        let keys = prepare keys
        let inverseTemperature = (1.0 / settings.Temperature).ToScalar()
        // One matrix product scores both views' queries against every candidate.
        let logits =
            match memory with
            | Some bank ->
                let positive = (queries * torch.cat([| keys; keys |], 0L)).sum([| 1L |], true)
                torch.cat([| positive; queries.matmul((prepare bank).mT) |], 1L).mul(inverseTemperature)
            | None -> queries.matmul(keys.mT).mul(inverseTemperature)
        let full, restricted =
            match memory with
            | Some _ -> logits.narrow(0L, 0L, batch), logits.narrow(0L, batch, batch)
            | None -> Scores.ofInBatchUnchecked (logits.narrow(0L, 0L, batch)), Scores.ofInBatchUnchecked (logits.narrow(0L, batch, batch))
        // The logits come from inputs checked above, so the formulas run unchecked: nothing is scanned twice, and no
        // error can name a tensor the caller never passed.
        movedOut (ofScores settings full restricted)

/// A first-in-first-out queue of keys for momentum contrast (MoCo): the negatives of `MemoryBank.decomposedLoss`.
///
/// The one stateful piece of Decomp, kept as a thin wrapper around a ring buffer on the device: `Enqueue` overwrites
/// the oldest keys in place, without gradient. Enqueue after the backward pass of the step that read `Keys` (autograd
/// refuses buffers changed in place before backward). Starts full of random unit vectors, as MoCo does.
///
/// Keys are embeddings: the queue holds a floating dtype on a device with values (not meta), and refuses keys that are
/// not floating point or hold NaN or ±infinity (as `Settings.FiniteCheck` says), so a diverged encoder is caught when
/// its keys arrive rather than at a later loss.
type KeyQueue(capacity: int, dimension: int, device: torch.Device, dtype: torch.ScalarType, seed: int64) =
    do
        Guard.atLeast (nameof capacity) 1L (int64 capacity)
        Guard.atLeast (nameof dimension) 1L (int64 dimension)
        Guard.device (nameof device) device
        Guard.floatingType (nameof dtype) dtype
    let buffer =
        use generator = new torch.Generator(uint64 seed, torch.CPU)
        let initial () =
            let draws = torch.randn([| int64 capacity; int64 dimension |], dtype = torch.float32, generator = generator)
            torch.nn.functional.normalize(draws, 2.0, 1L, 1e-12).``to``(dtype, device)
        // Owned by this queue alone, whatever dispose scope the caller has open.
        (Scoped.run initial).DetachFromDisposeScope()
    let mutable next = 0L
    let mutable disposed = false

    /// The number of keys held.
    member _.Capacity = capacity

    /// The number of features per key.
    member _.Dimension = dimension

    /// The keys, [capacity, dimension], without gradient: a new handle on the queue's storage (disposing it, or the
    /// dispose scope it was taken in, leaves the queue intact). It sees the next `Enqueue`'s changes.
    member _.Keys : torch.Tensor =
        if disposed then raise (ObjectDisposedException(nameof KeyQueue))
        buffer.alias ()

    /// The row the next `Enqueue` writes first, in [0, capacity): with `Keys`, all a checkpoint needs to restore the
    /// queue exactly (`Restore`).
    member _.Position : int =
        if disposed then raise (ObjectDisposedException(nameof KeyQueue))
        int next

    /// Puts back a queue saved as `Keys` and `Position` (a checkpoint): copies `keys` ([capacity, dimension], any
    /// device, floating point) into the buffer and sets the write position, so the following enqueues overwrite the
    /// same rows as they would have in the run that saved it.
    member _.Restore(keys: torch.Tensor, position: int) =
        if disposed then raise (ObjectDisposedException(nameof KeyQueue))
        Guard.shape (nameof keys) [| int64 capacity; int64 dimension |] "the queue's [capacity, dimension]" keys
        Guard.floating (nameof keys) keys
        if position < 0 || position >= capacity then
            raise (ArgumentOutOfRangeException(nameof position, position, $"{nameof position} must be in [0, {capacity}) for a queue of {capacity} keys."))
        Guard.finite (nameof keys) keys
        // copy_ converts dtype and device itself, so no intermediate tensor is made (or left for the GC).
        use _ = torch.no_grad ()
        buffer.copy_(keys) |> ignore
        next <- int64 position

    /// Replaces the oldest keys with `keys` ([batch, dimension], detached and copied to the queue's device and dtype).
    /// A batch larger than the queue keeps its last `capacity` keys.
    member _.Enqueue(keys: torch.Tensor) =
        if disposed then raise (ObjectDisposedException(nameof KeyQueue))
        Guard.rank (nameof keys) 2 $"[batch, {dimension}]" keys
        Guard.floating (nameof keys) keys
        if keys.shape[1] <> int64 dimension then
            raise (ArgumentException($"{nameof keys} must have {dimension} features like the queue; got {Guard.describe keys}.", nameof keys))
        Guard.finite (nameof keys) keys
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let incoming =
            let k = keys.detach().``to``(buffer.dtype, buffer.device)
            if k.shape[0] > int64 capacity then k.narrow(0L, k.shape[0] - int64 capacity, int64 capacity) else k
        let count = incoming.shape[0]
        let rows = torch.arange(next.ToScalar(), (next + count).ToScalar(), dtype = torch.int64, device = buffer.device).remainder((int64 capacity).ToScalar())
        buffer.index_copy_(0L, rows, incoming) |> ignore
        next <- (next + count) % int64 capacity

    interface IDisposable with
        member _.Dispose() =
            if not disposed then
                disposed <- true
                buffer.Dispose()
