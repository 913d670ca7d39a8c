/// Issue 18 §3: every public function refuses what is outside its domain with an ArgumentException that names the
/// caller's argument, before libtorch sees it (native errors) or the result shows it (silent NaN). These tests run
/// under the default `Settings.FiniteCheck` (CpuOnly, all tensors here are on the CPU); the tests that change the
/// setting are in Settings.Tests.fs and run sequenced, after these.
module Decomp.Core.Tests.ValidationTests

open System
open System.IO
open System.Xml.Linq
open Expecto
open TorchSharp
open Decomp.Core
open Decomp.Core.Tests.Tensors
open Decomp.Core.Tests.BoundsTests

/// Float64 normal draws from a seeded generator.
let randn (seed: int) (shape: int64[]) =
    use generator = new torch.Generator(uint64 seed)
    torch.randn(shape, dtype = torch.float64, generator = generator)

/// Rows that are probability distributions.
let distributions (seed: int) (shape: int64[]) = (randn seed shape).softmax(-1L)

/// A copy of `t` with its first entry replaced by `value`.
let withFirst (value: float) (t: torch.Tensor) =
    let copy = t.detach().clone()
    let flat = copy.view(-1L)
    flat[0L] <- torch.tensor(value, dtype = copy.dtype)
    copy

let disposedLike (t: torch.Tensor) =
    let copy = t.detach().clone()
    copy.Dispose()
    copy

let metaLike (t: torch.Tensor) = torch.empty(t.shape, dtype = t.dtype, device = torch.device "meta")

/// One public function, called on valid inputs that pass through `input name tensor` first, so a test can replace
/// one of them.
type Case =
    {
        Name: string
        /// Floating-point inputs the result is computed from: NaN in any of them must be refused by name.
        Scanned: string list
        /// Inputs whose values are only moved (layout converters): refused by name when disposed or on meta, not scanned.
        Moved: string list
        Run: (string -> torch.Tensor -> torch.Tensor) -> unit
    }

let case name scanned run = { Name = name; Scanned = scanned; Moved = []; Run = run }

let private generator () = new torch.Generator(3UL)

