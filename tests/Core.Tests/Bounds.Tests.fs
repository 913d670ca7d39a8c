module Decomp.Core.Tests.BoundsTests

open System
open Expecto
open FsCheck.FSharp
open TorchSharp
open Decomp.Core
open Decomp.Core.Tests.Tensors
open Decomp.Core.Tests.Generators

/// Rounding error allowed between a vectorised bound in `dtype` and the float64 loop: a log-sum-exp over K values of
/// magnitude up to `scale` loses about eps (scale + log K) per operation, a handful of operations follow, and a value
/// that is itself an exponential (NWJ, TUBA) carries that relative error times its own size.
let tolerance (dtype: torch.ScalarType) (m: float[,]) =
    let scale = m |> Seq.cast<float> |> Seq.map abs |> Seq.max
    16.0 * epsilon dtype * (scale + log (float (columns m)) + 1.0)

let expectClose (dtype: torch.ScalarType) (m: float[,]) (actual: float[]) (expected: float[]) (what: string) =
    Array.iteri2 (fun i a e ->
        let tol = tolerance dtype m * (1.0 + abs e)
        if abs (a - e) > tol then failtestf "%s: example %d is %.12g, the float64 loop gives %.12g (tolerance %.3g)" what i a e tol) actual expected

/// The two matrices side by side, for a tolerance that covers the larger scale of the two.
let widest (a: float[,]) (b: float[,]) = if Seq.max (Seq.map abs (Seq.cast<float> a)) >= Seq.max (Seq.map abs (Seq.cast<float> b)) then a else b

/// Bounds that are a function of one score matrix, beside their float64 loops.
let singleMatrixBounds: (string * (torch.Tensor -> torch.Tensor) * (float[] -> float)) list =
    [ "infoNce", Bounds.infoNce, Reference.infoNce
      "conditionalInfoNce", Bounds.conditionalInfoNce, Reference.infoNce
      "nwj", Baselines.nwj, Reference.nwj
      "jensenShannonObjective", Baselines.jensenShannonObjective, Reference.jensenShannonObjective ]

let perRow (m: float[,]) (f: float[] -> float) = Array.init (rows m) (fun i -> f (row m i))

let matchesLoop =
    testList "vectorised bound = float64 loop over the formula" [
        for dtype in floatTypes do
            for name, bound, reference in singleMatrixBounds do
                testPropertyWithConfig config $"{name} ({dtype})" (forAll scoreMatrix (fun m ->
                    use scores = ofMatrix dtype m
                    use values = bound scores
                    expectClose dtype m (toArray values) (perRow m reference) name))

            testPropertyWithConfig config $"importanceSampledConditionalInfoNce ({dtype})" (forAll scoreMatrixPair (fun (m, p) ->
                use scores = ofMatrix dtype m
                use proposal = ofMatrix dtype p
                use values = Bounds.importanceSampledConditionalInfoNce scores proposal
                let expected = Array.init (rows m) (fun i -> Reference.importanceSampled (row m i) (row p i))
                expectClose dtype (widest m p) (toArray values) expected "I_IS"))

            testPropertyWithConfig config $"variationalConditionalInfoNce = I_CNCE - KL ({dtype})" (forAll scoreMatrixPair (fun (m, p) ->
                let kl = Array.init (rows m) (fun i -> abs p[i, 0])
                use scores = ofMatrix dtype m
                use klTensor = ofVector dtype kl
                use values = Bounds.variationalConditionalInfoNce scores klTensor
                let expected = Array.init (rows m) (fun i -> Reference.infoNce (row m i) - kl[i])
                expectClose dtype m (toArray values) expected "I_VAR"))

            testPropertyWithConfig config $"tuba ({dtype})" (forAll scoreMatrixPair (fun (m, p) ->
                let logBaseline = Array.init (rows m) (fun i -> p[i, 0] / 10.0)
                use scores = ofMatrix dtype m
                use baseline = ofVector dtype logBaseline
                use values = Baselines.tuba scores baseline
                let expected = Array.init (rows m) (fun i -> Reference.tuba (row m i) logBaseline[i])
                expectClose dtype m (toArray values) expected "TUBA"))

            testPropertyWithConfig config $"donskerVaradhan and smile ({dtype})" (forAll scoreMatrix (fun m ->
                let rowsOf = Array.init (rows m) (row m)
                use scores = ofMatrix dtype m
                use dv = Baselines.donskerVaradhan scores
                use smile = Baselines.smile scores 5.0
                expectClose dtype m (toArray dv) (Reference.donskerVaradhan rowsOf) "DV"
                expectClose dtype m (toArray smile) (Reference.smile rowsOf 5.0) "SMILE"))

            testPropertyWithConfig config $"decomposedInfoNce = I_NCE + I_CNCE ({dtype})" (forAll scoreMatrixPair (fun (u, c) ->
                use unconditional = ofMatrix dtype u
                use conditional = ofMatrix dtype c
                use values = Decomposition.decomposedInfoNce unconditional conditional
                let expected = Array.init (rows u) (fun i -> Reference.infoNce (row u i) + Reference.infoNce (row c i))
                expectClose dtype (widest u c) (toArray values) expected "InfoNCE_S"))

            testPropertyWithConfig config $"decomposedInfoNceImportanceSampled = I_NCE + I_IS ({dtype})" (forAll scoreMatrixPair (fun (u, c) ->
                use unconditional = ofMatrix dtype u
                use conditional = ofMatrix dtype c
                use values = Decomposition.decomposedInfoNceImportanceSampled unconditional conditional
                let expected = Array.init (rows u) (fun i -> Reference.infoNce (row u i) + Reference.importanceSampled (row c i) (row u i))
                expectClose dtype (widest u c) (toArray values) expected "InfoNCE_S IS"))

            testPropertyWithConfig config $"decomposedInfoNceOverSubviews = I_NCE + sum I_CNCE ({dtype})" (forAll subviewScores (fun terms ->
                let tensors = terms |> List.map (ofMatrix dtype)
                use values = Decomposition.decomposedInfoNceOverSubviews tensors
                let expected = Array.init (rows terms.Head) (fun i -> terms |> List.sumBy (fun m -> Reference.infoNce (row m i)))
                let widest = terms |> List.maxBy (fun m -> m |> Seq.cast<float> |> Seq.map abs |> Seq.max)
                expectClose dtype widest (toArray values) expected "decomposition over subviews"
                tensors |> List.iter (fun t -> t.Dispose())))
    ]

