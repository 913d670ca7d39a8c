namespace Decomp.Core

open System
open System.Collections.Generic
open TorchSharp

/// One engine of collectives (MPI for CPU tensors, NCCL for CUDA tensors) over contiguous tensors of one device type.
///
/// The core only states the contract; the engines live in the `Decomp.Distributed` assembly (namespace `Decomp.Collectives`) (P/Invoke to libmpich / libnccl), so
/// that this assembly stays free of platform plumbing. Every operation is blocking from the caller's point of view, is
/// called by every rank in the same order, and fails with a `TimeoutException` naming `collective`, the rank and the
/// elapsed time when the other ranks do not join within the engine's timeout (a dead or stuck rank), instead of
/// waiting forever. Shapes are checked by `Distributed` before an engine is called: an engine may assume that every
/// rank passes tensors of the same shape and dtype.
type ICollectiveBackend =
    inherit IDisposable
    /// "mpi", "nccl", "local" ...: for messages.
    abstract Name: string
    /// Sums `tensor` elementwise over all ranks, in place.
    abstract AllReduceSum: tensor: torch.Tensor * collective: string -> unit
    /// Writes every rank's `input` ([b, ...]) into `output` ([worldSize * b, ...]) in rank order.
    abstract AllGather: input: torch.Tensor * output: torch.Tensor * collective: string -> unit
    /// `output` ([b, ...]) = this rank's slice of the elementwise sum over ranks of `input` ([worldSize * b, ...]).
    abstract ReduceScatterSum: input: torch.Tensor * output: torch.Tensor * collective: string -> unit
    /// Overwrites `tensor` with rank `root`'s values.
    abstract Broadcast: tensor: torch.Tensor * root: int * collective: string -> unit
    /// Returns when every rank has called it.
    abstract Barrier: collective: string -> unit

/// The engine of a group of one process: every collective is the identity (all-gather copies, the sum over one rank
/// is the tensor itself). It lets the same training code run with and without `mpirun`.
[<Sealed>]
type LocalBackend() =
    interface ICollectiveBackend with
        member _.Name = "local"
        member _.AllReduceSum(_, _) = ()
        member _.AllGather(input, output, _) =
            use _ = torch.no_grad ()
            output.copy_(input) |> ignore
        member _.ReduceScatterSum(input, output, _) =
            use _ = torch.no_grad ()
            output.copy_(input) |> ignore
        member _.Broadcast(_, _, _) = ()
        member _.Barrier _ = ()
        member _.Dispose() = ()

/// A group of processes that train together: this process's `Rank` in [0, `WorldSize`), its `LocalRank` among the
/// processes on its machine (the CUDA device it should use), and the engines of its collectives. The engine follows
/// the tensors' device: `Host` (MPI) for CPU tensors, `Cuda` (NCCL) for CUDA tensors. Create one with
/// `Decomp.Collectives.ProcessGroups.init (assembly Decomp.Distributed)` under `mpirun` (or `ProcessGroup.Single` for one process); dispose it at
/// the end (it finalises MPI, or aborts the job after a collective has failed).
[<Sealed; AllowNullLiteral>]
type ProcessGroup(rank: int, worldSize: int, localRank: int, host: ICollectiveBackend, cuda: ICollectiveBackend option) =
    do
        if worldSize < 1 then raise (ArgumentOutOfRangeException(nameof worldSize, worldSize, "worldSize must be >= 1."))
        if rank < 0 || rank >= worldSize then raise (ArgumentOutOfRangeException(nameof rank, rank, $"rank must be in [0, {worldSize})."))
        if isNull (box host) then nullArg (nameof host)
    let mutable disposed = false

    /// A group of this process alone (rank 0 of 1), whose collectives are the identity.
    static member Single() = new ProcessGroup(0, 1, 0, new LocalBackend(), None)

    /// This process's index in the group, in [0, WorldSize).
    member _.Rank = rank
    /// The number of processes in the group.
    member _.WorldSize = worldSize
    /// This process's index among the group's processes on its machine: the CUDA device to use.
    member _.LocalRank = localRank
    /// The engine for CPU tensors.
    member _.Host = host
    /// The engine for CUDA tensors, when the group has one.
    member _.Cuda = cuda

    /// The engine for tensors on `t`'s device.
    member internal _.BackendFor (name: string) (t: torch.Tensor) : ICollectiveBackend =
        if disposed then raise (ObjectDisposedException(nameof ProcessGroup))
        if t.device_type = DeviceType.CUDA then
            match cuda with
            | Some engine -> engine
            | None ->
                raise (ArgumentException($"{name} is on {t.device}, but this process group has no CUDA engine (NCCL); create it with a CUDA device, or move {name} to the CPU.", name))
        elif t.device_type = DeviceType.CPU then
            host
        else
            raise (ArgumentException($"{name} is on {t.device}; collectives run on cpu (MPI) or cuda (NCCL).", name))

    interface IDisposable with
        member _.Dispose() =
            if not disposed then
                disposed <- true
                cuda |> Option.iter (fun c -> c.Dispose())
                host.Dispose()

