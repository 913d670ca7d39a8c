namespace Decomp.Core

open System
open TorchSharp

/// Closed-form information quantities of any zero-mean Gaussian, in nats, computed in float64: the mutual information
/// and conditional mutual information between index sets of a covariance, and the KL divergence between two
/// Gaussians. They check the synthetic problem's exact quantities (`Gaussian`) and give the bmi tasks their truth.
/// Every log-determinant here is one computation: 2 sum_i log L_ii of the Cholesky factor L.
module GaussianInformation =

    /// The Cholesky factor of a positive-definite matrix (float64, CPU), or ArgumentException naming `argument`.
    let internal choleskyFactor (argument: string) (matrix: torch.Tensor) : torch.Tensor =
        use m = matrix.detach().cpu().to_type(torch.ScalarType.Float64)
        let struct (factor, info) = torch.linalg.cholesky_ex(m, check_errors = false)
        use info = info
        if info.item<int> () <> 0 then
            factor.Dispose()
            invalidArg argument $"{argument} is not positive definite."
        factor

    /// log det S = 2 sum_i log L_ii for the Cholesky factor L of S.
    let internal logDeterminantOfFactor (factor: torch.Tensor) : float =
        use scope = torch.NewDisposeScope()
        2.0 * factor.diagonal().log().sum().item<float> ()

    let private requireCovariance (covariance: torch.Tensor) =
        Guard.floating (nameof covariance) covariance
        if covariance.dim () <> 2L || covariance.shape[0] <> covariance.shape[1] then
            invalidArg (nameof covariance) $"covariance must be a square matrix, got {Guard.shapeText covariance}."
        Guard.finite (nameof covariance) covariance

    /// log det of a symmetric positive-definite matrix, from its Cholesky factor (see `choleskyFactor`).
    let private logDeterminant (argument: string) (matrix: torch.Tensor) : float =
        if matrix.shape[0] = 0L then
            0.0
        else
            use factor = choleskyFactor argument matrix
            logDeterminantOfFactor factor

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

    let private requireMeanAndCovariance (meanName: string) (mean: torch.Tensor) (covarianceName: string) (covariance: torch.Tensor) =
        Guard.floating meanName mean
        Guard.floating covarianceName covariance
        if mean.dim () <> 1L then invalidArg meanName $"{meanName} must be a vector, got {Guard.shapeText mean}."
        let k = mean.shape[0]
        if covariance.dim () <> 2L || covariance.shape[0] <> k || covariance.shape[1] <> k then
            invalidArg covarianceName $"{covarianceName} must have shape [{k}, {k}] to match its mean, got {Guard.shapeText covariance}."
        Guard.finite meanName mean
        Guard.finite covarianceName covariance

    /// KL(N(mean0, covariance0) || N(mean1, covariance1)) =
    /// 1/2 [tr(S1^-1 S0) + (m1 - m0)^T S1^-1 (m1 - m0) - k + log det S1 - log det S0], in nats, computed in float64.
    /// Means are [k], covariances [k, k] positive definite (ArgumentException naming the offending argument).
    let kl (mean0: torch.Tensor) (covariance0: torch.Tensor) (mean1: torch.Tensor) (covariance1: torch.Tensor) : float =
        requireMeanAndCovariance (nameof mean0) mean0 (nameof covariance0) covariance0
        requireMeanAndCovariance (nameof mean1) mean1 (nameof covariance1) covariance1
        if mean1.shape[0] <> mean0.shape[0] then
            invalidArg (nameof mean1) $"mean1 must have the length of mean0 ({mean0.shape[0]}), got {Guard.shapeText mean1}."
        use scope = torch.NewDisposeScope()
        let l0 = choleskyFactor (nameof covariance0) covariance0
        let l1 = choleskyFactor (nameof covariance1) covariance1
        let difference = (mean1.detach().cpu().to_type(torch.ScalarType.Float64) - mean0.detach().cpu().to_type(torch.ScalarType.Float64)).unsqueeze(1L)
        // tr(S1^-1 S0) = ||L1^-1 L0||_F^2 and the Mahalanobis term is ||L1^-1 (m1 - m0)||^2.
        let whitened = torch.linalg.solve_triangular(l1, l0, upper = false)
        let whitenedDifference = torch.linalg.solve_triangular(l1, difference, upper = false)
        let k = float mean0.shape[0]
        0.5
        * (whitened.square().sum().item<float> () + whitenedDifference.square().sum().item<float> () - k + logDeterminantOfFactor l1
           - logDeterminantOfFactor l0)