let caps =
    let atMost (bound: float) (values: float[]) what =
        values |> Array.iteri (fun i v -> if v > bound + 1e-12 then failtestf "%s: example %d is %.15g > cap %.15g" what i v bound)
    testList "caps hold for any scores" [
        testPropertyWithConfig config "I_NCE <= log K and I_CNCE <= log K" (forAll scoreMatrix (fun m ->
            use scores = ofMatrix torch.float64 m
            let cap = Bounds.infoNceCap (columns m)
            use nce = Bounds.infoNce scores
            use cnce = Bounds.conditionalInfoNce scores
            atMost cap (toArray nce) "I_NCE"
            atMost cap (toArray cnce) "I_CNCE"))
        testPropertyWithConfig config "I_IS <= log K" (forAll scoreMatrixPair (fun (m, p) ->
            use scores = ofMatrix torch.float64 m
            use proposal = ofMatrix torch.float64 p
            use values = Bounds.importanceSampledConditionalInfoNce scores proposal
            atMost (log (float (columns m))) (toArray values) "I_IS"))
        testPropertyWithConfig config "InfoNCE_S over N subviews <= sum_i log K_i (N log K for equal K)" (forAll subviewScores (fun terms ->
            let tensors = terms |> List.map (ofMatrix torch.float64)
            use values = Decomposition.decomposedInfoNceOverSubviews tensors
            atMost (Decomposition.cap (terms |> List.map columns)) (toArray values) "InfoNCE_S"
            tensors |> List.iter (fun t -> t.Dispose())))
        testPropertyWithConfig config "InfoNCE_S IS <= 2 log K" (forAll scoreMatrixPair (fun (u, c) ->
            use unconditional = ofMatrix torch.float64 u
            use conditional = ofMatrix torch.float64 c
            use values = Decomposition.decomposedInfoNceImportanceSampled unconditional conditional
            atMost (2.0 * log (float (columns u))) (toArray values) "InfoNCE_S IS"))
        test "the cap of N subviews with K candidates each is N log K" {
            Expect.floatClose Accuracy.veryHigh (Decomposition.cap [ 64; 64; 64 ]) (3.0 * log 64.0) "3 log 64"
        }
    ]

