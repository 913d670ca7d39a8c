module Decomp.Core.Tests.ProposalsTests

open System
open Expecto
open TorchSharp
open Decomp.Core
open Decomp.Core.Tests.Tensors
open Decomp.Core.Tests.BoundsTests
open Decomp.Core.Tests.CriticsTests

[<Tests>]
let tests =
    testList "Proposals" [
        test "the diagonal Gaussian log-density equals the formula, for one and for M candidates" {
            use mean = torch.tensor(array2D [ [ 0.5; -1.0 ]; [ 2.0; 0.0 ] ], dtype = torch.float64)
            use logStd = torch.tensor(array2D [ [ 0.0; 0.3 ]; [ -0.5; 0.1 ] ], dtype = torch.float64)
            use y = torch.tensor(array2D [ [ 1.0; 1.0 ]; [ -1.0; 0.5 ] ], dtype = torch.float64)
            let formula (m: float[]) (s: float[]) (v: float[]) =
                Array.init 2 (fun d -> -0.5 * ((v[d] - m[d]) / exp s[d]) ** 2.0 - s[d] - 0.5 * log (2.0 * Math.PI)) |> Array.sum
            let m, s, v = toArray mean |> Array.chunkBySize 2, toArray logStd |> Array.chunkBySize 2, toArray y |> Array.chunkBySize 2
            use single = Proposals.gaussianLogDensity mean logStd y
            expectAllCloseAbs (toArray single) (Array.init 2 (fun i -> formula m[i] s[i] v[i])) 1e-12
            use many = Proposals.gaussianLogDensity mean logStd (torch.stack([| y; y.flip([| 0L |]) |], 1L))
            expectAllCloseAbs (toArray many) [| formula m[0] s[0] v[0]; formula m[0] s[0] v[1]; formula m[1] s[1] v[1]; formula m[1] s[1] v[0] |] 1e-12
        }

        test "samples have the proposal's mean and standard deviation (5 standard errors)" {
            let n = 40000
            use mean = torch.tensor(array2D [ [ 1.5; -2.0 ] ], dtype = torch.float64)
            use logStd = torch.tensor(array2D [ [ log 0.5; log 2.0 ] ], dtype = torch.float64)
            use generator = new torch.Generator(3UL)
            use draws = Proposals.sampleGaussian mean logStd n generator
            let a = toArray draws |> Array.chunkBySize 2
            for d, (mu, sigma) in [ 0, (1.5, 0.5); 1, (-2.0, 2.0) ] do
                let xs = a |> Array.map (fun v -> v[d])
                let m = Array.average xs
                let variance = xs |> Array.averageBy (fun x -> (x - m) ** 2.0)
                Expect.isLessThan (abs (m - mu)) (5.0 * sigma / sqrt (float n)) $"mean of dimension {d}"
                // Var of the sample variance of a Gaussian: 2 sigma^4 / n.
                Expect.isLessThan (abs (variance - sigma * sigma)) (5.0 * sqrt (2.0 / float n) * sigma * sigma) $"variance of dimension {d}"
        }

        test "fitting tau by maximum likelihood lowers the NLL toward, and not below, H(y | x') (I_VAR's supervised objective)" {
            use generator = new torch.Generator(17UL)
            let problem = Gaussian.ofBlocks [| for _ in 1..2 -> Gaussian.sampleDimensionBlock generator 1.0 0.6 |]
            // H(y | x') of the Gaussian: 1/2 log((2 pi e)^d det Cov(y | x')), each dimension's variance exp(-2 alpha mi).
            let conditionalEntropy = problem.Blocks |> Array.sumBy (fun b -> 0.5 * log (2.0 * Math.PI * Math.E * b.VarianceGivenFirstView))
            torch.manual_seed 5L |> ignore
            let tau = Proposals.gaussianProposal 2 [ 32 ] 2
            use optimizer = torch.optim.Adam(tau.parameters (), 0.01)
            let evaluate () =
                use scope = torch.NewDisposeScope()
                use _ = torch.no_grad ()
                let x1, _, y = Gaussian.sampleJoint problem 20000 generator torch.float32 torch.CPU
                let mean, logStd = Proposals.parameters (tau.forward x1)
                let nll = -(Proposals.gaussianLogDensity mean logStd y)
                toScalar (nll.mean()), toScalar (nll.std()) / sqrt 20000.0
            let before, beforeSe = evaluate ()
            for _ in 1..600 do
                use scope = torch.NewDisposeScope()
                let x1, _, y = Gaussian.sampleJoint problem 256 generator torch.float32 torch.CPU
                let mean, logStd = Proposals.parameters (tau.forward x1)
                let loss = Proposals.negativeLogLikelihood (Proposals.gaussianLogDensity mean logStd y)
                optimizer.zero_grad ()
                loss.backward ()
                optimizer.step () |> ignore
            let after, afterSe = evaluate ()
            Expect.isLessThan (after + 5.0 * afterSe) (before - 5.0 * beforeSe) $"NLL fell from {before:F3} to {after:F3}"
            Expect.isGreaterThan (after + 5.0 * afterSe) conditionalEntropy $"NLL {after:F3} cannot beat the true H(y | x') = {conditionalEntropy:F3}"
            Expect.isLessThan after (conditionalEntropy + 0.1) $"the fitted tau is within 0.1 nats of p(y | x') in KL (NLL {after:F3} vs H {conditionalEntropy:F3})"
        }

        test "mismatched proposal parameters are refused by name" {
            expectArgumentException "logStd" (fun () -> Proposals.gaussianLogDensity (torch.zeros(2L, 3L)) (torch.zeros(2L, 2L)) (torch.zeros(2L, 3L)) |> ignore)
        }
    ]
