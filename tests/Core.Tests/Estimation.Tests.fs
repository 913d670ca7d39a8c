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
    ]