/// Every public function of the core with tensor inputs.
let cases: Case list =
    let problem = using (generator ()) (fun g -> Gaussian.create g 2 1.0)
    let ignoreResult (t: torch.Tensor) = t.Dispose()
    [ case "Scores.mean" [ "values" ] (fun input -> Scores.mean (input "values" (randn 1 [| 4L |])) |> ignoreResult)
      { Name = "Scores.ofInBatch"; Scanned = []; Moved = [ "matrix" ]
        Run = fun input -> Scores.ofInBatch (input "matrix" (randn 1 [| 3L; 3L |])) |> ignoreResult }
      { Name = "Scores.ofPositiveAndNegatives"; Scanned = []; Moved = [ "positive"; "negatives" ]
        Run = fun input -> Scores.ofPositiveAndNegatives (input "positive" (randn 1 [| 3L |])) (input "negatives" (randn 2 [| 3L; 2L |])) |> ignoreResult }
      case "Critics.dot" [ "queries"; "keys" ] (fun input -> Critics.dot (input "queries" (randn 1 [| 4L; 3L |])) (input "keys" (randn 2 [| 5L; 3L |])) |> ignoreResult)
      case "Critics.cosine" [ "queries"; "keys" ] (fun input -> Critics.cosine 0.5 (input "queries" (randn 1 [| 4L; 3L |])) (input "keys" (randn 2 [| 4L; 5L; 3L |])) |> ignoreResult)
      case "Critics.separable" [ "queries"; "keys" ] (fun input -> Critics.separable Dot 2.0 (input "queries" (randn 1 [| 4L; 3L |])) (input "keys" (randn 2 [| 5L; 3L |])) |> ignoreResult)
      case "Critics.bilinear" [ "weight"; "queries"; "keys" ] (fun input ->
          Critics.bilinear (input "weight" (randn 3 [| 3L; 2L |])) (input "queries" (randn 1 [| 4L; 3L |])) (input "keys" (randn 2 [| 5L; 2L |])) |> ignoreResult)
      case "Critics.concatenation" [ "queries"; "keys" ] (fun input ->
          Critics.concatenation (fun t -> t.sum([| -1L |], true)) (input "queries" (randn 1 [| 4L; 3L |])) (input "keys" (randn 2 [| 5L; 2L |])) |> ignoreResult)
      case "Critics.conditional" [ "firstView"; "secondView"; "keys" ] (fun input ->
          Critics.conditional Critics.dot (input "firstView" (randn 1 [| 4L; 2L |])) (input "secondView" (randn 2 [| 4L; 1L |])) (input "keys" (randn 3 [| 5L; 3L |])) |> ignoreResult)
      case "Critics.scores" [ "queries"; "positiveKeys"; "negativeKeys" ] (fun input ->
          Critics.scores Critics.dot (input "queries" (randn 1 [| 4L; 3L |])) (input "positiveKeys" (randn 2 [| 4L; 3L |])) (input "negativeKeys" (randn 3 [| 6L; 3L |])) |> ignoreResult)
      case "Critics.conditionalScores" [ "queries"; "positiveKeys"; "conditionalNegativeKeys" ] (fun input ->
          Critics.conditionalScores Critics.dot (input "queries" (randn 1 [| 4L; 3L |])) (input "positiveKeys" (randn 2 [| 4L; 3L |]))
              (input "conditionalNegativeKeys" (randn 3 [| 4L; 6L; 3L |])) |> ignoreResult)
      case "Critics.inBatchScores" [ "queries"; "keys" ] (fun input ->
          Critics.inBatchScores Critics.dot (input "queries" (randn 1 [| 4L; 3L |])) (input "keys" (randn 2 [| 4L; 3L |])) |> ignoreResult)
      case "Bounds.infoNce" [ "scores" ] (fun input -> Bounds.infoNce (input "scores" (randn 1 [| 4L; 5L |])) |> ignoreResult)
      case "Bounds.conditionalInfoNce" [ "scores" ] (fun input -> Bounds.conditionalInfoNce (input "scores" (randn 1 [| 4L; 5L |])) |> ignoreResult)
      case "Bounds.variationalConditionalInfoNce" [ "scores"; "klDivergence" ] (fun input ->
          Bounds.variationalConditionalInfoNce (input "scores" (randn 1 [| 4L; 5L |])) (input "klDivergence" ((randn 2 [| 4L |]).abs())) |> ignoreResult)
      case "Bounds.sirResample" [ "proposalScores" ] (fun input ->
          use g = generator ()
          Bounds.sirResample (input "proposalScores" (randn 1 [| 4L; 6L |])) 3 g |> ignoreResult)
      case "Bounds.sirConditionalInfoNce" [ "positiveScores"; "candidateScores"; "proposalScores" ] (fun input ->
          use g = generator ()
          Bounds.sirConditionalInfoNce (input "positiveScores" (randn 1 [| 4L |])) (input "candidateScores" (randn 2 [| 4L; 6L |])) (input "proposalScores" (randn 3 [| 4L; 6L |])) 3 g
          |> ignoreResult)
      case "Bounds.importanceSampledConditionalInfoNce" [ "scores"; "proposalScores" ] (fun input ->
          Bounds.importanceSampledConditionalInfoNce (input "scores" (randn 1 [| 4L; 5L |])) (input "proposalScores" (randn 2 [| 4L; 5L |])) |> ignoreResult)
      case "Decomposition.decomposedInfoNce" [ "unconditionalScores"; "conditionalScores" ] (fun input ->
          Decomposition.decomposedInfoNce (input "unconditionalScores" (randn 1 [| 4L; 5L |])) (input "conditionalScores" (randn 2 [| 4L; 3L |])) |> ignoreResult)
      case "Decomposition.decomposedInfoNceImportanceSampled" [ "unconditionalScores"; "conditionalScores" ] (fun input ->
          Decomposition.decomposedInfoNceImportanceSampled (input "unconditionalScores" (randn 1 [| 4L; 5L |])) (input "conditionalScores" (randn 2 [| 4L; 5L |])) |> ignoreResult)
      case "Decomposition.decomposedInfoNceOverSubviews" [ "scoresPerSubview[0]"; "scoresPerSubview[1]" ] (fun input ->
          Decomposition.decomposedInfoNceOverSubviews [ input "scoresPerSubview[0]" (randn 1 [| 4L; 5L |]); input "scoresPerSubview[1]" (randn 2 [| 4L; 3L |]) ] |> ignoreResult)
      case "Baselines.tuba" [ "scores"; "logBaseline" ] (fun input -> Baselines.tuba (input "scores" (randn 1 [| 4L; 5L |])) (input "logBaseline" (randn 2 [| 4L |])) |> ignoreResult)
      case "Baselines.nwj" [ "scores" ] (fun input -> Baselines.nwj (input "scores" (randn 1 [| 4L; 5L |])) |> ignoreResult)
      case "Baselines.donskerVaradhan" [ "scores" ] (fun input -> Baselines.donskerVaradhan (input "scores" (randn 1 [| 4L; 5L |])) |> ignoreResult)
      case "Baselines.smile" [ "scores" ] (fun input -> Baselines.smile (input "scores" (randn 1 [| 4L; 5L |])) 5.0 |> ignoreResult)
      case "Baselines.jensenShannonObjective" [ "scores" ] (fun input -> Baselines.jensenShannonObjective (input "scores" (randn 1 [| 4L; 5L |])) |> ignoreResult)
      case "Baselines.jensenShannon" [ "scores" ] (fun input -> Baselines.jensenShannon (input "scores" (randn 1 [| 4L; 5L |])) |> ignoreResult)
      case "Baselines.mine" [ "scores" ] (fun input -> Baselines.mine (input "scores" (randn 1 [| 4L; 5L |])) (Baselines.mineState 0.1) |> fst |> ignoreResult)
      case "MemoryBank.decomposedLoss" [ "fullViewQueries"; "restrictedViewQueries"; "keys"; "memory" ] (fun input ->
          let loss =
              MemoryBank.decomposedLoss DecomposedLossSettings.Paper (input "fullViewQueries" (randn 1 [| 4L; 3L |])) (input "restrictedViewQueries" (randn 2 [| 4L; 3L |]))
                  (input "keys" (randn 3 [| 4L; 3L |])) (Some(input "memory" (randn 4 [| 6L; 3L |])))
          (loss :> IDisposable).Dispose())
      case "KeyQueue.Enqueue" [ "keys" ] (fun input ->
          use queue = new KeyQueue(8, 3, torch.CPU, torch.float64, 1L)
          queue.Enqueue(input "keys" (randn 1 [| 2L; 3L |])))
      case "KeyQueue.Restore" [ "keys" ] (fun input ->
          use queue = new KeyQueue(8, 3, torch.CPU, torch.float64, 1L)
          queue.Restore(input "keys" (randn 1 [| 8L; 3L |]), 0))
      case "Proposals.gaussianLogDensity" [ "mean"; "logStd"; "y" ] (fun input ->
          Proposals.gaussianLogDensity (input "mean" (randn 1 [| 4L; 3L |])) (input "logStd" (randn 2 [| 4L; 3L |])) (input "y" (randn 3 [| 4L; 2L; 3L |])) |> ignoreResult)
      case "Proposals.sampleGaussian" [ "mean"; "logStd" ] (fun input ->
          use g = generator ()
          Proposals.sampleGaussian (input "mean" (randn 1 [| 4L; 3L |])) (input "logStd" (randn 2 [| 4L; 3L |])) 2 g |> ignoreResult)
      case "Proposals.negativeLogLikelihood" [ "logDensities" ] (fun input -> Proposals.negativeLogLikelihood (input "logDensities" (randn 1 [| 4L |])) |> ignoreResult)
      case "Proposals.klMonteCarlo" [ "logTrueDensities"; "logProposalDensities" ] (fun input ->
          Proposals.klMonteCarlo (input "logTrueDensities" (randn 1 [| 4L |])) (input "logProposalDensities" (randn 2 [| 4L |])) |> ignoreResult)
      { Name = "Proposals.parameters"; Scanned = []; Moved = [ "output" ]
        Run = fun input -> Proposals.parameters (input "output" (randn 1 [| 4L; 6L |])) |> ignore }
      case "MiCoding.conditionalEntropy" [ "predictionLogits"; "codes" ] (fun input ->
          MiCoding.conditionalEntropy (input "predictionLogits" (randn 1 [| 4L; 3L |])) (input "codes" (distributions 2 [| 4L; 3L |])) |> ignoreResult)
      case "MiCoding.directMiCoding" [ "predictionLogits"; "marginal" ] (fun input ->
          let marginal = { Probabilities = input "marginal" (distributions 2 [| 3L |]); Decay = 0.5 }
          MiCoding.directMiCoding (input "predictionLogits" (randn 1 [| 4L; 3L |])) (torch.tensor [| 0L; 1L; 2L; 1L |]) marginal |> ignoreResult)
      case "MiCoding.updateMarginal" [ "codes"; "estimate" ] (fun input ->
          let estimate = { Probabilities = input "estimate" (distributions 2 [| 3L |]); Decay = 0.5 }
          (MiCoding.updateMarginal (input "codes" (distributions 1 [| 4L; 3L |])) estimate).Probabilities |> ignoreResult)
      case "MiCoding.marginalEntropy" [ "estimate" ] (fun input ->
          MiCoding.marginalEntropy { Probabilities = input "estimate" (distributions 2 [| 3L |]); Decay = 0.5 } |> ignoreResult)
      case "Gaussian.sampleYGivenFirstView" [ "firstView" ] (fun input ->
          use g = generator ()
          Gaussian.sampleYGivenFirstView problem (input "firstView" (randn 1 [| 4L; 2L |])) 3 g |> ignoreResult)
      case "Gaussian.sampleYGivenBothViews" [ "firstView"; "secondView" ] (fun input ->
          use g = generator ()
          Gaussian.sampleYGivenBothViews problem (input "firstView" (randn 1 [| 4L; 2L |])) (input "secondView" (randn 2 [| 4L; 2L |])) 3 g |> ignoreResult)
      case "GaussianCritics.logDensityY" [ "candidates" ] (fun input -> GaussianCritics.logDensityY problem (input "candidates" (randn 1 [| 4L; 3L; 2L |])) |> ignoreResult)
      case "GaussianCritics.logDensityYGivenFirstView" [ "firstView"; "candidates" ] (fun input ->
          GaussianCritics.logDensityYGivenFirstView problem (input "firstView" (randn 1 [| 4L; 2L |])) (input "candidates" (randn 2 [| 4L; 3L; 2L |])) |> ignoreResult)
      case "GaussianCritics.logDensityYGivenBothViews" [ "firstView"; "secondView"; "candidates" ] (fun input ->
          GaussianCritics.logDensityYGivenBothViews problem (input "firstView" (randn 1 [| 4L; 2L |])) (input "secondView" (randn 2 [| 4L; 2L |])) (input "candidates" (randn 3 [| 4L; 3L; 2L |])) |> ignoreResult)
      case "GaussianCritics.optimalCritic" [ "firstView"; "secondView"; "candidates" ] (fun input ->
          GaussianCritics.optimalCritic problem (input "firstView" (randn 1 [| 4L; 2L |])) (input "secondView" (randn 2 [| 4L; 2L |])) (input "candidates" (randn 3 [| 4L; 3L; 2L |])) |> ignoreResult)
      case "GaussianCritics.optimalFirstViewCritic" [ "firstView"; "candidates" ] (fun input ->
          GaussianCritics.optimalFirstViewCritic problem (input "firstView" (randn 1 [| 4L; 2L |])) (input "candidates" (randn 2 [| 4L; 3L; 2L |])) |> ignoreResult)
      case "GaussianCritics.optimalConditionalCritic" [ "firstView"; "secondView"; "candidates" ] (fun input ->
          GaussianCritics.optimalConditionalCritic problem (input "firstView" (randn 1 [| 4L; 2L |])) (input "secondView" (randn 2 [| 4L; 2L |])) (input "candidates" (randn 3 [| 4L; 3L; 2L |])) |> ignoreResult)
      case "GaussianInformation.mutualInformation" [ "covariance" ] (fun input ->
          GaussianInformation.mutualInformation (input "covariance" (problem.Covariance.clone())) [| 0 |] [| 4 |] |> ignore)
      case "GaussianInformation.conditionalMutualInformation" [ "covariance" ] (fun input ->
          GaussianInformation.conditionalMutualInformation (input "covariance" (problem.Covariance.clone())) [| 2 |] [| 4 |] [| 0 |] |> ignore)
      case "GaussianInformation.kl" [ "mean0"; "covariance0"; "mean1"; "covariance1" ] (fun input ->
          let eye () = torch.eye(2L, dtype = torch.float64)
          GaussianInformation.kl (input "mean0" (randn 1 [| 2L |])) (input "covariance0" (eye ())) (input "mean1" (randn 2 [| 2L |])) (input "covariance1" (eye ())) |> ignore)
      case "Proposals.proposalLogDensity" [ "firstView"; "candidates" ] (fun input ->
          Proposals.proposalLogDensity (Proposals.exactProposal problem) (input "firstView" (randn 1 [| 4L; 2L |])) (input "candidates" (randn 2 [| 4L; 3L; 2L |])) |> ignoreResult)
      case "Proposals.sampleProposal" [ "firstView" ] (fun input ->
          use g = generator ()
          Proposals.sampleProposal (Proposals.exactProposal problem) (input "firstView" (randn 1 [| 4L; 2L |])) 3 g |> ignoreResult) ]