let invariances =
    testList "invariances" [
        testPropertyWithConfig config "adding c(x) to every score of a row changes no InfoNCE-family bound" (forAll scoreMatrixWithRowShift (fun (m, shift) ->
            let shifted = shiftRows m shift
            use a = ofMatrix torch.float64 m
            use b = ofMatrix torch.float64 shifted
            let otherShift = shift |> Array.map (fun c -> -2.0 * c + 1.0)
            use pa = ofMatrix torch.float64 (shiftRows m otherShift)
            let pairs: (string * (torch.Tensor -> torch.Tensor)) list =
                [ "I_NCE", Bounds.infoNce
                  "I_CNCE", Bounds.conditionalInfoNce
                  "I_IS (critic shifted)", (fun s -> Bounds.importanceSampledConditionalInfoNce s a)
                  "I_IS (weights' critic shifted)", (fun _ -> Bounds.importanceSampledConditionalInfoNce a pa)
                  "InfoNCE_S", (fun s -> Decomposition.decomposedInfoNce s s) ]
            for name, bound in pairs do
                use before = bound a
                use after = (if name = "I_IS (weights' critic shifted)" then Bounds.importanceSampledConditionalInfoNce a a else bound b)
                let tol = 1e-9 * (1.0 + (shift |> Array.map abs |> Array.max))
                Array.iteri2 (fun i x y -> if abs (x - y) > tol then failtestf "%s changed under c(x) at example %d: %.12g -> %.12g" name i x y) (toArray before) (toArray after)))

        testPropertyWithConfig config "a constant critic gives 0" (forAll (Gen.zip (Gen.choose (1, 5)) (Gen.zip (Gen.choose (2, 20)) (Gen.choose (-50, 50)))) (fun (batch, (k, c)) ->
            use scores = torch.full([| int64 batch; int64 k |], (float c).ToScalar(), dtype = torch.float64)
            let bounds: (string * torch.Tensor) list =
                [ "I_NCE", Bounds.infoNce scores
                  "I_CNCE", Bounds.conditionalInfoNce scores
                  "I_IS", Bounds.importanceSampledConditionalInfoNce scores scores
                  "InfoNCE_S", Decomposition.decomposedInfoNce scores scores
                  "InfoNCE_S IS", Decomposition.decomposedInfoNceImportanceSampled scores scores
                  "over subviews", Decomposition.decomposedInfoNceOverSubviews [ scores; scores; scores ]
                  "DV", Baselines.donskerVaradhan scores ]
            for name, values in bounds do
                toArray values |> Array.iteri (fun i v -> if abs v > 1e-12 * (1.0 + abs (float c)) then failtestf "%s with a constant critic: example %d is %g, expected 0" name i v)
                values.Dispose()))

        testPropertyWithConfig config "I_IS with uniform weights (a constant weights' critic) equals InfoNCE" (forAll scoreMatrixWithRowShift (fun (m, shift) ->
            use scores = ofMatrix torch.float64 m
            use proposal = ofMatrix torch.float64 (Array2D.init (rows m) (columns m) (fun i _ -> shift[i]))
            use is = Bounds.importanceSampledConditionalInfoNce scores proposal
            use nce = Bounds.infoNce scores
            Array.iteri2 (fun i a b -> if abs (a - b) > 1e-10 * (1.0 + abs b) then failtestf "example %d: I_IS %.15g vs I_NCE %.15g" i a b) (toArray is) (toArray nce)))
    ]

/// Scores of magnitude 1e4 in float32: any exp outside a log-sum-exp would overflow to inf and give NaN gradients.
let largeScores (batch: int) (candidates: int) (seed: int) =
    let random = Random seed
    Array2D.init batch candidates (fun _ _ -> (random.NextDouble() * 2.0 - 1.0) * 1e4)

