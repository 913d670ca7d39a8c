namespace Decomp.Benchmarks

open System
open TorchSharp

/// bmi's invertible maps (src/bmi/transforms), each with its inverse, over float64 tensors [n, d]. A map applied to X
/// and one applied to Y, each invertible, leave I(X; Y) unchanged: that is how bmi makes non-Gaussian tasks whose
/// true MI is that of a Gaussian (or Student-t) base. The inverses are what the tests use to recover the base sample.
module Transforms =

    /// Φ, the standard normal CDF, per coordinate: Gaussian marginals become uniform on (0, 1).
    let normalCdf (t: torch.Tensor) = (t / sqrt 2.0).erf() * 0.5 + 0.5

    /// Φ⁻¹, per coordinate.
    let normalCdfInverse (u: torch.Tensor) = (u * 2.0 - 1.0).erfinv() * sqrt 2.0

    /// t ↦ t·sqrt|t| per coordinate, a signed t^(3/2): heavier tails.
    let halfCube (t: torch.Tensor) = t * t.abs().sqrt()

    /// s ↦ sign(s)·|s|^(2/3), the inverse of `halfCube`.
    let halfCubeInverse (s: torch.Tensor) = s.sign() * s.abs().pow((2.0 / 3.0).ToScalar())

    /// asinh per coordinate: lighter tails (bmi applies it to Student-t samples).
    let asinh (t: torch.Tensor) = t.asinh()

    /// sinh, the inverse of `asinh`.
    let asinhInverse (t: torch.Tensor) = t.sinh()

    /// Solves f(x) = y per element by bisection on [lo, hi] for an increasing f: 80 halvings take any interval below
    /// 20 units to float64 resolution. Ends outside f's range land on the interval's ends, as in bmi's `invert_mono`.
    let bisect (f: torch.Tensor -> torch.Tensor) (lo: torch.Tensor) (hi: torch.Tensor) (y: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        let mutable lo = lo.clone ()
        let mutable hi = hi.clone ()
        for _ in 1..80 do
            let middle = (lo + hi) * 0.5
            let below = (f middle).lt y
            lo <- torch.where(below, middle, lo)
            hi <- torch.where(below, hi, middle)
        ((lo + hi) * 0.5).MoveToOuterDisposeScope()

    /// bmi's "wiggly" map for X: x + 0.4 sin x + 0.2 sin(1.7x + 1) + 0.03 sin(3.3x - 2.5); its derivative is at
    /// least 1 - 0.4 - 0.34 - 0.099 > 0, so it is increasing.
    let wigglyX (t: torch.Tensor) =
        t + t.sin() * 0.4 + (t * 1.7 + 1.0).sin() * 0.2 + (t * 3.3 - 2.5).sin() * 0.03

    /// bmi's "wiggly" map for Y: x - 0.4 sin(0.4x) + 0.17 sin(1.3x + 3.5) + 0.02 sin(4.3x - 2.5); derivative at least
    /// 1 - 0.16 - 0.221 - 0.086 > 0.
    let wigglyY (t: torch.Tensor) =
        t - (t * 0.4).sin() * 0.4 + (t * 1.3 + 3.5).sin() * 0.17 + (t * 4.3 - 2.5).sin() * 0.02

    /// The inverse of a wiggly map: |f(x) - x| < 1, so x lies in [y - 1, y + 1].
    let wigglyInverse (f: torch.Tensor -> torch.Tensor) (y: torch.Tensor) = bisect f (y - 1.0) (y + 1.0) y

    /// The CDF of the mixture sum_k w_k N(m_k, 1) per coordinate.
    let mixtureCdf (components: (float * float) list) (t: torch.Tensor) =
        components |> List.map (fun (w, m) -> normalCdf (t - m) * w) |> List.reduce (+)

    /// The mixture's inverse CDF by bisection on [-10, 10] (bmi's `invert_cdf`): uniform (0, 1) marginals become
    /// the mixture's.
    let mixtureInverseCdf (components: (float * float) list) (u: torch.Tensor) =
        bisect (mixtureCdf components) (torch.full_like(u, -10.0)) (torch.full_like(u, 10.0)) u

    /// bmi's bimodal mixture for X: 0.3 N(0, 1) + 0.7 N(5, 1).
    let bimodalX = [ 0.3, 0.0; 0.7, 5.0 ]

    /// bmi's bimodal mixture for Y: 0.5 N(-1, 1) + 0.5 N(3, 1).
    let bimodalY = [ 0.5, -1.0; 0.5, 3.0 ]

    /// The 2-D Swiss roll of u in [0, 1] [n, 1]: t = 1.5π(1 + 2u), (t cos t, t sin t) / 21 [n, 2].
    let swissRoll (u: torch.Tensor) =
        let t = (u * 2.0 + 1.0) * (1.5 * Math.PI)
        torch.cat([| t * t.cos(); t * t.sin() |], 1L) / 21.0

    /// u from a Swiss-roll point: t = 21 ||p|| (t > 0), u = (t / 1.5π - 1) / 2.
    let swissRollInverse (p: torch.Tensor) =
        let t = p.square().sum([| 1L |], true).sqrt() * 21.0
        (t / (1.5 * Math.PI) - 1.0) / 2.0

    /// bmi's spiral x ↦ exp(speed ||x||² A) x, A the so(d) generator of the plane (i, j) (A[i, j] = -1, A[j, i] = 1):
    /// a rotation of coordinates i and j by the angle speed ||x||². Rotations keep ||x||, which makes it invertible.
    let spiral (i: int) (j: int) (speed: float) (x: torch.Tensor) =
        let angle = x.square().sum([| 1L |], true) * speed
        let xi = x.narrow(1L, int64 i, 1L)
        let xj = x.narrow(1L, int64 j, 1L)
        let out = x.clone ()
        out.narrow(1L, int64 i, 1L).copy_(angle.cos() * xi - angle.sin() * xj) |> ignore
        out.narrow(1L, int64 j, 1L).copy_(angle.sin() * xi + angle.cos() * xj) |> ignore
        out

    /// The inverse of `spiral`: the angle is read from ||output|| = ||x||, then rotated back.
    let spiralInverse (i: int) (j: int) (speed: float) (x: torch.Tensor) = spiral i j (-speed) x
