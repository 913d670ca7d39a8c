namespace Decomp.Core

open System
open TorchSharp

/// R independent MLP critics `inputSize -> hidden.. -> outputSize` (ReLU between layers) held as one network: every
/// layer's weights are stacked along a leading run axis, `[R, in, out]`, its biases `[R, 1, out]`, and one batched
/// matrix product (`baddbmm`) replaces R small ones. Run r's slice computes exactly `Critics.mlp`'s function with
/// run r's parameters; no arithmetic mixes runs, so a loss that sums the runs' objectives gives each run exactly
/// its own gradient.
type BatchedMlp internal (runs: int, sizes: int list) as this =
    inherit torch.nn.Module<torch.Tensor, torch.Tensor>("BatchedMlp")

    do
        sizes
        |> List.pairwise
        |> List.iteri (fun i (input, output) ->
            this.register_parameter($"weight{i}", torch.nn.Parameter(torch.zeros(int64 runs, int64 input, int64 output)))
            this.register_parameter($"bias{i}", torch.nn.Parameter(torch.zeros(int64 runs, 1L, int64 output))))

    /// R, the number of independent runs.
    member _.Runs = runs

    /// The layer widths, input first.
    member _.Sizes = sizes

    /// (weight [R, in, out], bias [R, 1, out]) per layer, input layer first. Read from the module's registered
    /// parameters on every call, because moving the module to another device or dtype (`to`) replaces them.
    member this.Layers: (torch.Tensor * torch.Tensor)[] =
        Array.init (sizes.Length - 1) (fun i -> (this.get_parameter $"weight{i}" :> torch.Tensor), (this.get_parameter $"bias{i}" :> torch.Tensor))

    member private _.Check (count: int64) (input: torch.Tensor) =
        Guard.notNull (nameof input) input
        Guard.floating (nameof input) input
        if input.Dimensions <> 3L || input.shape[0] <> count || input.shape[2] <> int64 sizes.Head then
            raise (ArgumentException($"{nameof input} must have shape [{count} runs, rows, {sizes.Head} features]; got {Guard.describe input}.", nameof input))

    /// Layers [0, count) of `stack` (one (weight, bias) per layer), ReLU after each: the input itself for count = 0.
    static member internal Through (stack: (torch.Tensor * torch.Tensor)[]) (count: int) (input: torch.Tensor) =
        stack
        |> Array.take count
        |> Array.fold
            (fun (h: torch.Tensor) (weight, bias) ->
                // TorchSharp's argument order: (batch1, batch2, input) for input + batch1 . batch2.
                let z = torch.baddbmm(h, weight, bias)
                // In place: baddbmm's backward needs its inputs, not its output, so the ReLU may overwrite it.
                z.relu_())
            input

    static member private Forward (stack: (torch.Tensor * torch.Tensor)[]) (input: torch.Tensor) =
        let weight, bias = stack[stack.Length - 1]
        torch.baddbmm(BatchedMlp.Through stack (stack.Length - 1) input, weight, bias)

    /// x [R, n, inputSize] -> [R, n, outputSize]: run r's rows go through run r's layers only.
    override this.forward(input: torch.Tensor) : torch.Tensor =
        this.Check (int64 runs) input
        Scoped.run (fun () -> BatchedMlp.Forward this.Layers input)

    /// `forward` for some of the runs: `selected` is an int64 index [A] into the run axis (say, the runs still
    /// training), and x [A, n, inputSize] gives [A, n, outputSize], row block a through run `selected[a]`'s layers. The
    /// other runs take no part (no arithmetic is spent on them) and get a zero gradient.
    member this.ForwardOf(selected: torch.Tensor, input: torch.Tensor) : torch.Tensor =
        Guard.notNull (nameof selected) selected
        if selected.Dimensions <> 1L || selected.dtype <> torch.int64 then
            raise (ArgumentException($"{nameof selected} must be an int64 index [runs] into the {runs} runs; got {Guard.describe selected}.", nameof selected))
        if selected.device_type = DeviceType.CPU && selected.shape[0] > 0L then
            use lowest = selected.min()
            use highest = selected.max()
            let low, high = lowest.item<int64> (), highest.item<int64> ()
            if low < 0L || high >= int64 runs then
                raise (ArgumentException($"{nameof selected} must index runs 0 .. {runs - 1}; it holds {(if low < 0L then low else high)}.", nameof selected))
        this.Check selected.shape[0] input
        Scoped.run (fun () ->
            let layers = this.Layers
            let index = selected.``to`` (fst layers[0]).device
            BatchedMlp.Forward (layers |> Array.map (fun (w, b) -> w.index_select(0L, index), b.index_select(0L, index))) input)

    /// The last hidden layer's activations h(x) [R, n, hidden] (after its ReLU), so that forward x = h(x) W + b with
    /// (W, b) the last layer. For an input-only MLP (no hidden layer), the input itself.
    member this.Hidden(input: torch.Tensor) : torch.Tensor =
        this.Check (int64 runs) input
        Scoped.run (fun () -> let layers = this.Layers in BatchedMlp.Through layers (layers.Length - 1) input)