let finiteGradients =
    let gradientOf (bound: torch.Tensor -> torch.Tensor) (m: float[,]) =
        use scores = (ofMatrix torch.float32 m).requires_grad_(true)
        use value = (bound scores).sum()
        value.backward()
        toScalar value, toArray scores.grad
    let check name (bound: torch.Tensor -> torch.Tensor) =
        test name {
            for seed in 1..5 do
                let value, gradient = gradientOf bound (largeScores 8 33 seed)
                Expect.isTrue (Double.IsFinite value) $"{name}: value is {value}"
                Expect.all gradient Double.IsFinite $"{name}: every gradient entry is finite"
        }
    testList "gradients are finite for float32 scores of magnitude 1e4" [
        check "I_NCE" Bounds.infoNce
        check "I_CNCE" Bounds.conditionalInfoNce
        check "I_VAR" (fun s -> Bounds.variationalConditionalInfoNce s (s.select(1L, 0L).abs()))
        check "I_IS (gradient through scores and weights)" (fun s -> Bounds.importanceSampledConditionalInfoNce s (s.flip([| 1L |])))
        check "I_SIR" (fun s ->
            use generator = new torch.Generator(7UL)
            let candidates = s.narrow(1L, 1L, s.shape[1] - 1L)
            Bounds.sirConditionalInfoNce (s.select(1L, 0L)) candidates (candidates.flip([| 1L |])) 16 generator)
        check "InfoNCE_S" (fun s -> Decomposition.decomposedInfoNce s (s.flip([| 1L |])))
        check "InfoNCE_S IS" (fun s -> Decomposition.decomposedInfoNceImportanceSampled s (s.flip([| 1L |])))
        check "InfoNCE_S over subviews" (fun s -> Decomposition.decomposedInfoNceOverSubviews [ s; s.flip([| 1L |]); s.roll(1L, 1L) ])
        check "DV" Baselines.donskerVaradhan
        check "SMILE" (fun s -> Baselines.smile s 10.0)
        check "JS objective" Baselines.jensenShannonObjective
    ]

let analyticGradient =
    testPropertyWithConfig config "the gradient of I_NCE is onehot(0) - softmax(scores)" (forAll scoreMatrix (fun m ->
        use scores = (ofMatrix torch.float64 m).requires_grad_(true)
        use total = (Bounds.infoNce scores).sum()
        total.backward()
        let gradient = toArray scores.grad
        for i in 0 .. rows m - 1 do
            let r = row m i
            let z = r |> Array.sumBy (fun v -> exp (v - Array.max r))
            for j in 0 .. columns m - 1 do
                let expected = (if j = 0 then 1.0 else 0.0) - exp (r[j] - Array.max r) / z
                let actual = gradient[i * columns m + j]
                if abs (actual - expected) > 1e-10 then failtestf "d/ds[%d,%d]: %.12g vs %.12g" i j actual expected))

let layout =
    testList "score layout" [
        testPropertyWithConfig config "ofInBatch puts the diagonal first and keeps the off-diagonal order" (forAll squareMatrix (fun m ->
            use converted = Scores.ofInBatch (ofMatrix torch.float64 m)
            let k = rows m
            let actual = toArray converted
            for i in 0 .. k - 1 do
                let expected = Array.append [| m[i, i] |] [| for j in 0 .. k - 1 do if j <> i then m[i, j] |]
                for j in 0 .. k - 1 do
                    if actual[i * k + j] <> expected[j] then failtestf "row %d column %d: %g vs %g" i j actual[i * k + j] expected[j]))
        testPropertyWithConfig config "ofInBatch's gradient moves each score's gradient back to its place in the matrix" (forAll squareMatrix (fun m ->
            // The layout only moves values, so the gradient of sum(G * ofInBatch(M)) with respect to M is G moved back:
            // d[i, i] = G[i, 0], d[i, j] = G[i, j + 1] left of the diagonal and G[i, j] right of it, exactly.
            let k = rows m
            use matrix = (ofMatrix torch.float64 m).requires_grad_(true)
            use upstream = torch.randn([| int64 k; int64 k |], dtype = torch.float64)
            use loss = (Scores.ofInBatch matrix * upstream).sum()
            loss.backward ()
            let g, d = toArray upstream, toArray matrix.grad
            for i in 0 .. k - 1 do
                for j in 0 .. k - 1 do
                    let expected = if j = i then g[i * k] elif j < i then g[i * k + j + 1] else g[i * k + j]
                    if d[i * k + j] <> expected then failtestf "d/dM[%d,%d]: %g vs %g" i j d[i * k + j] expected))
        test "ofPositiveAndNegatives joins a positive column and negatives" {
            use joined = Scores.ofPositiveAndNegatives (torch.tensor [| 1.0; 2.0 |]) (torch.tensor(array2D [ [ 3.0; 4.0 ]; [ 5.0; 6.0 ] ]))
            Expect.sequenceEqual (toArray joined) [| 1.0; 3.0; 4.0; 2.0; 5.0; 6.0 |] "[[1,3,4],[2,5,6]]"
        }
    ]