/// Runs the case with `argument`'s tensor replaced by `replace` of it, in its own dispose scope.
let private runWith (c: Case) (argument: string) (replace: torch.Tensor -> torch.Tensor) () =
    use scope = torch.NewDisposeScope()
    c.Run(fun name t -> if name = argument then replace t else t)

let private sweep (title: string) (arguments: Case -> string list) (replace: torch.Tensor -> torch.Tensor) =
    testList title [
        for c in cases do
            for argument in arguments c do
                test $"{c.Name} ({argument})" { expectArgumentException argument (runWith c argument replace) }
    ]

let everyFunction =
    testList "every public function validates its tensor inputs by name" [
        // Without this, a case whose inputs were wrong would pass every sweep below for the wrong reason.
        testList "valid inputs are accepted" [
            for c in cases do
                test c.Name { runWith c "" id () }
        ]
        sweep "NaN is refused on the CPU, naming the argument" _.Scanned (withFirst nan)
        sweep "a disposed tensor is refused, naming the argument" (fun c -> c.Scanned @ c.Moved) disposedLike
        sweep "a meta tensor is refused, naming the argument" (fun c -> c.Scanned @ c.Moved) metaLike
    ]

/// The issue's named cases, each with NaN, +infinity and -infinity.
let nanPolicy =
    let poisoned = [ "NaN", nan; "+infinity", infinity; "-infinity", -infinity ]
    testList "the core refuses non-finite inputs on the CPU (the issue's functions)" [
        for label, value in poisoned do
            test $"Bounds.infoNce, {label}" {
                expectArgumentException "scores" (fun () -> Bounds.infoNce (withFirst value (randn 1 [| 3L; 4L |])) |> ignore)
            }
            test $"Decomposition.decomposedInfoNceImportanceSampled, {label}" {
                expectArgumentException "unconditionalScores" (fun () -> Decomposition.decomposedInfoNceImportanceSampled (withFirst value (randn 1 [| 3L; 4L |])) (randn 2 [| 3L; 4L |]) |> ignore)
                expectArgumentException "conditionalScores" (fun () -> Decomposition.decomposedInfoNceImportanceSampled (randn 1 [| 3L; 4L |]) (withFirst value (randn 2 [| 3L; 4L |])) |> ignore)
            }
            test $"Baselines.nwj, {label}" {
                expectArgumentException "scores" (fun () -> Baselines.nwj (withFirst value (randn 1 [| 3L; 4L |])) |> ignore)
            }
            test $"MemoryBank.decomposedLoss, {label}" {
                let loss full keys memory = MemoryBank.decomposedLoss DecomposedLossSettings.Paper full (randn 2 [| 4L; 3L |]) keys memory |> ignore
                expectArgumentException "fullViewQueries" (fun () -> loss (withFirst value (randn 1 [| 4L; 3L |])) (randn 3 [| 4L; 3L |]) None)
                expectArgumentException "keys" (fun () -> loss (randn 1 [| 4L; 3L |]) (withFirst value (randn 3 [| 4L; 3L |])) None)
                expectArgumentException "memory" (fun () -> loss (randn 1 [| 4L; 3L |]) (randn 3 [| 4L; 3L |]) (Some(withFirst value (randn 4 [| 6L; 3L |]))))
            }
        test "finite inputs whose sum overflows are accepted (the scan sums first, then confirms element by element)" {
            use large = torch.full(4L, 3L, (3e38).ToScalar(), dtype = torch.float32)
            use half = torch.full(4L, 3L, (6e4).ToScalar(), dtype = torch.float16)
            use values = Bounds.infoNce large
            use halfValues = Bounds.infoNce half
            Expect.all (toArray values) Double.IsFinite "float32 scores of 3e38 give finite I_NCE"
            Expect.all (toArray halfValues) Double.IsFinite "float16 scores of 6e4 give finite I_NCE"
        }
        test "the message says what was found and where" {
            let scores = randn 1 [| 3L; 4L |]
            scores[1L, 2L] <- torch.tensor(nan, dtype = torch.float64)
            try
                Bounds.infoNce scores |> ignore
                failtest "NaN accepted"
            with :? ArgumentException as e ->
                Expect.stringContains e.Message "NaN or infinite" "says NaN or infinite"
                Expect.stringContains e.Message "1 NaN" "counts the NaN"
                Expect.stringContains e.Message "[1, 2]" "gives the first position"
        }
        test "a refused input leaves no tensor in the caller's dispose scope" {
            use outer = torch.NewDisposeScope()
            let scores = withFirst nan (randn 1 [| 3L; 4L |])
            let marginal = { Probabilities = torch.tensor [| 0.5; 0.6; 0.1 |]; Decay = 0.5 }
            use queue = new KeyQueue(4, 3, torch.CPU, torch.float64, 1L)
            let keys = withFirst nan (randn 2 [| 2L; 3L |])
            let logits, symbols = randn 3 [| 2L; 3L |], torch.tensor [| 0L; 1L |]
            let before = outer.DisposablesCount
            expectArgumentException "scores" (fun () -> Bounds.infoNce scores |> ignore)
            expectArgumentException "marginal" (fun () -> MiCoding.directMiCoding logits symbols marginal |> ignore)
            expectArgumentException "keys" (fun () -> queue.Enqueue keys)
            Expect.equal (outer.DisposablesCount - before) 0 "the scans' intermediates and the error report are freed"
        }
        test "a checked call leaves only its result in the caller's dispose scope" {
            use outer = torch.NewDisposeScope()
            let scores = randn 1 [| 8L; 5L |]
            let queries, keys = randn 2 [| 8L; 3L |], randn 3 [| 8L; 3L |]
            use queue = new KeyQueue(4, 3, torch.CPU, torch.float64, 1L)
            let before = outer.DisposablesCount
            let results = [ Bounds.infoNce scores; Baselines.nwj scores; Critics.inBatchScores Critics.dot queries keys; Scores.mean (scores.select(1L, 0L)) ]
            queue.Enqueue keys
            // select() above made one view in the scope, so one more than the results.
            Expect.equal (outer.DisposablesCount - before) (results.Length + 1) "one live tensor per call, no scan left behind"
        }
    ]

