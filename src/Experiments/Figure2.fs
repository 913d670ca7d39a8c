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
        | InfoNce -> log (float candidates)
        | InfoNceS -> 2.0 * log (float (candidates / 2))
        | InfoNceSIs -> 2.0 * log (float candidates)

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

    /// The estimator's value (a scalar: the mean over the batch) on one batch drawn from the ground truth.
    let private estimate (s: RunSettings) (problem: Gaussian.Problem) (f: torch.nn.Module<torch.Tensor, torch.Tensor>) (g: torch.nn.Module<torch.Tensor, torch.Tensor>) (generator: torch.Generator) =
        let x1, x2, y = Gaussian.sampleJoint problem (batchSize s) generator torch.float32 s.Device
        let joint = f.forward (torch.cat([| x1; x2 |], 1L))
        let keys = g.forward y
        match s.Estimator with
        | InfoNce -> (Bounds.infoNce (Critics.inBatchScores Critics.dot joint keys)).mean()
        | InfoNceSIs ->
            let firstView = f.forward (torch.cat([| x1; torch.zeros_like x2 |], 1L))
            let values =
                Decomposition.decomposedInfoNceImportanceSampled
                    (Critics.inBatchScores Critics.dot firstView keys)
                    (Critics.inBatchScores Critics.dot joint keys)
            values.mean()
        | InfoNceS ->
            let firstView = f.forward (torch.cat([| x1; torch.zeros_like x2 |], 1L))
            let unconditional = Bounds.infoNce (Critics.inBatchScores Critics.dot firstView keys)
            let n = int64 (min s.ConditionalExamples (batchSize s))
            let x1c = x1.narrow(0L, 0L, n)
            let conditionalNegatives = Gaussian.sampleYGivenX1 problem x1c (s.Candidates / 2 - 1) generator
            let conditional =
                Bounds.conditionalInfoNce (Critics.scores Critics.dot (joint.narrow(0L, 0L, n)) (keys.narrow(0L, 0L, n)) (g.forward conditionalNegatives))
            unconditional.mean() + conditional.mean()

    /// Re-draws every Linear layer's parameters from `generator` with PyTorch's default distribution,
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), so a run depends on its seed alone, not on the global random state that other
    /// code (or a parallel run) may touch.
    let private initialise (generator: torch.Generator) (network: torch.nn.Module<torch.Tensor, torch.Tensor>) =
        use _ = torch.no_grad ()
        for layer in network.modules () do
            match layer with
            | :? TorchSharp.Modules.Linear as linear ->
                let bound = 1.0 / sqrt (float linear.weight.shape[1])
                linear.weight.uniform_(-bound, bound, generator) |> ignore
                if not (isNull linear.bias) then linear.bias.uniform_(-bound, bound, generator) |> ignore
            | _ -> ()

    /// Trains and evaluates one run, calling `progress step estimate` every `CurveEvery` steps. A pure function of the
    /// settings: the same settings give the same numbers on the same device.
    let run (settings: RunSettings) (progress: int -> float -> unit) : RunResult =
        validate settings
        let clock = Stopwatch.StartNew()
        use generator = new torch.Generator(uint64 settings.Seed)
        let problem = Gaussian.create generator settings.Dimensions settings.TrueMi
        let f = Critics.mlp (2 * settings.Dimensions) [ settings.Width ] settings.Width
        let g = Critics.mlp settings.Dimensions [ settings.Width ] settings.Width
        initialise generator f
        initialise generator g
        f.``to`` settings.Device |> ignore
        g.``to`` settings.Device |> ignore
        use optimizer = torch.optim.Adam(Seq.append (f.parameters ()) (g.parameters ()), settings.LearningRate)
        let curve = ResizeArray()
        for step in 1 .. settings.Steps do
            use scope = torch.NewDisposeScope()
            let mean = estimate settings problem f g generator
            optimizer.zero_grad ()
            (-mean).backward ()
            optimizer.step () |> ignore
            if step % settings.CurveEvery = 0 || step = settings.Steps then
                let value = mean.item<float32>() |> float
                curve.Add { Step = step; Estimate = value }
                progress step value
        let evaluations =
            [| for _ in 1 .. settings.EvaluationBatches ->
                   use scope = torch.NewDisposeScope()
                   use _ = torch.no_grad ()
                   (estimate settings problem f g generator).item<float32>() |> float |]
        let mean = Array.average evaluations
        let sd = sqrt (evaluations |> Array.sumBy (fun v -> (v - mean) ** 2.0) |> fun s -> s / float (evaluations.Length - 1))
        f.Dispose()
        g.Dispose()
        { Settings = settings
          TrueMi = Gaussian.mutualInformationXY problem
          FirstViewMi = Gaussian.mutualInformationX1Y problem
          ConditionalMi = Gaussian.conditionalMutualInformationX2YGivenX1 problem
          Estimate = mean
          StandardError = sd / sqrt (float evaluations.Length)
          Cap = settings.Estimator.Cap settings.Candidates
          Curve = List.ofSeq curve
          Seconds = clock.Elapsed.TotalSeconds }
