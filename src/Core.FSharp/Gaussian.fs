namespace Decomp.Core

open System
open TorchSharp

/// The paper's synthetic ground truth (Section 5.1, Appendix B.2): three jointly Gaussian views x', x'', y of d
/// dimensions each (the paper uses d = 20), zero mean, with a chosen total I({x', x''}; y), and everything about them
/// in closed form: mutual informations, exact samplers of p(x', x'', y), p(y | x') and p(y | x', x''), and the optimal
/// critics (log-density ratios) of InfoNCE, I_CNCE and the importance weights of I_IS.
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
        member b.VarianceGivenX1 = exp (-2.0 * b.Alpha * b.Mi)

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
        member p.X1Indices = [| 0 .. p.Dimensions - 1 |]

        /// Indices of x'' in `Covariance`: d..2d-1.
        member p.X2Indices = [| p.Dimensions .. 2 * p.Dimensions - 1 |]

        /// Indices of y in `Covariance`: 2d..3d-1.
        member p.YIndices = [| 2 * p.Dimensions .. 3 * p.Dimensions - 1 |]

    /// tau(y | x') = N(Weight x' + Bias, Covariance): a Gaussian stand-in for p(y | x'), the variational proposal of
    /// I_VAR (Proposition 2). Float64 tensors on the CPU: Weight [d, d], Bias [d], Covariance [d, d] positive definite.
    type GaussianProposal = { Weight: torch.Tensor; Bias: torch.Tensor; Covariance: torch.Tensor }

    // ---------------------------------------------------------------------------------------------------------------
    // Validation and small helpers

    let private requireFinite (name: string) (value: float) =
        if Double.IsNaN value || Double.IsInfinity value then
            invalidArg name $"{name} must be a finite number, got {value}."

    let private describeShape (t: torch.Tensor) = "[" + String.Join(", ", t.shape) + "]"

    /// Null, disposed and meta tensors are refused by name before anything reads them (TorchSharp's own errors name
    /// no argument). Values are scanned by the callers, after their shape checks.
    let private requireTensor (name: string) (t: torch.Tensor) =
        Guard.notNull name t
        Guard.hasValues name t
        if not (torch.is_floating_point t) then
            invalidArg name $"{name} must be a floating-point tensor, got {t.dtype}."

    /// The batch size B of a query tensor of shape [B, d].
    let private requireQueries (name: string) (dimensions: int) (x: torch.Tensor) =
        requireTensor name x
        if x.dim () <> 2L || x.shape[1] <> int64 dimensions then
            invalidArg name $"{name} must have shape [batch, {dimensions}], got {describeShape x}."
        Guard.finite name x
        x.shape[0]

    /// Checks y is [B, M, d] for queries of batch B.
    let private requireCandidates (name: string) (dimensions: int) (batch: int64) (y: torch.Tensor) =
        requireTensor name y
        if y.dim () <> 3L || y.shape[0] <> batch || y.shape[2] <> int64 dimensions then
            invalidArg
                name
                $"{name} must have shape [{batch}, candidates, {dimensions}] (one candidate set per query), got {describeShape y}."
        Guard.finite name y

    let private requireSameBatch (name: string) (batch: int64) (x: torch.Tensor) =
        if x.shape[0] <> batch then
            invalidArg name $"{name} must have the same batch size as x1 ({batch}), got {describeShape x}."

    let private requirePositiveCount (name: string) (value: int) =
        if value < 1 then
            raise (ArgumentOutOfRangeException(name, value, $"{name} must be at least 1."))

    let private toArray (t: torch.Tensor) : float[] =
        use scope = torch.NewDisposeScope()
        t.detach().cpu().to_type(torch.ScalarType.Float64).data<float>().ToArray()

    /// `count` draws of U[0, 1) from the generator, as float64 values.
    let private uniforms (generator: torch.Generator) (count: int) : float[] =
        use u = torch.rand([| int64 count |], dtype = torch.ScalarType.Float64, device = generator.device, generator = generator)
        toArray u

    /// Standard normal draws of the given shape, float64, on the generator's device.
    let private standardNormal (generator: torch.Generator) (shape: int64[]) : torch.Tensor =
        torch.randn(shape, dtype = torch.ScalarType.Float64, device = generator.device, generator = generator)

    let private requireGenerator (generator: torch.Generator) =
        if isNull generator then nullArg (nameof generator)

    /// A float64 vector of per-dimension values on `device`, shaped to broadcast over a trailing dimension d.
    let private perDimension (device: torch.Device) (values: float[]) : torch.Tensor =
        torch.tensor(values, dtype = torch.ScalarType.Float64, device = device)

    /// exp(x) - 1 without cancellation for small |x| (Kahan's trick; .NET's Double.ExpM1 subtracts naively).
    let private expMinusOne (x: float) =
        let u = exp x
        if u = 1.0 then x
        elif u - 1.0 = -1.0 then -1.0
        else (u - 1.0) * x / log u

    let private logTwoPi = log (2.0 * Math.PI)

    /// log N(y; mean, diag(variance)) summed over the last dimension, all float64.
    let private diagonalNormalLogDensity (y: torch.Tensor) (mean: torch.Tensor) (variance: torch.Tensor) : torch.Tensor =
        let squared = (y - mean).square() / variance
        ((squared + variance.log() + logTwoPi) * -0.5).sum(-1L)

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

    /// A random problem as in Appendix B.2: d dimensions, mi_i = totalMi u_i / sum_j u_j with u_j ~ Exp(1)
    /// (Dirichlet(1, ..., 1) proportions), alpha_i ~ U(0, 1), and each block from `sampleDimensionBlock`.
    /// ArgumentOutOfRangeException "dimensions" when dimensions is below 1, "totalMi" when totalMi is not a finite
    /// positive number.
    let create (generator: torch.Generator) (dimensions: int) (totalMi: float) : Problem =
        requireGenerator generator
        requirePositiveCount (nameof dimensions) dimensions
        if not (totalMi > 0.0) || Double.IsInfinity totalMi then
            raise (ArgumentOutOfRangeException(nameof totalMi, totalMi, "totalMi (nats) must be finite and positive."))
        // -log(1 - u) with u in [0, 1) is an Exp(1) draw that is never infinite.
        let exponentials = uniforms generator dimensions |> Array.map (fun u -> -log (1.0 - u))
        let total = Array.sum exponentials
        let alphas = uniforms generator dimensions
        Array.map2 (fun e alpha -> sampleDimensionBlock generator (totalMi * e / total) alpha) exponentials alphas
        |> ofBlocks
        |> fun p -> { p with TotalMi = totalMi }

    // ---------------------------------------------------------------------------------------------------------------
    // Closed-form mutual information of any Gaussian

    let private requireCovariance (covariance: torch.Tensor) =
        requireTensor (nameof covariance) covariance
        if covariance.dim () <> 2L || covariance.shape[0] <> covariance.shape[1] then
            invalidArg (nameof covariance) $"covariance must be a square matrix, got {describeShape covariance}."
        Guard.finite (nameof covariance) covariance

    /// log det of a symmetric positive-definite float64 matrix via its Cholesky factor: 2 sum_i log L_ii.
    let private logDeterminant (argument: string) (matrix: torch.Tensor) : float =
        if matrix.shape[0] = 0L then
            0.0
        else
            let struct (factor, info) = torch.linalg.cholesky_ex(matrix, check_errors = false)
            use factor = factor
            use info = info
            if info.item<int> () <> 0 then
                invalidArg argument $"{argument} is not positive definite (on the indices used)."
            use logDiagonal = factor.diagonal().log()
            2.0 * logDiagonal.sum().item<float> ()

    /// The covariance restricted to the rows and columns in `indices`, float64 on the CPU.
    let private principal (covariance: torch.Tensor) (indices: int[]) : torch.Tensor =
        use full = covariance.detach().cpu().to_type(torch.ScalarType.Float64)
        use index = torch.tensor(indices |> Array.map int64, dtype = torch.ScalarType.Int64)
        use rows = full.index_select(0L, index)
        rows.index_select(1L, index)

    let private requireIndexSets (size: int64) (sets: (string * int[] * bool) list) =
        for name, set, mayBeEmpty in sets do
            if isNull set then nullArg name
            if set.Length = 0 && not mayBeEmpty then invalidArg name $"{name} must name at least one index."
            for i in set do
                if i < 0 || int64 i >= size then
                    invalidArg name $"{name} holds index {i}, outside the covariance's 0..{size - 1L}."
            if (Array.distinct set).Length <> set.Length then invalidArg name $"{name} repeats an index."
        let named = sets |> List.map (fun (name, set, _) -> name, set)
        for i, (nameA, setA) in List.indexed named do
            for nameB, setB in List.skip (i + 1) named do
                if Array.exists (fun x -> Array.contains x setA) setB then
                    invalidArg nameB $"{nameB} shares an index with {nameA}; the index sets must be disjoint."

    let private logDeterminantOf (covariance: torch.Tensor) (indices: int[]) =
        use block = principal covariance indices
        logDeterminant (nameof covariance) block

    /// I(a; b) = 1/2 (log det S_aa + log det S_bb - log det S_{a∪b, a∪b}) for a zero-mean Gaussian with covariance S
    /// (any positive-definite float matrix) and disjoint, non-empty index sets a and b; in nats, computed in float64.
    /// ArgumentException naming "covariance" (not square, or not positive definite), "a" or "b" (empty, out of range,
    /// repeated or overlapping indices).
    let mutualInformation (covariance: torch.Tensor) (a: int[]) (b: int[]) : float =
        requireCovariance covariance
        requireIndexSets covariance.shape[0] [ nameof a, a, false; nameof b, b, false ]
        0.5
        * (logDeterminantOf covariance a + logDeterminantOf covariance b - logDeterminantOf covariance (Array.append a b))

    /// I(a; b | c) = 1/2 (log det S_{a∪c} + log det S_{b∪c} - log det S_c - log det S_{a∪b∪c}) for a zero-mean Gaussian
    /// with covariance S; c may be empty (then it is `mutualInformation`). Same validation as `mutualInformation`, with
    /// "c" also checked.
    let conditionalMutualInformation (covariance: torch.Tensor) (a: int[]) (b: int[]) (c: int[]) : float =
        requireCovariance covariance
        requireIndexSets covariance.shape[0] [ nameof a, a, false; nameof b, b, false; nameof c, c, true ]
        0.5
        * (logDeterminantOf covariance (Array.append a c) + logDeterminantOf covariance (Array.append b c)
           - logDeterminantOf covariance c
           - logDeterminantOf covariance (Array.concat [ a; b; c ]))

    /// I({x', x''}; y) = sum_i mi_i, exact from the construction (equals TotalMi).
    let mutualInformationXY (problem: Problem) : float = problem.Blocks |> Array.sumBy _.Mi

    /// I(x'; y) = sum_i alpha_i mi_i, exact from the construction.
    let mutualInformationX1Y (problem: Problem) : float = problem.Blocks |> Array.sumBy (fun b -> b.Alpha * b.Mi)

    /// I(x''; y | x') = sum_i (1 - alpha_i) mi_i, exact from the construction (the chain rule
    /// I({x', x''}; y) = I(x'; y) + I(x''; y | x')).
    let conditionalMutualInformationX2YGivenX1 (problem: Problem) : float =
        problem.Blocks |> Array.sumBy (fun b -> (1.0 - b.Alpha) * b.Mi)

    // ---------------------------------------------------------------------------------------------------------------
    // Exact conditionals, per dimension (float64 vectors of length d on a device)

    /// p(y | x') = N(c1 * x', exp(-2 alpha mi)) per dimension: (weight c1, variance).
    let private conditionalOnX1 (problem: Problem) (device: torch.Device) =
        perDimension device (problem.Blocks |> Array.map _.WeightOfZ1),
        perDimension device (problem.Blocks |> Array.map _.VarianceGivenX1)

    /// p(y | x', x'') = N(w1 x' + w2 x'', exp(-2 mi)) per dimension, from z' = x', z'' = (x'' - rho x') / s:
    /// w1 = c1 - c2 rho / s, w2 = c2 / s.
    let private conditionalOnBoth (problem: Problem) (device: torch.Device) =
        let s (b: DimensionBlock) = sqrt (1.0 - b.Correlation * b.Correlation)
        perDimension device (problem.Blocks |> Array.map (fun b -> b.WeightOfZ1 - b.WeightOfZ2 * b.Correlation / s b)),
        perDimension device (problem.Blocks |> Array.map (fun b -> b.WeightOfZ2 / s b)),
        perDimension device (problem.Blocks |> Array.map _.NoiseVariance)

    let private requireProblem (problem: Problem) =
        if obj.ReferenceEquals(problem, null) then nullArg (nameof problem)

    let private requireFloatingType (name: string) (dtype: torch.ScalarType) =
        if not (torch.is_floating_point dtype) then
            invalidArg name $"{name} must be a floating-point type (Float32 or Float64), got {dtype}."

    let private requireSameDevice (name: string) (reference: torch.Tensor) (t: torch.Tensor) =
        if t.device_type <> reference.device_type || t.device_index <> reference.device_index then
            invalidArg name $"{name} is on {t.device}, but x1 is on {reference.device}; put them on one device."

    // ---------------------------------------------------------------------------------------------------------------
    // Exact samplers

    /// n i.i.d. draws of (x', x'', y) from p(x', x'', y), each [n, d], of the given floating dtype on `device`.
    /// Draws are made in float64 on the generator's device and then cast and moved (see the module's summary).
    /// ArgumentOutOfRangeException "n" when n is below 1; ArgumentException "dtype" for a non-floating dtype.
    let sampleJoint (problem: Problem) (n: int) (generator: torch.Generator) (dtype: torch.ScalarType) (device: torch.Device)
        : torch.Tensor * torch.Tensor * torch.Tensor =
        requireProblem problem
        requirePositiveCount (nameof n) n
        requireGenerator generator
        requireFloatingType (nameof dtype) dtype
        use scope = torch.NewDisposeScope()
        let d = problem.Dimensions
        let z = standardNormal generator [| 3L; int64 n; int64 d |]
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

    /// k i.i.d. draws from p(y | x') for every row of x1 [n, d]: [n, k, d] in x1's dtype and device. Exact Gaussian
    /// conditioning, mean S_yx' S_x'x'^-1 x' = c1 * x' and covariance S_yy - S_yx' S_x'x'^-1 S_x'y =
    /// diag(exp(-2 alpha mi)) (S_x'x' = I here). ArgumentException "x1" for a wrong shape,
    /// ArgumentOutOfRangeException "k" when k is below 1.
    let sampleYGivenX1 (problem: Problem) (x1: torch.Tensor) (k: int) (generator: torch.Generator) : torch.Tensor =
        requireProblem problem
        requireQueries (nameof x1) problem.Dimensions x1 |> ignore
        requirePositiveCount (nameof k) k
        requireGenerator generator
        use scope = torch.NewDisposeScope()
        let weight, variance = conditionalOnX1 problem x1.device
        let samples = sampleAround generator k (weight * x1.to_type(torch.ScalarType.Float64)) variance
        samples.to_type(x1.dtype).MoveToOuterDisposeScope()

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
            DeviationGivenX1: torch.Tensor
        }

        interface IDisposable with
            member t.Dispose() =
                for x in [ t.Correlation; t.Complement; t.WeightOfZ1; t.WeightOfZ2; t.Noise; t.DeviationGivenX1 ] do
                    x.Dispose()

    /// Stacks problems of the same dimensions for the stacked samplers, in `dtype` on `device`. ArgumentException
    /// "problems" when empty or of different dimensions, "dtype" for a non-floating dtype.
    let stack (problems: Problem[]) (dtype: torch.ScalarType) (device: torch.Device) : Stacked =
        if isNull problems then nullArg (nameof problems)
        if problems.Length = 0 then invalidArg (nameof problems) "problems must hold at least one problem."
        problems |> Array.iter requireProblem
        if problems |> Array.exists (fun p -> p.Dimensions <> problems[0].Dimensions) then
            invalidArg (nameof problems) $"every problem must have the dimensions of the first ({problems[0].Dimensions})."
        requireFloatingType (nameof dtype) dtype
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
            DeviationGivenX1 = coefficient (fun b -> sqrt b.VarianceGivenX1)
        }

    /// Standard normal noise [R, ...shape] in the stacked dtype: run r's slice drawn from generators[r] alone (so a
    /// run's stream does not depend on the other runs), then moved to the stacked device.
    let private stackedNoise (stacked: Stacked) (generators: torch.Generator[]) (shape: int64[]) : torch.Tensor =
        if isNull generators then nullArg (nameof generators)
        if generators.Length <> stacked.Problems.Length || generators |> Array.exists isNull then
            invalidArg (nameof generators) $"generators must hold one generator per problem ({stacked.Problems.Length}); got {generators.Length}."
        let on = generators[0].device
        let noise = torch.empty(Array.append [| int64 generators.Length |] shape, dtype = stacked.Dtype, device = on)
        use _ = torch.no_grad ()
        generators |> Array.iteri (fun r generator -> use slice = noise[r] in slice.normal_(0.0, 1.0, generator) |> ignore)
        if on.``type`` = stacked.Device.``type`` && on.index = stacked.Device.index then noise
        else
            use moved = noise
            moved.``to``(stacked.Device)

    /// n i.i.d. draws of (x', x'', y) from each run's p(x', x'', y): each [R, n, d], in the stacked dtype and device
    /// (`sampleJoint` for every run at once: x' = z', x'' = rho z' + s z'', y = c1 z' + c2 z'' + sigma eps). The noise
    /// is drawn in the stacked dtype (float32 for training), not float64: the distribution is the same.
    let sampleJointStacked (stacked: Stacked) (n: int) (generators: torch.Generator[]) : torch.Tensor * torch.Tensor * torch.Tensor =
        if obj.ReferenceEquals(stacked, null) then nullArg (nameof stacked)
        requirePositiveCount (nameof n) n
        use scope = torch.NewDisposeScope()
        let d = int64 stacked.Problems[0].Dimensions
        let z = stackedNoise stacked generators [| 3L; int64 n; d |]
        let z1, z2, eps = z.select(1L, 0L), z.select(1L, 1L), z.select(1L, 2L)
        // An explicit Scalar, disposed here: a finalised implicit one has failed natively under load (Dialogue.Tests).
        use one = (1.0).ToScalar()
        let x2 = torch.addcmul(stacked.Correlation * z1, stacked.Complement, z2, one)
        let y = torch.addcmul(torch.addcmul(stacked.WeightOfZ1 * z1, stacked.WeightOfZ2, z2, one), stacked.Noise, eps, one)
        z1.contiguous().MoveToOuterDisposeScope(), x2.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope()

    /// k i.i.d. draws from p(y | x') for every run r and row i of x1 [R, n, d]: [R, n, k, d], mean c1 x'_ri and
    /// deviation sqrt(exp(-2 alpha mi)) of run r's problem (`sampleYGivenX1` for every run at once, exact), in one
    /// fused operation over all runs, examples and negatives. ArgumentException "x1" for a wrong shape, dtype or
    /// device, ArgumentOutOfRangeException "k" when k is below 1.
    let sampleYGivenX1Stacked (stacked: Stacked) (x1: torch.Tensor) (k: int) (generators: torch.Generator[]) : torch.Tensor =
        if obj.ReferenceEquals(stacked, null) then nullArg (nameof stacked)
        requireTensor (nameof x1) x1
        let r, d = int64 stacked.Problems.Length, int64 stacked.Problems[0].Dimensions
        if x1.dim () <> 3L || x1.shape[0] <> r || x1.shape[2] <> d then
            invalidArg (nameof x1) $"x1 must have shape [{r}, n, {d}] (one row of queries per problem), got {describeShape x1}."
        if x1.dtype <> stacked.Dtype || x1.device_type <> stacked.Device.``type`` then
            invalidArg (nameof x1) $"x1 must be {stacked.Dtype} on {stacked.Device} like the stacked problems, got {x1.dtype} on {x1.device}."
        Guard.finite (nameof x1) x1
        requirePositiveCount (nameof k) k
        use scope = torch.NewDisposeScope()
        let noise = stackedNoise stacked generators [| x1.shape[1]; int64 k; d |]
        use one = (1.0).ToScalar()
        torch.addcmul((stacked.WeightOfZ1 * x1).unsqueeze 2L, noise, stacked.DeviationGivenX1.unsqueeze 2L, one).MoveToOuterDisposeScope()

    /// k i.i.d. draws from p(y | x', x'') for every row of x1, x2 [n, d]: [n, k, d] in x1's dtype and device. Exact:
    /// mean w1 x' + w2 x'' (w1 = c1 - c2 rho / s, w2 = c2 / s), variance exp(-2 mi) per dimension.
    let sampleYGivenX1X2 (problem: Problem) (x1: torch.Tensor) (x2: torch.Tensor) (k: int) (generator: torch.Generator) : torch.Tensor =
        requireProblem problem
        let batch = requireQueries (nameof x1) problem.Dimensions x1
        requireQueries (nameof x2) problem.Dimensions x2 |> ignore
        requireSameBatch (nameof x2) batch x2
        requireSameDevice (nameof x2) x1 x2
        requirePositiveCount (nameof k) k
        requireGenerator generator
        use scope = torch.NewDisposeScope()
        let w1, w2, variance = conditionalOnBoth problem x1.device
        let mean = w1 * x1.to_type(torch.ScalarType.Float64) + w2 * x2.to_type(torch.ScalarType.Float64)
        let samples = sampleAround generator k mean variance
        samples.to_type(x1.dtype).MoveToOuterDisposeScope()

    // ---------------------------------------------------------------------------------------------------------------
    // Log-densities and optimal critics over candidate sets: queries [B, d], candidates y [B, M, d], result [B, M]

    let private float64 (t: torch.Tensor) = t.to_type(torch.ScalarType.Float64)

    let private logDensityYFloat64 (y: torch.Tensor) =
        use one = torch.ones(1L, dtype = torch.ScalarType.Float64, device = y.device)
        use zero = torch.zeros(1L, dtype = torch.ScalarType.Float64, device = y.device)
        diagonalNormalLogDensity (float64 y) zero one

    let private logDensityGivenX1Float64 (problem: Problem) (x1: torch.Tensor) (y: torch.Tensor) =
        let weight, variance = conditionalOnX1 problem y.device
        diagonalNormalLogDensity (float64 y) ((weight * float64 x1).unsqueeze 1L) variance

    let private logDensityGivenBothFloat64 (problem: Problem) (x1: torch.Tensor) (x2: torch.Tensor) (y: torch.Tensor) =
        let w1, w2, variance = conditionalOnBoth problem y.device
        diagonalNormalLogDensity (float64 y) ((w1 * float64 x1 + w2 * float64 x2).unsqueeze 1L) variance

    let private checkX1Candidates (problem: Problem) (x1: torch.Tensor) (y: torch.Tensor) =
        requireProblem problem
        let batch = requireQueries (nameof x1) problem.Dimensions x1
        requireCandidates (nameof y) problem.Dimensions batch y
        requireSameDevice (nameof y) x1 y

    let private checkBothCandidates (problem: Problem) (x1: torch.Tensor) (x2: torch.Tensor) (y: torch.Tensor) =
        checkX1Candidates problem x1 y
        requireQueries (nameof x2) problem.Dimensions x2 |> ignore
        requireSameBatch (nameof x2) x1.shape[0] x2
        requireSameDevice (nameof x2) x1 x2

    /// Runs a float64 computation in its own dispose scope and returns the result in y's dtype.
    let private inDtypeOf (y: torch.Tensor) (compute: unit -> torch.Tensor) : torch.Tensor =
        use scope = torch.NewDisposeScope()
        (compute ()).to_type(y.dtype).MoveToOuterDisposeScope()

    /// log p(y) = sum_i log N(y_i; 0, 1) over the last dimension of y [..., d]; result [...] in y's dtype.
    let logDensityY (problem: Problem) (y: torch.Tensor) : torch.Tensor =
        requireProblem problem
        requireTensor (nameof y) y
        if y.dim () < 1L || y.shape[int (y.dim ()) - 1] <> int64 problem.Dimensions then
            invalidArg (nameof y) $"y must end in a dimension of size {problem.Dimensions}, got {describeShape y}."
        Guard.finite (nameof y) y
        inDtypeOf y (fun () -> logDensityYFloat64 y)

    /// log p(y_bm | x'_b) for queries x1 [B, d] and candidates y [B, M, d]: [B, M] in y's dtype (computed in float64).
    let logDensityYGivenX1 (problem: Problem) (x1: torch.Tensor) (y: torch.Tensor) : torch.Tensor =
        checkX1Candidates problem x1 y
        inDtypeOf y (fun () -> logDensityGivenX1Float64 problem x1 y)

    /// log p(y_bm | x'_b, x''_b) for queries x1, x2 [B, d] and candidates y [B, M, d]: [B, M] in y's dtype.
    let logDensityYGivenX1X2 (problem: Problem) (x1: torch.Tensor) (x2: torch.Tensor) (y: torch.Tensor) : torch.Tensor =
        checkBothCandidates problem x1 x2 y
        inDtypeOf y (fun () -> logDensityGivenBothFloat64 problem x1 x2 y)

    /// InfoNCE's optimal critic for x = [x', x'']: E*(x, y) = log p(y | x', x'') - log p(y) (Section 2.1), for queries
    /// x1, x2 [B, d] and candidates y [B, M, d]; [B, M] in y's dtype (computed in float64).
    /// E_p(x, y)[E*(x, y)] = I({x', x''}; y).
    let optimalCritic (problem: Problem) (x1: torch.Tensor) (x2: torch.Tensor) (y: torch.Tensor) : torch.Tensor =
        checkBothCandidates problem x1 x2 y
        inDtypeOf y (fun () -> logDensityGivenBothFloat64 problem x1 x2 y - logDensityYFloat64 y)

    /// The optimal critic of I_NCE(x'; y): Ebar(x', y) = log p(y | x') - log p(y), whose softmax over candidates from
    /// p(y) gives I_IS's importance weights (Section 4.2); [B, M] in y's dtype. E_p(x', y)[Ebar] = I(x'; y).
    let optimalCriticX1 (problem: Problem) (x1: torch.Tensor) (y: torch.Tensor) : torch.Tensor =
        checkX1Candidates problem x1 y
        inDtypeOf y (fun () -> logDensityGivenX1Float64 problem x1 y - logDensityYFloat64 y)

    /// The optimal critic of I_CNCE (Proposition 1.2): E*(x', x'', y) = log p(y | x', x'') - log p(y | x');
    /// [B, M] in y's dtype. E_p(x', x'', y)[E*] = I(x''; y | x').
    let optimalConditionalCritic (problem: Problem) (x1: torch.Tensor) (x2: torch.Tensor) (y: torch.Tensor) : torch.Tensor =
        checkBothCandidates problem x1 x2 y
        inDtypeOf y (fun () -> logDensityGivenBothFloat64 problem x1 x2 y - logDensityGivenX1Float64 problem x1 y)

    // ---------------------------------------------------------------------------------------------------------------
    // KL divergence and the variational proposal of Proposition 2

    let private requireMeanAndCovariance (meanName: string) (mean: torch.Tensor) (covarianceName: string) (covariance: torch.Tensor) =
        requireTensor meanName mean
        requireTensor covarianceName covariance
        if mean.dim () <> 1L then invalidArg meanName $"{meanName} must be a vector, got {describeShape mean}."
        let k = mean.shape[0]
        if covariance.dim () <> 2L || covariance.shape[0] <> k || covariance.shape[1] <> k then
            invalidArg covarianceName $"{covarianceName} must have shape [{k}, {k}] to match its mean, got {describeShape covariance}."
        Guard.finite meanName mean
        Guard.finite covarianceName covariance

    /// The Cholesky factor of a positive-definite matrix (float64, CPU), or ArgumentException naming `argument`.
    let private choleskyFactor (argument: string) (matrix: torch.Tensor) : torch.Tensor =
        use m = matrix.detach().cpu().to_type(torch.ScalarType.Float64)
        let struct (factor, info) = torch.linalg.cholesky_ex(m, check_errors = false)
        use info = info
        if info.item<int> () <> 0 then
            factor.Dispose()
            invalidArg argument $"{argument} is not positive definite."
        factor

    /// KL(N(mean0, covariance0) || N(mean1, covariance1)) =
    /// 1/2 [tr(S1^-1 S0) + (m1 - m0)^T S1^-1 (m1 - m0) - k + log det S1 - log det S0], in nats, computed in float64.
    /// Means are [k], covariances [k, k] positive definite (ArgumentException naming the offending argument).
    let gaussianKl (mean0: torch.Tensor) (covariance0: torch.Tensor) (mean1: torch.Tensor) (covariance1: torch.Tensor) : float =
        requireMeanAndCovariance (nameof mean0) mean0 (nameof covariance0) covariance0
        requireMeanAndCovariance (nameof mean1) mean1 (nameof covariance1) covariance1
        if mean1.shape[0] <> mean0.shape[0] then
            invalidArg (nameof mean1) $"mean1 must have the length of mean0 ({mean0.shape[0]}), got {describeShape mean1}."
        use scope = torch.NewDisposeScope()
        let l0 = choleskyFactor (nameof covariance0) covariance0
        let l1 = choleskyFactor (nameof covariance1) covariance1
        let difference = (mean1.detach().cpu().to_type(torch.ScalarType.Float64) - mean0.detach().cpu().to_type(torch.ScalarType.Float64)).unsqueeze(1L)
        // tr(S1^-1 S0) = ||L1^-1 L0||_F^2 and the Mahalanobis term is ||L1^-1 (m1 - m0)||^2.
        let whitened = torch.linalg.solve_triangular(l1, l0, upper = false)
        let whitenedDifference = torch.linalg.solve_triangular(l1, difference, upper = false)
        let logDet (l: torch.Tensor) = 2.0 * l.diagonal().log().sum().item<float> ()
        let k = float mean0.shape[0]
        0.5
        * (whitened.square().sum().item<float> () + whitenedDifference.square().sum().item<float> () - k + logDet l1
           - logDet l0)

    let private requireProposal (name: string) (dimensions: int) (proposal: GaussianProposal) =
        if obj.ReferenceEquals(proposal, null) then nullArg name
        let d = int64 dimensions
        let check (part: string) (t: torch.Tensor) (shape: int64[]) =
            if isNull t then invalidArg name $"{name}.{part} is null."
            if t.IsInvalid then invalidArg name $"{name}.{part} has been disposed."
            if t.shape <> shape then
                let expected = String.Join(", ", shape)
                invalidArg name $"{name}.{part} must have shape [{expected}], got {describeShape t}."
        check "Weight" proposal.Weight [| d; d |]
        check "Bias" proposal.Bias [| d |]
        check "Covariance" proposal.Covariance [| d; d |]

    let private proposalDimensions (proposal: GaussianProposal) =
        if obj.ReferenceEquals(proposal, null) then nullArg (nameof proposal)
        if isNull proposal.Bias then invalidArg (nameof proposal) "proposal.Bias is null."
        if proposal.Bias.IsInvalid then invalidArg (nameof proposal) "proposal.Bias has been disposed."
        int proposal.Bias.shape[0]

    /// tau = p(y | x') itself: Weight = diag(c1), Bias = 0, Covariance = diag(exp(-2 alpha mi)). Its KL to p(y | x') is 0.
    let exactProposal (problem: Problem) : GaussianProposal =
        requireProblem problem
        {
            Weight = torch.diag (perDimension torch.CPU (problem.Blocks |> Array.map _.WeightOfZ1))
            Bias = torch.zeros(int64 problem.Dimensions, dtype = torch.ScalarType.Float64)
            Covariance = torch.diag (perDimension torch.CPU (problem.Blocks |> Array.map _.VarianceGivenX1))
        }

    /// A deliberately wrong tau(y | x') = N(c1 * x' + meanShift, varianceScale * diag(exp(-2 alpha mi))): p(y | x')
    /// with every mean coordinate shifted by meanShift and the variances scaled by varianceScale (meanShift = 0 and
    /// varianceScale = 1 give `exactProposal`). ArgumentException "meanShift" unless finite,
    /// ArgumentOutOfRangeException "varianceScale" unless finite and positive.
    let perturbedProposal (problem: Problem) (meanShift: float) (varianceScale: float) : GaussianProposal =
        requireProblem problem
        requireFinite (nameof meanShift) meanShift
        if not (varianceScale > 0.0) || Double.IsInfinity varianceScale then
            raise (ArgumentOutOfRangeException(nameof varianceScale, varianceScale, "varianceScale must be finite and positive."))
        {
            Weight = torch.diag (perDimension torch.CPU (problem.Blocks |> Array.map _.WeightOfZ1))
            Bias = torch.full(int64 problem.Dimensions, meanShift, dtype = torch.ScalarType.Float64)
            Covariance =
                torch.diag (perDimension torch.CPU (problem.Blocks |> Array.map (fun b -> varianceScale * b.VarianceGivenX1)))
        }

    /// log tau(y_bm | x'_b) = log N(y_bm; Weight x'_b + Bias, Covariance) for queries x1 [B, d] and candidates
    /// y [B, M, d]: [B, M] in y's dtype (computed in float64 on y's device).
    let proposalLogDensity (proposal: GaussianProposal) (x1: torch.Tensor) (y: torch.Tensor) : torch.Tensor =
        let d = proposalDimensions proposal
        requireProposal (nameof proposal) d proposal
        let batch = requireQueries (nameof x1) d x1
        requireCandidates (nameof y) d batch y
        requireSameDevice (nameof y) x1 y
        inDtypeOf y (fun () ->
            let factor = (choleskyFactor (nameof proposal) proposal.Covariance).``to``(y.device)
            let weight = proposal.Weight.``to``(torch.ScalarType.Float64, y.device)
            let bias = proposal.Bias.``to``(torch.ScalarType.Float64, y.device)
            let mean = (float64 x1).matmul(weight.t()) + bias
            let difference = float64 y - mean.unsqueeze(1L)
            let flat = difference.reshape(-1L, int64 d).t()
            let whitened = torch.linalg.solve_triangular(factor, flat, upper = false)
            let logDet = 2.0 * factor.diagonal().log().sum()
            let mahalanobis = whitened.square().sum(0L).reshape(batch, y.shape[1])
            (mahalanobis + logDet + float d * logTwoPi) * -0.5)

    /// k i.i.d. draws from tau(y | x') for every row of x1 [n, d]: [n, k, d] in x1's dtype and device. Noise is drawn
    /// in float64 on the generator's device.
    let sampleProposal (proposal: GaussianProposal) (x1: torch.Tensor) (k: int) (generator: torch.Generator) : torch.Tensor =
        let d = proposalDimensions proposal
        requireProposal (nameof proposal) d proposal
        let n = requireQueries (nameof x1) d x1
        requirePositiveCount (nameof k) k
        requireGenerator generator
        use scope = torch.NewDisposeScope()
        let factor = (choleskyFactor (nameof proposal) proposal.Covariance).``to``(x1.device)
        let weight = proposal.Weight.``to``(torch.ScalarType.Float64, x1.device)
        let bias = proposal.Bias.``to``(torch.ScalarType.Float64, x1.device)
        let mean = (float64 x1).matmul(weight.t()) + bias
        let noise = (standardNormal generator [| n; int64 k; int64 d |]).``to``(x1.device)
        (mean.unsqueeze(1L) + noise.matmul(factor.t())).to_type(x1.dtype).MoveToOuterDisposeScope()

    /// E_p(x')[KL(p(y | x') || tau(y | x'))], the penalty of I_VAR (Proposition 2), in closed form. With
    /// p(y | x') = N(B x', D), B = diag(c1), D = diag(exp(-2 alpha mi)), tau = N(A x' + b, S) and x' ~ N(0, I):
    /// KL(x') = 1/2 [tr(S^-1 D) - d + log det S - log det D + ((A - B) x' + b)^T S^-1 ((A - B) x' + b)], and
    /// E[((A - B) x' + b)^T S^-1 ((A - B) x' + b)] = b^T S^-1 b + tr(S^-1 (A - B)(A - B)^T) since E[x' x'^T] = I; so
    /// the result is gaussianKl(0, D, b, S) + 1/2 ||L^-1 (A - B)||_F^2 with S = L L^T.
    let klToProposal (problem: Problem) (proposal: GaussianProposal) : float =
        requireProblem problem
        requireProposal (nameof proposal) problem.Dimensions proposal
        use scope = torch.NewDisposeScope()
        let exact = exactProposal problem
        let bias = proposal.Bias.detach().cpu().to_type(torch.ScalarType.Float64)
        let atZero = gaussianKl (torch.zeros_like bias) exact.Covariance bias proposal.Covariance
        let factor = choleskyFactor (nameof proposal) proposal.Covariance
        let weightError = proposal.Weight.detach().cpu().to_type(torch.ScalarType.Float64) - exact.Weight
        let whitened = torch.linalg.solve_triangular(factor, weightError, upper = false)
        atZero + 0.5 * whitened.square().sum().item<float> ()