let sir =
    testList "sampling importance resampling" [
        test "sirResample draws each candidate with frequency softmax(Ebar) (5 standard errors)" {
            let proposal = [| 0.0; 1.0; 2.0; -1.0; 0.5 |]
            let draws = 20000
            use generator = new torch.Generator(11UL)
            // One draw for each of `draws` identical rows: K - 1 = 1 <= M.
            use rowsOfProposal = torch.tensor(proposal, dtype = torch.float64).unsqueeze(0).expand(int64 draws, int64 proposal.Length)
            use indices = Bounds.sirResample rowsOfProposal 1 generator
            let counts = Array.zeroCreate proposal.Length
            for i in toArray indices do counts[int i] <- counts[int i] + 1
            let z = proposal |> Array.sumBy exp
            proposal |> Array.iteri (fun m e ->
                let p = exp e / z
                let standardError = sqrt (float draws * p * (1.0 - p))
                Expect.isLessThan (abs (float counts[m] - float draws * p)) (5.0 * standardError) $"candidate {m}: {counts[m]} draws, expected {float draws * p:F0}")
        }
        testPropertyWithConfig config "I_SIR is I_CNCE on the positive and the resampled candidates" (forAll scoreMatrixPair (fun (m, p) ->
            if columns m >= 3 then
                let negatives = columns m - 2
                let candidates (x: float[,]) = Array2D.init (rows x) (columns x - 1) (fun i j -> x[i, j + 1])
                use positive = ofVector torch.float64 (Array.init (rows m) (fun i -> m[i, 0]))
                use candidateScores = ofMatrix torch.float64 (candidates m)
                use proposal = ofMatrix torch.float64 (candidates p)
                use g1 = new torch.Generator(5UL)
                use g2 = new torch.Generator(5UL)
                use values = Bounds.sirConditionalInfoNce positive candidateScores proposal negatives g1
                use picked = Bounds.sirResample proposal negatives g2
                let idx = toArray picked |> Array.map int
                let expected =
                    Array.init (rows m) (fun i ->
                        Reference.infoNce (Array.append [| m[i, 0] |] (Array.init negatives (fun j -> m[i, 1 + idx[i * negatives + j]]))))
                expectClose torch.float64 m (toArray values) expected "I_SIR"
                Expect.isTrue (toArray values |> Array.forall (fun v -> v <= log (float (negatives + 1)) + 1e-12)) "I_SIR <= log K"))
    ]

let baselines =
    testList "baselines" [
        testPropertyWithConfig config "NWJ is TUBA with a(x) = e" (forAll scoreMatrix (fun m ->
            use scores = ofMatrix torch.float64 m
            use one = torch.tensor(1.0, dtype = torch.float64)
            use nwj = Baselines.nwj scores
            use tuba = Baselines.tuba scores one
            Array.iteri2 (fun i a b -> if abs (a - b) > 1e-9 * (1.0 + abs b) then failtestf "example %d: %g vs %g" i a b) (toArray nwj) (toArray tuba)))
        testPropertyWithConfig config "the JS estimator's value is NWJ at E + 1" (forAll scoreMatrix (fun m ->
            use scores = ofMatrix torch.float64 m
            use js = Baselines.jensenShannon scores
            let expected = perRow m (fun r -> Reference.nwj (Array.map ((+) 1.0) r))
            Array.iteri2 (fun i a b -> if abs (a - b) > 1e-9 * (1.0 + abs b) then failtestf "example %d: %g vs %g" i a b) (toArray js) expected))
        test "the JS estimator's gradient is the JS objective's" {
            let m = largeScores 4 6 3 |> Array2D.map (fun v -> v / 5000.0)
            let gradientOf (f: torch.Tensor -> torch.Tensor) =
                use s = (ofMatrix torch.float64 m).requires_grad_(true)
                use v = (f s).sum()
                v.backward()
                toArray s.grad
            let a = gradientOf Baselines.jensenShannon
            let b = gradientOf Baselines.jensenShannonObjective
            Array.iteri2 (fun i x y -> Expect.floatClose Accuracy.veryHigh x y $"entry {i}") a b
        }
        test "MINE's value is DV's; its gradient divides by the moving average, not the batch's partition" {
            let m = largeScores 4 6 9 |> Array2D.map (fun v -> v / 5000.0)
            use s = (ofMatrix torch.float64 m).requires_grad_(true)
            let state = { Baselines.mineState 0.5 with LogMovingAverage = Some 3.0 }
            let values, next = Baselines.mine s state
            use dv = Baselines.donskerVaradhan s
            Array.iteri2 (fun i x y -> Expect.floatClose Accuracy.veryHigh x y $"value {i}") (toArray values) (toArray dv)
            use total = values.sum()
            total.backward()
            // d/ds_neg of -(B * logmean) is -B e^{s}/(M mean) for DV; MINE replaces the batch mean by the moving average.
            let all = [| for i in 0 .. rows m - 1 do for j in 1 .. columns m - 1 -> m[i, j] |]
            let batchLogMean = log (Array.averageBy exp all)
            let average = log (0.5 * exp 3.0 + 0.5 * exp batchLogMean)
            Expect.floatClose Accuracy.veryHigh next.LogMovingAverage.Value average "the moving average of the partition term"
            let g = toArray s.grad
            let expected = -(float (rows m)) * exp m[0, 1] / float all.Length / exp average
            Expect.floatClose Accuracy.high g[1] expected "gradient of a negative's score"
            values.Dispose()
        }
    ]