/// `relu(x W + b) . q` for every candidate of every example of every run, the scores of a hidden layer against
/// per-example query vectors: x [R, n, M, in], W [R, in, H], b [R, 1, H], q [R, n, H] give [R, n, M] with
///
/// `scores[r, i, j] = sum_h q[r, i, h] relu(x[r, i, j] W[r] + b[r])_h`.
///
/// The same function autograd would build from `baddbmm`, `relu` and `bmm`, with a hand-written backward pass:
///
/// - `dq[r, i] = sum_j g[r, i, j] a[r, i, j]`, with a = relu(x W + b) and g the gradient of the scores;
/// - `dz[r, i, j] = g[r, i, j] q[r, i] * 1[a[r, i, j] > 0]`, the gradient of the pre-activation (ReLU's at 0 is 0, as
///   autograd's);
/// - `dW[r] = sum_{i, j} x[r, i, j]^T dz[r, i, j]`, `db[r] = sum_{i, j} dz[r, i, j]`, `dx[r, i, j] = dz[r, i, j] W[r]^T`.
///
/// Why by hand: the n M activations [R, n M, H] are the largest tensor of InfoNCE_S's conditional term (Figure 2's
/// full sweep at K = 512: 7 runs x 65,280 candidates x 100 units, 183 MB). Autograd stores them and makes a dozen
/// passes over tensors of that size (bias copy, ReLU, its mask, the outer product of the score gradient, the bias
/// sum), each allocated afresh and read from main memory. Here the examples are taken a few at a time, so a chunk's
/// temporaries stay in the CPU's cache, and the backward pass recomputes a chunk's activations (one more x W product)
/// instead of storing them all. Measured on 2 CPU cores at that size (issue 17): the step's resident memory falls
/// from 1.0-1.5 GB to 0.4 GB and no longer grows with n M, and the term is about a tenth faster, the recomputed
/// product paid for by the passes saved. Not twice differentiable.
///
/// On the CPU in float32, forward and backward are `HiddenLayerKernel`'s fused passes, which never write the
/// activations at all (the conditional term's forward and backward passes at that size: 123-141 ms with the chunks
/// of libtorch operators, 60-66 ms fused); the chunks below serve other dtypes and devices, and the backward pass when
/// x needs a gradient (a hidden layer below this one).
type internal HiddenLayerScores() =
    inherit torch.autograd.SingleTensorFunction<HiddenLayerScores>()

    /// Activations per chunk, [R, examples, M, H] elements: 4 MB of float32, which stays in a laptop's L3 cache with
    /// the chunk's other temporaries. Off the CPU every example goes in one chunk: there is no cache to fit, and each
    /// kernel launch costs.
    static member ExamplesPerChunk(device: torch.Device, runs: int64, candidates: int64, hidden: int64, examples: int64) =
        if device.``type`` = DeviceType.CPU then max 1L ((1L <<< 20) / max 1L (runs * candidates * hidden)) else max 1L examples

    static member private Unpack(vars: obj[]) =
        vars[0] :?> torch.Tensor, vars[1] :?> torch.Tensor, vars[2] :?> torch.Tensor, vars[3] :?> torch.Tensor

    override _.Name = "Decomp.Batched.HiddenLayerScores"

    override _.forward(ctx: torch.autograd.AutogradContext, [<ParamArray>] vars: obj[]) : torch.Tensor =
        let x, weight, bias, queries = HiddenLayerScores.Unpack vars
        ctx.save_for_backward(Collections.Generic.List [ x; weight; bias; queries ])
        ctx.save_data("inputNeedsGrad", box x.requires_grad)
        let r, n, m, i = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
        let h = weight.shape[2]
        use scope = torch.NewDisposeScope()
        if CpuKernel.applies [ x; weight; bias; queries ] then
            let contiguous (t: torch.Tensor) = t.contiguous ()
            (HiddenLayerKernel.scores (contiguous x) (contiguous weight) (contiguous bias) (contiguous queries)).MoveToOuterDisposeScope()
        else
        let chunk = HiddenLayerScores.ExamplesPerChunk(x.device, r, m, h, n)
        let scores = torch.empty([| r; n; m |], dtype = x.dtype, device = x.device)
        for first in 0L .. chunk .. n - 1L do
            use _ = torch.NewDisposeScope()
            let count = min chunk (n - first)
            // TorchSharp's argument order: (batch1, batch2, input) for input + batch1 . batch2.
            let activations = torch.baddbmm(x.narrow(1L, first, count).reshape(r, count * m, i), weight, bias).relu_()
            let q = queries.narrow(1L, first, count).reshape(r * count, 1L, h)
            scores.narrow(1L, first, count).copy_((activations.view(r * count, m, h) * q).sum([| 2L |]).view(r, count, m)) |> ignore
        scores.MoveToOuterDisposeScope()

    override _.backward(ctx: torch.autograd.AutogradContext, gradient: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        let saved = ctx.get_saved_variables ()
        let x, weight, bias, queries = saved[0], saved[1], saved[2], saved[3]
        let inputNeedsGrad = ctx.get_data "inputNeedsGrad" :?> bool
        let r, n, m, i = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
        let h = weight.shape[2]
        if not inputNeedsGrad && CpuKernel.applies [ x; weight; bias; queries; gradient ] then
            let contiguous (t: torch.Tensor) = t.contiguous ()
            let dWeight, dBias, dQueries = HiddenLayerKernel.scoresBackward (contiguous x) (contiguous weight) (contiguous bias) (contiguous queries) (contiguous gradient)
            Collections.Generic.List [ null; dWeight.MoveToOuterDisposeScope(); dBias.MoveToOuterDisposeScope(); dQueries.MoveToOuterDisposeScope() ]
        else
        let chunk = HiddenLayerScores.ExamplesPerChunk(x.device, r, m, h, n)
        let dWeight = torch.zeros_like weight
        let dBias = torch.zeros_like bias
        let dQueries = torch.empty_like queries
        let dInput = if inputNeedsGrad then torch.empty_like x else null
        for first in 0L .. chunk .. n - 1L do
            use _ = torch.NewDisposeScope()
            let count = min chunk (n - first)
            let xChunk = x.narrow(1L, first, count).reshape(r, count * m, i)
            let activations = torch.baddbmm(xChunk, weight, bias).relu_().view(r * count, m, h)
            let g = gradient.narrow(1L, first, count).reshape(r * count, m, 1L)
            dQueries.narrow(1L, first, count).copy_((activations * g).sum([| 1L |]).view(r, count, h)) |> ignore
            // In place over the recomputed activations: sign(a) is ReLU's derivative, 1 where a > 0 and 0 at a = 0.
            let q = queries.narrow(1L, first, count).reshape(r * count, 1L, h)
            let dPre = activations.sign_().mul_(g).mul_(q).view(r, count * m, h)
            dWeight.add_(torch.bmm(xChunk.mT, dPre)) |> ignore
            dBias.add_(dPre.sum([| 1L |], keepdim = true)) |> ignore
            if inputNeedsGrad then
                dInput.narrow(1L, first, count).copy_(torch.bmm(dPre, weight.mT).view(r, count, m, i)) |> ignore
        let moved (t: torch.Tensor) = if isNull t then null else t.MoveToOuterDisposeScope()
        Collections.Generic.List [ moved dInput; moved dWeight; moved dBias; moved dQueries ]

/// Independent training runs that share shapes (the same estimator and K; different seeds, data and ground truths)
/// trained together as one batched network (issue 17). Each run keeps its own data stream, initialisation and Adam
/// state:
///
/// - the loss is the sum of the runs' objectives, `L = -sum_r J_r(theta_r)`, so `dL/dtheta_r = -dJ_r/dtheta_r`: each
///   run gets exactly its own gradient, because no operation mixes the run axis;
/// - Adam is elementwise, `theta <- theta - lr mhat / (sqrt vhat + eps)`, so Adam over the stacked parameters is R
///   separate Adams with their own moments.
///
/// Batched training therefore equals training the runs one by one, up to float rounding (the batched products sum in
/// another order); `tests/Experiments.Tests` checks it. Layout: run axis first everywhere, `[R, ...]`.
module Batched =

    /// R critics `Critics.mlp inputSize hiddenSizes outputSize` as one `BatchedMlp`, zero-initialised (see
    /// `initialise`).
    let mlp (runs: int) (inputSize: int) (hiddenSizes: int list) (outputSize: int) : BatchedMlp =
        Guard.atLeast (nameof runs) 1L (int64 runs)
        Guard.atLeast (nameof inputSize) 1L (int64 inputSize)
        Guard.atLeast (nameof outputSize) 1L (int64 outputSize)
        if isNull (box hiddenSizes) then raise (ArgumentNullException(nameof hiddenSizes))
        hiddenSizes |> List.iter (fun h -> Guard.atLeast (nameof hiddenSizes) 1L (int64 h))
        new BatchedMlp(runs, inputSize :: hiddenSizes @ [ outputSize ])

    let private checkGenerators (network: BatchedMlp) (generators: torch.Generator[]) =
        if isNull (box network) then raise (ArgumentNullException(nameof network))
        if isNull generators then raise (ArgumentNullException(nameof generators))
        if generators.Length <> network.Runs || generators |> Array.exists isNull then
            raise (ArgumentException($"{nameof generators} must hold one generator per run ({network.Runs}); got {generators.Length}.", nameof generators))

    /// Draws run r's parameters from `generators[r]` with PyTorch's default Linear distribution,
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), layer by layer, weight (as PyTorch's [out, in]) then bias: the same draws,
    /// in the same order, as initialising run r's own `Critics.mlp` from that generator. A run therefore depends on its
    /// generator alone, whatever other runs share its batch.
    let initialise (generators: torch.Generator[]) (network: BatchedMlp) : unit =
        checkGenerators network generators
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        for weight, bias in network.Layers do
            let input, output = weight.shape[1], weight.shape[2]
            let bound = 1.0 / sqrt (float input)
            generators
            |> Array.iteri (fun r generator ->
                let w = torch.empty([| output; input |], dtype = weight.dtype).uniform_(-bound, bound, generator)
                let b = torch.empty([| output |], dtype = bias.dtype).uniform_(-bound, bound, generator)
                weight[r].copy_(w.t()) |> ignore
                bias[r].copy_(b.unsqueeze 0L) |> ignore)

    /// Run r's critic as a plain `Critics.mlp` holding a copy of its parameters (for reading out one trained run, or
    /// checking it against a network trained alone).
    let extract (run: int) (network: BatchedMlp) : torch.nn.Module<torch.Tensor, torch.Tensor> =
        if isNull (box network) then raise (ArgumentNullException(nameof network))
        if run < 0 || run >= network.Runs then
            raise (ArgumentOutOfRangeException(nameof run, run, $"{nameof run} must lie in 0 .. {network.Runs - 1}."))
        let sizes = network.Sizes
        let single = Critics.mlp sizes.Head (sizes |> List.tail |> List.take (sizes.Length - 2)) (List.last sizes)
        use _ = torch.no_grad ()
        let linears = single.modules () |> Seq.choose (function :? TorchSharp.Modules.Linear as l -> Some l | _ -> None) |> Array.ofSeq
        Array.iter2
            (fun (linear: TorchSharp.Modules.Linear) (weight: torch.Tensor, bias: torch.Tensor) ->
                use w = weight[run].t()
                use b = bias[run].squeeze 0L
                linear.weight.copy_ w |> ignore
                linear.bias.copy_ b |> ignore)
            linears
            network.Layers
        single.``to``(network.Layers[0] |> fst |> _.device)

    let private checkStacked (name: string) (t: torch.Tensor) =
        Guard.notNull name t
        Guard.rank name 3 "[runs, batch, features]" t
        Guard.floating name t

    /// `Scores.ofInBatch` for every run: in-batch score matrices [R, B, B], `matrices[r, i, j] = E_r(x_ri, y_rj)`
    /// (positives on the diagonal), in Decomp's positive-first layout [R, B, B], row i of run r being
    /// `[E_r(x_ri, y_ri), E_r(x_ri, y_rj) for j <> i in order]`. Moves values without scanning them; the bound that
    /// reads them does.
    let ofInBatch (matrices: torch.Tensor) : torch.Tensor =
        checkStacked (nameof matrices) matrices
        if matrices.shape[1] <> matrices.shape[2] || matrices.shape[1] < 2L then
            raise (ArgumentException($"{nameof matrices} must hold square [B, B] matrices with B >= 2, one per run; got {Guard.describe matrices}.", nameof matrices))
        Scores.ofInBatchUnchecked matrices

    /// In-batch dot-product scores per run, in Decomp's layout: queries f(x) and keys g(y) [R, B, D] give [R, B, B]
    /// where row i of run r is `[f(x_ri) . g(y_ri), f(x_ri) . g(y_rj) for j <> i in order]` (`Critics.inBatchScores
    /// Critics.dot` for every run, by one batched product). Scanned by the bound that reads them (`perRun`).
    let inBatchScores (queries: torch.Tensor) (keys: torch.Tensor) : torch.Tensor =
        checkStacked (nameof queries) queries
        checkStacked (nameof keys) keys
        Guard.companion (nameof keys) queries (nameof queries) keys
        if keys.shape <> queries.shape || queries.shape[1] < 2L then
            raise (ArgumentException($"{nameof keys} must have one key per query ({Guard.shapeText queries}, batch >= 2); got {Guard.describe keys}.", nameof keys))
        Scoped.run (fun () -> ofInBatch (torch.bmm(queries, keys.mT)))

    /// Dot-product scores per run against per-example candidates, in Decomp's layout: queries [R, n, D], their
    /// positive keys [R, n, D] and negatives [R, n, M, D] give [R, n, 1 + M] with the positive in column 0
    /// (`Critics.scores Critics.dot` for every run). Scanned by the bound that reads them (`perRun`).
    let scores (queries: torch.Tensor) (positiveKeys: torch.Tensor) (negativeKeys: torch.Tensor) : torch.Tensor =
        checkStacked (nameof queries) queries
        checkStacked (nameof positiveKeys) positiveKeys
        Guard.companion (nameof positiveKeys) queries (nameof queries) positiveKeys
        Guard.shape (nameof positiveKeys) queries.shape "one positive key per query" positiveKeys
        Guard.companion (nameof negativeKeys) queries (nameof queries) negativeKeys
        if negativeKeys.Dimensions <> 4L || negativeKeys.shape[0] <> queries.shape[0] || negativeKeys.shape[1] <> queries.shape[1] || negativeKeys.shape[3] <> queries.shape[2] then
            raise (ArgumentException($"{nameof negativeKeys} must have shape [{queries.shape[0]}, {queries.shape[1]}, negatives, {queries.shape[2]}]; got {Guard.describe negativeKeys}.", nameof negativeKeys))
        Scoped.run (fun () ->
            let r, n, d = queries.shape[0], queries.shape[1], queries.shape[2]
            let candidates = torch.cat([| positiveKeys.unsqueeze 2L; negativeKeys |], 2L)
            // One batched product over the R n examples: [R n, 1 + M, D] . [R n, D, 1].
            torch.bmm(candidates.reshape(r * n, -1L, d), queries.reshape(r * n, d, 1L)).reshape(r, n, -1L))

    /// `scores queries positiveKeys (keyEncoder.forward negativeInputs)` without encoding the negatives to the end:
    /// queries [R, n, D], positive keys [R, n, D] and negative inputs [R, n, M, inputSize] give [R, n, 1 + M].
    ///
    /// With g's last layer g(y) = h(y) W + b (`BatchedMlp.Hidden` gives h), a negative's score is
    /// `f(x) . g(y) = (f(x) W^T) . h(y) + f(x) . b`: the last layer is applied to the n queries instead of the n M
    /// negatives. For the paper's encoders (hidden 100, output 100) that removes 2 n M H D flops from the forward pass
    /// and 4 n M H D from the backward pass, five sixths of the encoder's arithmetic on the negatives, and the scores
    /// are the same function (equal up to float rounding). The conditional term of InfoNCE_S, whose K/2 - 1 exact
    /// conditional negatives per example dominate its cost, is where this pays (issue 17). g's last hidden layer and
    /// the negatives' scores are computed a few examples at a time with a hand-written backward pass
    /// (`HiddenLayerScores`), so the n M hidden activations are never held at once.
    let scoresOfEncoded (keyEncoder: BatchedMlp) (queries: torch.Tensor) (positiveKeys: torch.Tensor) (negativeInputs: torch.Tensor) : torch.Tensor =
        if isNull (box keyEncoder) then raise (ArgumentNullException(nameof keyEncoder))
        checkStacked (nameof queries) queries
        checkStacked (nameof positiveKeys) positiveKeys
        Guard.companion (nameof positiveKeys) queries (nameof queries) positiveKeys
        Guard.shape (nameof positiveKeys) queries.shape "one positive key per query" positiveKeys
        Guard.companion (nameof negativeInputs) queries (nameof queries) negativeInputs
        // Read once: each read of `Layers` gathers the registered parameters afresh.
        let layers = keyEncoder.Layers
        let weight, bias = layers[layers.Length - 1]
        let r, n, d = queries.shape[0], queries.shape[1], queries.shape[2]
        if r <> int64 keyEncoder.Runs || d <> weight.shape[2] then
            raise (ArgumentException($"{nameof queries} must have shape [{keyEncoder.Runs}, n, {weight.shape[2]}] to meet {nameof keyEncoder}'s keys; got {Guard.describe queries}.", nameof queries))
        if negativeInputs.Dimensions <> 4L || negativeInputs.shape[0] <> r || negativeInputs.shape[1] <> n || negativeInputs.shape[3] <> int64 keyEncoder.Sizes.Head then
            raise (ArgumentException($"{nameof negativeInputs} must have shape [{r}, {n}, negatives, {keyEncoder.Sizes.Head}]; got {Guard.describe negativeInputs}.", nameof negativeInputs))
        Scoped.run (fun () ->
            let m = negativeInputs.shape[2]
            // f(x) W^T [R, n, H] and f(x) . b [R, n, 1]: the last layer met from the query's side.
            let pulledBack = torch.bmm(queries, weight.mT)
            let offset = torch.bmm(queries, bias.mT)
            let negatives =
                if layers.Length = 1 then
                    // No hidden layer: h(y) = y.
                    torch.bmm(negativeInputs.reshape(r * n, m, -1L), pulledBack.reshape(r * n, -1L, 1L)).reshape(r, n, m) + offset
                else
                    // The layers before the last hidden one as usual, then the last hidden layer and the scores in
                    // cache-sized chunks (`HiddenLayerScores`), the n M activations never held at once.
                    let below = BatchedMlp.Through layers (layers.Length - 2) (negativeInputs.reshape(r, n * m, -1L))
                    let hiddenWeight, hiddenBias = layers[layers.Length - 2]
                    HiddenLayerScores.apply(below.reshape(r, n, m, -1L), hiddenWeight, hiddenBias, pulledBack) + offset
            let positive = (queries * positiveKeys).sum([| 2L |], keepdim = true)
            torch.cat([| positive; negatives |], 2L))

    /// Applies a per-example bound of Decomp's (`Bounds.infoNce`, `Bounds.conditionalInfoNce`, ...) to every run's
    /// scores [R, B, K]: the runs' rows are one [R B, K] score matrix, since a bound's value for a row depends on that
    /// row alone. Returns [R, B]; the bound validates and scans the scores.
    let perRun (bound: torch.Tensor -> torch.Tensor) (scores: torch.Tensor) : torch.Tensor =
        if isNull (box bound) then raise (ArgumentNullException(nameof bound))
        checkStacked (nameof scores) scores
        Scoped.run (fun () -> (bound (scores.reshape(-1L, scores.shape[2]))).reshape(scores.shape[0], scores.shape[1]))

    /// Applies `bound run scores` to each run's scores [B, K] on its own and stacks the results: [R, B, K] gives
    /// [R, B]. For the bounds whose per-example values share a term estimated over the whole batch (Donsker-Varadhan,
    /// SMILE and MINE estimate `log E_{p(x)p(y)} e^E` from all of a batch's negatives), where `perRun`'s one [R B, K]
    /// matrix would mix the runs; `run` (0 .. R-1) lets a bound with state keep one per run (MINE's moving average).
    /// Costs R calls of the bound instead of one.
    let eachRun (bound: int -> torch.Tensor -> torch.Tensor) (scores: torch.Tensor) : torch.Tensor =
        if isNull (box bound) then raise (ArgumentNullException(nameof bound))
        checkStacked (nameof scores) scores
        Scoped.run (fun () ->
            let values = Array.init (int scores.shape[0]) (fun r -> bound r scores[int64 r])
            values
            |> Array.iteri (fun r v ->
                if v.shape <> [| scores.shape[1] |] then
                    raise (ArgumentException($"{nameof bound} must return one value per example, [{scores.shape[1]}]; for run {r} it returned {Guard.describe v}.", nameof bound)))
            torch.stack(values, 0L))

    /// `perRun` for a bound of two score matrices of the same rows (`Decomposition.decomposedInfoNce` and
    /// `decomposedInfoNceImportanceSampled`): [R, B, K1] and [R, B, K2] give [R, B].
    let perRun2 (bound: torch.Tensor -> torch.Tensor -> torch.Tensor) (first: torch.Tensor) (second: torch.Tensor) : torch.Tensor =
        if isNull (box bound) then raise (ArgumentNullException(nameof bound))
        checkStacked (nameof first) first
        checkStacked (nameof second) second
        if second.shape[0] <> first.shape[0] || second.shape[1] <> first.shape[1] then
            raise (ArgumentException($"{nameof second} must have the runs and rows of {nameof first} ({Guard.shapeText first}); got {Guard.describe second}.", nameof second))
        Scoped.run (fun () ->
            (bound (first.reshape(-1L, first.shape[2])) (second.reshape(-1L, second.shape[2]))).reshape(first.shape[0], first.shape[1]))

    /// Trains R runs together for at most `maxSteps` Adam steps (learning rate `learningRate`), until `observe`
    /// returns false: `objective step` returns the objectives to maximise on that step's batches (each run's own), one
    /// per run it trains that step ([R], or fewer when runs are left out), and the loss is `-sum_r objective_r` (see
    /// the module's summary for why that trains each run exactly as alone). `observe step objectives` sees the
    /// detached values after every step and says whether to go on. A run left out of a step's objective gets a zero
    /// gradient; Adam still moves its parameters by its moments, so leave out only runs whose parameters no longer
    /// matter (finished runs whose result is kept elsewhere). Every step runs in its own dispose scope, and a
    /// `Decomp.Runtime.StepCollector` frees the implicit objects TorchSharp leaves to finalizers, so native memory stays
    /// flat over any number of steps; the optimizer's state lives for the call only. Returns the steps taken.
    let trainWhile (parameters: TorchSharp.Modules.Parameter seq) (learningRate: float) (maxSteps: int) (objective: int -> torch.Tensor) (observe: int -> torch.Tensor -> bool) : int =
        if isNull (box parameters) then raise (ArgumentNullException(nameof parameters))
        Guard.positive (nameof learningRate) learningRate
        Guard.atLeast (nameof maxSteps) 0L (int64 maxSteps)
        if isNull (box objective) then raise (ArgumentNullException(nameof objective))
        if isNull (box observe) then raise (ArgumentNullException(nameof observe))
        use optimizer = torch.optim.Adam(parameters, lr = learningRate)
        // Frees the step's implicit Scalars (Adam's among them) before they fragment the native heap.
        let collector = Decomp.Runtime.StepCollector()
        let mutable step = 0
        let mutable go = true
        while go && step < maxSteps do
            step <- step + 1
            do
                use scope = torch.NewDisposeScope()
                let values: torch.Tensor = objective step
                if isNull (box values) then raise (ArgumentException($"{nameof objective} must return one value per run, [R]; it returned null.", nameof objective))
                if values.Dimensions <> 1L then
                    raise (ArgumentException($"{nameof objective} must return one value per run, [R]; it returned {Guard.describe values}.", nameof objective))
                optimizer.zero_grad ()
                values.sum().neg().backward ()
                optimizer.step () |> ignore
                go <- observe step (values.detach ())
            collector.AfterStep() |> ignore
        step

    /// Trains R runs together for `steps` Adam steps: `trainWhile` with an `observe` that always goes on.
    let train (parameters: TorchSharp.Modules.Parameter seq) (learningRate: float) (steps: int) (objective: int -> torch.Tensor) (observe: int -> torch.Tensor -> unit) : unit =
        if isNull (box observe) then raise (ArgumentNullException(nameof observe))
        Guard.atLeast (nameof steps) 0L (int64 steps)
        trainWhile parameters learningRate steps objective (fun step values -> observe step values; true) |> ignore
