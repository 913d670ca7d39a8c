namespace Decomp.Experiments

open System
open System.Diagnostics
open TorchSharp
open Decomp.Core

/// The three estimators of Figure 2 (Section 5.1).
type Estimator =
    /// `I_NCE([x', x'']; y | K)` with in-batch negatives.
    | InfoNce
    /// `I_NCE(x'; y | K/2) + I_CNCE(x''; y | x', K/2)`, the K/2 conditional negatives drawn exactly from p(y | x').
    | InfoNceS
    /// `I_NCE(x'; y | K) + I_IS(x''; y | x', K)`, which needs no conditional sampler.
    | InfoNceSIs

    /// The name used on the command line and in outputs.
    member e.Name =
        match e with
        | InfoNce -> "InfoNCE"
        | InfoNceS -> "InfoNCE_S"
        | InfoNceSIs -> "InfoNCE_S IS"

    /// The most nats the estimator can report with K candidates: log K for InfoNCE, 2 log(K/2) for InfoNCE_S (two
    /// terms of K/2 candidates) and 2 log K for InfoNCE_S IS (both terms reuse the same K).
    member e.Cap(candidates: int) =
        match e with
        | InfoNce -> Bounds.infoNceCap candidates
        | InfoNceS -> Decomposition.cap [ candidates / 2; candidates / 2 ]
        | InfoNceSIs -> Decomposition.cap [ candidates; candidates ]

    static member All = [ InfoNce; InfoNceS; InfoNceSIs ]

    static member Parse(text: string) =
        match text.Trim().ToLowerInvariant().Replace("_", "-").Replace(" ", "-") with
        | "infonce" | "nce" -> Ok InfoNce
        | "infonce-s" | "infonces" | "decomposed" -> Ok InfoNceS
        | "infonce-s-is" | "infonces-is" | "is" -> Ok InfoNceSIs
        | _ -> Error $"unknown estimator '{text}'; expected infonce, infonce-s or infonce-s-is"

/// One training run of Figure 2: one true MI, one K, one estimator, one seed.
type RunSettings =
    {
        /// d, the dimensions of each of x', x'', y (20 in the paper).
        Dimensions: int
        /// The true I({x', x''}; y) in nats.
        TrueMi: float
        /// K, the number of candidates (positive + negatives) of InfoNCE; InfoNCE_S gives K/2 to each term.
        Candidates: int
        Estimator: Estimator
        /// Seeds the covariance draw, the data, and the networks' initialisation.
        Seed: int
        /// Adam steps (each on a fresh batch drawn from the ground truth).
        Steps: int
        /// Adam's learning rate (5e-4 in Appendix B.2).
        LearningRate: float
        /// Hidden and output width of the one-hidden-layer MLP encoders (100 in Appendix B.2).
        Width: int
        /// InfoNCE_S scores its conditional term on at most this many examples of each batch. Each example needs K/2 - 1
        /// negatives drawn from p(y | x') and encoded, so this bounds the cost, (K/2)^2 encodings per batch otherwise;
        /// the term is still an average over examples of the same bound, so its expectation does not change.
        ConditionalExamples: int
        /// Fresh batches averaged for the final estimate.
        EvaluationBatches: int
        /// A point of the training curve every this many steps.
        CurveEvery: int
        Device: torch.Device
    }

    /// Paper-sized settings for one run (Appendix B.2): d = 20, width 100, Adam at 5e-4.
    static member Paper(trueMi, candidates, estimator, seed, steps, device) =
        { Dimensions = 20
          TrueMi = trueMi
          Candidates = candidates
          Estimator = estimator
          Seed = seed
          Steps = steps
          LearningRate = 5e-4
          Width = 100
          ConditionalExamples = 64
          EvaluationBatches = 20
          CurveEvery = max 1 (steps / 50)
          Device = device }

type CurvePoint = { Step: int; Estimate: float }