/// How `Distributed.allReduce` combines the ranks' values.
type ReduceOperation =
    /// The elementwise sum over ranks.
    | Sum
    /// The elementwise mean over ranks (the sum divided by the world size).
    | Mean

/// The all-gather of `Distributed.allGather` as an autograd function. Forward: `[b, ...] -> [N b, ...]`, every rank's
/// rows in rank order. Backward: rank r's gradient is its slice of the sum over ranks of the gathered gradient,
/// `dL/dx_r = sum_s (dL_s/dy)[r b : (r + 1) b]` (a reduce-scatter), because every rank's loss L_s reads x_r through its
/// copy of the gathered tensor. This is PyTorch's `torch.distributed.nn.functional.all_gather`; returning only the local
/// slice of the local gradient (lightly issue #1528) drops every other rank's dependence on x_r.
type internal AllGatherFunction() =
    inherit torch.autograd.SingleTensorFunction<AllGatherFunction>()

    override _.Name = "Decomp.AllGather"

    override _.forward(context, arguments) =
        let input = arguments[0] :?> torch.Tensor
        let group = arguments[1] :?> ProcessGroup
        let engine = arguments[2] :?> ICollectiveBackend
        context.save_data("group", group)
        context.save_data("engine", engine)
        let source = input.detach().contiguous()
        let shape = Array.copy input.shape
        shape[0] <- shape[0] * int64 group.WorldSize
        let output = torch.empty(shape, dtype = input.dtype, device = input.device)
        engine.AllGather(source, output, "allGather")
        output

    override _.backward(context, gradient) =
        let group = context.get_data "group" :?> ProcessGroup
        let engine = context.get_data "engine" :?> ICollectiveBackend
        let full = gradient.contiguous()
        let shape = Array.copy full.shape
        shape[0] <- shape[0] / int64 group.WorldSize
        let own = torch.empty(shape, dtype = full.dtype, device = full.device)
        engine.ReduceScatterSum(full, own, "allGather backward (reduce-scatter)")
        // One gradient per argument of `apply`; the group and the engine have none.
        List<torch.Tensor>([ own; null; null ])

