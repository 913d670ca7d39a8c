module Decomp.Core.Tests.GaussianTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Decomp.Core

/// A plain float64 reference for Gaussian algebra, written independently of the TorchSharp code under test: the
/// oracle for log-densities and Gaussian conditioning.
module Reference =

    let cholesky (a: float[,]) : float[,] =
        let n = Array2D.length1 a
        let l = Array2D.zeroCreate n n
        for i in 0 .. n - 1 do
            for j in 0 .. i do
                let mutable s = a[i, j]
                for k in 0 .. j - 1 do
                    s <- s - l[i, k] * l[j, k]
                if i = j then l[i, i] <- sqrt s else l[i, j] <- s / l[j, j]
        l

    /// Solves L z = b for lower-triangular L.
    let solveLower (l: float[,]) (b: float[]) : float[] =
        let n = b.Length
        let z = Array.zeroCreate n
        for i in 0 .. n - 1 do
            let mutable s = b[i]
            for k in 0 .. i - 1 do
                s <- s - l[i, k] * z[k]
            z[i] <- s / l[i, i]
        z

    /// Solves L^T x = z for lower-triangular L.
    let solveUpperTransposed (l: float[,]) (z: float[]) : float[] =
        let n = z.Length
        let x = Array.zeroCreate n
        for i in n - 1 .. -1 .. 0 do
            let mutable s = z[i]
            for k in i + 1 .. n - 1 do
                s <- s - l[k, i] * x[k]
            x[i] <- s / l[i, i]
        x

    /// log N(x; mean, covariance).
    let logDensity (mean: float[]) (covariance: float[,]) (x: float[]) : float =
        let l = cholesky covariance
        let z = solveLower l (Array.map2 (-) x mean)
        let logDet = 2.0 * Seq.sum (seq { for i in 0 .. mean.Length - 1 -> log l[i, i] })
        -0.5 * (Array.sumBy (fun v -> v * v) z + logDet + float mean.Length * log (2.0 * Math.PI))

    let sub (m: float[,]) (rows: int[]) (cols: int[]) = Array2D.init rows.Length cols.Length (fun i j -> m[rows[i], cols[j]])

    let pick (v: float[]) (indices: int[]) = indices |> Array.map (fun i -> v[i])

    /// The zero-mean Gaussian's conditional of `target` given `given` = values:
    /// mean S_tg S_gg^-1 v, covariance S_tt - S_tg S_gg^-1 S_gt.
    let condition (covariance: float[,]) (target: int[]) (given: int[]) (values: float[]) : float[] * float[,] =
        let l = cholesky (sub covariance given given)
        let solveGiven (b: float[]) = solveUpperTransposed l (solveLower l b)
        let stg = sub covariance target given
        let row (m: float[,]) i = Array.init (Array2D.length2 m) (fun j -> m[i, j])
        let dot (a: float[]) (b: float[]) = Array.fold2 (fun s x y -> s + x * y) 0.0 a b
        let weights = Array.init target.Length (fun i -> solveGiven (row stg i)) // rows of S_tg S_gg^-1
        let mean = weights |> Array.map (fun w -> dot w values)
        let covarianceOut =
            Array2D.init target.Length target.Length (fun i j -> covariance[target[i], target[j]] - dot weights[i] (row stg j))
        mean, covarianceOut

let private float64 = torch.ScalarType.Float64

let private generator (seed: int) = new torch.Generator(uint64 seed, torch.CPU)

let private toMatrix (t: torch.Tensor) : float[,] =
    let rows, cols = int t.shape[0], int t.shape[1]
    let values = t.cpu().to_type(float64).contiguous().data<float>().ToArray()
    Array2D.init rows cols (fun i j -> values[i * cols + j])

let private toVector (t: torch.Tensor) : float[] = t.cpu().to_type(float64).contiguous().data<float>().ToArray()

let private tensorOfMatrix (m: float[,]) =
    let rows, cols = Array2D.length1 m, Array2D.length2 m
    torch.tensor(Array.init (rows * cols) (fun k -> m[k / cols, k % cols]), dtype = float64).reshape(int64 rows, int64 cols)

/// Row i of a tensor (its first index fixed).
let private row (t: torch.Tensor) (i: int) = t.select(0L, int64 i)

let private indices (from: int) (count: int) = Array.init count (fun i -> from + i)

