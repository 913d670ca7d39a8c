module Decomp.Benchmarks.Tests.TasksTests

open System
open Expecto
open TorchSharp
open Decomp.Benchmarks

/// shared/benchmarks/bmi-tasks.md: id, dim x, dim y, true MI to 4 decimals.
let bmiTable =
    [ "1v1-normal-0.75", 1, 1, 0.4133
      "normal_cdf-1v1-normal-0.75", 1, 1, 0.4133
      "1v1-additive-0.1", 1, 1, 1.7094
      "1v1-additive-0.75", 1, 1, 0.3333
      "1v1-bimodal-0.75", 1, 1, 0.4133
      "wiggly-1v1-normal-0.75", 1, 1, 0.4133
      "half_cube-1v1-normal-0.75", 1, 1, 0.4133
      "student-identity-1-1-1", 1, 1, 0.2242
      "asinh-student-identity-1-1-1", 1, 1, 0.2242
      "swissroll_x-normal_cdf-1v1-normal-0.75", 2, 1, 0.4133
      "multinormal-dense-2-2-0.5", 2, 2, 0.2939
      "multinormal-dense-3-3-0.5", 3, 3, 0.4133
      "multinormal-dense-5-5-0.5", 5, 5, 0.5928
      "multinormal-dense-25-25-0.5", 25, 25, 1.2922
      "multinormal-dense-50-50-0.5", 50, 50, 1.6243
      "multinormal-sparse-2-2-2-2.0", 2, 2, 1.0217
      "multinormal-sparse-3-3-2-2.0", 3, 3, 1.0217
      "multinormal-sparse-5-5-2-2.0", 5, 5, 1.0217
      "multinormal-sparse-25-25-2-2.0", 25, 25, 1.0217
      "student-identity-2-2-1", 2, 2, 0.4319
      "student-identity-2-2-2", 2, 2, 0.1931
      "student-identity-3-3-2", 3, 3, 0.2909
      "student-identity-3-3-3", 3, 3, 0.1787
      "student-identity-5-5-2", 5, 5, 0.4482
      "student-identity-5-5-3", 5, 5, 0.2985
      "normal_cdf-multinormal-sparse-3-3-2-2.0", 3, 3, 1.0217
      "normal_cdf-multinormal-sparse-5-5-2-2.0", 5, 5, 1.0217
      "normal_cdf-multinormal-sparse-25-25-2-2.0", 25, 25, 1.0217
      "half_cube-multinormal-sparse-3-3-2-2.0", 3, 3, 1.0217
      "half_cube-multinormal-sparse-5-5-2-2.0", 5, 5, 1.0217
      "half_cube-multinormal-sparse-25-25-2-2.0", 25, 25, 1.0217
      "spiral-multinormal-sparse-3-3-2-2.0", 3, 3, 1.0217
      "spiral-multinormal-sparse-5-5-2-2.0", 5, 5, 1.0217
      "spiral-multinormal-sparse-25-25-2-2.0", 25, 25, 1.0217
      "spiral-normal_cdf-multinormal-sparse-3-3-2-2.0", 3, 3, 1.0217
      "spiral-normal_cdf-multinormal-sparse-5-5-2-2.0", 5, 5, 1.0217
      "spiral-normal_cdf-multinormal-sparse-25-25-2-2.0", 25, 25, 1.0217
      "asinh-student-identity-2-2-1", 2, 2, 0.4319
      "asinh-student-identity-3-3-2", 3, 3, 0.2909
      "asinh-student-identity-5-5-2", 5, 5, 0.4482 ]

/// The sample covariance [d, d] of the columns of [a, b, ...] (float64).
let private sampleCovariance (blocks: torch.Tensor list) =
    let data = torch.cat(blocks |> Array.ofList, 1L)
    let centred = data - data.mean([| 0L |], true)
    centred.t().matmul(centred) / float (data.shape[0] - 1L)

/// Σ ρ_i², the squared canonical correlations of X (the first dx columns) and Y: tr(Σxx⁻¹ Σxy Σyy⁻¹ Σyx).
let private canonicalSquares (covariance: torch.Tensor) (dx: int) =
    let d = covariance.shape[0]
    let block r0 r1 c0 c1 = covariance.narrow(0L, r0, r1 - r0).narrow(1L, c0, c1 - c0)
    let sxx, syy = block 0L (int64 dx) 0L (int64 dx), block (int64 dx) d (int64 dx) d
    let sxy = block 0L (int64 dx) (int64 dx) d
    torch.linalg.solve(sxx, sxy).matmul(torch.linalg.solve(syy, sxy.t())).trace().item<float> ()

/// The plug-in Gaussian MI of n rows has standard deviation sqrt(Σ ρ_i² / n) asymptotically (the delta method on the
/// canonical correlations, Var(r_i) ≈ (1 - ρ_i²)² / n) and bias of order dx dy / (2n) (from E log det of a Wishart
/// matrix); the tolerance is 5 standard deviations plus twice that bias.
let private gaussianTolerance (rhoSquares: float) (dx: int) (dy: int) (n: int) =
    5.0 * sqrt (rhoSquares / float n) + float (dx * dy) / float n