let nativeErrors =
    let meta (shape: int64[]) = torch.zeros(shape, device = torch.device "meta")
    testList "native errors become ArgumentExceptions that name the argument" [
        test "meta tensors in the decomposed and importance-sampled bounds" {
            expectArgumentException "unconditionalScores" (fun () -> Decomposition.decomposedInfoNceImportanceSampled (meta [| 4L; 3L |]) (meta [| 4L; 3L |]) |> ignore)
            expectArgumentException "scores" (fun () -> Bounds.importanceSampledConditionalInfoNce (meta [| 4L; 3L |]) (meta [| 4L; 3L |]) |> ignore)
            expectArgumentException "unconditionalScores" (fun () -> Decomposition.decomposedInfoNce (meta [| 4L; 3L |]) (meta [| 4L; 3L |]) |> ignore)
        }
        test "meta keys in KeyQueue.Enqueue and Restore, and a queue on the meta device" {
            use queue = new KeyQueue(4, 3, torch.CPU, torch.float32, 1L)
            expectArgumentException "keys" (fun () -> queue.Enqueue(meta [| 2L; 3L |]))
            expectArgumentException "keys" (fun () -> queue.Restore(meta [| 4L; 3L |], 0))
            expectArgumentException "device" (fun () -> new KeyQueue(4, 3, torch.device "meta", torch.float32, 1L) |> ignore)
        }
        test "meta tensors in the B.1 loss" {
            expectArgumentException "fullViewQueries" (fun () -> MemoryBank.decomposedLoss DecomposedLossSettings.Paper (meta [| 4L; 3L |]) (meta [| 4L; 3L |]) (meta [| 4L; 3L |]) None |> ignore)
            expectArgumentException "memory" (fun () -> MemoryBank.decomposedLoss DecomposedLossSettings.Paper (randn 1 [| 4L; 3L |]) (randn 2 [| 4L; 3L |]) (randn 3 [| 4L; 3L |]) (Some(meta [| 6L; 3L |])) |> ignore)
        }
        for label, poison in [ "NaN", withFirst nan; "+infinity", withFirst infinity; "a row of all -infinity", (fun (t: torch.Tensor) -> t.index_fill(0L, torch.tensor [| 1L |], (-infinity).ToScalar())) ] do
            test $"sirResample with {label}" {
                use g = new torch.Generator(1UL)
                expectArgumentException "proposalScores" (fun () -> Bounds.sirResample (poison (randn 1 [| 3L; 5L |])) 2 g |> ignore)
                expectArgumentException "proposalScores" (fun () ->
                    Bounds.sirConditionalInfoNce (randn 2 [| 3L |]) (randn 3 [| 3L; 5L |]) (poison (randn 1 [| 3L; 5L |])) 2 g |> ignore)
            }
    ]