/// Asserts that the rows of `samples` [n, k] have the given mean and covariance. Standard errors for a Gaussian:
/// a sample mean has variance C_ii / n; the moment estimator (1/n) sum (s - mean)(s - mean)^T around the known mean
/// has entries of variance (C_ij^2 + C_ii C_jj) / n. Tolerance: 5 standard errors per entry.
let private expectGaussianMoments (label: string) (samples: torch.Tensor) (mean: float[]) (covariance: float[,]) =
    let n = float samples.shape[0]
    use known = torch.tensor(mean, dtype = float64)
    use centred = samples.to_type(float64) - known
    let empiricalMean = toVector (centred.mean([| 0L |]))
    use moment = centred.t().matmul(centred) / n
    let empirical = toMatrix moment
    for i in 0 .. mean.Length - 1 do
        let standardError = sqrt (covariance[i, i] / n)
        Expect.isLessThanOrEqual
            (abs empiricalMean[i])
            (5.0 * standardError)
            $"{label}: mean[{i}] = {mean[i] + empiricalMean[i]}, expected {mean[i]} within 5 standard errors ({standardError})"
        for j in 0 .. mean.Length - 1 do
            let c = covariance[i, j]
            let standardError = sqrt ((c * c + covariance[i, i] * covariance[j, j]) / n)
            Expect.isLessThanOrEqual
                (abs (empirical[i, j] - c))
                (5.0 * standardError)
                $"{label}: covariance[{i},{j}] = {empirical[i, j]}, expected {c} within 5 standard errors ({standardError})"

/// Asserts that the sample mean of `values` is within 5 standard errors (sample standard deviation / sqrt n) of
/// `expected`.
let private expectMeanWithinFiveStandardErrors (label: string) (values: torch.Tensor) (expected: float) =
    let v = values.to_type(float64).flatten()
    let n = float v.shape[0]
    let mean = v.mean().item<float> ()
    let standardError = v.std().item<float> () / sqrt n
    Expect.isLessThanOrEqual
        (abs (mean - expected))
        (5.0 * standardError)
        $"{label}: Monte Carlo mean {mean} vs {expected} (standard error {standardError})"

let private expectArgumentException<'e when 'e :> ArgumentException> (name: string) (action: unit -> obj) =
    let thrown =
        try
            action () |> ignore
            None
        with e ->
            Some e
    match thrown with
    | Some(:? ArgumentException as e) when e.GetType() = typeof<'e> ->
        Expect.equal e.ParamName name $"{typeof<'e>.Name} names the argument"
    | Some e -> failtest $"expected {typeof<'e>.Name} naming '{name}', got {e.GetType().Name}: {e.Message}"
    | None -> failtest $"expected {typeof<'e>.Name} naming '{name}', nothing was thrown"

/// FsCheck generators shared by the properties below.
module private Generators =

    let unitInterval = Gen.choose (0, 1_000_000) |> Gen.map (fun i -> float i / 1e6)

    let entry = Gen.choose (-1000, 1000) |> Gen.map (fun i -> float i / 1000.0)

    /// A positive-definite covariance S = A A^T + eps I over (x', x'', y) blocks of 1..3 dimensions each, with the
    /// three block sizes.
    let covarianceWithBlocks =
        gen {
            let! n1 = Gen.choose (1, 3)
            let! n2 = Gen.choose (1, 3)
            let! ny = Gen.choose (1, 3)
            let n = n1 + n2 + ny
            let! a = Gen.arrayOfLength (n * n) entry
            let! eps = Gen.choose (5, 100) |> Gen.map (fun i -> float i / 100.0)
            let s =
                Array2D.init n n (fun i j ->
                    let mutable v = if i = j then eps else 0.0
                    for k in 0 .. n - 1 do
                        v <- v + a[i * n + k] * a[j * n + k]
                    v)
            return s, n1, n2, ny
        }