/// Runs `f` and checks it throws an ArgumentException (or a subclass) whose ParamName is `argument`.
let expectArgumentException (argument: string) (f: unit -> unit) =
    let outcome =
        try
            f ()
            None
        with e ->
            Some e
    match outcome with
    | None -> failtestf "expected an ArgumentException naming %s; nothing was thrown" argument
    | Some(:? ArgumentException as a) -> Expect.equal a.ParamName argument $"the exception names '{argument}': {a.Message}"
    | Some other -> failtestf "expected an ArgumentException naming %s, got %O" argument other

let validation =
    let throwsArgument name (f: unit -> unit) (argument: string) = test name { expectArgumentException argument f }
    testList "bad input gives an ArgumentException that names the argument" [
        throwsArgument "scores of rank 1" (fun () -> Bounds.infoNce (torch.zeros(5L)) |> ignore) "scores"
        throwsArgument "K = 1 (no negative)" (fun () -> Bounds.infoNce (torch.zeros(5L, 1L)) |> ignore) "scores"
        throwsArgument "integer scores" (fun () -> Bounds.infoNce (torch.zeros([| 5L; 3L |], dtype = torch.int64)) |> ignore) "scores"
        throwsArgument "proposal scores of another shape" (fun () -> Bounds.importanceSampledConditionalInfoNce (torch.zeros(4L, 3L)) (torch.zeros(4L, 4L)) |> ignore) "proposalScores"
        throwsArgument "proposal scores of another dtype" (fun () -> Bounds.importanceSampledConditionalInfoNce (torch.zeros(4L, 3L)) (torch.zeros([| 4L; 3L |], dtype = torch.float64)) |> ignore) "proposalScores"
        throwsArgument "a KL per example of the wrong length" (fun () -> Bounds.variationalConditionalInfoNce (torch.zeros(4L, 3L)) (torch.zeros(3L)) |> ignore) "klDivergence"
        throwsArgument "more resampled negatives than candidates" (fun () -> Bounds.sirResample (torch.zeros(2L, 3L)) 4 null |> ignore) "negatives"
        throwsArgument "subviews with different batch sizes" (fun () -> Decomposition.decomposedInfoNceOverSubviews [ torch.zeros(4L, 3L); torch.zeros(3L, 3L) ] |> ignore) "scoresPerSubview"
        throwsArgument "an in-batch matrix that is not square" (fun () -> Scores.ofInBatch (torch.zeros(3L, 4L)) |> ignore) "matrix"
        throwsArgument "a non-positive SMILE clip" (fun () -> Baselines.smile (torch.zeros(3L, 4L)) 0.0 |> ignore) "clip"
    ]

let memory =
    testList "native memory" [
        test "a bound leaves exactly one tensor (its result) in the caller's dispose scope" {
            use outer = torch.NewDisposeScope()
            use scores = torch.randn(16L, 9L)
            use proposal = torch.randn(16L, 9L)
            let before = outer.DisposablesCount
            let results =
                [ Bounds.infoNce scores
                  Bounds.importanceSampledConditionalInfoNce scores proposal
                  Decomposition.decomposedInfoNceImportanceSampled scores proposal
                  Decomposition.decomposedInfoNceOverSubviews [ scores; proposal ]
                  Baselines.jensenShannon scores
                  Critics.inBatchScores Critics.dot proposal scores ]
            Expect.equal (outer.DisposablesCount - before) results.Length "one live tensor per call, no intermediates"
        }
    ]

[<Tests>]
let tests =
    testList "Bounds" [ matchesLoop; caps; invariances; finiteGradients; analyticGradient; layout; sir; baselines; validation; memory ]
