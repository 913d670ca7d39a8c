namespace Decomp.Core

open System
open System.Diagnostics
open TorchSharp

/// The bound a critic is trained with and scored by when estimating from data.
type MiEstimator =
    /// InfoNCE (Eq. 2) over in-batch negatives: low variance, capped by log(batch size).
    | InfoNce
    /// NWJ (Poole et al., Eq. 11): unbiased on a batch, not capped, high variance at large MI.
    | Nwj
    /// Donsker-Varadhan: not capped, biased on finite batches.
    | DonskerVaradhan
    /// MINE: the Donsker-Varadhan value, trained with MINE's moving-average gradient correction (rate 0.01).
    | Mine
    /// TUBA with a learned constant baseline log a.
    | Tuba
    /// SMILE (Song and Ermon, 2020): Donsker-Varadhan with the negatives' scores clipped to [-5, 5], read out from a
    /// critic trained on the Jensen-Shannon objective.
    | Smile
    /// The Jensen-Shannon-trained critic read out as NWJ (Poole et al.'s "JS").
    | JensenShannon

    /// The name on command lines and in tables: infonce, nwj, dv, mine, tuba, smile, js.
    member e.Name =
        match e with
        | InfoNce -> "infonce"
        | Nwj -> "nwj"
        | DonskerVaradhan -> "dv"
        | Mine -> "mine"
        | Tuba -> "tuba"
        | Smile -> "smile"
        | JensenShannon -> "js"

    /// Every estimator, in the order tables list them.
    static member All = [ InfoNce; Nwj; DonskerVaradhan; Mine; Tuba; Smile; JensenShannon ]

    /// The estimator of that `Name` (case-insensitive); Error lists the known names.
    static member Parse(name: string) : Result<MiEstimator, string> =
        match MiEstimator.All |> List.tryFind (fun e -> String.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase)) with
        | Some e -> Ok e
        | None ->
            let known = MiEstimator.All |> List.map _.Name |> String.concat ", "
            Error $"unknown estimator '{name}'; expected one of {known}"

/// The network that scores a pair (x, y).
type CriticArchitecture =
    /// E(x, y) = f(x) . g(y), two MLP encoders: a batch of B costs 2B forward passes, so every pair of a batch is scored
    /// at the price of its examples.
    | Separable
    /// E(x, y) = h([x, y]), one MLP on the concatenation (bmi's default): more expressive, B^2 forward passes a batch.
    | Joint

/// How conditional MI I(X; Y | Z) is estimated.
type ConditionalRoute =
    /// The chain rule through the decomposition: I([Z, X]; Y) - I(Z; Y), two InfoNCE terms sharing the encoder g(y)
    /// as InfoNCE_S does (Eq. 5), trained together; each batch gives the difference, so their errors largely cancel.
    | ChainRule
    /// I_IS (Proposition 3): negatives from p(y) reweighted by the I(Z; Y) critic toward p(y | z); no conditional
    /// sampler. Trained as the decomposed bound InfoNCE_S IS, whose conditional term is the estimate.
    | ImportanceSampled

    /// The name on command lines: chain-rule, importance-sampled.
    member r.Name =
        match r with
        | ChainRule -> "chain-rule"
        | ImportanceSampled -> "importance-sampled"

/// Settings of an estimate. `EstimationOptions.Defaults` documents the defaults and why.
type EstimationOptions =
    { /// The bound trained and reported.
      Estimator: MiEstimator
      /// The critic's architecture (conditional routes always use separable encoders).
      Critic: CriticArchitecture
      /// Hidden layer widths of each MLP.
      HiddenSizes: int list
      /// Width of the separable encoders' embeddings f(x), g(y).
      EmbeddingSize: int
      /// Examples per batch B; InfoNCE-family estimates are capped by log B.
      BatchSize: int
      /// Adam's learning rate.
      LearningRate: float
      /// The most training steps.
      MaxSteps: int
      /// Steps between evaluations on the validation part.
      EvaluateEvery: int
      /// Evaluations without improvement on the validation part before training stops.
      Patience: int
      /// Share of the rows the critic trains on.
      TrainFraction: float
      /// Share of the rows that decide when to stop; the rest is the test part the estimate is reported on.
      ValidationFraction: float
      /// Seeds the split, the initialisation and the batches.
      Seed: int64
      /// Where to train (None: `Device.current ()`).
      Device: torch.Device option
      /// Called after each evaluation with (step, train estimate, validation estimate): progress for long runs.
      Progress: (int -> float -> float -> unit) option }

/// One evaluation during training.
type CurvePoint =
    { Step: int
      /// The mean bound over the training batches since the previous evaluation.
      Train: float
      /// The bound on the validation part.
      Validation: float }