type RunResult =
    {
        Settings: RunSettings
        /// The closed-form I({x', x''}; y) of this seed's covariance (equal to TrueMi by construction).
        TrueMi: float
        /// I(x'; y) and I(x''; y | x') of this seed's covariance: how the decomposition splits the total.
        FirstViewMi: float
        ConditionalMi: float
        /// The mean of the estimator over fresh evaluation batches after training, in nats.
        Estimate: float
        /// Standard error of that mean over the evaluation batches.
        StandardError: float
        /// The estimator's cap for this K.
        Cap: float
        Curve: CurvePoint list
        Seconds: float
    }

/// The synthetic experiment of Section 5.1 and Appendix B.2 (Figure 2).
///
/// x', x'', y are jointly Gaussian (Decomp.Core.Gaussian), d dimensions each, with the total I({x', x''}; y) fixed and
/// split across dimensions and between x' and x'' at random. Critics are dot products of one-hidden-layer ReLU MLP
/// encoders: f for x (input [x', x''], 2d features; `f(x') = f([x', 0])` reuses its parameters for the first term, as
/// Appendix B.2 does) and g for y. Adam maximises the estimator; the reported value is its mean over fresh batches after
/// training.
module Figure2 =

    let private validate (s: RunSettings) =
        if s.Dimensions < 1 then raise (ArgumentOutOfRangeException("Dimensions", s.Dimensions, "must be >= 1"))
        if not (s.TrueMi > 0.0) then raise (ArgumentOutOfRangeException("TrueMi", s.TrueMi, "must be > 0 nats"))
        if s.Candidates < 2 then raise (ArgumentOutOfRangeException("Candidates", s.Candidates, "K must be >= 2"))
        if s.Estimator = InfoNceS && (s.Candidates % 2 <> 0 || s.Candidates < 4) then
            raise (ArgumentOutOfRangeException("Candidates", s.Candidates, "InfoNCE_S splits K into two halves: K must be even and >= 4"))
        if s.Steps < 0 then raise (ArgumentOutOfRangeException("Steps", s.Steps, "must be >= 0"))
        if s.ConditionalExamples < 1 then raise (ArgumentOutOfRangeException("ConditionalExamples", s.ConditionalExamples, "must be >= 1"))
        if s.EvaluationBatches < 2 then raise (ArgumentOutOfRangeException("EvaluationBatches", s.EvaluationBatches, "must be >= 2 for a standard error"))

    /// The batch size each estimator trains on: its in-batch negatives are the batch's other examples.
    let batchSize (s: RunSettings) =
        match s.Estimator with
        | InfoNce
        | InfoNceSIs -> s.Candidates
        | InfoNceS -> s.Candidates / 2

    /// What runs of one batch must share: everything that sets a shape or the training schedule. They may differ in
    /// their true MI and seed (each run has its own ground truth, data and initialisation).
    let private shapeOf (s: RunSettings) =
        s.Estimator, s.Candidates, s.Dimensions, s.Width, s.Steps, s.LearningRate, min s.ConditionalExamples (batchSize s), s.EvaluationBatches, s.CurveEvery, string s.Device

    /// Whether two runs can train in one batch (`runBatch`).
    let sameShape (a: RunSettings) (b: RunSettings) = shapeOf a = shapeOf b

    /// One step's data for every run of a batch: x', x'', y [R, B, d] and, for InfoNCE_S, the conditional negatives
    /// [R, n, M, d] drawn from p(y | x'_i) for the first n examples of each run (None for the other estimators).
    type Draw = { X1: torch.Tensor; X2: torch.Tensor; Y: torch.Tensor; ConditionalNegatives: torch.Tensor option }

    /// Draws one step's data. Run r draws from its own generator in the order a run trained alone draws (the joint
    /// sample, then the conditional negatives), so its data stream does not depend on the other runs of the batch.
    let sample (s: RunSettings) (problems: Gaussian.Stacked) (generators: torch.Generator[]) : Draw =
        let x1, x2, y = Gaussian.sampleJointStacked problems (batchSize s) generators
        let negatives =
            match s.Estimator with
            | InfoNceS ->
                let n = int64 (min s.ConditionalExamples (batchSize s))
                // K/2 - 1 negatives from p(y | x'_i) for the first n examples of every run, in one vectorised call.
                Some(Gaussian.sampleYGivenFirstViewStacked problems (x1.narrow(1L, 0L, n)) (s.Candidates / 2 - 1) generators)
            | InfoNce
            | InfoNceSIs -> None
        { X1 = x1; X2 = x2; Y = y; ConditionalNegatives = negatives }

    /// Each run's estimator value on one draw: [R], the mean over each run's batch.
    let objective (s: RunSettings) (f: BatchedMlp) (g: BatchedMlp) (draw: Draw) : torch.Tensor =
        let b = int64 (batchSize s)
        let x1, x2, y = draw.X1, draw.X2, draw.Y
        let jointInput = torch.cat([| x1; x2 |], 2L)
        // f([x', x'']) and f(x') = f([x', 0]) in one batched call: [R, 2B, 2d].
        let bothViews () = f.forward (torch.cat([| jointInput; torch.cat([| x1; torch.zeros_like x2 |], 2L) |], 1L))
        match s.Estimator, draw.ConditionalNegatives with
        | InfoNce, _ ->
            let scores = Batched.inBatchScores (f.forward jointInput) (g.forward y)
            (Batched.perRun Bounds.infoNce scores).mean([| 1L |])
        | InfoNceSIs, _ ->
            let both = bothViews ()
            let keys = g.forward y
            let values =
                Batched.perRun2
                    Decomposition.decomposedInfoNceImportanceSampled
                    (Batched.inBatchScores (both.narrow(1L, b, b)) keys)
                    (Batched.inBatchScores (both.narrow(1L, 0L, b)) keys)
            values.mean([| 1L |])
        | InfoNceS, Some negatives ->
            let n = negatives.shape[1]
            let both = bothViews ()
            let joint, firstView = both.narrow(1L, 0L, b), both.narrow(1L, b, b)
            let keys = g.forward y
            let unconditional = Batched.perRun Bounds.infoNce (Batched.inBatchScores firstView keys)
            // Every conditional negative of every run through g's hidden layer in one batched call, [R, n M, width];
            // g's last layer is met from the queries' side (`Batched.scoresOfEncoded`).
            let conditionalScores = Batched.scoresOfEncoded g (joint.narrow(1L, 0L, n)) (keys.narrow(1L, 0L, n)) negatives
            let conditional = Batched.perRun Bounds.conditionalInfoNce conditionalScores
            unconditional.mean([| 1L |]) + conditional.mean([| 1L |])
        | InfoNceS, None -> invalidArg (nameof draw) "InfoNCE_S needs the draw's conditional negatives."

    /// A batch of runs ready to train: each run's generator (seeded by its seed), ground truth and initialised
    /// encoders f, g (`Batched.mlp`), on the runs' device. Dispose it when done.
    type Prepared =
        { Settings: RunSettings
          Generators: torch.Generator[]
          Problems: Gaussian.Problem[]
          Stacked: Gaussian.Stacked
          F: BatchedMlp
          G: BatchedMlp }

        member p.Parameters = Seq.append (p.F.parameters ()) (p.G.parameters ())

        /// One step's objectives [R] on fresh draws.
        member p.Estimate() = objective p.Settings p.F p.G (sample p.Settings p.Stacked p.Generators)

        interface IDisposable with
            member p.Dispose() =
                p.F.Dispose()
                p.G.Dispose()
                (p.Stacked :> IDisposable).Dispose()
                p.Generators |> Array.iter _.Dispose()

    /// Prepares a batch of runs that share shapes (`sameShape`); ArgumentException "batch" otherwise.
    let prepare (batch: RunSettings list) : Prepared =
        if isNull (box batch) || batch.IsEmpty then invalidArg (nameof batch) "the batch must hold at least one run."
        batch |> List.iter validate
        let s = batch.Head
        match batch |> List.tryFind (fun r -> not (sameShape s r)) with
        | Some other ->
            invalidArg (nameof batch) $"every run of a batch must share the estimator, K, sizes and schedule; MI {other.TrueMi} seed {other.Seed} ({other.Estimator.Name}, K {other.Candidates}, {other.Steps} steps) differs from MI {s.TrueMi} seed {s.Seed} ({s.Estimator.Name}, K {s.Candidates}, {s.Steps} steps)."
        | None -> ()
        let runs = Array.ofList batch
        let generators = runs |> Array.map (fun r -> new torch.Generator(uint64 r.Seed))
        let problems = Array.map2 (fun generator (r: RunSettings) -> Gaussian.create generator r.Dimensions r.TrueMi) generators runs
        let f = Batched.mlp runs.Length (2 * s.Dimensions) [ s.Width ] s.Width
        let g = Batched.mlp runs.Length s.Dimensions [ s.Width ] s.Width
        // f's layers then g's from each run's generator: the order a run trained alone draws them in.
        Batched.initialise generators f
        Batched.initialise generators g
        f.``to`` s.Device |> ignore
        g.``to`` s.Device |> ignore
        { Settings = s; Generators = generators; Problems = problems; Stacked = Gaussian.stack problems torch.float32 s.Device; F = f; G = g }

    /// Trains and evaluates a batch of runs that share shapes (`sameShape`: the same estimator, K and schedule; any
    /// true MIs and seeds) as one batched network (`Decomp.Core.Batched`), calling `progress step estimates` (one per
    /// run, in order) every `CurveEvery` steps. Each run has its own generator (its seed): its covariance, data,
    /// initialisation and Adam state are its own, so its result is the one it gets trained alone, up to float rounding
    /// (the batched products sum in another order). A pure function of the settings: the same batch gives the same
    /// numbers on the same device. ArgumentException "batch" for an empty batch or runs of different shapes.
    let runBatch (batch: RunSettings list) (progress: int -> float[] -> unit) : RunResult list =
        let clock = Stopwatch.StartNew()
        use prepared = prepare batch
        let s = prepared.Settings
        let runs = Array.ofList batch
        let curves = Array.init runs.Length (fun _ -> ResizeArray<CurvePoint>())
        Batched.train prepared.Parameters s.LearningRate s.Steps
            (fun _ -> prepared.Estimate())
            (fun step values ->
                if step % s.CurveEvery = 0 || step = s.Steps then
                    let read = values.cpu().data<float32>().ToArray() |> Array.map float
                    read |> Array.iteri (fun r v -> curves[r].Add { Step = step; Estimate = v })
                    progress step read)
        let evaluations =
            Array.init s.EvaluationBatches (fun _ ->
                use scope = torch.NewDisposeScope()
                use _ = torch.no_grad ()
                prepared.Estimate().cpu().data<float32>().ToArray() |> Array.map float)
        let seconds = clock.Elapsed.TotalSeconds
        let problems = prepared.Problems
        runs
        |> Array.mapi (fun r settings ->
            let values = evaluations |> Array.map (fun e -> e[r])
            // At least two evaluation batches (checked with the settings), so the deviation exists.
            let stats = (Decomp.Apps.MeanAndDeviation.Of values).Value
            let mean, sd = stats.Mean, stats.Deviation.Value
            { Settings = settings
              TrueMi = Gaussian.mutualInformation problems[r]
              FirstViewMi = Gaussian.mutualInformationFirstView problems[r]
              ConditionalMi = Gaussian.conditionalMutualInformation problems[r]
              Estimate = mean
              StandardError = sd / sqrt (float values.Length)
              Cap = settings.Estimator.Cap settings.Candidates
              Curve = List.ofSeq curves[r]
              // The batch's time, shared equally: what each run cost.
              Seconds = seconds / float runs.Length })
        |> List.ofArray

    /// Trains and evaluates one run (a batch of one; see `runBatch`), calling `progress step estimate` every
    /// `CurveEvery` steps.
    let run (settings: RunSettings) (progress: int -> float -> unit) : RunResult =
        runBatch [ settings ] (fun step values -> progress step values[0]) |> List.head
