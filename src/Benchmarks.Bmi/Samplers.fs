namespace Decomp.Benchmarks

open System
open TorchSharp
open MathNet.Numerics

/// The base distributions of bmi's tasks (src/bmi/samplers) and their closed-form MI, in nats. Samplers draw float64
/// on the CPU from their own `torch.Generator`, seeded, and use no global random state: a seed gives the same sample.
module Samplers =

    /// A generator for `seed`.
    let generator (seed: int) = new torch.Generator(uint64 (int64 seed + 0x5EEDL))

    /// A float64 tensor of a matrix.
    let tensorOf (matrix: float[,]) = torch.tensor(matrix, dtype = torch.float64)

    /// Σ = (1 - c) I + c 11ᵀ over dx + dy coordinates: bmi's dense multinormal.
    let denseCovariance (dimension: int) (offDiagonal: float) =
        Array2D.init dimension dimension (fun i j -> if i = j then 1.0 else offDiagonal)

    /// The correlation matrix of bmi's Gaussian latent-variable model (GaussianLVMParametrization) with α = β = 0,
    /// `interacting` pairs (X_i, Y_i) sharing a latent of weight λ, noise ε on every coordinate and η on the others:
    /// Var = ε² + λ² (interacting) or ε² + η² (the rest), Cov(X_i, Y_i) = λ². With λ = η = 2, ε = 1 the pairs have
    /// correlation 4/5 and every other pair of coordinates is uncorrelated.
    let sparseCorrelation (dx: int) (dy: int) (interacting: int) (lambda: float) (eta: float) (epsilon: float) =
        let d = dx + dy
        let covariance = Array2D.zeroCreate d d
        for i in 0 .. d - 1 do
            let inX = i < dx
            let index = if inX then i else i - dx
            covariance[i, i] <- epsilon * epsilon + (if index < interacting then lambda * lambda else eta * eta)
        for i in 0 .. interacting - 1 do
            covariance[i, dx + i] <- lambda * lambda
            covariance[dx + i, i] <- lambda * lambda
        Array2D.init d d (fun i j -> covariance[i, j] / sqrt (covariance[i, i] * covariance[j, j]))

    /// I(X; Y) of a zero-mean Gaussian with `covariance` over [X (dx), Y] (Decomp.Core.Gaussian's closed form).
    let gaussianMi (covariance: float[,]) (dx: int) =
        let d = Array2D.length1 covariance
        use c = tensorOf covariance
        Decomp.Core.GaussianInformation.mutualInformation c [| 0 .. dx - 1 |] [| dx .. d - 1 |]

    /// n draws of N(0, Σ) [n, d]: z Lᵀ with L the Cholesky factor of Σ.
    let multinormal (covariance: float[,]) (n: int) (g: torch.Generator) =
        use scope = torch.NewDisposeScope()
        let d = Array2D.length1 covariance
        let factor = torch.linalg.cholesky (tensorOf covariance)
        let z = torch.randn([| int64 n; int64 d |], dtype = torch.float64, generator = g)
        z.matmul(factor.t()).MoveToOuterDisposeScope()

    /// The differential entropy of a k-dimensional Student-t with identity dispersion and ν degrees of freedom
    /// (Arellano-Valle et al., 2013, Eq. 7): log Γ(ν/2) - log Γ((ν+k)/2) + k/2 log(νπ) + (ν+k)/2 (ψ((ν+k)/2) - ψ(ν/2)).
    let studentEntropy (k: int) (nu: float) =
        let half = 0.5 * (nu + float k)
        SpecialFunctions.GammaLn(0.5 * nu) - SpecialFunctions.GammaLn half + 0.5 * float k * log (nu * Math.PI)
        + half * (SpecialFunctions.DiGamma half - SpecialFunctions.DiGamma(0.5 * nu))

    /// I(X; Y) of a multivariate Student-t over [X (dx), Y (dy)] with dispersion Σ and ν degrees of freedom: the
    /// Gaussian MI of Σ plus h(dx) + h(dy) - h(dx + dy) of identity-dispersion Student-t entropies (the correction
    /// depends on the dimensions and ν only; bmi's SplitStudentT).
    let studentMi (dispersion: float[,]) (dx: int) (nu: int) =
        let dy = Array2D.length1 dispersion - dx
        let nu = float nu
        gaussianMi dispersion dx + studentEntropy dx nu + studentEntropy dy nu - studentEntropy (dx + dy) nu

    /// n draws of the multivariate Student-t with dispersion Σ and integer ν: a N(0, Σ) draw over sqrt(χ²_ν / ν),
    /// χ²_ν as the sum of ν squared standard normals.
    let student (dispersion: float[,]) (nu: int) (n: int) (g: torch.Generator) =
        use scope = torch.NewDisposeScope()
        let gaussian = multinormal dispersion n g
        let chiSquare = torch.randn([| int64 n; int64 nu |], dtype = torch.float64, generator = g).square().sum([| 1L |], true)
        (gaussian / (chiSquare / float nu).sqrt()).MoveToOuterDisposeScope()

    /// I(X; Y) for X ~ U(0, 1), Y = X + U(-ε, ε): ε - log 2ε for ε ≤ 1/2, 1/(4ε) above (bmi's AdditiveUniformSampler).
    let additiveUniformMi (epsilon: float) = if epsilon > 0.5 then 0.25 / epsilon else epsilon - log (2.0 * epsilon)

    /// n draws of (X, Y) [n, 1] each, X ~ U(0, 1), Y = X + U(-ε, ε).
    let additiveUniform (epsilon: float) (n: int) (g: torch.Generator) =
        let x = torch.rand([| int64 n; 1L |], dtype = torch.float64, generator = g)
        use noise = torch.rand([| int64 n; 1L |], dtype = torch.float64, generator = g)
        x, x + (noise * 2.0 - 1.0) * epsilon

    /// The density of Y = X + U(-ε, ε), X ~ U(0, 1), at y: the length of [y - ε, y + ε] ∩ [0, 1] over 2ε.
    let additiveUniformDensityOfY (epsilon: float) (y: torch.Tensor) =
        (torch.clamp_max(y + epsilon, 1.0.ToScalar()) - torch.clamp_min(y - epsilon, 0.0.ToScalar())).clamp_min(0.0.ToScalar()) / (2.0 * epsilon)

    /// The log density of a k-dimensional Student-t with identity dispersion at the rows of x [n, k].
    let studentLogDensity (nu: int) (x: torch.Tensor) =
        let k = float x.shape[1]
        let nu = float nu
        let constant =
            SpecialFunctions.GammaLn(0.5 * (nu + k)) - SpecialFunctions.GammaLn(0.5 * nu) - 0.5 * k * log (nu * Math.PI)
        (x.square().sum([| 1L |]) / nu).log1p() * (-0.5 * (nu + k)) + constant
