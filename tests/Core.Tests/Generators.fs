/// FsCheck generators for the shapes and values the bounds see, in one place.
module Decomp.Core.Tests.Generators

open FsCheck
open FsCheck.FSharp
open Expecto

/// A score in [-scale, scale] with the given scale.
let private score (scale: float) = Gen.choose (-1_000_000, 1_000_000) |> Gen.map (fun i -> float i / 1e6 * scale)

/// Scores of moderate size (|E| <= 40) so that a plain-formula reference can exponentiate them in float64.
let scoreMatrixOf (maxBatch: int) (maxCandidates: int) : Gen<float[,]> =
    gen {
        let! batch = Gen.choose (1, maxBatch)
        let! candidates = Gen.choose (2, maxCandidates)
        let! scale = Gen.elements [ 0.01; 1.0; 5.0; 40.0 ]
        let! values = Gen.arrayOfLength (batch * candidates) (score scale)
        return Array2D.init batch candidates (fun i j -> values[i * candidates + j])
    }

let scoreMatrix = scoreMatrixOf 6 12

/// Two score matrices of the same shape (scores and proposal scores over the same candidates).
let scoreMatrixPair : Gen<float[,] * float[,]> =
    gen {
        let! first = scoreMatrix
        let! scale = Gen.elements [ 0.01; 1.0; 5.0; 40.0 ]
        let! values = Gen.arrayOfLength first.Length (score scale)
        let columns = Array2D.length2 first
        return first, Array2D.init (Array2D.length1 first) columns (fun i j -> values[i * columns + j])
    }

/// A score matrix with one arbitrary constant per row (c(x)).
let scoreMatrixWithRowShift : Gen<float[,] * float[]> =
    gen {
        let! m = scoreMatrix
        let! shift = Gen.arrayOfLength (Array2D.length1 m) (score 100.0)
        return m, shift
    }

/// Several score matrices with the same number of rows (one per subview).
let subviewScores : Gen<float[,] list> =
    gen {
        let! batch = Gen.choose (1, 5)
        let! subviews = Gen.choose (1, 4)
        return!
            Gen.listOfLength subviews (gen {
                let! candidates = Gen.choose (2, 10)
                let! scale = Gen.elements [ 0.01; 1.0; 5.0; 40.0 ]
                let! values = Gen.arrayOfLength (batch * candidates) (score scale)
                return Array2D.init batch candidates (fun i j -> values[i * candidates + j])
            })
    }

/// A square in-batch matrix.
let squareMatrix : Gen<float[,]> =
    gen {
        let! k = Gen.choose (2, 9)
        let! values = Gen.arrayOfLength (k * k) (score 10.0)
        return Array2D.init k k (fun i j -> values[i * k + j])
    }

let floatTypes = [ TorchSharp.torch.float64; TorchSharp.torch.float32 ]

let config = { FsCheckConfig.defaultConfig with maxTest = 150 }

let forAll (generator: Gen<'a>) (property: 'a -> unit) = Prop.forAll (Arb.fromGen generator) property
