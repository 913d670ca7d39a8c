module Decomp.Core.Tests.MiCodingTests

open System
open Expecto
open FsCheck.FSharp
open TorchSharp
open Decomp.Core
open Decomp.Core.Tests.Tensors
open Decomp.Core.Tests.Generators
open Decomp.Core.Tests.BoundsTests
open Decomp.Core.Tests.CriticsTests

/// Logits [batch, V] and symbols [batch] in [0, V).
let private codingCases =
    gen {
        let! batch = Gen.choose (1, 12)
        let! vocabulary = Gen.choose (2, 9)
        let! logits = Gen.arrayOfLength (batch * vocabulary) (Gen.choose (-5000, 5000) |> Gen.map (fun i -> float i / 500.0))
        let! symbols = Gen.arrayOfLength batch (Gen.choose (0, vocabulary - 1))
        return batch, vocabulary, Array2D.init batch vocabulary (fun i j -> logits[i * vocabulary + j]), symbols
    }

let private logSoftmax (row: float[]) =
    let m = Array.max row
    let z = m + log (row |> Array.sumBy (fun v -> exp (v - m)))
    row |> Array.map (fun v -> v - z)

/// The batch's own histogram as the marginal estimate (an update with decay 0).
let private histogramOf (vocabulary: int) (symbols: torch.Tensor) =
    MiCoding.uniformMarginal vocabulary 0.0 torch.float64 torch.CPU |> MiCoding.updateMarginal symbols

[<Tests>]
let tests =
    testList "Direct MI coding" [
        testPropertyWithConfig config "direct MI coding = ln P_Psi(z_y | z_x) - ln P^(z_y), per example, against a loop" (forAll codingCases (fun (batch, vocabulary, logits, symbols) ->
            use l = ofMatrix torch.float64 logits
            use z = torch.tensor(symbols |> Array.map int64)
            let marginal = histogramOf vocabulary z
            use values = MiCoding.directMiCoding l z marginal
            let p = toArray marginal.Probabilities
            let expected = Array.init batch (fun i -> (logSoftmax (row logits i))[symbols[i]] - log p[symbols[i]])
            expectAllCloseAbs (toArray values) expected 1e-10))

        testPropertyWithConfig config "with the batch's own histogram as P^, the mean never exceeds ln V" (forAll codingCases (fun (_, vocabulary, logits, symbols) ->
            use l = ofMatrix torch.float64 logits
            use z = torch.tensor(symbols |> Array.map int64)
            use values = MiCoding.directMiCoding l z (histogramOf vocabulary z)
            Expect.isLessThanOrEqual (toScalar (values.mean())) (MiCoding.cap vocabulary + 1e-12) "H(z_y) - H^(z_y | z_x) <= ln V"))

        test "a perfect predictor of uniformly used symbols reaches ln V" {
            let vocabulary = 8
            use symbols = torch.arange(64L, dtype = torch.int64).remainder((int64 vocabulary).ToScalar())
            use logits = torch.nn.functional.one_hot(symbols, int64 vocabulary).to_type(torch.float64).mul((60.0).ToScalar())
            use values = MiCoding.directMiCoding logits symbols (histogramOf vocabulary symbols)
            Expect.floatClose Accuracy.high (toScalar (values.mean())) (log 8.0) "ln 8"
        }

        testPropertyWithConfig config "one-hot soft codes give the same values as the symbols" (forAll codingCases (fun (_, vocabulary, logits, symbols) ->
            use l = ofMatrix torch.float64 logits
            use z = torch.tensor(symbols |> Array.map int64)
            use soft = torch.nn.functional.one_hot(z, int64 vocabulary).to_type(torch.float64)
            let marginal = histogramOf vocabulary z
            use hard = MiCoding.directMiCoding l z marginal
            use viaSoft = MiCoding.directMiCoding l soft marginal
            expectAllCloseAbs (toArray viaSoft) (toArray hard) 1e-12))

        test "the moving average mixes the old estimate and the batch histogram with the decay" {
            let start = MiCoding.uniformMarginal 4 0.9 torch.float64 torch.CPU
            use symbols = torch.tensor([| 0L; 0L; 1L; 3L |])
            let next = MiCoding.updateMarginal symbols start
            Expect.sequenceEqual (toArray next.Probabilities |> Array.map (fun v -> Math.Round(v, 12))) [| 0.275; 0.25; 0.225; 0.25 |] "0.9 * 0.25 + 0.1 * histogram"
            Expect.sequenceEqual (toArray start.Probabilities) [| 0.25; 0.25; 0.25; 0.25 |] "the old estimate is unchanged"
        }

        test "the entropy of a uniform estimate is ln V; the conditional entropy is the cross-entropy" {
            Expect.floatClose Accuracy.veryHigh (toScalar (MiCoding.marginalEntropy (MiCoding.uniformMarginal 6 0.5 torch.float64 torch.CPU))) (log 6.0) "ln 6"
            use logits = torch.tensor(array2D [ [ 1.0; 2.0; 3.0 ] ], dtype = torch.float64)
            use ce = MiCoding.conditionalEntropy logits (torch.tensor([| 2L |]))
            Expect.floatClose Accuracy.veryHigh (toScalar ce) (-(logSoftmax [| 1.0; 2.0; 3.0 |])[2]) "-ln softmax"
        }

        test "symbols outside the vocabulary are refused by name" {
            let marginal = MiCoding.uniformMarginal 3 0.5 torch.float64 torch.CPU
            expectArgumentException "codes" (fun () -> MiCoding.directMiCoding (torch.zeros([| 2L; 3L |], dtype = torch.float64)) (torch.tensor([| 0L; 3L |])) marginal |> ignore)
        }
        test "a decay outside [0, 1) is refused" {
            expectArgumentException "decay" (fun () -> MiCoding.uniformMarginal 3 1.0 torch.float64 torch.CPU |> ignore)
        }
    ]
