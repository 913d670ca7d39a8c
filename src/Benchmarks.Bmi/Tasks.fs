namespace Decomp.Benchmarks

open System
open TorchSharp

/// How a task's sample is made, with what its checks need: the base distribution, or the base task and the inverse of
/// the transform applied to it.
type Construction =
    /// N(0, Σ) over [X, Y].
    | Multinormal of covariance: float[,]
    /// Multivariate Student-t over [X, Y] with dispersion Σ and ν degrees of freedom.
    | StudentT of dispersion: float[,] * degreesOfFreedom: int
    /// X ~ U(0, 1), Y = X + U(-ε, ε).
    | AdditiveUniform of epsilon: float
    /// Invertible maps applied to X and Y of `baseTask`'s sample; `inverse` takes them back to it.
    | Transformed of baseTask: BmiTask * transform: string * inverse: (torch.Tensor * torch.Tensor -> torch.Tensor * torch.Tensor)

/// One task of bmi's suite: paired samples of X [n, dx] and Y [n, dy] with a known I(X; Y) in nats.
and BmiTask =
    { /// bmi's task id (e.g. "spiral-multinormal-sparse-3-3-2-2.0").
      Id: string
      DimX: int
      DimY: int
      /// The true I(X; Y) in nats, from the base distribution's closed form.
      TrueMi: float
      Construction: Construction
      /// `Sample n seed`: float64 tensors x [n, dx], y [n, dy] on the CPU; the same seed gives the same sample.
      Sample: int -> int -> torch.Tensor * torch.Tensor }

/// A conditional task of ours: X, Y, Z with a closed-form I(X; Y | Z), from a Gaussian over [X, Y, Z] (covariance
/// `Covariance`) and, for the non-Gaussian ones, invertible maps of X, Y and Z separately, which leave I(X; Y | Z)
/// unchanged.
type ConditionalTask =
    { Id: string
      DimX: int
      DimY: int
      DimZ: int
      /// The true I(X; Y | Z) in nats (Decomp.Core.GaussianInformation.conditionalMutualInformation of the Gaussian base).
      TrueCmi: float
      /// The base Gaussian's covariance over [X, Y, Z].
      Covariance: float[,]
      /// The maps applied to X, Y and Z ("identity" for the Gaussian).
      Transform: string
      /// `Sample n seed`: x [n, dx], y [n, dy], z [n, dz], float64 on the CPU.
      Sample: int -> int -> torch.Tensor * torch.Tensor * torch.Tensor
      /// Takes a sample back to the Gaussian base.
      Inverse: torch.Tensor * torch.Tensor * torch.Tensor -> torch.Tensor * torch.Tensor * torch.Tensor }