/// An estimate of MI or conditional MI, in nats, on held-out data.
type MiEstimate =
    { /// The estimate on the test part: the mean of the bound over its batches.
      Value: float
      /// The standard error of `Value` from the spread of the test batches' values (batch means).
      StandardError: float
      /// The 95% interval Value ± t(0.975, n-1) StandardError over n test batches.
      Lower: float
      Upper: float
      /// How many test batches the interval rests on.
      TestBatches: int
      /// log B for InfoNCE-family estimates (the most they can say), None for uncapped bounds.
      Cap: float option
      /// Training and validation estimates against step.
      Curve: CurvePoint list
      /// The step whose critic was kept (the best on the validation part).
      BestStep: int
      /// Steps trained.
      Steps: int
      /// Rows in the train, validation and test parts.
      TrainRows: int
      ValidationRows: int
      TestRows: int
      /// Wall time in seconds; for a run of a batch, the batch's time shared equally among its runs.
      Seconds: float
      /// The settings used.
      Options: EstimationOptions
      /// The conditional route, for conditional MI.
      Route: ConditionalRoute option
      /// What the numbers should be read with (e.g. an estimate at the log K cap).
      Warnings: string list }

/// Estimating I(X; Y) and I(X; Y | Z) from samples, with bmi's protocol (shared/benchmarks/bmi-tasks.md) rather than
/// torch-mist's default of scoring on the data the critic trained on:
///
/// 1. each column is standardised with the training part's mean and standard deviation;
/// 2. the rows are shuffled (seeded) and split into train, validation and test parts (default 50/25/25);
/// 3. the critic trains with Adam on batches of the train part;
/// 4. every `EvaluateEvery` steps the bound is evaluated on the validation part, and training stops after `Patience`
///    evaluations without improvement; the critic of the best evaluation is kept;
/// 5. the estimate is the bound on the test part, which played no part in training or stopping.
///
/// The interval: the test part is cut into n batches of B rows, each gives the bound's value (for InfoNCE, with its
/// B - 1 in-batch negatives), and the estimate is their mean; the standard error is their standard deviation over
/// sqrt n, and the 95% interval uses Student's t with n - 1 degrees of freedom. It covers the trained critic's bound
/// on fresh data from the same population at its nominal rate (a test checks this on Gaussians); it does not include
/// the bias of the bound itself (InfoNCE is at most log B) or of an under-trained critic.
///
/// Independent estimates with the same shapes (different data and seeds) train as one batched network
/// (`mutualInformationBatched`, `conditionalMutualInformationBatched`, over `Batched`), each with its own shuffle,
/// initialisation, batches, Adam moments, early stopping and kept critic, so each gets the result it gets alone up to
/// float rounding. A single estimate is a batch of one: there is one training loop.
module Estimation =

    /// The defaults: InfoNCE with a separable critic. InfoNCE has the lowest variance of the bounds here, and a
    /// separable critic scores all B^2 pairs of a batch for 2B forward passes, so 10,000 rows of 50 columns estimate
    /// in about a minute on two CPU cores. Its one limit is the cap log B (5.5 nats at B = 256): an estimate near it
    /// comes with a warning, and larger MI needs a larger batch, an uncapped bound (SMILE, NWJ) or the decomposition.
    let defaults: EstimationOptions =
        { Estimator = InfoNce
          Critic = Separable
          HiddenSizes = [ 128 ]
          EmbeddingSize = 64
          BatchSize = 256
          LearningRate = 1e-3
          MaxSteps = 3000
          EvaluateEvery = 100
          Patience = 5
          TrainFraction = 0.5
          ValidationFraction = 0.25
          Seed = 0L
          Device = None
          Progress = None }

    /// Within this share of log B of the cap, an InfoNCE-family estimate says more about B than about the MI.
    [<Literal>]
    let CapMargin = 0.1

    // ---- validation ---------------------------------------------------------------------------------------------

    let private validateOptions (o: EstimationOptions) =
        let positive name value = if value < 1 then raise (ArgumentOutOfRangeException(name, value, $"{name} must be >= 1."))
        if o.BatchSize < 2 then raise (ArgumentOutOfRangeException("BatchSize", o.BatchSize, "BatchSize must be >= 2 (one positive and at least one negative)."))
        positive "MaxSteps" o.MaxSteps
        positive "EvaluateEvery" o.EvaluateEvery
        positive "Patience" o.Patience
        positive "EmbeddingSize" o.EmbeddingSize
        if isNull (box o.HiddenSizes) || o.HiddenSizes |> List.exists (fun h -> h < 1) then
            raise (ArgumentException("HiddenSizes must hold positive widths (it may be empty for a linear critic).", "HiddenSizes"))
        Guard.positive "LearningRate" o.LearningRate
        if not (o.TrainFraction > 0.0 && o.ValidationFraction > 0.0 && o.TrainFraction + o.ValidationFraction < 1.0) then
            raise (ArgumentOutOfRangeException("TrainFraction", o.TrainFraction, $"TrainFraction and ValidationFraction must be positive and leave a test part (they are {o.TrainFraction} and {o.ValidationFraction})."))

    /// A data matrix: 2-D, floating point, finite, no constant column; returns it as float32 on the CPU.
    let private validateData (name: string) (t: torch.Tensor) =
        Guard.rank name 2 "[rows, columns]" t
        Guard.floating name t
        if t.shape[1] < 1L then raise (ArgumentException($"{name} must have at least one column; got {Guard.describe t}.", name))
        use scope = torch.NewDisposeScope()
        let values = t.detach().cpu().to_type(torch.float64)
        if not (torch.isfinite(values).all().item<bool> ()) then
            let bad = torch.isfinite(values).logical_not().nonzero()[0]
            raise (ArgumentException($"{name} holds a NaN or infinite value (first at row {bad[0].item<int64> ()}, column {bad[1].item<int64> ()}).", name))
        if t.shape[0] >= 2L then
            let spread = values.std(0L)
            let constant = (spread.le(0.0.ToScalar())).nonzero()
            if constant.shape[0] > 0L then
                raise (ArgumentException($"{name} has a constant column ({constant[0, 0].item<int64> ()}): it carries no information and cannot be standardised; drop it.", name))

    let private validateRows (names: string list) (tensors: torch.Tensor list) =
        let rows = tensors |> List.map (fun t -> t.shape[0])
        match List.zip names rows |> List.tryFind (fun (_, r) -> r <> rows.Head) with
        | Some(name, r) -> raise (ArgumentException($"{name} has {r} rows but {names.Head} has {rows.Head}; every row must be one sample of all the variables.", name))
        | None -> ()

    /// The rows of the three parts; refuses data too small for two test batches and a batch in each other part.
    let private splitSizes (name: string) (rows: int64) (o: EstimationOptions) =
        let train = int (floor (float rows * o.TrainFraction))
        let validation = int (floor (float rows * o.ValidationFraction))
        let test = int rows - train - validation
        let batch = o.BatchSize
        if train < batch || validation < batch || test < 2 * batch then
            let needed = int (ceil (float (2 * batch) / (1.0 - o.TrainFraction - o.ValidationFraction)))
            let needed = max needed (int (ceil (float batch / min o.TrainFraction o.ValidationFraction)))
            raise (
                ArgumentException(
                    $"{name} has {rows} rows; with BatchSize {batch} and a {o.TrainFraction}/{o.ValidationFraction}/{1.0 - o.TrainFraction - o.ValidationFraction:G3} split the test part needs two batches, so at least {needed} rows. Give more rows or a smaller BatchSize.",
                    name
                )
            )
        train, validation, test

    // ---- R independent estimates as one batched network ------------------------------------------------------------

    /// The runs a step computes: `Runs` are indices into the run axis, increasing; `Index` is them as an int64 tensor
    /// on the device, None when every run takes part (then nothing is selected, and the full stacks are used as they
    /// are).
    type private Selection =
        { Runs: int[]
          Index: torch.Tensor option }

    let private selectionOf (total: int) (device: torch.Device) (runs: int[]) =
        { Runs = runs
          Index = (if runs.Length = total then None else Some(torch.tensor(Array.map int64 runs, device = device))) }

    /// The selected runs' rows of a tensor with the run axis first.
    let private pick (selection: Selection) (t: torch.Tensor) =
        match selection.Index with
        | None -> t
        | Some index -> t.index_select(0L, index)

    /// The selected runs' critics on their inputs [A, n, in].
    let private through (selection: Selection) (network: BatchedMlp) (input: torch.Tensor) =
        match selection.Index with
        | None -> network.forward input
        | Some index -> network.ForwardOf(index, input)

    /// What an estimate trains and reads, for R runs at once: each function takes the selected runs' batches (the
    /// data's column blocks, [A, B, d] each) and returns one value per selected run, [A]. `Objective` is maximised on
    /// training batches, `Value` is reported. Every parameter has the run axis first.
    type private Problem =
        { Networks: BatchedMlp list
          Parameters: TorchSharp.Modules.Parameter list
          Objective: Selection -> torch.Tensor list -> torch.Tensor
          Value: Selection -> torch.Tensor list -> torch.Tensor
          /// Another InfoNCE-family term than `Value` that cannot exceed `Cap`, checked against it for the warning (for
          /// the chain rule, I([Z, X]; Y): when it saturates, the difference understates the conditional MI). None: the
          /// estimate itself is the capped term.
          Capped: (Selection -> torch.Tensor list -> torch.Tensor) option
          Cap: float option }

    /// R critics drawn from the runs' generators, on `device`: each run's from its own generator, in the order its own
    /// critic trained alone draws them (so a run's initialisation does not depend on the batch).
    let private networks (device: torch.Device) (generators: torch.Generator[]) (shapes: (int * int) list) (o: EstimationOptions) =
        shapes
        |> List.map (fun (input, output) ->
            let network = Batched.mlp generators.Length input o.HiddenSizes output
            Batched.initialise generators network
            network.``to`` device |> ignore
            network)

    /// The critic's networks and its in-batch scores [A, B, B] per selected run, in Decomp's positive-first layout.
    let private critic (o: EstimationOptions) (device: torch.Device) (generators: torch.Generator[]) (dx: int) (dy: int) =
        match o.Critic with
        | Separable ->
            match networks device generators [ dx, o.EmbeddingSize; dy, o.EmbeddingSize ] o with
            | [ f; g ] as all -> all, fun selection (x: torch.Tensor) (y: torch.Tensor) -> Batched.inBatchScores (through selection f x) (through selection g y)
            | _ -> failwith "unreachable"
        | Joint ->
            let h = networks device generators [ dx + dy, 1 ] o |> List.head
            // h([x_i, y_j]) for every pair of each run's batch (as `Critics.concatenation`): [A, B, B].
            [ h ],
            fun selection x y ->
                let a, b = x.shape[0], x.shape[1]
                let pairs = torch.cat([| x.unsqueeze(2L).expand(a, b, b, x.shape[2]); y.unsqueeze(1L).expand(a, b, b, y.shape[2]) |], 3L)
                Batched.ofInBatch ((through selection h (pairs.reshape(a, b * b, -1L))).reshape(a, b, b))

    /// Each selected run's mean of a row-wise bound over its batch: [A, B, K] scores give [A].
    let private meanOfRows (bound: torch.Tensor -> torch.Tensor) (scores: torch.Tensor) = (Batched.perRun bound scores).mean([| 1L |])

    /// Each selected run's mean of a bound with a term shared by its whole batch (DV, SMILE, MINE): [A].
    let private meanOfEach (bound: int -> torch.Tensor -> torch.Tensor) (scores: torch.Tensor) = (Batched.eachRun bound scores).mean([| 1L |])

    /// The bound of `estimator` over the selected runs' in-batch scores [A, B, B], averaged per run: the training
    /// objective (`training`) or the reported value. `mineStates` holds each run's MINE moving average.
    let private bound (o: EstimationOptions) (logBaseline: torch.Tensor) (mineStates: Baselines.MineState[]) (selection: Selection) (scores: torch.Tensor) (training: bool) =
        match o.Estimator with
        | InfoNce -> meanOfRows Bounds.infoNce scores
        | Nwj -> meanOfRows Baselines.nwj scores
        | DonskerVaradhan -> meanOfEach (fun _ s -> Baselines.donskerVaradhan s) scores
        | Mine when training ->
            meanOfEach
                (fun a s ->
                    let run = selection.Runs[a]
                    let values, next = Baselines.mine s mineStates[run]
                    mineStates[run] <- next
                    values)
                scores
        | Mine -> meanOfEach (fun _ s -> Baselines.donskerVaradhan s) scores
        | Tuba ->
            // One log a per run, repeated for its rows of the [A B, K] matrix `perRun` hands the bound.
            let perRow = (pick selection logBaseline).unsqueeze(1L).expand(scores.shape[0], scores.shape[1]).reshape(-1L)
            meanOfRows (fun s -> Baselines.tuba s perRow) scores
        // SMILE's clip bounds only the partition term: maximised directly, the positives' scores would grow without
        // limit. As Song and Ermon do, the critic trains on the Jensen-Shannon objective and SMILE reads it out.
        | Smile when training -> meanOfRows Baselines.jensenShannonObjective scores
        | Smile -> meanOfEach (fun _ s -> Baselines.smile s 5.0) scores
        | JensenShannon -> meanOfRows Baselines.jensenShannon scores

    /// The estimate from the bound's values on n >= 2 independent test batches: (mean, standard error sd / sqrt n,
    /// lower, upper), the 95% interval mean ± t(0.975, n - 1) × standard error. Student's t because n is small
    /// (4 batches of 256 in 1,250 test rows), where 1.96 would cover too little.
    let interval (batchValues: float[]) : float * float * float * float =
        if isNull batchValues || batchValues.Length < 2 then
            raise (ArgumentException("An interval needs the values of at least two test batches.", nameof batchValues))
        let n = batchValues.Length
        let mean = Array.average batchValues
        let sd = sqrt (Array.sumBy (fun v -> (v - mean) * (v - mean)) batchValues / float (n - 1))
        let se = sd / sqrt (float n)
        let half = MathNet.Numerics.Distributions.StudentT.InvCDF(0.0, 1.0, float (n - 1), 0.975) * se
        mean, se, mean - half, mean + half

    /// The value of each selected run over consecutive batches of `batch` rows of its blocks [R, rows, d] (no_grad):
    /// values[r][b] for the selected run r (in `selection.Runs` order) and batch b.
    let private batchValues (value: Selection -> torch.Tensor list -> torch.Tensor) (selection: Selection) (batch: int) (blocks: torch.Tensor list) =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        let selected = blocks |> List.map (pick selection)
        let count = int (selected.Head.shape[1]) / batch
        let perBatch =
            Array.init count (fun b ->
                use inner = torch.NewDisposeScope()
                let part = selected |> List.map (fun t -> t.narrow(1L, int64 (b * batch), int64 batch))
                (value selection part).to_type(torch.float64).cpu().data<float>().ToArray())
        Array.init selection.Runs.Length (fun a -> perBatch |> Array.map (fun values -> values[a]))

    /// Runs `release` when disposed: for a `use` over things that are not one IDisposable.
    let private disposing (release: unit -> unit) =
        { new IDisposable with
            member _.Dispose() = release () }

    /// Rethrows a run's exception with its original stack trace.
    let private rethrow (e: exn) : 'T =
        Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw()
        Unchecked.defaultof<'T>

    /// Where one run of a batch stands while the batch trains.
    type private RunState =
        { Options: EstimationOptions
          mutable Active: bool
          mutable Failure: exn option
          mutable Steps: int
          mutable BestValue: float
          mutable BestStep: int
          mutable Best: torch.Tensor list
          mutable SinceImprovement: int
          mutable TrainSum: float
          mutable TrainCount: int
          mutable Curve: CurvePoint list }

    /// The settings the runs of one batch must share, by name (everything but Seed, MaxSteps, Patience and Progress).
    let private shared (o: EstimationOptions) (device: torch.Device) : (string * obj) list =
        [ "Estimator", box o.Estimator
          "Critic", box o.Critic
          "HiddenSizes", box o.HiddenSizes
          "EmbeddingSize", box o.EmbeddingSize
          "BatchSize", box o.BatchSize
          "LearningRate", box o.LearningRate
          "EvaluateEvery", box o.EvaluateEvery
          "TrainFraction", box o.TrainFraction
          "ValidationFraction", box o.ValidationFraction
          "Device", box (string device) ]

    /// Trains and scores the valid runs of a batch (index in the batch, options, data, part sizes) as one network;
    /// `build` makes the problem for R runs from their initialisation generators and the data's widths. Returns each
    /// run's outcome, in order. ArgumentException naming `runs` when they do not share what one network needs.
    let private trainValid (route: ConditionalRoute option) (names: string list) (valid: (int * EstimationOptions * torch.Tensor list * (int * int * int))[])
                           (build: EstimationOptions -> torch.Device -> torch.Generator[] -> int list -> Problem) : Result<MiEstimate, exn>[] =
        let clock = Stopwatch.StartNew()
        // What the runs share is checked across them: a batch of runs that cannot train as one network is refused.
        let first, o, firstData, (trainRows, validationRows, testRows) = valid[0]
        let device = o.Device |> Option.defaultWith Device.current
        let expected = shared o device
        for i, other, data, _ in valid do
            let device' = other.Device |> Option.defaultWith Device.current
            match List.zip expected (shared other device') |> List.tryFind (fun ((_, a), (_, b)) -> a <> b) with
            | Some((field, a), (_, b)) ->
                raise (ArgumentException($"runs[{i}] has {field} {b} but runs[{first}] has {a}: the runs of a batch share every setting but Seed, MaxSteps, Patience and Progress.", "runs"))
            | None -> ()
            List.iteri2
                (fun k (name: string) (t: torch.Tensor) ->
                    let reference: torch.Tensor = firstData[k]
                    if t.shape <> reference.shape then
                        raise (ArgumentException($"runs[{i}].{name} has shape {Guard.shapeText t} but runs[{first}].{name} has {Guard.shapeText reference}: the runs of a batch share the data's rows and columns.", "runs")))
                names
                data
        let count = valid.Length
        let batch = o.BatchSize
        let dataGenerators = valid |> Array.map (fun (_, r, _, _) -> new torch.Generator(uint64 r.Seed))
        let initGenerators = valid |> Array.map (fun (_, r, _, _) -> new torch.Generator(uint64 r.Seed))
        use _ = disposing (fun () -> Array.append dataGenerators initGenerators |> Array.iter _.Dispose())
        use outer = torch.NewDisposeScope()
        // Each run's rows shuffled by its own generator and standardised with its own training part, as alone; then the
        // parts stacked along the run axis, [R, rows, d] per block.
        let prepared =
            valid
            |> Array.mapi (fun r (_, _, data, _) ->
                let order = torch.randperm(data.Head.shape[0], generator = dataGenerators[r])
                data
                |> List.map (fun t ->
                    let shuffled = t.detach().cpu().to_type(torch.float32).index_select(0L, order)
                    let train = shuffled.narrow(0L, 0L, int64 trainRows)
                    let mean = train.mean([| 0L |], true)
                    let std = train.std(0L, true, true).clamp_min(1e-12.ToScalar())
                    (shuffled - mean) / std))
        let stack (start: int) (rows: int) =
            List.init names.Length (fun k -> torch.stack(prepared |> Array.map (fun blocks -> blocks[k].narrow(0L, int64 start, int64 rows)), 0L).``to`` device)
        let train = stack 0 trainRows
        let validation = stack trainRows validationRows
        let test = stack (trainRows + validationRows) testRows
        let problem = build o device initGenerators (firstData |> List.map (fun t -> int t.shape[1]))
        use _ = disposing (fun () -> problem.Networks |> List.iter _.Dispose())
        let all = Array.init count id
        let everyRun = selectionOf count device all
        let snapshot (run: int) = problem.Parameters |> List.map (fun p -> p[int64 run].detach().clone().DetachFromDisposeScope())
        let restore (run: int) (saved: torch.Tensor list) =
            use _ = torch.no_grad ()
            List.iter2 (fun (p: TorchSharp.Modules.Parameter) (s: torch.Tensor) -> p[int64 run].copy_ s |> ignore) problem.Parameters saved
        // The bounds read scores of runs that may have diverged; a non-finite value fails its run, not the batch.
        let objective selection blocks = Guard.scanned (fun () -> problem.Objective selection blocks)
        let value selection blocks = Guard.scanned (fun () -> problem.Value selection blocks)
        let initial = batchValues value everyRun batch validation
        let states =
            valid
            |> Array.mapi (fun r (_, options, _, _) ->
                { Options = options
                  Active = true
                  Failure = None
                  Steps = 0
                  BestValue = Array.average initial[r]
                  BestStep = 0
                  Best = snapshot r
                  SinceImprovement = 0
                  TrainSum = 0.0
                  TrainCount = 0
                  Curve = [] })
        use _ = disposing (fun () -> for s in states do s.Best |> List.iter _.Dispose())
        // Each run's order of its training rows for the current epoch, [R, trainRows], drawn from its own generator.
        use permutations =
            torch.stack(dataGenerators |> Array.map (fun generator -> torch.randperm(int64 trainRows, generator = generator)), 0L)
                .``to``(device).DetachFromDisposeScope()
        // Where run r's rows start in the [R trainRows, d] view of a training block.
        let offsets = (torch.arange(int64 count, dtype = torch.int64, device = device) * int64 trainRows).unsqueeze 1
        // The position in the training parts' permutations, the same for every run still training (they all draw B rows
        // a step), and the runs of the current step.
        let position = ref 0
        let stepping = ref everyRun
        let step (_: int) =
            // Finished runs are left out: their results are kept, and no arithmetic is spent on them.
            stepping.Value <- selectionOf count device (all |> Array.filter (fun r -> states[r].Active))
            if position.Value + batch > trainRows then
                use _ = torch.no_grad ()
                for r in stepping.Value.Runs do
                    permutations[int64 r].copy_(torch.randperm(int64 trainRows, generator = dataGenerators[r])) |> ignore
                position.Value <- 0
            // The selected runs' next B rows, as positions in the [R trainRows, d] view of each training block.
            let rows = (pick stepping.Value permutations).narrow(1L, int64 position.Value, int64 batch).add(pick stepping.Value offsets).reshape(-1L)
            position.Value <- position.Value + batch
            let a = int64 stepping.Value.Runs.Length
            objective stepping.Value (train |> List.map (fun t -> t.reshape(-1L, t.shape[2]).index_select(0L, rows).reshape(a, int64 batch, -1L)))
        let observe (step: int) (values: torch.Tensor) =
            let read = values.to_type(torch.float64).cpu().data<float>().ToArray()
            let due = ResizeArray<int>()
            stepping.Value.Runs
            |> Array.iteri (fun a r ->
                let s = states[r]
                if not (Double.IsFinite read[a]) then
                    // NWJ, TUBA and JS hold e^E outside a logarithm: a critic that grows large overflows them. Say so,
                    // by estimator and step; the run stops here, and its parameters are never read again.
                    s.Failure <-
                        Some(
                            ArithmeticException(
                                $"The {o.Estimator.Name} bound became {read[a]} at training step {step} (its scores overflowed). Use a smaller LearningRate, or a bound without e^E terms outside a logarithm (infonce, smile, dv)."
                            )
                        )
                    s.Active <- false
                else
                    s.TrainSum <- s.TrainSum + read[a]
                    s.TrainCount <- s.TrainCount + 1
                    s.Steps <- step
                    if step % o.EvaluateEvery = 0 || step = s.Options.MaxSteps then due.Add r)
            if due.Count > 0 then
                let evaluated = selectionOf count device (due.ToArray())
                let validationValues = batchValues value evaluated batch validation
                due
                |> Seq.iteri (fun a r ->
                    let s = states[r]
                    let v = Array.average validationValues[a]
                    let point = { Step = step; Train = s.TrainSum / float s.TrainCount; Validation = v }
                    s.Curve <- point :: s.Curve
                    s.TrainSum <- 0.0
                    s.TrainCount <- 0
                    s.Options.Progress |> Option.iter (fun report -> report step point.Train v)
                    if v > s.BestValue then
                        s.Best |> List.iter (fun t -> t.Dispose())
                        s.BestValue <- v
                        s.BestStep <- step
                        s.Best <- snapshot r
                        s.SinceImprovement <- 0
                    else
                        s.SinceImprovement <- s.SinceImprovement + 1
                    if step >= s.Options.MaxSteps || s.SinceImprovement >= s.Options.Patience then s.Active <- false)
            states |> Array.exists _.Active
        let maxSteps = valid |> Array.map (fun (_, r, _, _) -> r.MaxSteps) |> Array.max
        Batched.trainWhile problem.Parameters o.LearningRate maxSteps step observe |> ignore
        let finished = all |> Array.filter (fun r -> states[r].Failure.IsNone)
        for r in finished do restore r states[r].Best
        let scored = selectionOf count device finished
        let testValues = if finished.Length = 0 then [||] else batchValues value scored batch test
        let cappedValues =
            match problem.Cap, problem.Capped with
            | Some _, Some capped when finished.Length > 0 ->
                Some(batchValues (fun selection blocks -> Guard.scanned (fun () -> capped selection blocks)) scored batch test)
            | _ -> None
        let seconds = clock.Elapsed.TotalSeconds / float count
        let outcomes =
            all
            |> Array.map (fun r ->
                let s = states[r]
                match s.Failure, Array.tryFindIndex ((=) r) finished with
                | Some failure, _ -> Error failure
                | None, None -> failwith "unreachable"
                | None, Some a ->
                    let values = testValues[a]
                    match values |> Array.tryFind (Double.IsFinite >> not) with
                    | Some _ ->
                        Error(ArithmeticException($"The {o.Estimator.Name} bound is not finite on the test part (the critic's scores overflow it there). Use a smaller LearningRate, or a bound without e^E terms outside a logarithm (infonce, smile, dv).") :> exn)
                    | None ->
                        let mean, se, lower, upper = interval values
                        let cappedValue =
                            match problem.Cap, cappedValues with
                            | None, _ -> None
                            | Some _, None -> Some mean
                            | Some _, Some capped -> Some(Array.average capped[a])
                        let options = s.Options
                        let warnings =
                            [ match problem.Cap, cappedValue with
                              | Some cap, Some capped when capped >= (1.0 - CapMargin) * cap ->
                                  let what = if route = Some ChainRule then $"I([Z, X]; Y) term, {capped:F3} nats," else $"estimate {capped:F3} nats"
                                  $"The {what} is within {100.0 * CapMargin:F0} percent of log {batch} = {cap:F3}, the most an InfoNCE-family bound can say with batches of {batch}: the number is the cap, not the MI. Use a larger BatchSize, an uncapped estimator (smile, nwj), or the decomposition."
                              | _ -> ()
                              if s.Steps >= options.MaxSteps && s.SinceImprovement = 0 then
                                  $"Training reached MaxSteps = {options.MaxSteps} while the validation estimate was still improving; more steps may give a larger estimate."
                              if s.BestStep = 0 then
                                  "No training step improved on the untrained critic's validation estimate; the estimate is that of an untrained critic (a learning rate or architecture problem, or no dependence to find)." ]
                        Ok
                            { Value = mean
                              StandardError = se
                              Lower = lower
                              Upper = upper
                              TestBatches = values.Length
                              Cap = problem.Cap
                              Curve = List.rev s.Curve
                              BestStep = s.BestStep
                              Steps = s.Steps
                              TrainRows = trainRows
                              ValidationRows = validationRows
                              TestRows = testRows
                              Seconds = seconds
                              Options = options
                              Route = route
                              Warnings = warnings })
        outcomes

    /// Checks each run on its own, then trains the valid ones as one network (`trainValid`); each run's outcome, in
    /// order. `check` is the estimate's own check of a run's options.
    let private train (route: ConditionalRoute option) (names: string list) (runs: (EstimationOptions * torch.Tensor list) list)
                      (check: EstimationOptions -> unit)
                      (build: EstimationOptions -> torch.Device -> torch.Generator[] -> int list -> Problem) : Result<MiEstimate, exn> list =
        if isNull (box runs) then raise (ArgumentNullException(nameof runs))
        // What concerns one run alone (its options' ranges, its data) fails that run alone, as it would fail it trained
        // by itself.
        let checkedRuns =
            runs
            |> List.map (fun (o, data) ->
                try
                    if isNull (box o) then raise (ArgumentNullException("options"))
                    List.iter2 Guard.notNull names data
                    check o
                    validateOptions o
                    List.iter2 validateData names data
                    validateRows names data
                    Ok(o, data, splitSizes names.Head data.Head.shape[0] o)
                with :? ArgumentException as e -> Error(e :> exn))
        let valid =
            checkedRuns
            |> List.indexed
            |> List.choose (fun (i, r) -> match r with Ok(o, data, sizes) -> Some(i, o, data, sizes) | Error _ -> None)
            |> Array.ofList
        let outcomes = if valid.Length = 0 then [||] else trainValid route names valid build
        let byIndex = Array.zip (valid |> Array.map (fun (i, _, _, _) -> i)) outcomes |> dict
        checkedRuns |> List.mapi (fun i r -> match r with Error e -> Error e | Ok _ -> byIndex[i])


    /// I(X; Y) for several independent data sets and seeds at once: each run `(options, x, y)` gets what
    /// `mutualInformation options x y` gives it, up to float rounding, but the runs' critics train as one batched
    /// network (`Batched`): stacked parameters, batched products, one Adam over them (elementwise, so each run keeps
    /// its own moments). Each run keeps its own shuffle, split, initialisation and batches (its `Seed`), stops early on
    /// its own validation part and keeps its own best critic; a run that has stopped is left out of the steps that
    /// follow. The batch trains until its last run stops.
    ///
    /// The runs must share every setting but `Seed`, `MaxSteps`, `Patience` and `Progress` (the same estimator,
    /// critic, sizes, batch size, learning rate, evaluation interval, split and device) and the data's shapes (rows and
    /// columns); otherwise ArgumentException naming `runs`. What concerns one run alone fails that run alone: its
    /// outcome is Error with the exception `mutualInformation` would raise (bad data or options, a bound that
    /// overflows), and the other runs go on. `Seconds` is the batch's wall time shared equally among its runs.
    let mutualInformationBatched (runs: (EstimationOptions * torch.Tensor * torch.Tensor) list) : Result<MiEstimate, exn> list =
        if isNull (box runs) then raise (ArgumentNullException(nameof runs))
        train None [ "x"; "y" ] (runs |> List.map (fun (o, x, y) -> o, [ x; y ])) ignore (fun options device generators widths ->
            let modules, scoresOf = critic options device generators widths[0] widths[1]
            let runCount = generators.Length
            let logBaseline = torch.nn.Parameter(torch.zeros([| int64 runCount |], device = device)) // log a per run, learned
            let mineStates = Array.create runCount (Baselines.mineState 0.01)
            let value training selection (blocks: torch.Tensor list) =
                bound options logBaseline mineStates selection (scoresOf selection blocks[0] blocks[1]) training
            { Networks = modules
              Parameters = (modules |> List.collect (fun m -> m.parameters () |> List.ofSeq)) @ (if options.Estimator = Tuba then [ logBaseline ] else [])
              Objective = value true
              Value = value false
              Capped = None
              Cap = (if options.Estimator = InfoNce then Some(Scores.logCandidates options.BatchSize) else None) })

    /// I(X; Y) in nats from `x` [n, dx] and `y` [n, dy] (rows are paired samples), by `options` (see the module's
    /// summary for the protocol and `defaults` for the settings): a batch of one (`mutualInformationBatched`).
    /// ArgumentException names `x` or `y` for data that are not 2-D floating point, hold NaN or infinity, have a
    /// constant column, differ in rows, or are too few for the split; ArgumentOutOfRangeException names the option
    /// that is out of range; ArithmeticException says when the bound overflows.
    let mutualInformation (options: EstimationOptions) (x: torch.Tensor) (y: torch.Tensor) : MiEstimate =
        match mutualInformationBatched [ options, x, y ] with
        | [ Ok estimate ] -> estimate
        | [ Error e ] -> rethrow e
        | _ -> failwith "unreachable"

    /// `conditionalMutualInformation` for several independent data sets and seeds at once, by one `route`: each run
    /// `(options, x, y, z)` gets what `conditionalMutualInformation options route x y z` gives it, up to float
    /// rounding, with its critics trained in one batched network. Same rules as `mutualInformationBatched`.
    let conditionalMutualInformationBatched (route: ConditionalRoute) (runs: (EstimationOptions * torch.Tensor * torch.Tensor * torch.Tensor) list) : Result<MiEstimate, exn> list =
        if isNull (box runs) then raise (ArgumentNullException(nameof runs))
        let check (options: EstimationOptions) =
            if options.Estimator <> InfoNce then
                raise (ArgumentException($"Conditional MI is estimated with InfoNCE-family bounds (the paper's decomposition); set Estimator to InfoNce, not {options.Estimator.Name}.", "options"))
        train (Some route) [ "x"; "y"; "z" ] (runs |> List.map (fun (o, x, y, z) -> o, [ x; y; z ])) check (fun options device generators widths ->
            let dx, dy, dz = widths[0], widths[1], widths[2]
            // f([z, x]) and f(z) against one shared g(y), as InfoNCE_S shares its key encoder; drawn in that order.
            match networks device generators [ dz + dx, options.EmbeddingSize; dz, options.EmbeddingSize; dy, options.EmbeddingSize ] options with
            | [ fJoint; fZ; g ] as modules ->
                let matrices selection (blocks: torch.Tensor list) =
                    let keys = through selection g blocks[1]
                    let joint = Batched.inBatchScores (through selection fJoint (torch.cat([| blocks[2]; blocks[0] |], 2L))) keys
                    let onZ = Batched.inBatchScores (through selection fZ blocks[2]) keys
                    joint, onZ
                let objective, value =
                    match route with
                    | ChainRule ->
                        (fun selection blocks ->
                            let joint, onZ = matrices selection blocks
                            meanOfRows Bounds.infoNce joint + meanOfRows Bounds.infoNce onZ),
                        (fun selection blocks ->
                            let joint, onZ = matrices selection blocks
                            meanOfRows Bounds.infoNce joint - meanOfRows Bounds.infoNce onZ)
                    | ImportanceSampled ->
                        (fun selection blocks ->
                            let joint, onZ = matrices selection blocks
                            (Batched.perRun2 Decomposition.decomposedInfoNceImportanceSampled onZ joint).mean([| 1L |])),
                        (fun selection blocks ->
                            let joint, onZ = matrices selection blocks
                            (Batched.perRun2 Bounds.importanceSampledConditionalInfoNce joint onZ).mean([| 1L |]))
                let jointTerm selection blocks = meanOfRows Bounds.infoNce (fst (matrices selection blocks))
                { Networks = modules
                  Parameters = modules |> List.collect (fun m -> m.parameters () |> List.ofSeq)
                  Objective = objective
                  Value = value
                  Capped = (if route = ChainRule then Some jointTerm else None)
                  Cap = Some(Scores.logCandidates options.BatchSize) }
            | _ -> failwith "unreachable")

    /// I(X; Y | Z) in nats from `x` [n, dx], `y` [n, dy] and `z` [n, dz], by the paper's `route` (InfoNCE-family
    /// bounds with separable encoders; `options.Estimator` must be InfoNce): a batch of one
    /// (`conditionalMutualInformationBatched`). Same protocol and errors as `mutualInformation`, naming `x`, `y` or `z`.
    let conditionalMutualInformation (options: EstimationOptions) (route: ConditionalRoute) (x: torch.Tensor) (y: torch.Tensor) (z: torch.Tensor) : MiEstimate =
        match conditionalMutualInformationBatched route [ options, x, y, z ] with
        | [ Ok estimate ] -> estimate
        | [ Error e ] -> rethrow e
        | _ -> failwith "unreachable"