let private closedFormTests =
    testList "closed forms" [
        testProperty "chain rule: I({x',x''}; y) = I(x'; y) + I(x''; y | x') for random positive-definite covariances"
        <| Prop.forAll (Arb.fromGen Generators.covarianceWithBlocks) (fun (s, n1, n2, ny) ->
            use covariance = tensorOfMatrix s
            let x1, x2, y = indices 0 n1, indices n1 n2, indices (n1 + n2) ny
            let total = GaussianInformation.mutualInformation covariance (Array.append x1 x2) y
            let first = GaussianInformation.mutualInformation covariance x1 y
            let conditional = GaussianInformation.conditionalMutualInformation covariance x2 y x1
            // Relative to the size of the total, with a floor of 1 nat so a near-zero MI does not demand 1e-18.
            abs (total - (first + conditional)) <= 1e-9 * max 1.0 (abs total))

        testProperty "I(a; b | {}) equals I(a; b), and I(a; b) = I(b; a) >= 0"
        <| Prop.forAll (Arb.fromGen Generators.covarianceWithBlocks) (fun (s, n1, n2, _) ->
            use covariance = tensorOfMatrix s
            let a, b = indices 0 n1, indices n1 n2
            let ab = GaussianInformation.mutualInformation covariance a b
            let ba = GaussianInformation.mutualInformation covariance b a
            let abGivenNothing = GaussianInformation.conditionalMutualInformation covariance a b [||]
            abs (ab - ba) <= 1e-12 && abs (ab - abGivenNothing) <= 1e-12 && ab >= -1e-12)

        test "mutualInformation of a bivariate normal with correlation r is -1/2 log(1 - r^2)" {
            for r in [ -0.99; -0.5; 0.0; 0.3; 0.9; 0.999 ] do
                use covariance = torch.tensor([| 1.0; r; r; 1.0 |], dtype = float64).reshape(2L, 2L)
                let expected = -0.5 * log (1.0 - r * r)
                Expect.floatClose Accuracy.veryHigh (GaussianInformation.mutualInformation covariance [| 0 |] [| 1 |]) expected $"r = {r}"
        }

        testProperty "sampleCovariance3 gives I({x',x''}; y) = mi and I(x'; y) = alpha mi to 1e-10, unit variances, |rho| <= 0.8"
        <| Prop.forAll
            (Arb.fromGen (Gen.zip3 (Gen.choose (1, 5000)) Generators.unitInterval (Gen.choose (0, 100000))))
            (fun (miThousandths, alpha, seed) ->
                // mi up to 5 nats: beyond that float64 cancellation in 1 - c1^2 - c2^2 (about 1e-16 exp(2 mi)) would
                // exceed the 1e-10 asked for here (see the module's summary).
                let mi = float miThousandths / 1000.0
                use g = generator seed
                use block = Gaussian.sampleCovariance3 g mi alpha
                let m = toMatrix block
                let total = GaussianInformation.mutualInformation block [| 0; 1 |] [| 2 |]
                let first = GaussianInformation.mutualInformation block [| 0 |] [| 2 |]
                abs (total - mi) <= 1e-10
                && abs (first - alpha * mi) <= 1e-10
                && abs (m[0, 0] - 1.0) <= 1e-15 && abs (m[1, 1] - 1.0) <= 1e-15 && abs (m[2, 2] - 1.0) <= 1e-15
                && abs m[0, 1] <= Gaussian.MaxCorrelation)

        test "a created problem has mi_i summing to TotalMi, alphas in [0, 1], and its covariance gives TotalMi, sum alpha_i mi_i and the rest" {
            for totalMi in [ 5.0; 10.0; 15.0; 20.0 ] do
                use g = generator (int totalMi)
                let problem = Gaussian.create g 20 totalMi
                Expect.equal problem.Covariance.shape [| 60L; 60L |] "covariance is [3d, 3d]"
                Expect.floatClose Accuracy.veryHigh (Array.sum problem.MiPerDimension) totalMi "mi_i sum to the total"
                Expect.isTrue (problem.MiPerDimension |> Array.forall (fun m -> m >= 0.0)) "mi_i are non-negative"
                Expect.isTrue (problem.Alphas |> Array.forall (fun a -> a >= 0.0 && a <= 1.0)) "alpha_i lie in [0, 1]"
                Expect.floatClose Accuracy.veryHigh (Gaussian.mutualInformation problem) totalMi "I({x',x''}; y) = TotalMi"
                // Float64 cancellation recovers sigma_i^2 = exp(-2 mi_i) from unit-size entries with an absolute error
                // of a few ulps of 1, i.e. about 1.1e-16 exp(2 mi_i) nats per dimension; 64 ulps of margin.
                let tolerance = 1e-12 + 64.0 * 1.1e-16 * Array.sumBy (fun m -> exp (2.0 * m)) problem.MiPerDimension
                let x1, x2, y = problem.FirstViewIndices, problem.SecondViewIndices, problem.YIndices
                let fromCovariance = GaussianInformation.mutualInformation problem.Covariance (Array.append x1 x2) y
                Expect.isLessThanOrEqual (abs (fromCovariance - totalMi)) tolerance $"log-det I({{x',x''}}; y) for mi = {totalMi}"
                let firstFromCovariance = GaussianInformation.mutualInformation problem.Covariance x1 y
                Expect.isLessThanOrEqual
                    (abs (firstFromCovariance - Gaussian.mutualInformationFirstView problem))
                    tolerance
                    "log-det I(x'; y) = sum alpha_i mi_i"
                let conditionalFromCovariance = GaussianInformation.conditionalMutualInformation problem.Covariance x2 y x1
                Expect.isLessThanOrEqual
                    (abs (conditionalFromCovariance - Gaussian.conditionalMutualInformation problem))
                    tolerance
                    "log-det I(x''; y | x') = sum (1 - alpha_i) mi_i"
                // x' and x'' are correlated, so the naive sum I(x'; y) + I(x''; y) is not the total.
                let naive = firstFromCovariance + GaussianInformation.mutualInformation problem.Covariance x2 y
                Expect.isGreaterThan (abs (naive - totalMi)) 1e-3 "I(x'; y) + I(x''; y) differs from the total"
        }

        test "the same generator seed gives the same problem" {
            use g1 = generator 7
            use g2 = generator 7
            let p1 = Gaussian.create g1 5 3.0
            let p2 = Gaussian.create g2 5 3.0
            Expect.equal p1.Blocks p2.Blocks "same blocks"
            Expect.isTrue (p1.Covariance.allclose(p2.Covariance, 0.0, 0.0)) "same covariance"
        }
    ]