let uncheckedValues =
    testList "values that were accepted unchecked" [
        test "KeyQueue refuses integer and bool dtypes" {
            for dtype in [ torch.int64; torch.int32; torch.ScalarType.Bool; torch.uint8 ] do
                expectArgumentException "dtype" (fun () -> new KeyQueue(4, 3, torch.CPU, dtype, 1L) |> ignore)
        }
        test "KeyQueue refuses NaN keys when they arrive, not at a later loss" {
            use queue = new KeyQueue(4, 3, torch.CPU, torch.float32, 1L)
            expectArgumentException "keys" (fun () -> queue.Enqueue(torch.full(2L, 3L, nan.ToScalar())))
            expectArgumentException "keys" (fun () -> queue.Restore(torch.full(4L, 3L, infinity.ToScalar()), 0))
            use keys = queue.Keys
            Expect.isTrue (toArray keys |> Array.forall Double.IsFinite) "the queue is unchanged"
        }
        test "directMiCoding refuses a marginal that does not sum to 1 or has a negative entry" {
            let logits = randn 1 [| 2L; 3L |]
            let symbols = torch.tensor [| 0L; 1L |]
            for probabilities in [ [| 0.5; 0.6; 0.1 |]; [| -0.5; 1.4; 0.1 |]; [| 0.2; 0.3; 0.4 |] ] do
                let marginal = { Probabilities = torch.tensor probabilities; Decay = 0.5 }
                expectArgumentException "marginal" (fun () -> MiCoding.directMiCoding logits symbols marginal |> ignore)
                expectArgumentException "estimate" (fun () -> MiCoding.updateMarginal symbols marginal |> ignore)
                expectArgumentException "estimate" (fun () -> MiCoding.marginalEntropy marginal |> ignore)
        }
        test "soft codes must be distributions over the symbols" {
            let marginal = MiCoding.uniformMarginal 3 0.5 torch.float64 torch.CPU
            let notDistributions = torch.tensor(array2D [ [ 0.5; 0.6; 0.1 ]; [ 1.0; 0.0; 0.0 ] ])
            expectArgumentException "codes" (fun () -> MiCoding.directMiCoding (randn 1 [| 2L; 3L |]) notDistributions marginal |> ignore)
            expectArgumentException "codes" (fun () -> MiCoding.updateMarginal notDistributions marginal |> ignore)
            expectArgumentException "codes" (fun () -> MiCoding.conditionalEntropy (randn 1 [| 2L; 3L |]) (notDistributions.neg()) |> ignore)
        }
        test "uniformMarginal refuses a non-floating dtype and the meta device" {
            expectArgumentException "dtype" (fun () -> MiCoding.uniformMarginal 3 0.5 torch.int64 torch.CPU |> ignore)
            expectArgumentException "device" (fun () -> MiCoding.uniformMarginal 3 0.5 torch.float32 (torch.device "meta") |> ignore)
        }
        test "the B.1 loss names the caller's argument for an empty batch, not an internal one" {
            let empty () = torch.zeros(0L, 3L)
            expectArgumentException "fullViewQueries" (fun () -> MemoryBank.decomposedLoss DecomposedLossSettings.Paper (empty ()) (empty ()) (empty ()) (Some(randn 1 [| 5L; 3L |])) |> ignore)
            expectArgumentException "fullViewQueries" (fun () -> MemoryBank.decomposedLoss DecomposedLossSettings.Paper (empty ()) (empty ()) (empty ()) None |> ignore)
        }
        test "caps name their own argument" {
            expectArgumentException "candidatesPerSubview" (fun () -> Decomposition.cap [ 4; 1 ] |> ignore)
            expectArgumentException "candidatesPerSubview" (fun () -> Decomposition.cap null |> ignore)
            expectArgumentException "vocabulary" (fun () -> MiCoding.cap 1 |> ignore)
        }
        test "MINE refuses a state outside its domain" {
            let scores = randn 1 [| 4L; 5L |]
            expectArgumentException "state" (fun () -> Baselines.mine scores { Baselines.mineState 0.1 with LogMovingAverage = Some nan } |> ignore)
            expectArgumentException "state" (fun () -> Baselines.mine scores { Baselines.mineState 0.1 with Rate = 0.0 } |> ignore)
        }
    ]

