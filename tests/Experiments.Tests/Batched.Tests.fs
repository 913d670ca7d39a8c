/// Issue 17: independent runs trained as one batched network equal the same runs trained one by one.
module Decomp.Experiments.Tests.BatchedTests

open System
open Expecto
open TorchSharp
open Decomp.Core
open Decomp.Experiments

/// A small run: d = 4, width 16, K = 8, a curve point every step.
let private small estimator mi seed steps =
    { RunSettings.Paper(mi, 8, estimator, seed, steps, torch.CPU) with
        Dimensions = 4
        Width = 16
        ConditionalExamples = 3
        EvaluationBatches = 3
        CurveEvery = 1 }

/// Float32 unit round-off, u = 2^-24.
/// An object whose finalizer counts itself: the stand-in for the implicit Scalars TorchSharp leaves to finalizers.
type private Tracked(count: int ref) =
    override _.Finalize() = Threading.Interlocked.Increment &count.contents |> ignore

/// Allocates `n` Tracked objects and drops them (not inlined, so that nothing in the caller keeps them reachable).
[<Runtime.CompilerServices.MethodImpl(Runtime.CompilerServices.MethodImplOptions.NoInlining)>]
let private dropTracked (count: int ref) (n: int) =
    for _ in 1..n do
        Tracked count |> ignore

let private u = Math.Pow(2.0, -24.0)

/// The tolerance between a batched and a one-by-one computation of the same objective on the same data and the same
/// parameters, from the standard bound on a dot product of length L summed in two different orders,
/// |fl_1(a . b) - fl_2(a . b)| <= 2 gamma_L sum_i |a_i b_i| with gamma_L = L u / (1 - L u):
///
/// - the longest sum here is L = 16 (the width; 2d = 8 and B <= 8 are shorter), so 2 gamma_16 = 1.9e-6;
/// - sum_i |a_i b_i| of a score is at most 16 x 3 x 3 = 144: with weights U(+-1/sqrt(fan_in)) and inputs within 4.5
///   standard deviations every unit of f and g stays below 3 in absolute value (and Adam's first steps move a weight by
///   at most 3.2 lr = 1.6e-3, which does not change that);
/// - three products are chained (two layers, then the score), each passing on at most the error of the one before
///   scaled by the same magnitudes, so a score differs by at most 3 x 1.9e-6 x 144 = 8.2e-4;
/// - InfoNCE-type values are averages of `s_0 - logsumexp(s)` terms, 2-Lipschitz in the scores' sup norm, and
///   InfoNCE_S adds two of them: at most 4 x 8.2e-4 = 3.3e-3.
/// Adam's early steps are sign-like (|mhat / sqrt vhat| = 1 at step 1 whatever the rounding), so the parameters of the
/// two computations stay within rounding of each other over these few steps. A mistake that mixed runs (a gradient
/// from another run, a shared data stream or Adam state) moves the values by O(0.01 - 1): see the last assertion.
let private tolerance = 4.0 * 3.0 * 2.0 * (16.0 * u / (1.0 - 16.0 * u)) * 144.0