let private checkGaussian (covariance: float[,]) (dx: int) (x: torch.Tensor) (y: torch.Tensor) (truth: float) =
    use scope = torch.NewDisposeScope()
    let n = int x.shape[0]
    let dy = int y.shape[1]
    let empirical = sampleCovariance [ x; y ]
    let mi = Decomp.Core.GaussianInformation.mutualInformation empirical [| 0 .. dx - 1 |] [| dx .. dx + dy - 1 |]
    let tolerance = gaussianTolerance (canonicalSquares (Samplers.tensorOf covariance) dx) dx dy n
    Expect.isLessThan (abs (mi - truth)) tolerance $"the sample covariance's Gaussian MI {mi:F4} is within {tolerance:F4} of {truth:F4}"
    let gap = (empirical - Samplers.tensorOf covariance).abs().max().item<float> ()
    // Each entry of a sample covariance of unit-variance coordinates has sd at most sqrt(2 / n).
    Expect.isLessThan gap (6.0 * sqrt (2.0 / float n)) "the sample covariance matches Σ entrywise"

/// A Monte-Carlo mean and its 5-standard-error tolerance.
let private monteCarlo (values: torch.Tensor) =
    let n = float values.shape[0]
    values.mean().item<float> (), 5.0 * values.std().item<float> () / sqrt n

/// A checked sample of a base task (n rows, seed 1): Gaussian MI of the sample covariance, a Monte-Carlo mean of the
/// log density ratio for Student-t and additive noise.
let rec checkTask (n: int) (task: BmiTask) =
    use scope = torch.NewDisposeScope()
    let x, y = task.Sample n 1
    Expect.equal x.shape [| int64 n; int64 task.DimX |] "x is [n, dx]"
    Expect.equal y.shape [| int64 n; int64 task.DimY |] "y is [n, dy]"
    Expect.equal x.dtype torch.float64 "float64"
    let again, _ = task.Sample n 1
    Expect.isTrue (again.allclose(x, 0.0, 0.0)) "the same seed gives the same sample"
    let other, _ = task.Sample n 2
    Expect.isFalse (other.allclose(x, 0.0, 0.0)) "another seed gives another sample"
    match task.Construction with
    | Multinormal covariance -> checkGaussian covariance task.DimX x y task.TrueMi
    | StudentT(_, nu) ->
        // I(X; Y) = E[log p(x, y) - log p(x) - log p(y)]; the marginals of an identity-dispersion Student-t are
        // identity-dispersion Student-t with the same ν.
        let ratio =
            Samplers.studentLogDensity nu (torch.cat([| x; y |], 1L)) - Samplers.studentLogDensity nu x - Samplers.studentLogDensity nu y
        let mean, tolerance = monteCarlo ratio
        Expect.isLessThan (abs (mean - task.TrueMi)) tolerance $"Monte-Carlo MI {mean:F4} within {tolerance:F4} of the closed form {task.TrueMi:F4}"
    | AdditiveUniform epsilon ->
        Expect.isTrue ((y - x).abs().le((epsilon + 1e-12).ToScalar()).all().item<bool> ()) "|Y - X| <= ε"
        let ratio = -(Samplers.additiveUniformDensityOfY epsilon y).log() - log (2.0 * epsilon)
        let mean, tolerance = monteCarlo ratio
        Expect.isLessThan (abs (mean - task.TrueMi)) tolerance $"Monte-Carlo MI {mean:F4} within {tolerance:F4} of the closed form {task.TrueMi:F4}"
    | Transformed(baseTask, name, inverse) ->
        let bx, by = baseTask.Sample n 1
        let rx, ry = inverse (x, y)
        let close (a: torch.Tensor) (b: torch.Tensor) = ((a - b).abs() / (b.abs() + 1.0)).max().item<float> ()
        Expect.isLessThan (close rx bx) 1e-6 $"the inverse of {name} recovers the base sample's X"
        Expect.isLessThan (close ry by) 1e-6 $"the inverse of {name} recovers the base sample's Y"
        Expect.equal task.TrueMi baseTask.TrueMi "an invertible map keeps the MI"
        checkTask n baseTask