/// The doc comment of a core member, from the XML documentation next to the assembly.
let private docOf (memberName: string) =
    let path = Path.Combine(AppContext.BaseDirectory, "Decomp.Core.xml")
    XDocument.Load(path).Descendants(XName.Get "member")
    |> Seq.tryFind (fun m -> m.Attribute(XName.Get "name").Value = memberName)
    |> Option.map _.Value
    |> Option.defaultWith (fun () -> failtestf "%s is not documented in %s" memberName path)

let outsideTheDomain =
    testList "results outside their domain" [
        for name, bound, memberName in
            [ "NWJ", Baselines.nwj, "M:Decomp.Core.Baselines.nwj(TorchSharp.torch.Tensor)"
              "JS", Baselines.jensenShannon, "M:Decomp.Core.Baselines.jensenShannon(TorchSharp.torch.Tensor)"
              "TUBA", (fun s -> Baselines.tuba s (torch.zeros([||], dtype = s.dtype))), "M:Decomp.Core.Baselines.tuba(TorchSharp.torch.Tensor,TorchSharp.torch.Tensor)" ] do
            test $"{name} overflows to -infinity at scores of 1e4, and its doc comment says so" {
                for dtype in [ torch.float32; torch.float64 ] do
                    use scores = torch.full(3L, 4L, (1e4).ToScalar(), dtype = dtype)
                    use values = bound scores
                    Expect.all (toArray values) (fun v -> Double.IsNegativeInfinity v) $"{name} in {dtype} is -infinity"
                Expect.stringContains (docOf memberName) "-infinity" $"the doc comment of {name} warns of the overflow"
            }
        test "Scores.mean refuses an overflowed estimate instead of averaging -infinity" {
            use values = Baselines.nwj (torch.full(3L, 4L, (1e4).ToScalar()))
            expectArgumentException "values" (fun () -> Scores.mean values |> ignore)
        }
    ]

[<Tests>]
let tests = testList "Validation (issue 18 §3)" [ everyFunction; nanPolicy; nativeErrors; uncheckedValues; outsideTheDomain ]
