module Decomp.Core.Tests.LogSumExpTests

open System
open Expecto
open TorchSharp
open Decomp.Core

/// Float32 scores [37, 45] from a seeded generator, spread over about +-30 so that exp's range reduction is exercised,
/// with row 0 reaching 200 below its maximum (e^x under float32's normal range, which the kernel flushes to 0). K = 45
/// is not a multiple of the SIMD width, so every row ends in the scalar tail.
let private scoresOf (seed: uint64) : torch.Tensor =
    use generator = new torch.Generator(seed)
    let scores = torch.randn([| 37L; 45L |], dtype = torch.float32, generator = generator)
    use ten = torch.tensor(10.0f)
    scores.mul_(ten) |> ignore
    scores[0L, 3L] <- torch.tensor(-200.0f)
    scores

/// Float64 log-sum-exp and its gradient from libtorch: (lse, d lse . g / d scores).
let private exact (scores: torch.Tensor) (g: torch.Tensor) : torch.Tensor * torch.Tensor =
    use s = scores.to_type(torch.float64).detach().requires_grad_(true)
    let lse = s.logsumexp(1L, false)
    use loss = (lse * g.to_type torch.float64).sum()
    loss.backward ()
    lse.detach(), s.grad.clone()

[<Tests>]
let tests =
    testList "LogSumExp.rows (the bounds' fused log-sum-exp)" [
        test "equals float64 libtorch within float32's rounding bound, values and gradients, contiguous or not" {
            if not (CpuKernel.applies [ torch.zeros(1L) ]) then skiptest "no SIMD hardware: the bounds use libtorch's logsumexp"
            use _ = torch.NewDisposeScope()
            let u = Math.Pow(2.0, -24.0)
            let all = scoresOf 3UL
            use generator = new torch.Generator(4UL)
            let g = torch.randn([| 37L |], dtype = torch.float32, generator = generator)
            // Contiguous rows, and rows that are a narrowed view (as the importance-sampled bound's weights are).
            for (name: string), (scores: torch.Tensor) in [ "contiguous", all; "narrowed", all.narrow(1L, 1L, 44L) ] do
                let leaf = scores.detach().requires_grad_(true)
                let lse = LogSumExp.rows leaf
                use loss = (lse * g).sum()
                loss.backward ()
                let exactLse, exactGradient = exact scores g
                let k = float scores.shape[1]
                // lse = m + log(sum_k e^{s_k - m}): every e^x within 2 ulps (4u), the sum of K terms within gamma_K,
                // the logarithm within an ulp of its result and the final addition within an ulp of lse; a relative error
                // e of the sum is an absolute error e of its logarithm.
                let gammaK = k * u / (1.0 - k * u)
                let lseTolerance = (4.0 * u + gammaK + u) + 2.0 * u * exactLse.abs()
                let lseExcess = ((lse.to_type torch.float64 - exactLse).abs() - lseTolerance).max().item<float> ()
                Expect.isLessThanOrEqual lseExcess 0.0 $"{name}: lse within its bound (worst excess {lseExcess:G3})"
                // dscores = g e^{s - lse}: the argument errs by lse's error plus the subtraction's rounding (u |s - lse|),
                // which is the relative error of e^x, plus 2 ulps for e^x and one for the product with g. Where e^x falls
                // below float32's normal range (x < -87.3) the kernel gives 0: up to e^-87.3 |g| absolutely.
                let gap = (scores.to_type torch.float64 - exactLse.unsqueeze 1L).abs()
                let gradientTolerance =
                    (lseTolerance.unsqueeze 1L + u * gap + 6.0 * u) * exactGradient.abs() + Math.Exp(-87.3) * g.abs().to_type(torch.float64).unsqueeze 1L
                let gradientExcess = ((leaf.grad.to_type torch.float64 - exactGradient).abs() - gradientTolerance).max().item<float> ()
                Expect.isLessThanOrEqual gradientExcess 0.0 $"{name}: gradient within its bound (worst excess {gradientExcess:G3})"
                // The check can fail: leaving out the last column (the scalar tail) moves some row's lse out of the bound.
                let withoutLast, _ = exact (scores.narrow(1L, 0L, scores.shape[1] - 1L)) g
                let tailExcess = ((withoutLast - exactLse).abs() - lseTolerance).max().item<float> ()
                Expect.isGreaterThan tailExcess 0.0 $"{name}: a lse without its last column lies outside the bound"
        }

        test "CpuKernel.expNonPositive is within 2 units in the last place of e^x on [-87.3, 0], and 0 below" {
            // Every float32 step of a fine grid over the range, each lane checked against float64's exp: |e - exact| <=
            // 2 ulp(exact) = 2 x 2^(floor(log2 exact) - 23).
            let width = System.Numerics.Vector<float32>.Count
            let mutable worst = 0.0
            for i in 0 .. 200000 do
                let x = -87.3f * float32 i / 200000.0f
                let lanes = Array.init width (fun lane -> x * (1.0f - float32 lane * 1e-7f))
                let result = CpuKernel.expNonPositive (System.Numerics.Vector<float32>(lanes))
                for lane in 0 .. width - 1 do
                    let exact = Math.Exp(float lanes[lane])
                    let ulp = Math.Pow(2.0, Math.Floor(Math.Log2 exact) - 23.0)
                    worst <- max worst (abs (float result[lane] - exact) / ulp)
            Expect.isLessThanOrEqual worst 2.0 $"largest error {worst:F2} ulps"
            let below = CpuKernel.expNonPositive (System.Numerics.Vector<float32>(-90.0f))
            Expect.equal below[0] 0.0f "below float32's normal range: 0"
        }

        test "float64 scores take libtorch's logsumexp; a single column gives its value exactly" {
            use _ = torch.NewDisposeScope()
            let scores = torch.randn([| 5L; 7L |], dtype = torch.float64)
            Expect.equal ((LogSumExp.rows scores - scores.logsumexp(1L, false)).abs().max().item<float> ()) 0.0 "float64: the same operator"
            let column = torch.randn([| 5L; 1L |], dtype = torch.float32)
            let difference = (LogSumExp.rows column - column.squeeze 1L).abs().max().item<float32> ()
            Expect.equal difference 0.0f "one column: lse is the value itself"
        }
    ]
