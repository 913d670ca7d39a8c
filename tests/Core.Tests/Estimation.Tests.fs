/// Estimating MI and conditional MI from samples (Estimation): the interval's coverage, estimates on Gaussians with
/// closed-form MI, the log K warning, and bad input named by argument.
module Decomp.Core.Tests.EstimationTests

open System
open Expecto
open TorchSharp
open Decomp.Core

/// x, y [n, d] with corr(x_i, y_i) = rho in each of d independent dimensions: I(x; y) = -(d/2) log(1 - rho^2).
let private correlated (n: int) (d: int) (rho: float) (seed: uint64) =
    use generator = new torch.Generator(seed)
    let x = torch.randn([| int64 n; int64 d |], dtype = torch.float64, generator = generator)
    let noise = torch.randn([| int64 n; int64 d |], dtype = torch.float64, generator = generator)
    x, rho * x + sqrt (1.0 - rho * rho) * noise, -(float d) / 2.0 * log (1.0 - rho * rho)

/// Small settings so that each estimate trains in seconds on two cores.
let private quick = { Estimation.defaults with BatchSize = 128; MaxSteps = 600; EvaluateEvery = 50; HiddenSizes = [ 64 ]; EmbeddingSize = 32 }

let private argumentOf (f: unit -> unit) =
    try
        f ()
        "no exception"
    with :? ArgumentException as e -> e.ParamName