let private samplerTests =
    testList "samplers" [
        test "sampleJoint's empirical covariance matches Covariance within 5 standard errors" {
            use g = generator 11
            let problem = Gaussian.create g 6 8.0
            let n = 200_000
            let x1, x2, y = Gaussian.sampleJoint problem n g float64 torch.CPU
            use joint = torch.cat([| x1; x2; y |], 1L)
            expectGaussianMoments "joint" joint (Array.zeroCreate 18) (toMatrix problem.Covariance)
        }

        test "sampleJoint returns the requested dtype and shape, reproducibly" {
            use g1 = generator 3
            let problem = Gaussian.create g1 4 2.0
            use a = generator 5
            use b = generator 5
            let x1, x2, y = Gaussian.sampleJoint problem 10 a torch.ScalarType.Float32 torch.CPU
            let x1', _, y' = Gaussian.sampleJoint problem 10 b torch.ScalarType.Float32 torch.CPU
            for t in [ x1; x2; y ] do
                Expect.equal t.dtype torch.ScalarType.Float32 "float32 as asked"
                Expect.equal t.shape [| 10L; 4L |] "[n, d]"
            Expect.isTrue (x1.allclose(x1', 0.0, 0.0) && y.allclose(y', 0.0, 0.0)) "same seed, same samples"
        }

        test "sampleYGivenFirstView matches the closed-form conditional mean and covariance of p(y | x')" {
            use g = generator 21
            let problem = Gaussian.create g 3 4.0
            let covariance = toMatrix problem.Covariance
            let x1, _, _ = Gaussian.sampleJoint problem 2 g float64 torch.CPU
            let k = 40_000
            use samples = Gaussian.sampleYGivenFirstView problem x1 k g
            Expect.equal samples.shape [| 2L; int64 k; 3L |] "[n, k, d]"
            for r in 0..1 do
                let given = toVector (row x1 r)
                let mean, conditional = Reference.condition covariance problem.YIndices problem.FirstViewIndices given
                expectGaussianMoments $"y | x' (row {r})" (row samples r) mean conditional
        }

        test "the stacked samplers draw every run from its own p(x', x'', y) and p(y | x'), independently of the other runs" {
            // Two problems of different MI stacked: run r's slices must have run r's moments (5 standard errors, as the
            // single-problem tests), and run 0's draws must not change when run 1 is stacked beside it.
            use g0 = generator 31
            use g1 = generator 32
            let problems = [| Gaussian.create g0 3 2.0; Gaussian.create g1 3 6.0 |]
            use stacked = Gaussian.stack problems float64 torch.CPU
            let n = 40_000
            let x1, x2, y = Gaussian.sampleJointStacked stacked n [| g0; g1 |]
            Expect.equal y.shape [| 2L; int64 n; 3L |] "[R, n, d]"
            for r in 0..1 do
                let joint = torch.cat([| row x1 r; row x2 r; row y r |], 1L)
                expectGaussianMoments $"joint of run {r}" joint (Array.zeroCreate 9) (toMatrix problems[r].Covariance)
            let queries = x1.narrow(1L, 0L, 2L)
            let k = 40_000
            use samples = Gaussian.sampleYGivenFirstViewStacked stacked queries k [| g0; g1 |]
            Expect.equal samples.shape [| 2L; 2L; int64 k; 3L |] "[R, n, k, d]"
            for r in 0..1 do
                let covariance = toMatrix problems[r].Covariance
                for i in 0..1 do
                    let given = toVector (row (row queries r) i)
                    let mean, conditional = Reference.condition covariance problems[r].YIndices problems[r].FirstViewIndices given
                    expectGaussianMoments $"y | x' (run {r}, row {i})" (row (row samples r) i) mean conditional
            use a = generator 33
            use b = generator 33
            use c = generator 34
            use alone = Gaussian.stack [| problems[0] |] float64 torch.CPU
            let x1Alone, _, _ = Gaussian.sampleJointStacked alone 5 [| a |]
            let x1Together, _, _ = Gaussian.sampleJointStacked stacked 5 [| b; c |]
            Expect.equal ((x1Alone[0] - x1Together[0]).abs().max().item<float> ()) 0.0 "run 0's draws are the same alone and stacked"
        }

        test "large stacked draws (filled on several threads) are exactly each run's draws alone, whatever runs share the stack" {
            // 3 x 20,000 x 3 numbers per run for the joint and 2 x 12,000 x 3 for p(y | x'): above the size from which
            // the runs' slices are filled on parallel threads, which two threads make happen.
            let threads = torch.get_num_threads ()
            torch.set_num_threads 2
            try
                let create seed mi = use g = generator seed in Gaussian.create g 3 mi
                let problems = [| create 41 2.0; create 42 6.0; create 43 4.0 |]
                use stacked = Gaussian.stack problems torch.float32 torch.CPU
                let generators () = [| generator 51; generator 52; generator 53 |]
                let together = generators ()
                let x1, x2, y = Gaussian.sampleJointStacked stacked 20_000 together
                use negatives = Gaussian.sampleYGivenFirstViewStacked stacked (x1.narrow(1L, 0L, 2L)) 12_000 together
                let alone = generators ()
                for r in 0..2 do
                    use single = Gaussian.stack [| problems[r] |] torch.float32 torch.CPU
                    let a1, a2, ay = Gaussian.sampleJointStacked single 20_000 [| alone[r] |]
                    use aNegatives = Gaussian.sampleYGivenFirstViewStacked single (a1.narrow(1L, 0L, 2L)) 12_000 [| alone[r] |]
                    for name, t, a in [ "x'", x1, a1; "x''", x2, a2; "y", y, ay; "y | x'", negatives, aNegatives ] do
                        Expect.isTrue (t[int64 r].equal(a[0L]).all().item<bool> ()) $"run {r}'s {name}: the same numbers as drawn alone"
                Expect.isFalse (negatives[0L].equal(negatives[1L]).all().item<bool> ()) "the runs draw different numbers"
                for g in Array.append together alone do
                    g.Dispose()
            finally
                torch.set_num_threads threads
        }

        test "sampleYGivenBothViews matches the closed-form conditional mean and covariance of p(y | x', x'')" {
            use g = generator 22
            let problem = Gaussian.create g 3 4.0
            let covariance = toMatrix problem.Covariance
            let x1, x2, _ = Gaussian.sampleJoint problem 2 g float64 torch.CPU
            let k = 40_000
            use samples = Gaussian.sampleYGivenBothViews problem x1 x2 k g
            for r in 0..1 do
                let given = Array.append (toVector (row x1 r)) (toVector (row x2 r))
                let mean, conditional =
                    Reference.condition covariance problem.YIndices (Array.append problem.FirstViewIndices problem.SecondViewIndices) given
                expectGaussianMoments $"y | x', x'' (row {r})" (row samples r) mean conditional
        }

        test "conditional samplers keep x1's dtype" {
            use g = generator 23
            let problem = Gaussian.create g 2 1.0
            let x1, x2, _ = Gaussian.sampleJoint problem 3 g torch.ScalarType.Float32 torch.CPU
            Expect.equal (Gaussian.sampleYGivenFirstView problem x1 4 g).dtype torch.ScalarType.Float32 "p(y | x')"
            Expect.equal (Gaussian.sampleYGivenBothViews problem x1 x2 4 g).dtype torch.ScalarType.Float32 "p(y | x', x'')"
        }
    ]