[<Tests>]
let registry =
    testList "bmi task registry" [
        test "40 tasks with bmi's ids, dimensions and true MI (to 4 decimals), in bmi's order" {
            Expect.equal Tasks.all.Length 40 "40 tasks"
            Expect.equal (Tasks.all |> List.map _.Id) (bmiTable |> List.map (fun (id, _, _, _) -> id)) "ids in order"
            for task, (id, dx, dy, mi) in List.zip Tasks.all bmiTable do
                Expect.equal (task.DimX, task.DimY) (dx, dy) $"{id}: dimensions"
                Expect.floatClose { absolute = 5e-5; relative = 0.0 } task.TrueMi mi $"{id}: true MI {task.TrueMi:F6}"
        }
        test "the closed forms: -1/2 log(1 - ρ²), ε - log 2ε, 1/(4ε), -log(1 - 0.8²)" {
            Expect.floatClose Accuracy.veryHigh (Tasks.find "1v1-normal-0.75").TrueMi (-0.5 * log (1.0 - 0.75 * 0.75)) "binormal"
            Expect.floatClose Accuracy.veryHigh (Tasks.find "1v1-additive-0.1").TrueMi (0.1 - log 0.2) "additive 0.1"
            Expect.floatClose Accuracy.veryHigh (Tasks.find "1v1-additive-0.75").TrueMi (1.0 / 3.0) "additive 0.75"
            Expect.floatClose Accuracy.veryHigh (Tasks.find "multinormal-sparse-25-25-2-2.0").TrueMi (-log (1.0 - 0.64)) "2-pair"
        }
        test "Student-t MI tends to the Gaussian's (0) as ν grows, and is larger for smaller ν" {
            let identity = Samplers.denseCovariance 4 0.0
            let values = [ 1; 2; 5; 50; 5000 ] |> List.map (Samplers.studentMi identity 2)
            Expect.isTrue (values |> List.pairwise |> List.forall (fun (a, b) -> a > b)) $"decreasing in ν: {values}"
            Expect.isLessThan (List.last values) 1e-6 "≈ 0 at ν = 5000"
        }
        test "the sparse correlation matrix: unit diagonal, 0.8 on the two pairs, 0 elsewhere" {
            let c = Samplers.sparseCorrelation 3 3 2 2.0 2.0 1.0
            for i in 0..5 do
                for j in 0..5 do
                    let expected = if i = j then 1.0 elif (i < 2 && j = i + 3) || (j < 2 && i = j + 3) then 0.8 else 0.0
                    Expect.floatClose Accuracy.veryHigh c[i, j] expected $"[{i}, {j}]"
        }
    ]

[<Tests>]
let samplers =
    testList "bmi samplers against their MI" [
        for task in Tasks.all ->
            let n = if task.DimX + task.DimY > 20 then 40_000 else 100_000
            test $"{task.Id} (n = {n})" { checkTask n task }
    ]

[<Tests>]
let conditional =
    testList "conditional tasks" [
        for task in Tasks.conditional do
          yield
            test $"{task.Id}: the inverse maps recover a Gaussian whose sample CMI matches I(X; Y | Z) = {task.TrueCmi:F4}" {
                use scope = torch.NewDisposeScope()
                let n = 100_000
                let x, y, z = task.Sample n 1
                Expect.equal (x.shape, y.shape, z.shape) ([| int64 n; int64 task.DimX |], [| int64 n; int64 task.DimY |], [| int64 n; int64 task.DimZ |]) "shapes"
                let gx, gy, gz = task.Inverse(x, y, z)
                let d = task.DimX
                let empirical = sampleCovariance [ gx; gy; gz ]
                let cmi = Decomp.Core.GaussianInformation.conditionalMutualInformation empirical [| 0 .. d - 1 |] [| d .. 2 * d - 1 |] [| 2 * d .. 3 * d - 1 |]
                // I(X; Y | Z) = I([X, Z]; Y) - I(Z; Y): each plug-in term within its own tolerance.
                let truth = Samplers.tensorOf task.Covariance
                let reorder (t: torch.Tensor) (first: int[]) (second: int[]) =
                    let index = torch.tensor(Array.append first second |> Array.map int64)
                    t.index_select(0L, index).index_select(1L, index)
                let xz, ys, zs = Array.append [| 0 .. d - 1 |] [| 2 * d .. 3 * d - 1 |], [| d .. 2 * d - 1 |], [| 2 * d .. 3 * d - 1 |]
                let tolerance =
                    gaussianTolerance (canonicalSquares (reorder truth xz ys) (2 * d)) (2 * d) d n
                    + gaussianTolerance (canonicalSquares (reorder truth zs ys) d) d d n
                Expect.isLessThan (abs (cmi - task.TrueCmi)) tolerance $"sample CMI {cmi:F4} within {tolerance:F4} of {task.TrueCmi:F4}"
                Expect.isGreaterThan task.TrueCmi 0.3 "a dependence worth estimating"
            }
        yield test "the transformed conditional task keeps the Gaussian's CMI" {
            let gaussian = Tasks.conditional |> List.find (fun t -> t.Id = "conditional-gaussian-2-2-2")
            let transformed = Tasks.conditional |> List.find (fun t -> t.Transform <> "identity")
            Expect.equal transformed.TrueCmi gaussian.TrueCmi "same CMI"
            use scope = torch.NewDisposeScope()
            let x, y, z = transformed.Sample 1000 3
            let gx, gy, gz = transformed.Inverse(x, y, z)
            let bx, by, bz = gaussian.Sample 1000 3
            for a, b in [ gx, bx; gy, by; gz, bz ] do
                Expect.isLessThan ((a - b).abs().max().item<float> ()) 1e-6 "the inverse recovers the Gaussian sample"
        }
    ]