/// bmi's 40-task suite (src/bmi/benchmark/task_list.py) in its order, and our conditional tasks.
module Tasks =

    let private split (dx: int) (xy: torch.Tensor) =
        let d = xy.shape[1]
        xy.narrow(1L, 0L, int64 dx).contiguous (), xy.narrow(1L, int64 dx, d - int64 dx).contiguous ()

    // ---- base tasks ------------------------------------------------------------------------------------------------

    let private multinormalTask id dx dy (covariance: float[,]) =
        { Id = id
          DimX = dx
          DimY = dy
          TrueMi = Samplers.gaussianMi covariance dx
          Construction = Multinormal covariance
          Sample =
            fun n seed ->
                use g = Samplers.generator seed
                use xy = Samplers.multinormal covariance n g
                split dx xy }

    /// bmi's bivariate normal with correlation ρ: "1v1-normal-ρ", MI = -1/2 log(1 - ρ²).
    let bivariateNormal (rho: float) = multinormalTask $"1v1-normal-{rho}" 1 1 (array2D [ [ 1.0; rho ]; [ rho; 1.0 ] ])

    /// bmi's dense multinormal: Σ = 1/2 I + 1/2 11ᵀ over dx + dy coordinates.
    let multinormalDense dx dy =
        multinormalTask $"multinormal-dense-{dx}-{dy}-0.5" dx dy (Samplers.denseCovariance (dx + dy) 0.5)

    /// bmi's "2-pair" sparse multinormal (LVM with λ = η = 2, ε = 1): two (X_i, Y_i) pairs with correlation 0.8.
    let multinormalTwoPair dx dy =
        multinormalTask $"multinormal-sparse-{dx}-{dy}-2-2.0" dx dy (Samplers.sparseCorrelation dx dy 2 2.0 2.0 1.0)

    /// bmi's Student-t with identity dispersion: "student-identity-dx-dy-ν".
    let studentIdentity dx dy (nu: int) =
        let dispersion = Samplers.denseCovariance (dx + dy) 0.0
        { Id = $"student-identity-{dx}-{dy}-{nu}"
          DimX = dx
          DimY = dy
          TrueMi = Samplers.studentMi dispersion dx nu
          Construction = StudentT(dispersion, nu)
          Sample =
            fun n seed ->
                use g = Samplers.generator seed
                use xy = Samplers.student dispersion nu n g
                split dx xy }

    /// bmi's additive noise: "1v1-additive-ε".
    let additiveNoise (epsilon: float) =
        { Id = $"1v1-additive-{epsilon}"
          DimX = 1
          DimY = 1
          TrueMi = Samplers.additiveUniformMi epsilon
          Construction = AdditiveUniform epsilon
          Sample =
            fun n seed ->
                use g = Samplers.generator seed
                Samplers.additiveUniform epsilon n g }

    // ---- transformed tasks -----------------------------------------------------------------------------------------

    /// `baseTask` with `fx` applied to X and `fy` to Y; `inverse` takes the result back. The id is bmi's.
    let transformed id dx dy name (fx: torch.Tensor -> torch.Tensor, fy: torch.Tensor -> torch.Tensor)
                    (gx: torch.Tensor -> torch.Tensor, gy: torch.Tensor -> torch.Tensor) (baseTask: BmiTask) =
        { Id = id
          DimX = dx
          DimY = dy
          TrueMi = baseTask.TrueMi
          Construction = Transformed(baseTask, name, fun (x, y) -> gx x, gy y)
          Sample =
            fun n seed ->
                let x, y = baseTask.Sample n seed
                use x = x
                use y = y
                fx x, fy y }

    /// The same map on X and Y, prefixed to the id as bmi does ("normal_cdf-...", "half_cube-...", "asinh-...").
    let private both prefix f g (baseTask: BmiTask) =
        transformed $"{prefix}-{baseTask.Id}" baseTask.DimX baseTask.DimY prefix (f, f) (g, g) baseTask

    let normalCdf = both "normal_cdf" Transforms.normalCdf Transforms.normalCdfInverse
    let halfCube = both "half_cube" Transforms.halfCube Transforms.halfCubeInverse
    let asinh = both "asinh" Transforms.asinh Transforms.asinhInverse

    let wiggly (baseTask: BmiTask) =
        transformed $"wiggly-{baseTask.Id}" baseTask.DimX baseTask.DimY "wiggly" (Transforms.wigglyX, Transforms.wigglyY)
            (Transforms.wigglyInverse Transforms.wigglyX, Transforms.wigglyInverse Transforms.wigglyY) baseTask

    /// bmi's spiral: X rotated in the plane (0, 1), Y in (1, 2), each at speed 1 / dimension.
    let spiral (baseTask: BmiTask) =
        let sx, sy = 1.0 / float baseTask.DimX, 1.0 / float baseTask.DimY
        transformed $"spiral-{baseTask.Id}" baseTask.DimX baseTask.DimY "spiral"
            (Transforms.spiral 0 1 sx, Transforms.spiral 1 2 sy) (Transforms.spiralInverse 0 1 sx, Transforms.spiralInverse 1 2 sy) baseTask

    /// bmi's bimodal task: the uniformised binormal through the inverse CDFs of two Gaussian mixtures.
    let bimodal (rho: float) =
        let uniform = normalCdf (bivariateNormal rho)
        let mixtures = Transforms.mixtureInverseCdf Transforms.bimodalX, Transforms.mixtureInverseCdf Transforms.bimodalY
        let cdfs = Transforms.mixtureCdf Transforms.bimodalX, Transforms.mixtureCdf Transforms.bimodalY
        transformed $"1v1-bimodal-{rho}" 1 1 "bimodal" mixtures cdfs uniform

    /// bmi's Swiss roll: the uniformised binormal's X embedded as a 2-D Swiss roll (X becomes 2-D).
    let swissRoll (uniform: BmiTask) =
        transformed $"swissroll_x-{uniform.Id}" 2 1 "swissroll" (Transforms.swissRoll, fun y -> y.clone ()) (Transforms.swissRollInverse, fun y -> y.clone ()) uniform

    // ---- the registry ----------------------------------------------------------------------------------------------

    /// bmi's 40 tasks, in the order of its task list.
    let all: BmiTask list =
        let binormal = bivariateNormal 0.75
        let uniform = normalCdf binormal
        let pair3, pair5, pair25 = multinormalTwoPair 3 3, multinormalTwoPair 5 5, multinormalTwoPair 25 25
        [ binormal
          uniform
          additiveNoise 0.1
          additiveNoise 0.75
          bimodal 0.75
          wiggly binormal
          halfCube binormal
          studentIdentity 1 1 1
          asinh (studentIdentity 1 1 1)
          swissRoll uniform
          multinormalDense 2 2
          multinormalDense 3 3
          multinormalDense 5 5
          multinormalDense 25 25
          multinormalDense 50 50
          multinormalTwoPair 2 2
          pair3
          pair5
          pair25
          studentIdentity 2 2 1
          studentIdentity 2 2 2
          studentIdentity 3 3 2
          studentIdentity 3 3 3
          studentIdentity 5 5 2
          studentIdentity 5 5 3
          normalCdf pair3
          normalCdf pair5
          normalCdf pair25
          halfCube pair3
          halfCube pair5
          halfCube pair25
          spiral pair3
          spiral pair5
          spiral pair25
          spiral (normalCdf pair3)
          spiral (normalCdf pair5)
          spiral (normalCdf pair25)
          asinh (studentIdentity 2 2 1)
          asinh (studentIdentity 3 3 2)
          asinh (studentIdentity 5 5 2) ]

    /// The task with that id.
    let find (id: string) =
        match all |> List.tryFind (fun t -> t.Id = id) with
        | Some t -> t
        | None -> raise (ArgumentException($"No bmi task '{id}'.", nameof id))

    // ---- conditional tasks -----------------------------------------------------------------------------------------

    /// The covariance over [X, Y, Z] (d coordinates each) of: Z ~ N(0, I); X_i = 0.8 Z_i + 0.6 E_i;
    /// Y_i = 0.5 Z_i + 0.3 Z_{i+1} + X_i + 0.5 F_i (indices mod d), E, F standard normal. Computed as M Mᵀ of the
    /// mixing matrix M from the latents [Z, E, F].
    let conditionalCovariance (d: int) =
        let mixing = Array2D.zeroCreate (3 * d) (3 * d)
        for i in 0 .. d - 1 do
            let x, y, z = i, d + i, 2 * d + i
            mixing[z, i] <- 1.0
            mixing[x, i] <- 0.8
            mixing[x, d + i] <- 0.6
            mixing[y, i] <- 0.5 + 0.8
            mixing[y, (i + 1) % d] <- mixing[y, (i + 1) % d] + 0.3
            mixing[y, d + i] <- 0.6
            mixing[y, 2 * d + i] <- 0.5
        Array2D.init (3 * d) (3 * d) (fun a b -> Seq.sum (seq { for k in 0 .. 3 * d - 1 -> mixing[a, k] * mixing[b, k] }))

    let private conditionalTask id d transform
                                (fx: torch.Tensor -> torch.Tensor, fy: torch.Tensor -> torch.Tensor, fz: torch.Tensor -> torch.Tensor)
                                (gx: torch.Tensor -> torch.Tensor, gy: torch.Tensor -> torch.Tensor, gz: torch.Tensor -> torch.Tensor) =
        let covariance = conditionalCovariance d
        use c = Samplers.tensorOf covariance
        { Id = id
          DimX = d
          DimY = d
          DimZ = d
          TrueCmi = Decomp.Core.GaussianInformation.conditionalMutualInformation c [| 0 .. d - 1 |] [| d .. 2 * d - 1 |] [| 2 * d .. 3 * d - 1 |]
          Covariance = covariance
          Transform = transform
          Sample =
            fun n seed ->
                use g = Samplers.generator seed
                use xyz = Samplers.multinormal covariance n g
                use x = xyz.narrow(1L, 0L, int64 d)
                use y = xyz.narrow(1L, int64 d, int64 d)
                use z = xyz.narrow(1L, 2L * int64 d, int64 d)
                (fx x).contiguous (), (fy y).contiguous (), (fz z).contiguous ()
          Inverse = fun (x, y, z) -> gx x, gy y, gz z }

    /// Our conditional tasks: a Gaussian, and the same Gaussian with X through the half-cube map, Y through a spiral
    /// (plane (0, 1), speed 1/2) and Z through Φ, which leave I(X; Y | Z) unchanged.
    let conditional: ConditionalTask list =
        let copy (t: torch.Tensor) = t.clone ()
        [ conditionalTask "conditional-gaussian-2-2-2" 2 "identity" (copy, copy, copy) (copy, copy, copy)
          conditionalTask "conditional-gaussian-5-5-5" 5 "identity" (copy, copy, copy) (copy, copy, copy)
          conditionalTask "conditional-half_cube-spiral-normal_cdf-2-2-2" 2 "half_cube(X), spiral(Y), normal_cdf(Z)"
              (Transforms.halfCube, Transforms.spiral 0 1 0.5, Transforms.normalCdf)
              (Transforms.halfCubeInverse, Transforms.spiralInverse 0 1 0.5, Transforms.normalCdfInverse) ]