let private criticTests =
    // Random query points from the joint and candidates that are partly other joint draws, partly wide noise.
    let setup (seed: int) =
        let g = generator seed
        let problem = Gaussian.create g 3 3.0
        let batch, candidates = 4, 5
        let x1, x2, _ = Gaussian.sampleJoint problem batch g float64 torch.CPU
        let _, _, others = Gaussian.sampleJoint problem (batch * candidates) g float64 torch.CPU
        let noise = torch.randn([| int64 batch; int64 candidates; 3L |], dtype = float64, generator = g) * 2.0
        let y = others.reshape(int64 batch, int64 candidates, 3L) * 0.5 + noise * 0.5
        problem, x1, x2, y

    /// log p(points) under the problem's covariance restricted to `index`.
    let logDensityOn (problem: Gaussian.Problem) (index: int[]) (point: float[]) =
        let covariance = Reference.sub (toMatrix problem.Covariance) index index
        Reference.logDensity (Array.zeroCreate index.Length) covariance point

    let expectAgreesWithReference (label: string) (actual: torch.Tensor) (reference: int -> int -> float) =
        let values = toMatrix actual
        for b in 0 .. Array2D.length1 values - 1 do
            for m in 0 .. Array2D.length2 values - 1 do
                let expected = reference b m
                Expect.isLessThanOrEqual
                    (abs (values[b, m] - expected))
                    (1e-8 * max 1.0 (abs expected))
                    $"{label}[{b},{m}] = {values[b, m]}, reference {expected}"

    testList "optimal critics" [
        test "each optimal critic equals the log-density ratio of the full joint, to 1e-8 in float64" {
            let problem, x1, x2, y = setup 31
            let point (t: torch.Tensor) (b: int) = toVector (t.select(0L, int64 b))
            let candidate (b: int) (m: int) = toVector (y.select(0L, int64 b).select(0L, int64 m))
            let x1i, x2i, yi = problem.FirstViewIndices, problem.SecondViewIndices, problem.YIndices
            let x12 = Array.append x1i x2i
            // log p(y | x', x'') = log p(x', x'', y) - log p(x', x''), and so on: every term from the joint density.
            let logGivenBoth b m =
                logDensityOn problem (Array.append x12 yi) (Array.concat [ point x1 b; point x2 b; candidate b m ])
                - logDensityOn problem x12 (Array.append (point x1 b) (point x2 b))
            let logGivenX1 b m =
                logDensityOn problem (Array.append x1i yi) (Array.append (point x1 b) (candidate b m))
                - logDensityOn problem x1i (point x1 b)
            let logMarginal b m = logDensityOn problem yi (candidate b m)
            expectAgreesWithReference "E*" (GaussianCritics.optimalCritic problem x1 x2 y) (fun b m -> logGivenBoth b m - logMarginal b m)
            expectAgreesWithReference "Ebar" (GaussianCritics.optimalFirstViewCritic problem x1 y) (fun b m -> logGivenX1 b m - logMarginal b m)
            expectAgreesWithReference
                "conditional E*"
                (GaussianCritics.optimalConditionalCritic problem x1 x2 y)
                (fun b m -> logGivenBoth b m - logGivenX1 b m)
            expectAgreesWithReference "log p(y | x')" (GaussianCritics.logDensityYGivenFirstView problem x1 y) logGivenX1
            expectAgreesWithReference "log p(y | x', x'')" (GaussianCritics.logDensityYGivenBothViews problem x1 x2 y) logGivenBoth
            expectAgreesWithReference "log p(y)" (GaussianCritics.logDensityY problem y) logMarginal
            expectAgreesWithReference
                "log tau(y | x') of the exact proposal"
                (Proposals.proposalLogDensity (Proposals.exactProposal problem) x1 y)
                logGivenX1
        }

        test "critics return [B, M] in y's dtype" {
            let problem, x1, x2, y = setup 32
            let critic = GaussianCritics.optimalCritic problem (x1.to_type torch.ScalarType.Float32) (x2.to_type torch.ScalarType.Float32) (y.to_type torch.ScalarType.Float32)
            Expect.equal critic.shape [| 4L; 5L |] "[B, M]"
            Expect.equal critic.dtype torch.ScalarType.Float32 "y's dtype"
        }

        test "E_p(x,y)[E*(x, y)] = I({x',x''}; y), E[Ebar] = I(x'; y) and E[conditional E*] = I(x''; y | x'), by Monte Carlo within 5 standard errors" {
            use g = generator 41
            let problem = Gaussian.create g 5 5.0
            let x1, x2, y = Gaussian.sampleJoint problem 100_000 g float64 torch.CPU
            let positives = y.unsqueeze 1L
            expectMeanWithinFiveStandardErrors "E*" (GaussianCritics.optimalCritic problem x1 x2 positives) (Gaussian.mutualInformation problem)
            expectMeanWithinFiveStandardErrors "Ebar" (GaussianCritics.optimalFirstViewCritic problem x1 positives) (Gaussian.mutualInformationFirstView problem)
            expectMeanWithinFiveStandardErrors
                "conditional E*"
                (GaussianCritics.optimalConditionalCritic problem x1 x2 positives)
                (Gaussian.conditionalMutualInformation problem)
        }
    ]