/// Data parallelism over a `ProcessGroup`: collectives with clear errors and a correct backward, the steps of
/// distributed data-parallel training (broadcast the parameters once, average the gradients after every backward),
/// and the paper's bounds with negatives gathered from every rank (SimCLR's global batch, MoCo's gathered queue and
/// shuffled BatchNorm).
///
/// Every function here is collective: every rank of the group must call it, in the same order, with tensors of the same
/// shape and dtype (the shapes are exchanged first, and a mismatch is an ArgumentException on every rank that lists each
/// rank's shape, never a hang or a silent misread). A rank that dies or stops calling makes the others fail after the
/// group's timeout with a message naming the collective (see `ICollectiveBackend`).
///
/// Equivalence: with N ranks holding B/N examples each, `gatheredInfoNce` and `gatheredDecomposedLoss` see exactly the
/// candidates of a single process holding all B examples, and `averageGradients` after backward gives every rank the
/// gradient of the single process's mean loss (see `averageGradients`).
module Distributed =

    // Metadata sent by the shape check: dimensions, dtype, then up to `maxDimensions` sizes.
    [<Literal>]
    let private maxDimensions = 8

    let private shapeText (dims: int64[]) = "[" + String.Join(", ", dims) + "]"

    /// Exchanges `t`'s shape and dtype over the host engine and refuses a mismatch; returns every rank's leading size.
    /// `compare` decides which dimensions must agree: all of them (`allDimensions`) or all but the first.
    let private checkAcrossRanks (group: ProcessGroup) (collective: string) (name: string) (allDimensions: bool) (t: torch.Tensor) : int64[] =
        if t.Dimensions > int64 maxDimensions then
            raise (ArgumentException($"{name} has {t.Dimensions} dimensions; {collective} supports at most {maxDimensions} ({Guard.describe t}).", name))
        let width = 2 + maxDimensions
        if group.WorldSize = 1 then
            [| (if t.Dimensions = 0L then 1L else t.shape[0]) |]
        else
            use scope = torch.NewDisposeScope()
            let mine = Array.zeroCreate<int64> width
            mine[0] <- t.Dimensions
            mine[1] <- int64 (LanguagePrimitives.EnumToValue t.dtype)
            t.shape |> Array.iteri (fun i d -> mine[2 + i] <- d)
            let local = torch.tensor(mine, dtype = torch.int64)
            let all = torch.empty([| int64 (group.WorldSize * width) |], dtype = torch.int64)
            group.Host.AllGather(local, all, collective + " (shape check)")
            let values = all.data<int64>().ToArray()
            let rows = Array.init group.WorldSize (fun r -> values[r * width .. (r + 1) * width - 1])
            let dims (row: int64[]) = row[2 .. 1 + int row[0]]
            let key (row: int64[]) = if allDimensions then row else Array.append row[0..1] (Array.append [| 0L |] row[3..])
            if rows |> Array.exists (fun row -> key row <> key rows[0]) then
                let described =
                    rows
                    |> Array.mapi (fun r row -> $"rank {r}: {shapeText (dims row)} {(LanguagePrimitives.EnumOfValue<sbyte, torch.ScalarType> (sbyte row[1]))}")
                    |> String.concat "; "
                let rule = if allDimensions then "the same shape and dtype" else "the same dtype and the same shape after the first dimension"
                raise (ArgumentException($"{name} must have {rule} on every rank for {collective}; got {described}.", name))
            rows |> Array.map (fun row -> if row[0] = 0L then 1L else row[2])

    let private checkTensor (name: string) (t: torch.Tensor) =
        Guard.notNull name t
        Guard.hasValues name t

    /// All-gather along the first dimension, differentiable: every rank's `tensor` ([b, ...], the same shape on every
    /// rank) stacked in rank order, `[N b, ...]`. Its backward gives each rank its slice of the sum over ranks of the
    /// gathered gradient (see `AllGatherFunction`), so a loss that reads other ranks' rows sends their gradients home.
    let allGather (group: ProcessGroup) (tensor: torch.Tensor) : torch.Tensor =
        if isNull group then nullArg (nameof group)
        checkTensor (nameof tensor) tensor
        if tensor.Dimensions < 1L then
            raise (ArgumentException($"{nameof tensor} must have at least one dimension to gather along; got {Guard.describe tensor}.", nameof tensor))
        let engine = group.BackendFor (nameof tensor) tensor
        checkAcrossRanks group "allGather" (nameof tensor) true tensor |> ignore
        if tensor.requires_grad then
            AllGatherFunction.apply (tensor, group, engine)
        else
            Scoped.run (fun () ->
                let source = tensor.contiguous()
                let shape = Array.copy tensor.shape
                shape[0] <- shape[0] * int64 group.WorldSize
                let output = torch.empty(shape, dtype = tensor.dtype, device = tensor.device)
                engine.AllGather(source, output, "allGather")
                output)

    /// All-reduce: the elementwise sum (or mean) of `tensor` over ranks, as a new tensor on every rank; `tensor` is unchanged.
    /// Not differentiable (the result carries no gradient): it is for metrics and gradients, not for losses.
    let allReduce (group: ProcessGroup) (operation: ReduceOperation) (tensor: torch.Tensor) : torch.Tensor =
        if isNull group then nullArg (nameof group)
        checkTensor (nameof tensor) tensor
        if not (tensor.is_floating_point ()) && operation = Mean then
            raise (ArgumentException($"{nameof tensor} must be floating point for a mean; got {Guard.describe tensor}.", nameof tensor))
        let engine = group.BackendFor (nameof tensor) tensor
        checkAcrossRanks group "allReduce" (nameof tensor) true tensor |> ignore
        Scoped.run (fun () ->
            use _ = torch.no_grad ()
            let result = tensor.detach().contiguous().clone()
            engine.AllReduceSum(result, "allReduce")
            match operation with
            | Sum -> result
            | Mean -> result.div_((float group.WorldSize).ToScalar()))

    /// Rank `root`'s `tensor`, as a new tensor on every rank (each rank passes a tensor of the same shape and dtype; only
    /// the root's values matter). Not differentiable.
    let broadcast (group: ProcessGroup) (root: int) (tensor: torch.Tensor) : torch.Tensor =
        if isNull group then nullArg (nameof group)
        checkTensor (nameof tensor) tensor
        if root < 0 || root >= group.WorldSize then
            raise (ArgumentOutOfRangeException(nameof root, root, $"{nameof root} must be a rank in [0, {group.WorldSize})."))
        let engine = group.BackendFor (nameof tensor) tensor
        checkAcrossRanks group "broadcast" (nameof tensor) true tensor |> ignore
        Scoped.run (fun () ->
            use _ = torch.no_grad ()
            let result = tensor.detach().contiguous().clone()
            engine.Broadcast(result, root, "broadcast")
            result)

    /// Returns when every rank of the group has called it (or fails after the group's timeout).
    let barrier (group: ProcessGroup) : unit =
        if isNull group then nullArg (nameof group)
        group.Host.Barrier "barrier"

    /// Data-parallel start: overwrites every parameter (and any other tensor given, such as BatchNorm buffers) with
    /// rank 0's values, in place, so that every rank starts from the same model. Collective; in the given order.
    let broadcastParameters (group: ProcessGroup) (parameters: seq<torch.Tensor>) : unit =
        if isNull group then nullArg (nameof group)
        if isNull (box parameters) then nullArg (nameof parameters)
        use _ = torch.no_grad ()
        parameters
        |> Seq.iteri (fun i p ->
            let name = $"parameters[{i}]"
            checkTensor name p
            let engine = group.BackendFor name p
            checkAcrossRanks group "broadcastParameters" name true p |> ignore
            use scope = torch.NewDisposeScope()
            let buffer = p.detach().contiguous().clone()
            engine.Broadcast(buffer, 0, "broadcastParameters")
            p.detach().copy_(buffer) |> ignore)

    /// The default size of a gradient bucket: 25 MiB, PyTorch DDP's `bucket_cap_mb`.
    [<Literal>]
    let DefaultBucketBytes = 26214400L

    /// Data-parallel step: replaces each parameter's gradient, in place, by its mean over ranks, after backward.
    ///
    /// Why this is the single-process gradient: rank r holds B/N examples and computes its loss L_r as the mean over
    /// them (against candidates gathered from every rank); the single process's loss over all B examples is
    /// L = (1/N) sum_r L_r. After backward, rank r's gradient is dL_r/dtheta through its own rows plus, through
    /// `allGather`'s backward, sum_s dL_s/dk_r through its keys; the mean over ranks of those gradients is
    /// (1/N) sum_s dL_s/dtheta = dL/dtheta.
    ///
    /// Gradients are flattened into buckets of at most `bucketBytes` (one dtype and device each, parameters in order;
    /// a parameter larger than a bucket gets its own) and each bucket is one all-reduce: few large messages instead of
    /// one per parameter. The buckets run after backward, not overlapped with it (TorchSharp has no gradient-ready hooks).
    /// A parameter without a gradient counts as a zero gradient, so every rank sends the same buckets; it is left without
    /// one. Collective: every rank passes the same parameters in the same order.
    let averageGradients (group: ProcessGroup) (bucketBytes: int64) (parameters: seq<torch.Tensor>) : unit =
        if isNull group then nullArg (nameof group)
        if isNull (box parameters) then nullArg (nameof parameters)
        Guard.atLeast (nameof bucketBytes) 1L bucketBytes
        let parameters = Seq.toArray parameters
        parameters |> Array.iteri (fun i p -> checkTensor $"parameters[{i}]" p)
        if group.WorldSize > 1 then
            use _ = torch.no_grad ()
            // Buckets: consecutive parameters of one dtype and device, up to bucketBytes.
            let buckets = List<List<int>>()
            let mutable current = List<int>()
            let mutable bytes = 0L
            let sameKind (a: torch.Tensor) (b: torch.Tensor) = a.dtype = b.dtype && a.device.ToString() = b.device.ToString()
            for i in 0 .. parameters.Length - 1 do
                let p = parameters[i]
                let size = p.NumberOfElements * int64 (p.ElementSize)
                if current.Count > 0 && (bytes + size > bucketBytes || not (sameKind parameters[current[0]] p)) then
                    buckets.Add current
                    current <- List<int>()
                    bytes <- 0L
                current.Add i
                bytes <- bytes + size
            if current.Count > 0 then buckets.Add current
            // One check of the whole layout (sizes of every parameter), so ranks with different models fail clearly.
            (use sizes = torch.tensor(parameters |> Array.map (fun p -> p.NumberOfElements), dtype = torch.int64)
             checkAcrossRanks group "averageGradients" (nameof parameters) true sizes |> ignore)
            let scale = (1.0 / float group.WorldSize).ToScalar()
            for bucket in buckets do
                use scope = torch.NewDisposeScope()
                let members = bucket |> Seq.map (fun i -> parameters[i]) |> Seq.toArray
                let flat =
                    torch.cat(
                        members
                        |> Array.map (fun p ->
                            match p.grad with
                            | null -> torch.zeros([| p.NumberOfElements |], dtype = p.dtype, device = p.device)
                            | g -> g.detach().reshape(-1L)),
                        0L)
                let engine = group.BackendFor "gradients" flat
                engine.AllReduceSum(flat, "averageGradients")
                flat.mul_(scale) |> ignore
                let mutable offset = 0L
                for p in members do
                    let n = p.NumberOfElements
                    match p.grad with
                    | null -> ()
                    | g -> g.copy_(flat.narrow(0L, offset, n).view_as(g)) |> ignore
                    offset <- offset + n

    /// Converts `matrix` ([b, K], query i's positive in column `offset + i`) to the positive-first layout: row i
    /// becomes `[matrix[i, offset + i], the other columns in order]`. `Scores.ofInBatch` is the case offset 0, K = b.
    let internal positiveFirst (offset: int64) (matrix: torch.Tensor) : torch.Tensor =
        Scoped.run (fun () ->
            let b, k = matrix.shape[0], matrix.shape[1]
            let positives = torch.arange(offset.ToScalar(), (offset + b).ToScalar(), dtype = torch.int64, device = matrix.device).unsqueeze 1
            let others = torch.arange((k - 1L).ToScalar(), dtype = torch.int64, device = matrix.device).unsqueeze 0
            // Negative j is column j before the positive and j + 1 after it.
            let negatives = others + others.ge(positives).to_type torch.int64
            matrix.gather(1L, torch.cat([| positives; negatives |], 1L)))

    let private checkEmbeddings (name: string) (t: torch.Tensor) =
        Guard.rank name 2 "[batch, features]" t
        Guard.floating name t
        if t.shape[0] < 1L then
            raise (ArgumentException($"{name} must hold at least one row; got {Guard.describe t}.", name))

    let private prepare (similarity: Similarity) (t: torch.Tensor) =
        match similarity with
        | Cosine -> torch.nn.functional.normalize(t, 2.0, -1L, 1e-12)
        | Dot -> t

    /// Scores of this rank's queries ([b, D]) against the keys of every rank, gathered with their gradient
    /// ([N b, D]), in the positive-first layout [b, N b]: query i of rank r has its positive at global row r b + i
    /// and the N b - 1 other keys of the global batch, in global order, as negatives. Exactly the rows
    /// `Scores.ofInBatch` gives a single process holding all N b queries and keys, rows r b .. r b + b - 1.
    let private gatheredScores (group: ProcessGroup) (similarity: Similarity) (temperature: float) (queries: torch.Tensor list) (keys: torch.Tensor) =
        let gathered = prepare similarity (allGather group keys)
        let offset = int64 group.Rank * keys.shape[0]
        let inverseTemperature = (1.0 / temperature).ToScalar()
        queries |> List.map (fun q -> positiveFirst offset ((prepare similarity q).matmul(gathered.mT).mul(inverseTemperature)))

    /// InfoNCE (Eq. 2) with SimCLR's global batch: this rank's `queries` f(x) ([b, D]) against the keys g(y) of every
    /// rank ([b, D] here, gathered differentiably), E = similarity / temperature, K = N b candidates. Returns the
    /// per-example bound of this rank's b queries, `[b]`, in nats (capped by log(N b)). Its mean over ranks is the
    /// single-process bound over the global batch; `averageGradients` turns each rank's gradient of its mean into the
    /// single-process gradient.
    let gatheredInfoNce (group: ProcessGroup) (similarity: Similarity) (temperature: float) (queries: torch.Tensor) (keys: torch.Tensor) : torch.Tensor =
        if isNull group then nullArg (nameof group)
        Guard.positive (nameof temperature) temperature
        checkEmbeddings (nameof queries) queries
        Guard.companion (nameof keys) queries (nameof queries) keys
        Guard.shape (nameof keys) queries.shape "one key per query" keys
        Guard.finite (nameof queries) queries
        Guard.finite (nameof keys) keys
        Scoped.run (fun () ->
            match gatheredScores group similarity temperature [ queries ] keys with
            | [ scores ] -> Bounds.Unchecked.infoNce scores
            | _ -> failwith "unreachable")

    /// The Appendix B.1 loss (see `MemoryBank.decomposedLoss`) with in-batch negatives taken from the global batch:
    /// this rank's f(x') and f(x'') ([b, D] each) are scored against the keys of every rank (gathered with their
    /// gradient), K = N b. The loss is the mean over this rank's b examples; averaged over ranks (its value with
    /// `allReduce Mean`, its gradient with `averageGradients`) it is the single-process loss over all N b examples.
    /// With a queue (MoCo) there is nothing to gather in the loss: call `MemoryBank.decomposedLoss` with the local keys
    /// and feed the queue with `allGather` of the keys.
    let gatheredDecomposedLoss
        (group: ProcessGroup)
        (settings: DecomposedLossSettings)
        (fullViewQueries: torch.Tensor)
        (restrictedViewQueries: torch.Tensor)
        (keys: torch.Tensor)
        : DecomposedLoss =
        if isNull group then nullArg (nameof group)
        Guard.unitInterval "lambda" settings.Lambda
        Guard.positive "temperature" settings.Temperature
        checkEmbeddings (nameof fullViewQueries) fullViewQueries
        Guard.companion (nameof restrictedViewQueries) fullViewQueries (nameof fullViewQueries) restrictedViewQueries
        Guard.shape (nameof restrictedViewQueries) fullViewQueries.shape "one restricted view per full view" restrictedViewQueries
        Guard.companion (nameof keys) fullViewQueries (nameof fullViewQueries) keys
        Guard.shape (nameof keys) fullViewQueries.shape "one key per query" keys
        if fullViewQueries.shape[0] * int64 group.WorldSize < 2L then
            raise (ArgumentException($"in-batch negatives need a global batch of at least 2; got {Guard.describe fullViewQueries} on {group.WorldSize} rank(s).", nameof fullViewQueries))
        Guard.finite (nameof fullViewQueries) fullViewQueries
        Guard.finite (nameof restrictedViewQueries) restrictedViewQueries
        Guard.finite (nameof keys) keys
        use scope = torch.NewDisposeScope()
        match gatheredScores group settings.Similarity settings.Temperature [ fullViewQueries; restrictedViewQueries ] keys with
        | [ full; restricted ] -> MemoryBank.movedOut (MemoryBank.ofScores settings full restricted)
        | _ -> failwith "unreachable"

    /// MoCo's shuffled BatchNorm across ranks: the keys f_ema(y) of this rank's `views` ([b, ...]), computed so that
    /// the BatchNorm statistics of a key come from a random group of b examples of the global batch rather than from
    /// its query's own rank. All views are gathered (no gradient), rank 0's random permutation of the N b rows is
    /// broadcast (every rank draws one from its `generator`, so seeded generators stay in step, and rank 0's is used),
    /// rank r encodes rows `permutation[r b .. r b + b - 1]`, the encoded keys are gathered and un-shuffled, and rank r
    /// keeps its own rows. Equal to a single process that encodes the global batch permuted by the same permutation in
    /// N chunks of b (the vision driver's `--bn-splits N`). No gradient (keys come from the momentum encoder).
    let shuffledKeys (group: ProcessGroup) (generator: torch.Generator) (encode: Func<torch.Tensor, torch.Tensor>) (views: torch.Tensor) : torch.Tensor =
        if isNull group then nullArg (nameof group)
        if isNull encode then nullArg (nameof encode)
        checkTensor (nameof views) views
        if views.Dimensions < 1L || views.shape[0] < 1L then
            raise (ArgumentException($"{nameof views} must hold at least one row; got {Guard.describe views}.", nameof views))
        Scoped.run (fun () ->
            use _ = torch.no_grad ()
            let b = views.shape[0]
            let all = allGather group (views.detach())
            let drawn = torch.randperm(all.shape[0], generator = generator, device = views.device)
            let permutation = broadcast group 0 drawn
            let mine = permutation.narrow(0L, int64 group.Rank * b, b)
            let encoded = encode.Invoke(all.index_select(0L, mine))
            let keys = allGather group (encoded.detach())
            keys.index_select(0L, permutation.argsort()).narrow(0L, int64 group.Rank * b, b))