[<Tests>]
let tests =
    testList "Batched runs" [
        test "batched equals one by one: each run's curve and estimate, to float32 rounding (Batched, Figure2.runBatch)" {
            for estimator in Estimator.All do
                let runs = [ small estimator 3.0 1 10; small estimator 6.0 2 10; small estimator 3.0 3 10 ]
                let together = Figure2.runBatch runs (fun _ _ -> ())
                let alone = runs |> List.map (fun r -> Figure2.run r (fun _ _ -> ()))
                for a, t in List.zip alone together do
                    Expect.equal t.Settings a.Settings "results come back in the batch's order"
                    Expect.equal t.TrueMi a.TrueMi $"{estimator.Name}: the same ground truth, exactly"
                    Expect.equal t.FirstViewMi a.FirstViewMi "the same covariance split, exactly"
                    for p, q in List.zip a.Curve t.Curve do
                        Expect.isLessThanOrEqual (abs (p.Estimate - q.Estimate)) tolerance $"{estimator.Name} seed {a.Settings.Seed}, step {p.Step}: alone {p.Estimate}, batched {q.Estimate} (tolerance {tolerance:G3})"
                    Expect.isLessThanOrEqual (abs (a.Estimate - t.Estimate)) tolerance $"{estimator.Name} seed {a.Settings.Seed}: final estimate alone {a.Estimate}, batched {t.Estimate}"
                // The check can fail: every other run of the batch lies farther than 10 tolerances from a run's curve, so
                // a batch that handed a run another's gradient, data or Adam state would be caught.
                for i, a in List.indexed alone do
                    for j, t in List.indexed together do
                        if i <> j then
                            let distance = List.zip a.Curve t.Curve |> List.map (fun (p, q) -> abs (p.Estimate - q.Estimate)) |> List.max
                            Expect.isGreaterThan distance (10.0 * tolerance) $"{estimator.Name}: run {i} alone vs run {j} batched differ ({distance})"
                let worst = List.zip alone together |> List.collect (fun (a, t) -> List.zip a.Curve t.Curve |> List.map (fun (p, q) -> abs (p.Estimate - q.Estimate))) |> List.max
                printfn "%s: largest difference batched vs one by one over the curves %.3g (tolerance %.3g)" estimator.Name worst tolerance
        }

        test "scoresOfEncoded equals scoring the encoded negatives: values and every gradient, across chunks, for 0, 1 and 2 hidden layers" {
            // Float64, so that only the order of the sums differs: the last hidden layer and the scores are computed a
            // few examples at a time with a hand-written backward pass (HiddenLayerScores). 2 runs x 100 candidates x
            // 500 units is 10 examples per chunk on the CPU (2^20 elements), so the 12 examples take two chunks, the
            // second partial. Tolerance: a sum of L terms in two orders differs by at most 2 gamma_L sum |terms|
            // (gamma_L = L u / (1 - L u), u = 2^-53); the longest sums here are the weight gradients' over n M = 1200
            // rows, every term of which is below max |result| in size, and at most 4 products are chained, so
            // |difference| <= 4 x 2 gamma_1200 x 1200 x max |result| = 1.3e-9 x max |result|.
            let u64 = Math.Pow(2.0, -53.0)
            let relative = 4.0 * 2.0 * (1200.0 * u64 / (1.0 - 1200.0 * u64)) * 1200.0
            let runs, n, m, input, output = 2L, 12L, 100L, 3L, 4L
            for hidden in [ []; [ 500 ]; [ 6; 500 ] ] do
                use g0 = new torch.Generator(11UL)
                use g1 = new torch.Generator(12UL)
                use network = Batched.mlp (int runs) (int input) hidden (int output)
                Batched.initialise [| g0; g1 |] network
                network.``to`` torch.float64 |> ignore
                let leaf (shape: int64[]) = torch.randn(shape, dtype = torch.float64).requires_grad_(true)
                use queries = leaf [| runs; n; output |]
                use positives = leaf [| runs; n; output |]
                use negatives = leaf [| runs; n; m; input |]
                use weights = torch.randn([| runs; n; 1L + m |], dtype = torch.float64)
                let gradients (scores: unit -> torch.Tensor) =
                    let leaves = [ queries; positives; negatives ] @ [ for p in network.parameters () -> p :> torch.Tensor ]
                    for t in leaves do
                        if not (isNull t.grad) then t.grad.zero_() |> ignore
                    use value = scores ()
                    use loss = (value * weights).sum()
                    loss.backward ()
                    value.detach().clone() :: [ for t in leaves -> t.grad.clone() ]
                let fast = gradients (fun () -> Batched.scoresOfEncoded network queries positives negatives)
                let reference =
                    gradients (fun () ->
                        use keys = network.forward(negatives.reshape(runs, n * m, input))
                        Batched.scores queries positives (keys.reshape(runs, n, m, output)))
                let names = [ "scores"; "queries' gradient"; "positive keys' gradient"; "negative inputs' gradient" ] @ [ for name, _ in network.named_parameters () -> $"{name}'s gradient" ]
                for name, f, r in List.zip3 names fast reference do
                    let scale = r.abs().max().item<float> ()
                    Expect.isGreaterThan scale 0.0 $"hidden {hidden}: {name} is not all zero (the comparison means something)"
                    let difference = (f - r).abs().max().item<float> ()
                    Expect.isLessThanOrEqual difference (relative * scale) $"hidden {hidden}: {name} differs by {difference:G3} (max {scale:G3})"
                for t in fast @ reference do
                    t.Dispose()
        }

        test "a batched critic computes each run's Critics.mlp (Batched.extract), to float32 rounding" {
            use g0 = new torch.Generator(5UL)
            use g1 = new torch.Generator(6UL)
            use network = Batched.mlp 2 8 [ 16 ] 16
            Batched.initialise [| g0; g1 |] network
            use x = torch.randn(2L, 5L, 8L)
            use batched = network.forward x
            for r in 0..1 do
                use single = Batched.extract r network
                use expected = single.forward (x[r])
                // Two products of length <= 16 with units below 3 (see `tolerance`): 2 x 2 gamma_16 x 16 x 3 x 3.
                let bound = 2.0 * 2.0 * (16.0 * u / (1.0 - 16.0 * u)) * 144.0
                let difference = (batched[r] - expected).abs().max().item<float32> () |> float
                Expect.isLessThanOrEqual difference bound $"run {r}"
            Expect.isGreaterThan ((batched[0] - batched[1]).abs().max().item<float32> () |> float) 0.01 "the runs have their own parameters"
        }

        test "a batched critic over some of its runs (ForwardOf) computes those runs' rows, and gives the others a zero gradient" {
            use g0 = new torch.Generator(7UL)
            use g1 = new torch.Generator(8UL)
            use g2 = new torch.Generator(9UL)
            use network = Batched.mlp 3 4 [ 8 ] 5
            Batched.initialise [| g0; g1; g2 |] network
            use x = torch.randn(3L, 6L, 4L)
            use all = network.forward x
            use selected = torch.tensor [| 2L; 0L |]
            use some = network.ForwardOf(selected, x.index_select(0L, selected))
            // The same products over fewer runs: each row is computed with the same kernel, exactly or to rounding.
            Expect.isLessThanOrEqual ((some - all.index_select(0L, selected)).abs().max().item<float32> () |> float) 1e-6 "rows of runs 2 and 0"
            some.sum().backward ()
            for weight, bias in network.Layers do
                Expect.equal (weight.grad[1L].abs().sum().item<float32> ()) 0.0f "run 1 gets no gradient (weights)"
                Expect.equal (bias.grad[1L].abs().sum().item<float32> ()) 0.0f "run 1 gets no gradient (biases)"
                Expect.isGreaterThan (weight.grad[0L].abs().sum().item<float32> ()) 0.0f "run 0 gets its gradient"
            Expect.throwsT<ArgumentException> (fun () -> network.ForwardOf(torch.tensor [| 3L |], x.narrow(0L, 0L, 1L)) |> ignore) "an index past the runs"
            Expect.throwsT<ArgumentException> (fun () -> network.ForwardOf(selected, x) |> ignore) "one input block per selected run"
        }

        test "ofInBatch and eachRun: Scores.ofInBatch and a whole-batch bound (Donsker-Varadhan) for every run on its own" {
            use matrices = torch.randn(3L, 5L, 5L, dtype = torch.float64)
            use scores = Batched.ofInBatch matrices
            for r in 0L .. 2L do
                use expected = Scores.ofInBatch matrices[r]
                Expect.equal ((scores[r] - expected).abs().max().item<float> ()) 0.0 $"run {r}'s layout"
            use values = Batched.eachRun (fun _ s -> Baselines.donskerVaradhan s) scores
            for r in 0L .. 2L do
                use expected = Baselines.donskerVaradhan scores[r]
                Expect.equal ((values[r] - expected).abs().max().item<float> ()) 0.0 $"run {r}'s DV: its own partition term"
            // perRun would share the partition term across the runs' rows: a different number.
            use mixed = Batched.perRun Baselines.donskerVaradhan scores
            Expect.isFalse (mixed.allclose values) "DV is not row-wise"
            Expect.throwsT<ArgumentException> (fun () -> Batched.eachRun (fun _ s -> s) scores |> ignore) "a bound must return one value per example"
        }

        test "trainWhile stops when observe says so, and train runs every step" {
            use network = Batched.mlp 2 3 [] 1
            use x = torch.randn(2L, 4L, 3L)
            let seen = ResizeArray<int>()
            let steps = Batched.trainWhile (network.parameters ()) 0.01 50 (fun _ -> network.forward(x).mean([| 1L; 2L |])) (fun step _ -> seen.Add step; step < 7)
            Expect.equal steps 7 "stopped after the step observe refused"
            Expect.equal (List.ofSeq seen) [ 1..7 ] "observed every step"
            let count = ref 0
            Batched.train (network.parameters ()) 0.01 5 (fun _ -> network.forward(x).mean([| 1L; 2L |])) (fun _ _ -> count.Value <- count.Value + 1)
            Expect.equal count.Value 5 "train runs all its steps"
        }

        test "StepCollector runs the finalizers of dropped objects once its interval has passed, and not before" {
            let count = ref 0
            let eager = Decomp.Runtime.StepCollector(TimeSpan.Zero)
            dropTracked count 5
            Expect.isTrue (eager.AfterStep()) "a zero interval collects after every step"
            // Other tests' garbage may be finalized too, but never fewer than the five dropped here.
            Expect.isGreaterThanOrEqual count.Value 5 "the dropped objects were finalized"
            let patient = Decomp.Runtime.StepCollector(TimeSpan.FromHours 1.0)
            Expect.isFalse (patient.AfterStep()) "no collection before the interval has passed"
            Expect.equal (Decomp.Runtime.StepCollector().Interval) Decomp.Runtime.StepCollector.DefaultInterval "the default pacing"
            let refused = Expect.throwsC (fun () -> Decomp.Runtime.StepCollector(TimeSpan.FromSeconds -1.0) |> ignore) id
            Expect.equal (refused :?> ArgumentOutOfRangeException).ParamName "interval" "a negative interval is refused naming it"
        }

        test "trainWhile frees each step's finalizer-held garbage while it trains" {
            use network = Batched.mlp 2 3 [] 1
            use x = torch.randn(2L, 4L, 3L)
            let count = ref 0
            let seen = ResizeArray<int>()
            // Steps longer than the collector's interval, so that each ends with a collection.
            let pause = Decomp.Runtime.StepCollector.DefaultInterval + TimeSpan.FromMilliseconds 20.0
            Batched.train (network.parameters ()) 0.01 3
                (fun _ ->
                    dropTracked count 10
                    Threading.Thread.Sleep pause
                    network.forward(x).mean([| 1L; 2L |]))
                (fun _ _ -> seen.Add count.Value)
            // After step s, the collection that ends step s - 1 has finalized that step's ten objects at least.
            Expect.isGreaterThanOrEqual seen[1] 10 "step 1's objects were finalized by the end of step 2"
            Expect.isGreaterThanOrEqual seen[2] 20 "steps 1 and 2's objects were finalized by the end of step 3"
        }

        test "a batch of runs of different shapes, or an empty one, is refused naming the batch" {
            let refuse (batch: RunSettings list) =
                Expect.throwsC (fun () -> Figure2.runBatch batch (fun _ _ -> ()) |> ignore) (fun e ->
                    Expect.isTrue (e :? ArgumentException && (e :?> ArgumentException).ParamName = "batch") $"ArgumentException naming batch: {e}")
            refuse []
            refuse [ small InfoNce 3.0 1 2; small InfoNceS 3.0 2 2 ]
            refuse [ small InfoNce 3.0 1 2; { small InfoNce 3.0 2 2 with Candidates = 16 } ]
        }

        test "batches: runs of one shape together, in plan order, under the row cap; a resumed sweep forms them the same way" {
            let sweep = SweepSettings.Default torch.CPU
            let plan = Sweep.plan sweep
            let batches = Sweep.batches plan
            Expect.equal (batches |> List.sumBy _.Length) plan.Length "every run once"
            Expect.equal (List.concat batches |> List.map Sweep.key |> List.sort) (plan |> List.map Sweep.key |> List.sort) "and no other"
            for batch in batches do
                Expect.isTrue (batch |> List.forall (Figure2.sameShape batch.Head)) "one shape per batch"
                Expect.isLessThanOrEqual (batch |> List.sumBy Sweep.rowsPerStep) (max Sweep.maxBatchRows (Sweep.rowsPerStep batch.Head)) "under the row cap"
            Expect.equal batches.Length 18 "the default sweep: one batch per (estimator, K), 2 MIs x 2 seeds each"
            Expect.equal (Sweep.batches plan) batches "a pure function of the runs"
            let full = Sweep.batches (Sweep.plan (SweepSettings.Full torch.CPU))
            let large = full |> List.filter (fun b -> b.Head.Estimator = InfoNceS && b.Head.Candidates = 512)
            Expect.equal (large |> List.map _.Length) [ 7; 7; 6 ] "the full sweep's InfoNCE_S at K = 512 (65,536 rows a run) in three near-equal batches"
        }
    ]