let private proposalTests =
    testList "proposals and KL" [
        test "klToProposal of the exact proposal is 0" {
            use g = generator 51
            let problem = Gaussian.create g 4 6.0
            Expect.isLessThanOrEqual (abs (Proposals.klToProposal problem (Proposals.exactProposal problem))) 1e-12 "KL(p || p) = 0"
        }

        test "klToProposal of a perturbed proposal equals the per-dimension formula 1/2 (1/v - 1 + log v + shift^2 / (v D_i))" {
            use g = generator 52
            let problem = Gaussian.create g 4 6.0
            let shift, scale = 0.3, 1.7
            let expected =
                problem.Blocks
                |> Array.sumBy (fun b -> 0.5 * (1.0 / scale - 1.0 + log scale + shift * shift / (scale * b.VarianceGivenFirstView)))
            Expect.floatClose Accuracy.veryHigh (Proposals.klToProposal problem (Proposals.perturbedProposal problem shift scale)) expected "closed form"
        }

        test "klToProposal of a full-matrix proposal matches E[log p(y | x') - log tau(y | x')] by Monte Carlo within 5 standard errors" {
            use g = generator 53
            let problem = Gaussian.create g 3 3.0
            let a = torch.randn([| 3L; 3L |], dtype = float64, generator = g) * 0.5
            let proposal: Proposals.GaussianProposal =
                { Weight = torch.randn([| 3L; 3L |], dtype = float64, generator = g) * 0.5
                  Bias = torch.randn([| 3L |], dtype = float64, generator = g) * 0.3
                  Covariance = a.matmul(a.t()) + torch.eye(3L, dtype = float64) * 0.5 }
            let x1, _, y = Gaussian.sampleJoint problem 100_000 g float64 torch.CPU
            let positives = y.unsqueeze 1L
            let logRatio = GaussianCritics.logDensityYGivenFirstView problem x1 positives - Proposals.proposalLogDensity proposal x1 positives
            expectMeanWithinFiveStandardErrors "E KL(p(y|x') || tau(y|x'))" logRatio (Proposals.klToProposal problem proposal)
        }

        test "sampleProposal draws have mean Weight x' + Bias and covariance Covariance within 5 standard errors" {
            use g = generator 54
            let problem = Gaussian.create g 3 3.0
            let proposal = Proposals.perturbedProposal problem 0.4 2.0
            let x1, _, _ = Gaussian.sampleJoint problem 1 g float64 torch.CPU
            use samples = Proposals.sampleProposal proposal x1 40_000 g
            let mean = toVector (proposal.Weight.matmul(row x1 0) + proposal.Bias)
            expectGaussianMoments "tau(y | x')" (row samples 0) mean (toMatrix proposal.Covariance)
        }

        test "gaussianKl is 0 for equal Gaussians and matches E_N0[log N0 - log N1] by Monte Carlo within 5 standard errors" {
            use g = generator 55
            let randomCovariance () =
                let a = torch.randn([| 3L; 3L |], dtype = float64, generator = g)
                a.matmul(a.t()) + torch.eye(3L, dtype = float64) * 0.3
            let mean0, mean1 = torch.randn([| 3L |], dtype = float64, generator = g), torch.randn([| 3L |], dtype = float64, generator = g)
            let cov0, cov1 = randomCovariance (), randomCovariance ()
            Expect.isLessThanOrEqual (abs (GaussianInformation.kl mean0 cov0 mean0 cov0)) 1e-12 "KL(N || N) = 0"
            let n = 50_000
            let l0 = Reference.cholesky (toMatrix cov0)
            let z = toMatrix (torch.randn([| int64 n; 3L |], dtype = float64, generator = g))
            let m0, m1, c0, c1 = toVector mean0, toVector mean1, toMatrix cov0, toMatrix cov1
            let logRatios =
                Array.init n (fun i ->
                    let x = Array.init 3 (fun r -> m0[r] + Seq.sum (seq { for c in 0..2 -> l0[r, c] * z[i, c] }))
                    Reference.logDensity m0 c0 x - Reference.logDensity m1 c1 x)
            use values = torch.tensor(logRatios, dtype = float64)
            expectMeanWithinFiveStandardErrors "KL(N0 || N1)" values (GaussianInformation.kl mean0 cov0 mean1 cov1)
        }
    ]

