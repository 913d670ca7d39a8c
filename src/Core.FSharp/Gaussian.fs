namespace Decomp.Core

open System
open TorchSharp

/// The paper's synthetic ground truth (Section 5.1, Appendix B.2): three jointly Gaussian views x', x'', y of d
/// dimensions each (the paper uses d = 20), zero mean, with a chosen total I({x', x''}; y), and everything about them
/// in closed form: mutual informations, exact samplers of p(x', x'', y), p(y | x') and p(y | x', x''), and the optimal
/// critics (log-density ratios) of InfoNCE, I_CNCE and the importance weights of I_IS. This module is the problem:
/// its construction, its exact information quantities and its samplers; `GaussianCritics` holds its optimal critics,
/// `GaussianInformation` the closed forms of any Gaussian, and `Proposals` the Gaussian proposals tau(y | x').
///
/// Construction of one dimension (the paper's `sample_cov(mi_i)` pseudo-code did not survive in our copy; this is our
/// exact replacement). With z', z'', eps independent standard normals, rho a correlation and s = sqrt(1 - rho^2):
///
///     x'  = z'
///     x'' = rho z' + s z''
///     y   = c1 z' + c2 z'' + sigma eps,   sigma^2 = exp(-2 mi),
///                                          c1^2 = 1 - exp(-2 alpha mi),
///                                          c2^2 = exp(-2 alpha mi) - exp(-2 mi).
///
/// Why the mutual informations are exact: Var(y) = c1^2 + c2^2 + sigma^2 = 1, and all three variables have unit
/// variance. {x', x''} is an invertible linear map of {z', z''}, so I({x', x''}; y) = I({z', z''}; y)
/// = 1/2 log(Var(y) / Var(y | z', z'')) = 1/2 log(1 / sigma^2) = mi. Likewise x' = z', and
/// Var(y | z') = c2^2 + sigma^2 = exp(-2 alpha mi), so I(x'; y) = alpha mi. By the chain rule
/// I(x''; y | x') = (1 - alpha) mi. c2^2 is non-negative exactly when alpha is in [0, 1]. The signs of c1 and c2 are
/// drawn at random, rho uniformly in [-MaxCorrelation, MaxCorrelation], so x' and x'' are correlated (the
/// decomposition I(x'; y) + I(x''; y | x') then differs from the naive I(x'; y) + I(x''; y)).
///
/// The 3 x 3 covariance of (x'_i, x''_i, y_i) is L L^T with the lower-triangular L = [[1, 0, 0], [rho, s, 0],
/// [c1, c2, sigma]], i.e. [[1, rho, c1], [rho, 1, rho c1 + s c2], [c1, rho c1 + s c2, 1]]; L is its Cholesky factor.
/// Across dimensions the blocks are independent. The total MI is split at random, mi_i = mi u_i / sum_j u_j with
/// u_j ~ Exp(1) (Dirichlet(1, ..., 1) proportions), and alpha_i ~ U(0, 1) per dimension, as the paper describes.
///
/// Precision: the samplers, conditional densities, critics and the `Problem` MI functions use c1, c2, sigma and
/// exp(-2 alpha mi) directly, so they are exact for any mi_i. Closed forms computed from a covariance matrix
/// (`mutualInformation`, `conditionalMutualInformation`) lose about 1e-16 exp(2 mi_i) nats per dimension to
/// cancellation in float64 (1 - c1^2 - c2^2 = sigma^2 is recovered from entries of size 1): about 1e-11 nats at
/// mi_i = 6, 3e-6 at 12, and beyond about 18 nats `Problem.Covariance` is numerically singular.
///
/// Randomness: every random function takes an explicit `torch.Generator` and uses no global random state, so the
/// same generator seed reproduces the same problem and the same samples. Draws are made in float64 on the generator's
/// own device (a CPU generator gives the same numbers whatever the target device) and are then cast and moved.
module Gaussian =

    /// The largest |rho| = |corr(x'_i, x''_i)| that `create` and `sampleCovariance3` draw: rho ~ U(-0.8, 0.8).
    [<Literal>]
    let MaxCorrelation = 0.8

    /// One dimension i of the problem: the exact parameters of (x'_i, x''_i, y_i) (see the module's summary).
    type DimensionBlock =
        {
            /// mi_i = I({x'_i, x''_i}; y_i) in nats.
            Mi: float
            /// alpha_i = I(x'_i; y_i) / I({x'_i, x''_i}; y_i), in [0, 1].
            Alpha: float
            /// rho_i = corr(x'_i, x''_i), the weight of z' in x''.
            Correlation: float
            /// c1: the weight of z' (= x') in y, also Cov(x'_i, y_i); |c1| = sqrt(1 - exp(-2 alpha mi)).
            WeightOfZ1: float
            /// c2: the weight of z'' (the part of x'' not explained by x') in y; |c2| = sqrt(exp(-2 alpha mi) - exp(-2 mi)).
            WeightOfZ2: float
        }

        /// sigma^2 = Var(y_i | x'_i, x''_i) = exp(-2 mi).
        member b.NoiseVariance = exp (-2.0 * b.Mi)

        /// Var(y_i | x'_i) = c2^2 + sigma^2 = exp(-2 alpha mi).
        member b.VarianceGivenFirstView = exp (-2.0 * b.Alpha * b.Mi)

    /// A sampled instance of the synthetic problem.
    type Problem =
        {
            /// d, the number of dimensions of each of x', x'', y.
            Dimensions: int
            /// The requested I({x', x''}; y) in nats (the blocks' Mi sum to it up to rounding).
            TotalMi: float
            /// The d independent dimensions.
            Blocks: DimensionBlock[]
            /// The float64 [3d, 3d] covariance of (x', x'', y) on the CPU, laid out x' = 0..d-1, x'' = d..2d-1,
            /// y = 2d..3d-1.
            Covariance: torch.Tensor
        }

        /// alpha_i for every dimension.
        member p.Alphas = p.Blocks |> Array.map _.Alpha

        /// mi_i for every dimension (they sum to TotalMi).
        member p.MiPerDimension = p.Blocks |> Array.map _.Mi

        /// Indices of x' in `Covariance`: 0..d-1.
        member p.FirstViewIndices = [| 0 .. p.Dimensions - 1 |]

        /// Indices of x'' in `Covariance`: d..2d-1.
        member p.SecondViewIndices = [| p.Dimensions .. 2 * p.Dimensions - 1 |]

        /// Indices of y in `Covariance`: 2d..3d-1.
        member p.YIndices = [| 2 * p.Dimensions .. 3 * p.Dimensions - 1 |]

    // ---------------------------------------------------------------------------------------------------------------
    // Validation and small helpers

    let internal requireFinite (name: string) (value: float) =
        if Double.IsNaN value || Double.IsInfinity value then
            invalidArg name $"{name} must be a finite number, got {value}."

    /// The batch size B of a query tensor of shape [B, d].
    let internal requireQueries (name: string) (dimensions: int) (x: torch.Tensor) =
        Guard.floating name x
        if x.dim () <> 2L || x.shape[1] <> int64 dimensions then
            invalidArg name $"{name} must have shape [batch, {dimensions}], got {Guard.shapeText x}."
        Guard.finite name x
        x.shape[0]

    /// Checks y is [B, M, d] for queries of batch B.
    let internal requireCandidates (name: string) (dimensions: int) (batch: int64) (y: torch.Tensor) =
        Guard.floating name y
        if y.dim () <> 3L || y.shape[0] <> batch || y.shape[2] <> int64 dimensions then
            invalidArg
                name
                $"{name} must have shape [{batch}, candidates, {dimensions}] (one candidate set per query), got {Guard.shapeText y}."
        Guard.finite name y

    let internal requireSameBatch (name: string) (batch: int64) (x: torch.Tensor) =
        if x.shape[0] <> batch then
            invalidArg name $"{name} must have the same batch size as firstView ({batch}), got {Guard.shapeText x}."

    let internal requirePositiveCount (name: string) (value: int) = Guard.atLeast name 1L (int64 value)

    let private toArray (t: torch.Tensor) : float[] =
        use scope = torch.NewDisposeScope()
        t.detach().cpu().to_type(torch.ScalarType.Float64).data<float>().ToArray()

    /// `count` draws of U[0, 1) from the generator, as float64 values.
    let private uniforms (generator: torch.Generator) (count: int) : float[] =
        use u = torch.rand([| int64 count |], dtype = torch.ScalarType.Float64, device = generator.device, generator = generator)
        toArray u

    /// Standard normal draws of the given shape, float64, on the generator's device.
    let internal standardNormal (generator: torch.Generator) (shape: int64[]) : torch.Tensor =
        torch.randn(shape, dtype = torch.ScalarType.Float64, device = generator.device, generator = generator)

    let internal requireGenerator (generator: torch.Generator) =
        if isNull generator then nullArg (nameof generator)

    /// A float64 vector of per-dimension values on `device`, shaped to broadcast over a trailing dimension d.
    let internal perDimension (device: torch.Device) (values: float[]) : torch.Tensor =
        torch.tensor(values, dtype = torch.ScalarType.Float64, device = device)

    /// exp(x) - 1 without cancellation for small |x| (Kahan's trick; .NET's Double.ExpM1 subtracts naively).
    let private expMinusOne (x: float) =
        let u = exp x
        if u = 1.0 then x
        elif u - 1.0 = -1.0 then -1.0
        else (u - 1.0) * x / log u

    let internal logTwoPi = log (2.0 * Math.PI)

    /// log N(y; mean, diag(variance)) summed over the last dimension, all float64.
    let internal diagonalNormalLogDensity (y: torch.Tensor) (mean: torch.Tensor) (variance: torch.Tensor) : torch.Tensor =
        let squared = (y - mean).square() / variance
        ((squared + variance.log() + logTwoPi) * -0.5).sum(-1L)

    let internal float64 (t: torch.Tensor) = t.to_type(torch.ScalarType.Float64)

    /// Runs a float64 computation in its own dispose scope and returns the result in `like`'s dtype.
    let internal inDtypeOf (like: torch.Tensor) (compute: unit -> torch.Tensor) : torch.Tensor =
        use scope = torch.NewDisposeScope()
        (compute ()).to_type(like.dtype).MoveToOuterDisposeScope()

    // ---------------------------------------------------------------------------------------------------------------
    // Construction

    /// The exact parameters of one dimension with I({x'_i, x''_i}; y_i) = mi and I(x'_i; y_i) = alpha mi: draws
    /// rho ~ U(-MaxCorrelation, MaxCorrelation) and the signs of c1, c2 from the generator (see the module's summary).
    /// mi must be finite and ≥ 0 (ArgumentOutOfRangeException "mi"), alpha in [0, 1] (ArgumentOutOfRangeException
    /// "alpha").
    let sampleDimensionBlock (generator: torch.Generator) (mi: float) (alpha: float) : DimensionBlock =
        requireGenerator generator
        if not (mi >= 0.0) || Double.IsInfinity mi then
            raise (ArgumentOutOfRangeException(nameof mi, mi, "mi (nats) must be finite and non-negative."))
        if not (alpha >= 0.0 && alpha <= 1.0) then
            raise (ArgumentOutOfRangeException(nameof alpha, alpha, "alpha must lie in [0, 1]."))
        let draws = uniforms generator 3
        let sign (u: float) = if u < 0.5 then -1.0 else 1.0
        // -expm1 keeps c1^2 = 1 - exp(-2 alpha mi) and c2^2 = exp(-2 alpha mi) (1 - exp(-2 (1 - alpha) mi)) accurate
        // when the exponents are tiny.
        let c1Squared = -(expMinusOne (-2.0 * alpha * mi))
        let c2Squared = exp (-2.0 * alpha * mi) * -(expMinusOne (-2.0 * (1.0 - alpha) * mi))
        {
            Mi = mi
            Alpha = alpha
            Correlation = MaxCorrelation * (2.0 * draws[0] - 1.0)
            WeightOfZ1 = sign draws[1] * sqrt c1Squared
            WeightOfZ2 = sign draws[2] * sqrt (max c2Squared 0.0)
        }

    /// The 3 x 3 covariance of (x'_i, x''_i, y_i) for one block, float64 on the CPU:
    /// [[1, rho, c1], [rho, 1, rho c1 + s c2], [c1, rho c1 + s c2, 1]] with s = sqrt(1 - rho^2).
    let blockCovariance (block: DimensionBlock) : torch.Tensor =
        let rho = block.Correlation
        let c1 = block.WeightOfZ1
        let x2y = rho * c1 + sqrt (1.0 - rho * rho) * block.WeightOfZ2
        torch.tensor([| 1.0; rho; c1; rho; 1.0; x2y; c1; x2y; 1.0 |], dtype = torch.ScalarType.Float64).reshape(3L, 3L)

    /// The paper's `sample_cov(mi)`: a random 3 x 3 covariance of (x'_i, x''_i, y_i) with
    /// I({x'_i, x''_i}; y_i) = mi and I(x'_i; y_i) = alpha mi exactly (float64, CPU). See `sampleDimensionBlock`.
    let sampleCovariance3 (generator: torch.Generator) (mi: float) (alpha: float) : torch.Tensor =
        sampleDimensionBlock generator mi alpha |> blockCovariance

    /// A problem made of the given dimensions (TotalMi is the sum of their Mi). Each block needs Mi finite and ≥ 0,
    /// Alpha in [0, 1], |Correlation| below 1 and c1^2 + c2^2 + exp(-2 Mi) = 1 to 1e-9 (unit-variance y); otherwise
    /// ArgumentException naming "blocks".
    let ofBlocks (blocks: DimensionBlock[]) : Problem =
        if isNull blocks then nullArg (nameof blocks)
        if blocks.Length = 0 then invalidArg (nameof blocks) "blocks must hold at least one dimension."
        blocks
        |> Array.iteri (fun i b ->
            let fail (why: string) = invalidArg (nameof blocks) $"blocks[{i}]: {why}"
            if not (b.Mi >= 0.0) || Double.IsInfinity b.Mi then fail $"Mi must be finite and non-negative, got {b.Mi}."
            if not (b.Alpha >= 0.0 && b.Alpha <= 1.0) then fail $"Alpha must lie in [0, 1], got {b.Alpha}."
            if not (abs b.Correlation < 1.0) then fail $"|Correlation| must be below 1, got {b.Correlation}."
            let variance = b.WeightOfZ1 * b.WeightOfZ1 + b.WeightOfZ2 * b.WeightOfZ2 + b.NoiseVariance
            if not (abs (variance - 1.0) <= 1e-9) then
                fail $"c1^2 + c2^2 + exp(-2 Mi) must be 1 (unit-variance y), got {variance}.")
        let d = blocks.Length
        let n = 3 * d
        let covariance = Array.zeroCreate<float> (n * n)
        blocks
        |> Array.iteri (fun i b ->
            use block = blockCovariance b
            let values = toArray block
            let index = [| i; d + i; 2 * d + i |]
            for r in 0..2 do
                for c in 0..2 do
                    covariance[index[r] * n + index[c]] <- values[r * 3 + c])
        {
            Dimensions = d
            TotalMi = blocks |> Array.sumBy _.Mi
            Blocks = Array.copy blocks
            Covariance = torch.tensor(covariance, dtype = torch.ScalarType.Float64).reshape(int64 n, int64 n)
        }

    /// A random problem as in Appendix B.2: d dimensions, mi_i = totalMutualInformation u_i / sum_j u_j with u_j ~ Exp(1)
    /// (Dirichlet(1, ..., 1) proportions), alpha_i ~ U(0, 1), and each block from `sampleDimensionBlock`.
    /// ArgumentOutOfRangeException "dimensions" when dimensions is below 1, "totalMutualInformation" when it is not a finite
    /// positive number.
    let create (generator: torch.Generator) (dimensions: int) (totalMutualInformation: float) : Problem =
        requireGenerator generator
        requirePositiveCount (nameof dimensions) dimensions
        if not (totalMutualInformation > 0.0) || Double.IsInfinity totalMutualInformation then
            raise (ArgumentOutOfRangeException(nameof totalMutualInformation, totalMutualInformation, "totalMutualInformation (nats) must be finite and positive."))
        // -log(1 - u) with u in [0, 1) is an Exp(1) draw that is never infinite.
        let exponentials = uniforms generator dimensions |> Array.map (fun u -> -log (1.0 - u))
        let total = Array.sum exponentials
        let alphas = uniforms generator dimensions
        Array.map2 (fun e alpha -> sampleDimensionBlock generator (totalMutualInformation * e / total) alpha) exponentials alphas
        |> ofBlocks
        |> fun p -> { p with TotalMi = totalMutualInformation }

    // ---------------------------------------------------------------------------------------------------------------
    // The problem's exact information quantities

    /// I({x', x''}; y) = sum_i mi_i, exact from the construction (equals TotalMi).
    let mutualInformation (problem: Problem) : float = problem.Blocks |> Array.sumBy _.Mi

    /// I(x'; y) = sum_i alpha_i mi_i, exact from the construction.
    let mutualInformationFirstView (problem: Problem) : float = problem.Blocks |> Array.sumBy (fun b -> b.Alpha * b.Mi)

    /// I(x''; y | x') = sum_i (1 - alpha_i) mi_i, exact from the construction (the chain rule
    /// I({x', x''}; y) = I(x'; y) + I(x''; y | x')).
    let conditionalMutualInformation (problem: Problem) : float =
        problem.Blocks |> Array.sumBy (fun b -> (1.0 - b.Alpha) * b.Mi)

    // ---------------------------------------------------------------------------------------------------------------
    // Exact conditionals, per dimension (float64 vectors of length d on a device)

    /// p(y | x') = N(c1 * x', exp(-2 alpha mi)) per dimension: (weight c1, variance).
    let internal conditionalOnFirstView (problem: Problem) (device: torch.Device) =
        perDimension device (problem.Blocks |> Array.map _.WeightOfZ1),
        perDimension device (problem.Blocks |> Array.map _.VarianceGivenFirstView)

    /// p(y | x', x'') = N(w1 x' + w2 x'', exp(-2 mi)) per dimension, from z' = x', z'' = (x'' - rho x') / s:
    /// w1 = c1 - c2 rho / s, w2 = c2 / s.
    let internal conditionalOnBothViews (problem: Problem) (device: torch.Device) =
        let s (b: DimensionBlock) = sqrt (1.0 - b.Correlation * b.Correlation)
        perDimension device (problem.Blocks |> Array.map (fun b -> b.WeightOfZ1 - b.WeightOfZ2 * b.Correlation / s b)),
        perDimension device (problem.Blocks |> Array.map (fun b -> b.WeightOfZ2 / s b)),
        perDimension device (problem.Blocks |> Array.map _.NoiseVariance)

    let internal requireProblem (problem: Problem) =
        if obj.ReferenceEquals(problem, null) then nullArg (nameof problem)

    let internal requireSameDevice (name: string) (reference: torch.Tensor) (t: torch.Tensor) =
        Guard.sameDevice name reference "firstView" t

    // ---------------------------------------------------------------------------------------------------------------
    // Exact samplers

    /// `count` i.i.d. draws of (x', x'', y) from p(x', x'', y), each [count, d], of the given floating dtype on `device`.
    /// Draws are made in float64 on the generator's device and then cast and moved (see the module's summary).
    /// ArgumentOutOfRangeException "count" when count is below 1; ArgumentException "dtype" for a non-floating dtype.
    let sampleJoint (problem: Problem) (count: int) (generator: torch.Generator) (dtype: torch.ScalarType) (device: torch.Device)
        : torch.Tensor * torch.Tensor * torch.Tensor =
        requireProblem problem
        requirePositiveCount (nameof count) count
        requireGenerator generator
        Guard.floatingType (nameof dtype) dtype
        use scope = torch.NewDisposeScope()
        let d = problem.Dimensions
        let z = standardNormal generator [| 3L; int64 count; int64 d |]
        let z1, z2, eps = z[0], z[1], z[2]
        let on = generator.device
        let rho = perDimension on (problem.Blocks |> Array.map _.Correlation)
        let s = perDimension on (problem.Blocks |> Array.map (fun b -> sqrt (1.0 - b.Correlation * b.Correlation)))
        let c1 = perDimension on (problem.Blocks |> Array.map _.WeightOfZ1)
        let c2 = perDimension on (problem.Blocks |> Array.map _.WeightOfZ2)
        let sigma = perDimension on (problem.Blocks |> Array.map (fun b -> sqrt b.NoiseVariance))
        let finish (t: torch.Tensor) = t.``to``(dtype, device).MoveToOuterDisposeScope()
        finish z1, finish (rho * z1 + s * z2), finish (c1 * z1 + c2 * z2 + sigma * eps)

    /// Draws k i.i.d. y per row from p(y | mean, diag(variance)): mean [n, d] float64, result [n, k, d] float64.
    let private sampleAround (generator: torch.Generator) (k: int) (mean: torch.Tensor) (variance: torch.Tensor) : torch.Tensor =
        let noise = standardNormal generator [| mean.shape[0]; int64 k; mean.shape[1] |]
        mean.unsqueeze(1L) + noise.``to``(mean.device) * variance.sqrt()

    /// k i.i.d. draws from p(y | x') for every row of firstView [n, d]: [n, k, d] in firstView's dtype and device. Exact Gaussian
    /// conditioning, mean S_yx' S_x'x'^-1 x' = c1 * x' and covariance S_yy - S_yx' S_x'x'^-1 S_x'y =
    /// diag(exp(-2 alpha mi)) (S_x'x' = I here). ArgumentException "firstView" for a wrong shape,
    /// ArgumentOutOfRangeException "k" when k is below 1.
    let sampleYGivenFirstView (problem: Problem) (firstView: torch.Tensor) (k: int) (generator: torch.Generator) : torch.Tensor =
        requireProblem problem
        requireQueries (nameof firstView) problem.Dimensions firstView |> ignore
        requirePositiveCount (nameof k) k
        requireGenerator generator
        use scope = torch.NewDisposeScope()
        let weight, variance = conditionalOnFirstView problem firstView.device
        let samples = sampleAround generator k (weight * firstView.to_type(torch.ScalarType.Float64)) variance
        samples.to_type(firstView.dtype).MoveToOuterDisposeScope()

    // ---------------------------------------------------------------------------------------------------------------
    // Exact samplers for many problems at once (independent runs trained as one batched network, `Batched`)

    /// R problems of the same d, their per-dimension coefficients stacked as [R, 1, d] tensors of one dtype on one
    /// device, made once so that every step's draws are a few vectorised operations for all R runs.
    type Stacked =
        {
            Problems: Problem[]
            Dtype: torch.ScalarType
            Device: torch.Device
            /// rho, s = sqrt(1 - rho^2), c1, c2 and sigma = sqrt(exp(-2 mi)) per run and dimension: [R, 1, d].
            Correlation: torch.Tensor
            Complement: torch.Tensor
            WeightOfZ1: torch.Tensor
            WeightOfZ2: torch.Tensor
            Noise: torch.Tensor
            /// sqrt(exp(-2 alpha mi)), the standard deviation of p(y | x') per run and dimension: [R, 1, d].
            DeviationGivenFirstView: torch.Tensor
        }

        interface IDisposable with
            member t.Dispose() =
                for x in [ t.Correlation; t.Complement; t.WeightOfZ1; t.WeightOfZ2; t.Noise; t.DeviationGivenFirstView ] do
                    x.Dispose()

    /// Stacks problems of the same dimensions for the stacked samplers, in `dtype` on `device`. ArgumentException
    /// "problems" when empty or of different dimensions, "dtype" for a non-floating dtype.
    let stack (problems: Problem[]) (dtype: torch.ScalarType) (device: torch.Device) : Stacked =
        if isNull problems then nullArg (nameof problems)
        if problems.Length = 0 then invalidArg (nameof problems) "problems must hold at least one problem."
        problems |> Array.iter requireProblem
        if problems |> Array.exists (fun p -> p.Dimensions <> problems[0].Dimensions) then
            invalidArg (nameof problems) $"every problem must have the dimensions of the first ({problems[0].Dimensions})."
        Guard.floatingType (nameof dtype) dtype
        let coefficient (pick: DimensionBlock -> float) =
            let values = problems |> Array.collect (fun p -> p.Blocks |> Array.map pick)
            torch.tensor(values, dtype = torch.ScalarType.Float64).reshape(int64 problems.Length, 1L, int64 problems[0].Dimensions).``to``(dtype, device)
        {
            Problems = Array.copy problems
            Dtype = dtype
            Device = device
            Correlation = coefficient _.Correlation
            Complement = coefficient (fun b -> sqrt (1.0 - b.Correlation * b.Correlation))
            WeightOfZ1 = coefficient _.WeightOfZ1
            WeightOfZ2 = coefficient _.WeightOfZ2
            Noise = coefficient (fun b -> sqrt b.NoiseVariance)
            DeviationGivenFirstView = coefficient (fun b -> sqrt b.VarianceGivenFirstView)
        }

    /// Elements per run from which `stackedNoise` draws the runs' slices on several CPU threads: below it, starting the
    /// threads costs more than it saves.
    let private parallelNoiseElements = 1L <<< 16

    /// Standard normal noise [R, ...shape] in the stacked dtype: run r's slice drawn from generators[r] alone (so a
    /// run's stream does not depend on the other runs), then moved to the stacked device.
    ///
    /// On the CPU, large draws fill the runs' slices on up to `torch.get_num_threads ()` threads at once. libtorch's CPU
    /// generator (Mersenne Twister) is serial, about 8 ns a number, and InfoNCE_S's conditional negatives need
    /// millions a step (Figure 2's full sweep at K = 512: 9.1 M), so one thread spent a fifth of the step drawing them.
    /// Each generator still fills only its own run's slice, in the same order: the numbers are the same as drawn one
    /// run after another.
    let private stackedNoise (stacked: Stacked) (generators: torch.Generator[]) (shape: int64[]) : torch.Tensor =
        if isNull generators then nullArg (nameof generators)
        if generators.Length <> stacked.Problems.Length || generators |> Array.exists isNull then
            invalidArg (nameof generators) $"generators must hold one generator per problem ({stacked.Problems.Length}); got {generators.Length}."
        let on = generators[0].device
        let noise = torch.empty(Array.append [| int64 generators.Length |] shape, dtype = stacked.Dtype, device = on)
        use _ = torch.no_grad ()
        let fill r = use slice = noise[int64 r] in slice.normal_(0.0, 1.0, generators[r]) |> ignore
        let perRun = Array.fold (*) 1L shape
        let threads = torch.get_num_threads ()
        if on.``type`` = DeviceType.CPU && threads > 1 && generators.Length > 1 && perRun >= parallelNoiseElements then
            Threading.Tasks.Parallel.For(0, generators.Length, Threading.Tasks.ParallelOptions(MaxDegreeOfParallelism = threads), fill) |> ignore
        else
            for r in 0 .. generators.Length - 1 do
                fill r
        if on.``type`` = stacked.Device.``type`` && on.index = stacked.Device.index then noise
        else
            use moved = noise
            moved.``to``(stacked.Device)

    /// `count` i.i.d. draws of (x', x'', y) from each run's p(x', x'', y): each [R, count, d], in the stacked dtype and device
    /// (`sampleJoint` for every run at once: x' = z', x'' = rho z' + s z'', y = c1 z' + c2 z'' + sigma eps). The noise
    /// is drawn in the stacked dtype (float32 for training), not float64: the distribution is the same.
    let sampleJointStacked (stacked: Stacked) (count: int) (generators: torch.Generator[]) : torch.Tensor * torch.Tensor * torch.Tensor =
        if obj.ReferenceEquals(stacked, null) then nullArg (nameof stacked)
        requirePositiveCount (nameof count) count
        use scope = torch.NewDisposeScope()
        let d = int64 stacked.Problems[0].Dimensions
        let z = stackedNoise stacked generators [| 3L; int64 count; d |]
        let z1, z2, eps = z.select(1L, 0L), z.select(1L, 1L), z.select(1L, 2L)
        // An explicit Scalar, disposed here: a finalised implicit one has failed natively under load (Dialogue.Tests).
        use one = (1.0).ToScalar()
        let secondView = torch.addcmul(stacked.Correlation * z1, stacked.Complement, z2, one)
        let y = torch.addcmul(torch.addcmul(stacked.WeightOfZ1 * z1, stacked.WeightOfZ2, z2, one), stacked.Noise, eps, one)
        z1.contiguous().MoveToOuterDisposeScope(), secondView.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope()

    /// k i.i.d. draws from p(y | x') for every run r and row i of firstView [R, n, d]: [R, n, k, d], mean c1 x'_ri and
    /// deviation sqrt(exp(-2 alpha mi)) of run r's problem (`sampleYGivenFirstView` for every run at once, exact), in one
    /// fused operation over all runs, examples and negatives. ArgumentException "firstView" for a wrong shape, dtype or
    /// device, ArgumentOutOfRangeException "k" when k is below 1.
    let sampleYGivenFirstViewStacked (stacked: Stacked) (firstView: torch.Tensor) (k: int) (generators: torch.Generator[]) : torch.Tensor =
        if obj.ReferenceEquals(stacked, null) then nullArg (nameof stacked)
        Guard.floating (nameof firstView) firstView
        let r, d = int64 stacked.Problems.Length, int64 stacked.Problems[0].Dimensions
        if firstView.dim () <> 3L || firstView.shape[0] <> r || firstView.shape[2] <> d then
            invalidArg (nameof firstView) $"firstView must have shape [{r}, n, {d}] (one row of queries per problem), got {Guard.shapeText firstView}."
        if firstView.dtype <> stacked.Dtype || firstView.device_type <> stacked.Device.``type`` then
            invalidArg (nameof firstView) $"firstView must be {stacked.Dtype} on {stacked.Device} like the stacked problems, got {firstView.dtype} on {firstView.device}."
        Guard.finite (nameof firstView) firstView
        requirePositiveCount (nameof k) k
        use scope = torch.NewDisposeScope()
        let noise = stackedNoise stacked generators [| firstView.shape[1]; int64 k; d |]
        use one = (1.0).ToScalar()
        torch.addcmul((stacked.WeightOfZ1 * firstView).unsqueeze 2L, noise, stacked.DeviationGivenFirstView.unsqueeze 2L, one).MoveToOuterDisposeScope()

    /// k i.i.d. draws from p(y | x', x'') for every row of firstView, secondView [n, d]: [n, k, d] in firstView's dtype and device. Exact:
    /// mean w1 x' + w2 x'' (w1 = c1 - c2 rho / s, w2 = c2 / s), variance exp(-2 mi) per dimension.
    let sampleYGivenBothViews (problem: Problem) (firstView: torch.Tensor) (secondView: torch.Tensor) (k: int) (generator: torch.Generator) : torch.Tensor =
        requireProblem problem
        let batch = requireQueries (nameof firstView) problem.Dimensions firstView
        requireQueries (nameof secondView) problem.Dimensions secondView |> ignore
        requireSameBatch (nameof secondView) batch secondView
        requireSameDevice (nameof secondView) firstView secondView
        requirePositiveCount (nameof k) k
        requireGenerator generator
        use scope = torch.NewDisposeScope()
        let w1, w2, variance = conditionalOnBothViews problem firstView.device
        let mean = w1 * firstView.to_type(torch.ScalarType.Float64) + w2 * secondView.to_type(torch.ScalarType.Float64)
        let samples = sampleAround generator k mean variance
        samples.to_type(firstView.dtype).MoveToOuterDisposeScope()
