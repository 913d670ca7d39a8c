namespace Decomp.Experiments

open System
open System.Diagnostics
open TorchSharp
open Decomp.Core

/// Floating-point operations of one run, counted analytically (multiply-adds count 2; bias adds, activations, the
/// bounds' log-sum-exps and Adam are elementwise, O(rows x width), and left out). This is the arithmetic a step needs,
/// not all it does: InfoNCE_S's backward pass recomputes g's hidden layer on the conditional negatives
/// (`Batched.scoresOfEncoded` never stores their activations), 2 n M d H more that is not counted, so the rates below
/// are of needed arithmetic.
type Flops =
    {
        /// One training step: forward and backward.
        TrainStep: float
        /// One evaluation batch: forward only.
        Evaluation: float
        /// One training step as the paper writes InfoNCE_S, every conditional negative through both layers of g (equal
        /// to TrainStep for the other estimators): the arithmetic `Batched.scoresOfEncoded` avoids.
        TrainStepNaive: float
    }

/// The performance benchmark of the Figure 2 sweep (issue 17): the machine's sgemm peak measured in this process, the
/// sweep's arithmetic counted analytically, achieved GFLOP/s per estimator and K, where the time of a step goes, and
/// the projected time of the paper-sized sweep.
module Figure2Bench =

    /// FLOPs of a linear layer on n rows, in -> out: forward 2 n in out; backward 2 n in out for the weight's gradient
    /// and as much again for the input's when the input needs a gradient (every layer but an encoder's first).
    let private linear (n: float) (input: float) (output: float) (inputNeedsGrad: bool) =
        let forward = 2.0 * n * input * output
        forward, forward * (if inputNeedsGrad then 2.0 else 1.0)

    /// FLOPs of the one-hidden-layer encoder `input -> H -> D` on n rows: (forward, backward).
    let private encoder (n: float) (input: float) (hidden: float) (output: float) =
        let f1, b1 = linear n input hidden false
        let f2, b2 = linear n hidden output true
        f1 + f2, b1 + b2

    /// Scoring n queries against c candidates each, D-dimensional dot products: forward 2 n c D, backward 4 n c D
    /// (the gradients of both sides).
    let private dots (n: float) (c: float) (d: float) = 2.0 * n * c * d, 4.0 * n * c * d

    /// The formula, per run (d dimensions, hidden width H = output width D = Width, K candidates):
    ///
    /// - InfoNCE (B = K): f on B rows of 2d, g on B rows of d, the B x B in-batch scores.
    /// - InfoNCE_S IS (B = K): f on 2B rows (x' and [x', x'']), g on B rows, two B x B score matrices.
    /// - InfoNCE_S (B = K/2, n = min(ConditionalExamples, B), M = K/2 - 1): f on 2B rows, g on B rows, the B x B
    ///   scores, and the conditional term: g's hidden layer on the n M negatives (2 n M d H forward, as much backward:
    ///   its input needs no gradient), the queries pulled back through g's last layer (f(x) W^T: 2 n D H forward,
    ///   4 n D H backward) and n M H-dimensional dot products (2 n M H forward, 4 n M H backward).
    ///   The naive count runs the n M negatives through both layers of g and scores them in D dimensions.
    ///
    /// with an encoder's forward 2 n (in H + H D) and backward 2 n in H + 4 n H D (its first layer's input needs no
    /// gradient).
    let flops (r: RunSettings) : Flops =
        let d, w = float r.Dimensions, float r.Width
        let plus (a, b) (c, e) = a + c, b + e
        let b = float (Figure2.batchSize r)
        let trainOf (forward, backward) = forward + backward
        match r.Estimator with
        | Estimator.InfoNce ->
            let total = encoder b (2.0 * d) w w |> plus (encoder b d w w) |> plus (dots b b w)
            { TrainStep = trainOf total; Evaluation = fst total; TrainStepNaive = trainOf total }
        | Estimator.InfoNceSIs ->
            let total = encoder (2.0 * b) (2.0 * d) w w |> plus (encoder b d w w) |> plus (dots b b w) |> plus (dots b b w)
            { TrainStep = trainOf total; Evaluation = fst total; TrainStepNaive = trainOf total }
        | Estimator.InfoNceS ->
            let n = float (min r.ConditionalExamples (Figure2.batchSize r))
            let m = float (r.Candidates / 2 - 1)
            let common = encoder (2.0 * b) (2.0 * d) w w |> plus (encoder b d w w) |> plus (dots b b w) |> plus (dots n 1.0 w)
            let conditional = linear (n * m) d w false |> plus (linear n w w true) |> plus (dots n m w)
            let naive = encoder (n * m) d w w |> plus (dots n m w)
            let total = plus common conditional
            { TrainStep = trainOf total; Evaluation = fst total; TrainStepNaive = trainOf (plus common naive) }

    /// GFLOP/s of the best of `repeats` float32 products [rows, inner] x [inner, output] on `device` (2 rows inner output
    /// flops each), after one warm-up product.
    let productRate (device: torch.Device) (rows: int) (inner: int) (output: int) (repeats: int) : float =
        use scope = torch.NewDisposeScope()
        let a = torch.randn(int64 rows, int64 inner, device = device)
        let b = torch.randn(int64 inner, int64 output, device = device)
        let time () =
            let clock = Stopwatch.StartNew()
            use c = a.mm b
            // Reading a value back waits for the device.
            c.sum().item<float32> () |> ignore
            clock.Elapsed.TotalSeconds
        time () |> ignore
        let best = Seq.init repeats (fun _ -> time ()) |> Seq.min
        2.0 * float rows * float inner * float output / best / 1e9

    /// The machine's sgemm peak in this process: the best of `repeats` [size, size] x [size, size] float32 products.
    let sgemmPeak (device: torch.Device) (size: int) (repeats: int) : float = productRate device size size size repeats

    /// Seconds per step of one batch, by phase: drawing the data, the forward pass (encoders, scores, bound), the
    /// backward pass, Adam. Measured as differences of cumulative loops of `steps` steps each (after one warm-up step).
    type StepTimes =
        { Sample: float; Forward: float; Backward: float; Adam: float }
        member t.Total = t.Sample + t.Forward + t.Backward + t.Adam

    let private seconds (steps: int) (body: unit -> unit) =
        body ()
        let clock = Stopwatch.StartNew()
        for _ in 1 .. steps do
            body ()
        clock.Elapsed.TotalSeconds / float steps

    let private sync (t: torch.Tensor) = t.sum().cpu().item<float32> () |> ignore

    /// Times one batch of runs (see `StepTimes`).
    let stepTimes (batch: RunSettings list) (steps: int) : StepTimes =
        use prepared = Figure2.prepare batch
        let s = prepared.Settings
        let sampleOnly () =
            use scope = torch.NewDisposeScope()
            let draw = Figure2.sample s prepared.Stacked prepared.Generators
            sync draw.Y
        let forward () =
            use scope = torch.NewDisposeScope()
            sync (prepared.Estimate())
        let forwardBackward () =
            use scope = torch.NewDisposeScope()
            let values = prepared.Estimate()
            values.sum().neg().backward ()
        let sampleTime = seconds steps sampleOnly
        let forwardTime = seconds steps forward
        let backwardTime = seconds steps forwardBackward
        let mutable trained = 0.0
        let clock = Stopwatch()
        Batched.train prepared.Parameters s.LearningRate (steps + 1) (fun _ -> prepared.Estimate()) (fun step values ->
            if step = 1 then clock.Start() else trained <- clock.Elapsed.TotalSeconds
            sync values)
        let stepTime = trained / float steps
        { Sample = sampleTime
          Forward = max 0.0 (forwardTime - sampleTime)
          Backward = max 0.0 (backwardTime - forwardTime)
          Adam = max 0.0 (stepTime - backwardTime) }

    /// One measured batch shape.
    type Row =
        { Estimator: Estimator
          Candidates: int
          Runs: int
          Times: StepTimes
          /// Needed FLOPs (`flops`) per step of the whole batch.
          Flops: float
          NaiveFlops: float }
        member r.Rate = r.Flops / r.Times.Total / 1e9

    /// Measures every batch of `sweep` (its plan cut by `Sweep.batches`, each distinct shape once) for `steps` steps.
    let measure (sweep: SweepSettings) (steps: int) (report: Row -> unit) : Row list =
        Sweep.batches (Sweep.plan sweep)
        |> List.distinctBy (fun b -> b.Head.Estimator, b.Head.Candidates, b.Length)
        |> List.map (fun batch ->
            let r = batch.Head
            let f = flops r
            let row =
                { Estimator = r.Estimator
                  Candidates = r.Candidates
                  Runs = batch.Length
                  Times = stepTimes batch steps
                  Flops = f.TrainStep * float batch.Length
                  NaiveFlops = f.TrainStepNaive * float batch.Length }
            report row
            row)

    /// Projected seconds of a whole sweep from measured rows: every batch's steps at its measured step time, and its
    /// evaluation batches at its forward time.
    let project (sweep: SweepSettings) (rows: Row list) : float =
        Sweep.batches (Sweep.plan sweep)
        |> List.sumBy (fun batch ->
            let r = batch.Head
            match rows |> List.tryFind (fun row -> row.Estimator = r.Estimator && row.Candidates = r.Candidates && row.Runs = batch.Length) with
            | Some row -> float r.Steps * row.Times.Total + float r.EvaluationBatches * (row.Times.Sample + row.Times.Forward)
            | None -> invalidOp "a batch of the sweep was not measured")

    /// The whole sweep's needed FLOPs (`flops`) (training and evaluation).
    let sweepFlops (sweep: SweepSettings) : float =
        Sweep.plan sweep |> List.sumBy (fun r -> let f = flops r in float r.Steps * f.TrainStep + float r.EvaluationBatches * f.Evaluation)

    /// Prints the benchmark: the peak, a row per batch shape of the default sweep (time per step by phase, GFLOP/s,
    /// percent of peak), the full sweep's projection, and the final line
    /// `figure2: <achieved> GFLOP/s = <P>% of peak (<peak> GFLOP/s); full sweep <M> min`.
    let run (defaults: SweepSettings) (full: SweepSettings) (steps: int) (fullSteps: int) =
        let device = defaults.Device
        let peak = sgemmPeak device 2048 10
        let layer = productRate device 16320 100 100 10
        // g's hidden layer on InfoNCE_S's conditional negatives, d = 20 inputs: the sweep's largest product, and on most
        // CPUs a slow shape for sgemm (a short inner dimension), so it bounds what the sweep can reach.
        let inputLayer = productRate device 16320 full.Dimensions full.Width 10
        let small = productRate device 16 100 100 200
        printfn "sgemm peak (2048^2 x 2048^2, best of 10): %.1f GFLOP/s; [16320, 100] x [100, 100]: %.1f; [16320, %d] x [%d, %d]: %.1f; [16, 100] x [100, 100]: %.1f (%d threads)"
            peak layer full.Dimensions full.Dimensions full.Width inputLayer small (torch.get_num_threads ())
        printfn "Default sweep's batches, %d steps each (per step of the batch; GFLOP/s of the arithmetic a step needs, see Flops):" steps
        printfn "%-13s %5s %4s %9s %7s %7s %7s %7s %9s %7s %12s" "estimator" "K" "R" "ms/step" "sample" "fwd" "bwd" "adam" "GFLOP/s" "%peak" "naive GFLOP/s"
        let print (row: Row) =
            let t = row.Times
            let pct (v: float) = 100.0 * v / t.Total
            printfn "%-13s %5d %4d %9.2f %6.0f%% %6.0f%% %6.0f%% %6.0f%% %9.1f %6.0f%% %12.1f"
                row.Estimator.Name row.Candidates row.Runs (1000.0 * t.Total) (pct t.Sample) (pct t.Forward) (pct t.Backward) (pct t.Adam)
                row.Rate (100.0 * row.Rate / peak) (row.NaiveFlops / t.Total / 1e9)
        let rows = measure defaults steps print
        let achieved = (rows |> List.sumBy _.Flops) / (rows |> List.sumBy _.Times.Total) / 1e9
        let large = rows |> List.filter (fun r -> r.Candidates >= 256)
        let largeRate = (large |> List.sumBy _.Flops) / (large |> List.sumBy _.Times.Total) / 1e9
        printfn "K >= 256: %.1f GFLOP/s = %.0f%% of peak" largeRate (100.0 * largeRate / peak)
        let defaultProjection = project defaults rows
        printfn "Default sweep: %.2f TFLOP needed; projected %.1f min" (sweepFlops defaults / 1e12) (defaultProjection / 60.0)
        printfn "Full sweep's batches, %d steps each:" fullSteps
        let fullRows = measure full fullSteps print
        let fullSeconds = project full fullRows
        let fullFlops = sweepFlops full
        let naiveFull = Sweep.plan full |> List.sumBy (fun r -> let f = flops r in float r.Steps * f.TrainStepNaive)
        printfn "Full sweep: %.1f TFLOP needed (%.1f TFLOP as the paper writes InfoNCE_S); FLOP floor at the peak %.1f min (naive %.1f min); projected %.1f min = %.2fx the floor"
            (fullFlops / 1e12) (naiveFull / 1e12) (fullFlops / peak / 1e9 / 60.0) (naiveFull / peak / 1e9 / 60.0) (fullSeconds / 60.0) (fullSeconds / (fullFlops / peak / 1e9))
        printfn "figure2: %.1f GFLOP/s = %.0f%% of peak (%.1f GFLOP/s); full sweep %.0f min" achieved (100.0 * achieved / peak) peak (fullSeconds / 60.0)