let private validationTests =
    testList "argument validation" [
        test "create rejects dimensions below 1 and non-positive or non-finite totalMi" {
            use g = generator 1
            expectArgumentException<ArgumentOutOfRangeException> "dimensions" (fun () -> box (Gaussian.create g 0 5.0))
            for bad in [ 0.0; -1.0; nan; infinity ] do
                expectArgumentException<ArgumentOutOfRangeException> "totalMutualInformation" (fun () -> box (Gaussian.create g 3 bad))
        }

        test "sampleCovariance3 rejects negative mi and alpha outside [0, 1]" {
            use g = generator 1
            expectArgumentException<ArgumentOutOfRangeException> "mi" (fun () -> box (Gaussian.sampleCovariance3 g -1.0 0.5))
            expectArgumentException<ArgumentOutOfRangeException> "alpha" (fun () -> box (Gaussian.sampleCovariance3 g 1.0 1.5))
        }

        test "ofBlocks rejects an empty array and a block without unit-variance y" {
            expectArgumentException<ArgumentException> "blocks" (fun () -> box (Gaussian.ofBlocks [||]))
            let bad: Gaussian.DimensionBlock = { Mi = 1.0; Alpha = 0.5; Correlation = 0.1; WeightOfZ1 = 0.9; WeightOfZ2 = 0.9 }
            expectArgumentException<ArgumentException> "blocks" (fun () -> box (Gaussian.ofBlocks [| bad |]))
        }

        test "mutualInformation rejects non-square, non-positive-definite covariances and bad index sets" {
            use rectangular = torch.zeros([| 2L; 3L |], dtype = float64)
            expectArgumentException<ArgumentException> "covariance" (fun () -> box (GaussianInformation.mutualInformation rectangular [| 0 |] [| 1 |]))
            use singular = torch.ones([| 2L; 2L |], dtype = float64)
            expectArgumentException<ArgumentException> "covariance" (fun () -> box (GaussianInformation.mutualInformation singular [| 0 |] [| 1 |]))
            use identity = torch.eye(3L, dtype = float64)
            expectArgumentException<ArgumentException> "a" (fun () -> box (GaussianInformation.mutualInformation identity [||] [| 1 |]))
            expectArgumentException<ArgumentException> "a" (fun () -> box (GaussianInformation.mutualInformation identity [| 3 |] [| 1 |]))
            expectArgumentException<ArgumentException> "b" (fun () -> box (GaussianInformation.mutualInformation identity [| 0; 1 |] [| 1 |]))
            expectArgumentException<ArgumentException> "c" (fun () -> box (GaussianInformation.conditionalMutualInformation identity [| 0 |] [| 1 |] [| 1; 2 |]))
        }

        test "samplers and critics reject bad counts, dtypes and shapes" {
            use g = generator 2
            let problem = Gaussian.create g 3 2.0
            expectArgumentException<ArgumentOutOfRangeException> "count" (fun () -> box (Gaussian.sampleJoint problem 0 g float64 torch.CPU))
            expectArgumentException<ArgumentException> "dtype" (fun () -> box (Gaussian.sampleJoint problem 5 g torch.ScalarType.Int32 torch.CPU))
            let x1, x2, _ = Gaussian.sampleJoint problem 4 g float64 torch.CPU
            use wrongWidth = torch.zeros([| 4L; 2L |], dtype = float64)
            expectArgumentException<ArgumentException> "firstView" (fun () -> box (Gaussian.sampleYGivenFirstView problem wrongWidth 3 g))
            expectArgumentException<ArgumentOutOfRangeException> "k" (fun () -> box (Gaussian.sampleYGivenFirstView problem x1 0 g))
            use flatY = torch.zeros([| 4L; 3L |], dtype = float64)
            expectArgumentException<ArgumentException> "candidates" (fun () -> box (GaussianCritics.optimalCritic problem x1 x2 flatY))
            use otherBatchY = torch.zeros([| 5L; 2L; 3L |], dtype = float64)
            expectArgumentException<ArgumentException> "candidates" (fun () -> box (GaussianCritics.optimalFirstViewCritic problem x1 otherBatchY))
            use y = torch.zeros([| 4L; 2L; 3L |], dtype = float64)
            expectArgumentException<ArgumentException> "secondView" (fun () -> box (GaussianCritics.optimalConditionalCritic problem x1 (x2.narrow(0L, 0L, 2L)) y))
        }

        test "proposals and gaussianKl reject bad parameters" {
            use g = generator 3
            let problem = Gaussian.create g 3 2.0
            expectArgumentException<ArgumentOutOfRangeException> "varianceScale" (fun () -> box (Proposals.perturbedProposal problem 0.0 0.0))
            expectArgumentException<ArgumentException> "meanShift" (fun () -> box (Proposals.perturbedProposal problem nan 1.0))
            use mean = torch.zeros([| 3L |], dtype = float64)
            use identity = torch.eye(3L, dtype = float64)
            use small = torch.eye(2L, dtype = float64)
            expectArgumentException<ArgumentException> "covariance1" (fun () -> box (GaussianInformation.kl mean identity mean small))
            use notPositive = -torch.eye(3L, dtype = float64)
            expectArgumentException<ArgumentException> "covariance0" (fun () -> box (GaussianInformation.kl mean notPositive mean identity))
        }
    ]

[<Tests>]
let tests =
    testList "Gaussian" [ closedFormTests; samplerTests; criticTests; proposalTests; validationTests ]
