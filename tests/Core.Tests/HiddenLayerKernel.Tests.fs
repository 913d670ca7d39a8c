module Decomp.Core.Tests.HiddenLayerKernelTests

open System
open Expecto
open TorchSharp
open Decomp.Core

/// The shapes: H = 37 units (not a multiple of the kernel's two SIMD vectors, so padded units take part), M = 33
/// candidates (not a multiple of its four, so the last group repeats a row), n = 11 examples (more than its 8 segments
/// per run, split unevenly), 3 runs, 5 inputs.
let private runs, examples, candidates, inputs, hidden = 3L, 11L, 33L, 5L, 37L

/// The kernel's inputs in float32 from a seeded generator: x [R, n, M, in], W [R, in, H], b [R, 1, H], q [R, n, H] and
/// the scores' gradient g [R, n, M].
let private inputsOf (seed: uint64) =
    use generator = new torch.Generator(seed)
    let draw (shape: int64[]) = torch.randn(shape, dtype = torch.float32, generator = generator)
    draw [| runs; examples; candidates; inputs |], draw [| runs; inputs; hidden |], draw [| runs; 1L; hidden |],
    draw [| runs; examples; hidden |], draw [| runs; examples; candidates |]

/// The same function from libtorch's operators in float64, with autograd's gradients: (scores, dW, db, dq).
let private reference (x: torch.Tensor) (w: torch.Tensor) (b: torch.Tensor) (q: torch.Tensor) (g: torch.Tensor) =
    let leaf (t: torch.Tensor) = t.to_type(torch.float64).detach().requires_grad_(true)
    use w64 = leaf w
    use b64 = leaf b
    use q64 = leaf q
    use x64 = x.to_type torch.float64
    use g64 = g.to_type torch.float64
    use z = torch.baddbmm(x64.reshape(runs, -1L, inputs), w64, b64).reshape(runs, examples, candidates, hidden)
    let scores = (z.relu() * q64.unsqueeze 2L).sum([| 3L |])
    use loss = (scores * g64).sum()
    loss.backward ()
    scores.detach(), w64.grad.clone(), b64.grad.clone(), q64.grad.clone()

[<Tests>]
let tests =
    testList "HiddenLayerKernel (the fused CPU kernel of scoresOfEncoded)" [
        test "scores and the gradients of W, b and q equal float64 libtorch operators within float32's rounding bound" {
            if not (CpuKernel.applies [ torch.zeros(1L) ]) then skiptest "no SIMD hardware: scoresOfEncoded uses libtorch's operators"
            let x, w, b, q, g = inputsOf 7UL
            use _ = torch.NewDisposeScope()
            let scores = HiddenLayerKernel.scores x w b q
            let dW, db, dq = HiddenLayerKernel.scoresBackward x w b q g
            let expected = reference x w b q g
            // The bound: each result is a chain of sums, z = b + sum over in (length in + 1), then a score over H units,
            // dq over M candidates, dW and db over n M rows; in float32 (u = 2^-24) a chain of sums of total length L
            // errs by at most gamma_L = L u / (1 - L u) times the sum of its terms' magnitudes. Those magnitudes are
            // what the same computation gives on |x|, |W|, |b|, |q|, |g| (every term counted with its size, and the
            // ReLU's mask open everywhere, so each magnitude bounds its result's). One more rounding each for the
            // products g q and for ReLU's mask: when z lies within its own error of 0 the mask may flip, so the check
            // first asserts every |z| exceeds that error.
            let u = Math.Pow(2.0, -24.0)
            let length = float (inputs + 1L + hidden + examples * candidates + candidates + 4L)
            let gamma = length * u / (1.0 - length * u)
            let sizes = reference (x.abs()) (w.abs()) (b.abs()) (q.abs()) (g.abs())
            use z = torch.baddbmm(x.to_type(torch.float64).reshape(runs, -1L, inputs), w.to_type torch.float64, b.to_type torch.float64)
            use zSize = torch.baddbmm(x.abs().to_type(torch.float64).reshape(runs, -1L, inputs), w.abs().to_type torch.float64, b.abs().to_type torch.float64)
            let zLength = float (inputs + 1L)
            let closest = (z.abs() / zSize).min().item<float> ()
            Expect.isGreaterThan closest (zLength * u / (1.0 - zLength * u)) $"every pre-activation lies farther from 0 than its rounding error (closest: {closest:G3} of its size)"
            let results = [ "scores", scores, (let s, _, _, _ = expected in s), (let s, _, _, _ = sizes in s)
                            "dW", dW, (let _, d, _, _ = expected in d), (let _, d, _, _ = sizes in d)
                            "db", db, (let _, _, d, _ = expected in d), (let _, _, d, _ = sizes in d)
                            "dq", dq, (let _, _, _, d = expected in d), (let _, _, _, d = sizes in d) ]
            for name, fused, exact, size in results do
                Expect.sequenceEqual fused.shape exact.shape $"{name}'s shape"
                let excess = ((fused.to_type torch.float64 - exact).abs() - gamma * size).max().item<float> ()
                Expect.isLessThanOrEqual excess 0.0 $"{name}: |fused - float64| <= gamma_{length} x magnitude everywhere (worst excess {excess:G3})"
            // The check can fail: without the last candidate of every example (the one the kernel's last group of four
            // handles with repeated rows), dW and db would lie outside the bound.
            use lastDropped = g.clone()
            lastDropped.narrow(2L, candidates - 1L, 1L).zero_() |> ignore
            let _, dWDropped, dbDropped, _ = reference x w b q lastDropped
            let _, dWExact, dbExact, _ = expected
            let _, dWSize, dbSize, _ = sizes
            for name, dropped, exact, size in [ "dW", dWDropped, dWExact, dWSize; "db", dbDropped, dbExact, dbSize ] do
                let excess = ((dropped - exact).abs() - gamma * size).max().item<float> ()
                Expect.isGreaterThan excess 0.0 $"{name} without the last candidates breaks the bound"
        }

        test "its results do not depend on the thread count (bit for bit)" {
            if not (CpuKernel.applies [ torch.zeros(1L) ]) then skiptest "no SIMD hardware"
            let x, w, b, q, g = inputsOf 8UL
            use _ = torch.NewDisposeScope()
            let threads = torch.get_num_threads ()
            let run count =
                torch.set_num_threads count
                let scores = HiddenLayerKernel.scores x w b q
                let dW, db, dq = HiddenLayerKernel.scoresBackward x w b q g
                [ scores; dW; db; dq ]
            try
                let one, two = run 1, run 2
                for name, a, c in List.zip3 [ "scores"; "dW"; "db"; "dq" ] one two do
                    Expect.equal ((a - c).abs().max().item<float32> ()) 0.0f $"{name}: 1 thread and 2 threads agree exactly"
            finally
                torch.set_num_threads threads
        }
    ]