[<Tests>]
let tests =
    testList "Estimation" [
        test "the 95% interval covers the bound's population value at its nominal rate (400 test sets, fixed critic)" {
            // The interval is about the test sample: with the critic held fixed (here the optimal critic of a Gaussian,
            // log p(y | x)), the bound's value on fresh test data varies, and the interval from 4 test batches of 256
            // must cover its population value (the mean over 4000 batches) in 95% of test sets. With 400 test sets the
            // coverage's standard error is sqrt(0.95 0.05 / 400) = 0.011; we allow 3 of them. The population value's
            // own error (sd / sqrt 4000) is 3% of one test set's standard error, too small to matter.
            let rho, d, batch = 0.8, 4, 256
            let batchValue (seed: uint64) =
                use scope = torch.NewDisposeScope()
                let x, y, _ = correlated batch d rho seed
                let squared = (y.unsqueeze 0 - rho * x.unsqueeze 1).pow(2.0.ToScalar()).sum(-1L)
                let scores = -squared / (2.0 * (1.0 - rho * rho))
                (Bounds.infoNce (Scores.ofInBatch scores) |> Scores.mean).item<float> ()
            let population = Array.init 4000 (fun i -> batchValue (uint64 (100000 + i))) |> Array.average
            let covered =
                [ for set in 0..399 ->
                      let _, _, lower, upper = Estimation.interval (Array.init 4 (fun b -> batchValue (uint64 (set * 4 + b))))
                      lower <= population && population <= upper ]
                |> List.filter id
                |> List.length
            let coverage = float covered / 400.0
            printfn "interval coverage: %.3f over 400 test sets (nominal 0.95)" coverage
            Expect.isTrue (abs (coverage - 0.95) <= 3.0 * sqrt (0.95 * 0.05 / 400.0)) $"coverage {coverage} is within 0.033 of 0.95"
        }

        test "InfoNCE on a 4-dimensional Gaussian of 1.35 nats: below the truth but for test noise, and most of it found" {
            let x, y, truth = correlated 4096 4 0.7 11UL
            let r = Estimation.mutualInformation quick x y
            printfn "MI %.3f: estimate %.3f [%.3f, %.3f] from %d test batches, %d steps (best %d), %.1f s" truth r.Value r.Lower r.Upper r.TestBatches r.Steps r.BestStep r.Seconds
            // A lower bound's expectation is at most the truth; its test estimate exceeds it by more than 4 standard
            // errors with probability under 0.3% (t with 7 degrees of freedom).
            Expect.isLessThanOrEqual r.Value (truth + 4.0 * r.StandardError) "InfoNCE does not overshoot the MI"
            // Not a statistical bound: a floor that catches training that does not work.
            Expect.isGreaterThan r.Value (0.7 * truth) "training finds at least 70% of the MI"
            Expect.equal r.Cap (Some(log 128.0)) "capped by log B"
            Expect.isEmpty r.Warnings "no warning far from the cap"
            Expect.equal (r.TrainRows, r.ValidationRows, r.TestRows) (2048, 1024, 1024) "the 50/25/25 split"
            Expect.isTrue (r.Lower < r.Value && r.Value < r.Upper) "the interval surrounds the estimate"
            Expect.isNonEmpty r.Curve "the curve records the evaluations"
        }

        test "every estimator runs and gives a finite estimate; the uncapped ones report no cap" {
            let x, y, truth = correlated 2048 2 0.6 12UL
            for estimator in MiEstimator.All do
                let r = Estimation.mutualInformation { quick with Estimator = estimator; BatchSize = 64; MaxSteps = 200 } x y
                printfn "%s: %.3f [%.3f, %.3f] (truth %.3f)" estimator.Name r.Value r.Lower r.Upper truth
                Expect.isTrue (Double.IsFinite r.Value && Double.IsFinite r.StandardError) $"{estimator.Name} is finite"
                Expect.equal r.Cap.IsSome (estimator = InfoNce) $"{estimator.Name}'s cap"
        }

        test "an estimate at the cap log B says so" {
            // 5 dimensions at rho = 0.999: about 15.5 nats, far above log 64 = 4.16.
            let x, y, _ = correlated 2048 5 0.999 13UL
            let r = Estimation.mutualInformation { quick with BatchSize = 64; MaxSteps = 300 } x y
            Expect.isLessThanOrEqual r.Value (log 64.0 + 1e-9) "InfoNCE never passes log B"
            Expect.exists r.Warnings (fun w -> w.Contains "the number is the cap, not the MI" && w.Contains "larger BatchSize") "the warning says what to do"
        }

        test "conditional MI on the paper's Gaussian: both routes land near I(x''; y | x')" {
            use generator = new torch.Generator(7UL)
            // I(x'; y) = 0.5 and I(x''; y | x') = 0.5 nats per dimension, two dimensions: 1 nat each, far from log 128.
            let problem = Gaussian.ofBlocks [| for _ in 1..2 -> Gaussian.sampleDimensionBlock generator 1.0 0.5 |]
            let x1, x2, y = Gaussian.sampleJoint problem 4096 generator torch.float32 torch.CPU
            let truth = Gaussian.conditionalMutualInformation problem
            for route in [ ChainRule; ImportanceSampled ] do
                let r = Estimation.conditionalMutualInformation quick route x2 y x1
                printfn "CMI %.3f by %s: %.3f [%.3f, %.3f], %.1f s" truth route.Name r.Value r.Lower r.Upper r.Seconds
                Expect.equal r.Route (Some route) "the route is recorded"
                // Neither route is a proven bound; a band that catches a route that does not estimate CMI at all.
                Expect.isTrue (r.Value > 0.5 * truth && r.Value < 1.5 * truth) $"{route.Name}: {r.Value} within half of {truth} either way"
        }

        test "a bound that overflows in training is reported by estimator and step, not as an error about an internal argument" {
            // NWJ holds e^E outside a logarithm; a learning rate of 10 on nearly deterministic data drives the critic's
            // scores past float32's range within a few steps.
            let x, y, _ = correlated 1024 4 0.999 15UL
            let message =
                try
                    Estimation.mutualInformation { quick with Estimator = Nwj; BatchSize = 64; LearningRate = 10.0; MaxSteps = 300 } x y |> ignore
                    "no exception"
                with :? ArithmeticException as e -> e.Message
            Expect.stringContains message "The nwj bound became" "names the estimator"
            Expect.stringContains message "at training step" "names the step"
            Expect.stringContains message "smaller LearningRate" "says what to do"
        }

        test "bad input is refused, naming the argument" {
            let x, y, _ = correlated 1024 2 0.5 14UL
            let options = { quick with BatchSize = 64 }
            let mi a b = fun () -> Estimation.mutualInformation options a b |> ignore
            Expect.equal (argumentOf (mi x (y.narrow(0L, 0L, 1000L)))) "y" "rows that differ"
            let withNaN = y.clone ()
            withNaN[3L, 1L] <- torch.tensor Double.NaN
            Expect.equal (argumentOf (mi x withNaN)) "y" "a NaN"
            let constant = x.clone ()
            constant[torch.TensorIndex.Colon, torch.TensorIndex.Single 0L] <- torch.tensor 2.0
            Expect.equal (argumentOf (mi constant y)) "x" "a constant column"
            Expect.equal (argumentOf (mi (x.narrow(0L, 0L, 300L)) (y.narrow(0L, 0L, 300L)))) "x" "too few rows for the split"
            Expect.equal (argumentOf (mi (x.reshape(-1L)) y)) "x" "not a matrix"
            Expect.equal (argumentOf (fun () -> Estimation.mutualInformation { options with BatchSize = 1 } x y |> ignore)) "BatchSize" "a batch of one"
            Expect.equal (argumentOf (fun () -> Estimation.conditionalMutualInformation options ChainRule x y (x.narrow(0L, 0L, 512L)) |> ignore)) "z" "z's rows"
            Expect.equal (argumentOf (fun () -> Estimation.conditionalMutualInformation { options with Estimator = Nwj } ChainRule x y x |> ignore)) "options" "conditional MI is InfoNCE-family"
            let tooFew = try Estimation.mutualInformation options (x.narrow(0L, 0L, 300L)) (y.narrow(0L, 0L, 300L)) |> ignore; "" with :? ArgumentException as e -> e.Message
            Expect.stringContains tooFew "at least 512 rows" "the message says how many rows are needed"
        }

        // Issue 17: independent estimates trained as one batched network. The two computations run the same
        // arithmetic on each run's slice, only in batched products over R runs instead of one, so they agree to float
        // rounding. On the CPU every run's slice goes through the same kernel either way and the difference is 0; a
        // backend that orders a product's sum differently moves a float32 score by at most a few units of 2^-24 times
        // its magnitude (scores here are below 10), and 100 to 200 Adam steps at 1e-3 can carry that to a few 1e-5 in a
        // mean bound. `sameRun` allows 1e-4 nats and requires the same stopping and kept steps; a run that trained on
        // another run's data, gradient, Adam moments or snapshot misses by more than 0.01 (the last check of the first
        // test shows the runs lie that far apart).
        test "Issue 17: a batch of estimates equals each estimate trained alone, with its own early stopping and kept critic, for every estimator" {
            let tolerance = 1e-4
            let sameRun (what: string) (alone: MiEstimate) (together: MiEstimate) =
                Expect.equal together.Steps alone.Steps $"{what}: the step it stopped at"
                Expect.equal together.BestStep alone.BestStep $"{what}: the step whose critic it kept"
                Expect.equal (together.Curve |> List.map _.Step) (alone.Curve |> List.map _.Step) $"{what}: its evaluations"
                let curve = List.map2 (fun (p: CurvePoint) (q: CurvePoint) -> max (abs (p.Train - q.Train)) (abs (p.Validation - q.Validation))) alone.Curve together.Curve
                let difference = List.max (abs (alone.Value - together.Value) :: abs (alone.Lower - together.Lower) :: abs (alone.Upper - together.Upper) :: curve)
                Expect.isLessThanOrEqual difference tolerance $"{what}: alone {alone.Value}, batched {together.Value}"
                Expect.equal (together.TrainRows, together.ValidationRows, together.TestRows) (alone.TrainRows, alone.ValidationRows, alone.TestRows) $"{what}: its split"
                Expect.equal together.Warnings alone.Warnings $"{what}: its warnings"
                difference
            // Four samples of different dependence and their own seeds; patience and step limits differ by run (both
            // may), so the runs stop at different steps and most keep a critic from before their last step.
            let settings = { quick with BatchSize = 64; MaxSteps = 120; EvaluateEvery = 10; Patience = 2; HiddenSizes = [ 32 ]; EmbeddingSize = 16 }
            let samples = [ for i, rho in List.indexed [ 0.0; 0.5; 0.8; 0.3 ] -> correlated 1024 3 rho (uint64 (20 + i)) ]
            let mutable worst = 0.0
            for estimator in MiEstimator.All do
                let runs =
                    samples
                    |> List.mapi (fun i (x, y, _) -> { settings with Estimator = estimator; Seed = int64 i; Patience = 2 + i % 2; MaxSteps = (if i = 3 then 70 else 120) }, x, y)
                let together = Estimation.mutualInformationBatched runs |> List.map (function Ok e -> e | Error e -> failtest $"{estimator.Name}: {e.Message}")
                let alone = runs |> List.map (fun (o, x, y) -> Estimation.mutualInformation o x y)
                for i, (a, t) in List.indexed (List.zip alone together) do
                    worst <- max worst (sameRun $"{estimator.Name} run {i}" a t)
                    Expect.equal t.Options.Seed (int64 i) "results come back in the batch's order"
                Expect.isGreaterThan (alone |> List.map _.Steps |> List.distinct |> List.length) 1 $"{estimator.Name}: the runs stop at different steps"
                Expect.exists alone (fun r -> r.BestStep < r.Steps) $"{estimator.Name}: a run keeps a critic from before its last step"
                for i, a in List.indexed alone do
                    for j, t in List.indexed together do
                        if i <> j then Expect.isGreaterThan (abs (a.Value - t.Value)) (100.0 * tolerance) $"{estimator.Name}: run {i} alone and run {j} batched differ"
            printfn "batched vs alone, 7 estimators x 4 runs: largest difference %g nats (tolerance %g)" worst tolerance
        }

        test "Issue 17: a batch of conditional estimates equals each trained alone, by either route" {
            use generator = new torch.Generator(8UL)
            let problem = Gaussian.ofBlocks [| for _ in 1..2 -> Gaussian.sampleDimensionBlock generator 1.0 0.5 |]
            let settings = { quick with BatchSize = 64; MaxSteps = 60; EvaluateEvery = 10; Patience = 2; HiddenSizes = [ 32 ]; EmbeddingSize = 16 }
            let samples = [ for _ in 1..3 -> Gaussian.sampleJoint problem 1024 generator torch.float32 torch.CPU ]
            for route in [ ChainRule; ImportanceSampled ] do
                let runs = samples |> List.mapi (fun i (x1, x2, y) -> { settings with Seed = int64 (10 + i) }, x2, y, x1)
                let together = Estimation.conditionalMutualInformationBatched route runs |> List.map (function Ok e -> e | Error e -> failtest e.Message)
                for (o, x, y, z), t in List.zip runs together do
                    let a = Estimation.conditionalMutualInformation o route x y z
                    Expect.equal (t.Steps, t.BestStep, t.Route) (a.Steps, a.BestStep, a.Route) $"{route.Name} seed {o.Seed}: steps, kept step, route"
                    Expect.isLessThanOrEqual (abs (a.Value - t.Value)) 1e-4 $"{route.Name} seed {o.Seed}: alone {a.Value}, batched {t.Value}"
        }

        test "Issue 17: a run that fails fails alone; the others of its batch get what they get alone" {
            // NWJ at a learning rate of 0.15: on these samples the third run's critic overflows the bound in training
            // and the first two do not; the fourth run's data have a constant column and never train.
            let settings = { quick with Estimator = Nwj; BatchSize = 64; MaxSteps = 200; EvaluateEvery = 10; Patience = 2; HiddenSizes = [ 32 ]; EmbeddingSize = 16; LearningRate = 0.15 }
            let runs =
                [ for i, rho in List.indexed [ 0.99999; 0.0; 0.5 ] ->
                      let x, y, _ = correlated 1024 4 rho (uint64 (15 + i))
                      { settings with Seed = int64 i }, x, y ]
            let constant = let x, y, _ = correlated 1024 4 0.5 18UL in (x.index_fill(1L, torch.tensor [| 0L |], 1.0.ToScalar())), y
            let runs = runs @ [ { settings with Seed = 3L }, fst constant, snd constant ]
            let outcome f = try Ok(f ()) with e -> Error e
            let alone = runs |> List.map (fun (o, x, y) -> outcome (fun () -> Estimation.mutualInformation o x y))
            let together = Estimation.mutualInformationBatched runs
            for i, (a, t) in List.indexed (List.zip alone together) do
                match a, t with
                | Ok a, Ok t -> Expect.isLessThanOrEqual (abs (a.Value - t.Value)) 1e-4 $"run {i}: alone {a.Value}, batched {t.Value}"
                | Error a, Error t ->
                    Expect.equal (t.GetType()) (a.GetType()) $"run {i}: the same exception"
                    Expect.equal t.Message a.Message $"run {i}: the same message"
                | _ -> failtest $"run {i}: alone {a}, batched {t}"
            Expect.isTrue (together |> List.exists (function Error(:? ArithmeticException) -> true | _ -> false)) "a run overflows in training"
            Expect.isTrue (match together[3] with Error(:? ArgumentException as e) -> e.ParamName = "x" | _ -> false) "bad data fail their run, naming x"
            Expect.isTrue (together |> List.exists Result.isOk) "and the others train"
        }

        test "Issue 17: runs that cannot train as one network are refused, naming runs" {
            let x, y, _ = correlated 1024 2 0.5 16UL
            let first = { quick with MaxSteps = 20; EvaluateEvery = 10 }
            let runs (second: EstimationOptions) (x2: torch.Tensor) = [ first, x, y; second, x2, y ]
            let refused (batch: (EstimationOptions * torch.Tensor * torch.Tensor) list) =
                try
                    Estimation.mutualInformationBatched batch |> ignore
                    "no exception"
                with :? ArgumentException as e -> e.ParamName + ": " + e.Message
            Expect.stringStarts (refused (runs { first with BatchSize = 64 } x)) "runs: runs[1] has BatchSize 64" "another batch size"
            Expect.stringStarts (refused (runs { first with Estimator = Nwj } x)) "runs: runs[1] has Estimator" "another estimator"
            Expect.stringStarts (refused (runs first (x.narrow(1L, 0L, 1L)))) "runs: runs[1].x has shape [1024, 1]" "other columns"
            Expect.equal (refused (runs { first with Seed = 5L; MaxSteps = 10; Patience = 1 } x)) "no exception" "seeds, step limits and patience may differ"
            Expect.isEmpty (Estimation.mutualInformationBatched []) "an empty batch has no outcomes"
        }
    ]
