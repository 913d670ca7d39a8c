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
      /// Wall time in seconds.
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

    // ---- critics --------------------------------------------------------------------------------------------------

    /// The parameters of `modules` and a switch between their training and evaluation modes.
    let private trainable (modules: torch.nn.Module list) =
        modules |> List.collect (fun m -> m.parameters () |> List.ofSeq),
        fun on -> modules |> List.iter (fun m -> if on then m.train () else m.eval ())

    let private onDevice (device: torch.Device) (m: torch.nn.Module<torch.Tensor, torch.Tensor>) =
        m.``to`` device |> ignore
        m

    /// The critic's modules and its in-batch score matrix [B, B] (positives on the diagonal).
    let private critic (o: EstimationOptions) (device: torch.Device) (dx: int) (dy: int) =
        match o.Critic with
        | Separable ->
            let f = Critics.mlp dx o.HiddenSizes o.EmbeddingSize |> onDevice device
            let g = Critics.mlp dy o.HiddenSizes o.EmbeddingSize |> onDevice device
            [ f :> torch.nn.Module; g ], fun (x: torch.Tensor) (y: torch.Tensor) -> f.forward(x).matmul(g.forward(y).t ())
        | Joint ->
            let h = Critics.mlp (dx + dy) o.HiddenSizes 1 |> onDevice device
            [ h :> torch.nn.Module ], fun x y -> Critics.concatenation (fun t -> h.forward t) x y

    // ---- one estimation, whatever is estimated ---------------------------------------------------------------------

    /// What a particular estimate trains and reads: `Objective` is maximised on training batches, `Value` is reported
    /// (both on one batch of rows, given as the column blocks of the data).
    type private Problem =
        { Parameters: TorchSharp.Modules.Parameter list
          Train: bool -> unit
          Objective: torch.Tensor list -> torch.Tensor
          Value: torch.Tensor list -> torch.Tensor
          /// Another InfoNCE-family term than `Value` that cannot exceed `Cap`, checked against it for the warning (for
          /// the chain rule, I([Z, X]; Y): when it saturates, the difference understates the conditional MI). None: the
          /// estimate itself is the capped term.
          Capped: (torch.Tensor list -> torch.Tensor) option
          Cap: float option }

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

    /// The mean of `values` over consecutive batches of `rows` of each block (no_grad), one number per batch.
    let private batchValues (value: torch.Tensor list -> torch.Tensor) (batch: int) (blocks: torch.Tensor list) =
        use _ = torch.no_grad ()
        let count = int (blocks.Head.shape[0]) / batch
        [| for b in 0 .. count - 1 ->
               use scope = torch.NewDisposeScope()
               let part = blocks |> List.map (fun t -> t.narrow(0L, int64 (b * batch), int64 batch))
               (value part).to_type(torch.float64).cpu().item<float> () |]

    let private run (o: EstimationOptions) (route: ConditionalRoute option) (names: string list) (data: torch.Tensor list)
                    (build: torch.Device -> int list -> Problem) : MiEstimate =
        let clock = Stopwatch.StartNew()
        validateOptions o
        List.iter2 validateData names data
        validateRows names data
        let trainRows, validationRows, testRows = splitSizes names.Head data.Head.shape[0] o
        let device = o.Device |> Option.defaultWith Device.current
        torch.manual_seed o.Seed |> ignore
        let generator = new torch.Generator(uint64 o.Seed)
        use outer = torch.NewDisposeScope()
        let order = torch.randperm(data.Head.shape[0], generator = generator)
        let parts =
            data
            |> List.map (fun t ->
                let shuffled = t.detach().cpu().to_type(torch.float32).index_select(0L, order)
                let train = shuffled.narrow(0L, 0L, int64 trainRows)
                let mean = train.mean([| 0L |], true)
                let std = train.std(0L, true, true).clamp_min(1e-12.ToScalar())
                let standardised = ((shuffled - mean) / std).``to`` device
                standardised.narrow(0L, 0L, int64 trainRows),
                standardised.narrow(0L, int64 trainRows, int64 validationRows),
                standardised.narrow(0L, int64 (trainRows + validationRows), int64 testRows))
        let train = parts |> List.map (fun (t, _, _) -> t)
        let validation = parts |> List.map (fun (_, v, _) -> v)
        let test = parts |> List.map (fun (_, _, t) -> t)
        let problem = build device (data |> List.map (fun t -> int t.shape[1]))
        let optimizer = torch.optim.Adam(problem.Parameters |> Seq.cast<TorchSharp.Modules.Parameter>, lr = o.LearningRate)
        let snapshot () = problem.Parameters |> List.map (fun p -> p.detach().clone().DetachFromDisposeScope())
        let restore (saved: torch.Tensor list) =
            use _ = torch.no_grad ()
            List.iter2 (fun (p: TorchSharp.Modules.Parameter) (s: torch.Tensor) -> p.copy_ s |> ignore) problem.Parameters saved
        let validationValue () =
            problem.Train false
            let value = batchValues problem.Value o.BatchSize validation |> Array.average
            problem.Train true
            value
        let mutable best = (validationValue (), 0, snapshot ())
        let mutable curve = []
        let mutable sinceImprovement = 0
        let mutable step = 0
        let mutable trainSum = 0.0
        let mutable trainCount = 0
        let mutable permutation = torch.randperm(int64 trainRows, generator = generator).``to`` device
        let mutable position = 0
        problem.Train true
        while step < o.MaxSteps && sinceImprovement < o.Patience do
            use scope = torch.NewDisposeScope()
            if position + o.BatchSize > trainRows then
                permutation <- torch.randperm(int64 trainRows, generator = generator).``to``(device).MoveToOuterDisposeScope()
                position <- 0
            let rows = permutation.narrow(0L, int64 position, int64 o.BatchSize)
            position <- position + o.BatchSize
            let objective = problem.Objective (train |> List.map (fun t -> t.index_select(0L, rows)))
            let objectiveValue = objective.to_type(torch.float64).cpu().item<float> ()
            // NWJ, TUBA and JS hold e^E outside a logarithm: a critic that grows large overflows them. Say so, by
            // estimator and step, before a non-finite gradient reaches the parameters.
            if not (Double.IsFinite objectiveValue) then
                raise (
                    ArithmeticException(
                        $"The {o.Estimator.Name} bound became {objectiveValue} at training step {step + 1} (its scores overflowed). Use a smaller LearningRate, or a bound without e^E terms outside a logarithm (infonce, smile, dv)."
                    )
                )
            optimizer.zero_grad ()
            (-objective).backward ()
            optimizer.step () |> ignore
            trainSum <- trainSum + objectiveValue
            trainCount <- trainCount + 1
            step <- step + 1
            if step % o.EvaluateEvery = 0 || step = o.MaxSteps then
                let value = validationValue ()
                let point = { Step = step; Train = trainSum / float trainCount; Validation = value }
                curve <- point :: curve
                trainSum <- 0.0
                trainCount <- 0
                o.Progress |> Option.iter (fun report -> report step point.Train value)
                let bestValue, _, bestParameters = best
                if value > bestValue then
                    bestParameters |> List.iter (fun t -> t.Dispose())
                    best <- (value, step, snapshot ())
                    sinceImprovement <- 0
                else
                    sinceImprovement <- sinceImprovement + 1
        let _, bestStep, bestParameters = best
        restore bestParameters
        bestParameters |> List.iter (fun t -> t.Dispose())
        problem.Train false
        let values = batchValues problem.Value o.BatchSize test
        if values |> Array.exists (Double.IsFinite >> not) then
            raise (ArithmeticException($"The {o.Estimator.Name} bound is not finite on the test part (the critic's scores overflow it there). Use a smaller LearningRate, or a bound without e^E terms outside a logarithm (infonce, smile, dv)."))
        let mean, se, lower, upper = interval values
        let cappedValue =
            match problem.Cap, problem.Capped with
            | None, _ -> None
            | Some _, None -> Some mean
            | Some _, Some capped -> Some(batchValues capped o.BatchSize test |> Array.average)
        let warnings =
            [ match problem.Cap, cappedValue with
              | Some cap, Some capped when capped >= (1.0 - CapMargin) * cap ->
                  let what = if route = Some ChainRule then $"I([Z, X]; Y) term, {capped:F3} nats," else $"estimate {capped:F3} nats"
                  $"The {what} is within {100.0 * CapMargin:F0} percent of log {o.BatchSize} = {cap:F3}, the most an InfoNCE-family bound can say with batches of {o.BatchSize}: the number is the cap, not the MI. Use a larger BatchSize, an uncapped estimator (smile, nwj), or the decomposition."
              | _ -> ()
              if step >= o.MaxSteps && sinceImprovement = 0 then
                  $"Training reached MaxSteps = {o.MaxSteps} while the validation estimate was still improving; more steps may give a larger estimate."
              if bestStep = 0 then
                  "No training step improved on the untrained critic's validation estimate; the estimate is that of an untrained critic (a learning rate or architecture problem, or no dependence to find)." ]
        { Value = mean
          StandardError = se
          Lower = lower
          Upper = upper
          TestBatches = values.Length
          Cap = problem.Cap
          Curve = List.rev curve
          BestStep = bestStep
          Steps = step
          TrainRows = trainRows
          ValidationRows = validationRows
          TestRows = testRows
          Seconds = clock.Elapsed.TotalSeconds
          Options = o
          Route = route
          Warnings = warnings }

    /// The bound of `estimator` over an in-batch score matrix, averaged: (training objective, reported value).
    let private bound (o: EstimationOptions) (logBaseline: torch.Tensor) (mineState: Baselines.MineState ref) (matrix: torch.Tensor) (training: bool) =
        let scores = Scores.ofInBatch matrix
        // The bounds checked their inputs; an overflowed value is reported by `run` with the estimator and the step.
        let average (values: torch.Tensor) = values.mean()
        match o.Estimator with
        | InfoNce -> Bounds.infoNce scores |> average
        | Nwj -> Baselines.nwj scores |> average
        | DonskerVaradhan -> Baselines.donskerVaradhan scores |> average
        | Mine when training ->
            let values, next = Baselines.mine scores mineState.Value
            mineState.Value <- next
            average values
        | Mine -> Baselines.donskerVaradhan scores |> average
        | Tuba -> Baselines.tuba scores logBaseline |> average
        // SMILE's clip bounds only the partition term: maximised directly, the positives' scores would grow without
        // limit. As Song and Ermon do, the critic trains on the Jensen-Shannon objective and SMILE reads it out.
        | Smile when training -> Baselines.jensenShannonObjective scores |> average
        | Smile -> Baselines.smile scores 5.0 |> average
        | JensenShannon -> Baselines.jensenShannon scores |> average

    /// I(X; Y) in nats from `x` [n, dx] and `y` [n, dy] (rows are paired samples), by `options` (see the module's
    /// summary for the protocol and `defaults` for the settings). ArgumentException names `x` or `y` for data that are
    /// not 2-D floating point, hold NaN or infinity, have a constant column, differ in rows, or are too few for the
    /// split; ArgumentOutOfRangeException names the option that is out of range.
    let mutualInformation (options: EstimationOptions) (x: torch.Tensor) (y: torch.Tensor) : MiEstimate =
        Guard.notNull (nameof x) x
        Guard.notNull (nameof y) y
        run options None [ nameof x; nameof y ] [ x; y ] (fun device widths ->
            let modules, matrix = critic options device widths[0] widths[1]
            let parameters, train = trainable modules
            let logBaseline = torch.nn.Parameter(torch.tensor(0.0f, device = device)) // a scalar log a, learned
            let mineState = ref (Baselines.mineState 0.01)
            let value training (blocks: torch.Tensor list) = bound options logBaseline mineState (matrix blocks[0] blocks[1]) training
            { Parameters = parameters @ (if options.Estimator = Tuba then [ logBaseline ] else [])
              Train = train
              Objective = value true
              Value = value false
              Capped = None
              Cap = (if options.Estimator = InfoNce then Some(Scores.logCandidates options.BatchSize) else None) })

    /// I(X; Y | Z) in nats from `x` [n, dx], `y` [n, dy] and `z` [n, dz], by the paper's `route` (InfoNCE-family
    /// bounds with separable encoders; `options.Estimator` must be InfoNce). Same protocol and errors as
    /// `mutualInformation`, naming `x`, `y` or `z`.
    let conditionalMutualInformation (options: EstimationOptions) (route: ConditionalRoute) (x: torch.Tensor) (y: torch.Tensor) (z: torch.Tensor) : MiEstimate =
        Guard.notNull (nameof x) x
        Guard.notNull (nameof y) y
        Guard.notNull (nameof z) z
        if options.Estimator <> InfoNce then
            raise (ArgumentException($"Conditional MI is estimated with InfoNCE-family bounds (the paper's decomposition); set Estimator to InfoNce, not {options.Estimator.Name}.", "options"))
        run options (Some route) [ nameof x; nameof y; nameof z ] [ x; y; z ] (fun device widths ->
            let dx, dy, dz = widths[0], widths[1], widths[2]
            let mlp input = Critics.mlp input options.HiddenSizes options.EmbeddingSize |> onDevice device
            // f([z, x]) and f(z) against one shared g(y), as InfoNCE_S shares its key encoder.
            let fJoint, fZ, g = mlp (dz + dx), mlp dz, mlp dy
            let parameters, train = trainable [ fJoint; fZ; g ]
            let matrices (blocks: torch.Tensor list) =
                let keys = g.forward blocks[1]
                let joint = fJoint.forward(torch.cat([| blocks[2]; blocks[0] |], 1L)).matmul(keys.t ())
                let onZ = fZ.forward(blocks[2]).matmul(keys.t ())
                Scores.ofInBatch joint, Scores.ofInBatch onZ
            let objective, value =
                match route with
                | ChainRule ->
                    (fun blocks ->
                        let joint, onZ = matrices blocks
                        Scores.mean (Bounds.infoNce joint) + Scores.mean (Bounds.infoNce onZ)),
                    (fun blocks ->
                        let joint, onZ = matrices blocks
                        Scores.mean (Bounds.infoNce joint) - Scores.mean (Bounds.infoNce onZ))
                | ImportanceSampled ->
                    (fun blocks ->
                        let joint, onZ = matrices blocks
                        Decomposition.decomposedInfoNceImportanceSampled onZ joint |> Scores.mean),
                    (fun blocks ->
                        let joint, onZ = matrices blocks
                        Bounds.importanceSampledConditionalInfoNce joint onZ |> Scores.mean)
            let jointTerm blocks = Scores.mean (Bounds.infoNce (fst (matrices blocks)))
            { Parameters = parameters
              Train = train
              Objective = objective
              Value = value
              Capped = (if route = ChainRule then Some jointTerm else None)
              Cap = Some(Scores.logCandidates options.BatchSize) })
