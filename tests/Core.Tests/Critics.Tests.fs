module Decomp.Core.Tests.CriticsTests

open System
open Expecto
open FsCheck.FSharp
open TorchSharp
open Decomp.Core
open Decomp.Core.Tests.Tensors
open Decomp.Core.Tests.Generators
open Decomp.Core.Tests.BoundsTests

/// Random embeddings: queries [b, d], shared keys [n, d], per-example keys [b, m, d].
let embeddings =
    gen {
        let! b = Gen.choose (1, 5)
        let! n = Gen.choose (1, 6)
        let! d = Gen.choose (1, 5)
        let! seed = Gen.choose (0, 100000)
        return b, n, d, seed
    }

let private randn (seed: int) (shape: int64[]) =
    use g = new torch.Generator(uint64 seed)
    torch.randn(shape, dtype = torch.float64, generator = g)

let private dotLoop (q: float[]) (k: float[]) = Array.fold2 (fun acc a b -> acc + a * b) 0.0 q k

let private rowOf (t: float[]) (width: int) (i: int) = t[i * width .. (i + 1) * width - 1]

let expectAllClose (actual: float[]) (expected: float[]) (tol: float) (what: string) =
    Expect.equal actual.Length expected.Length $"{what}: as many values"
    Array.iteri2 (fun i a e -> if abs (a - e) > tol * (1.0 + abs e) then failtestf "%s: entry %d is %.12g, expected %.12g" what i a e) actual expected

/// Entry-wise |actual - expected| <= tolerance.
let expectAllCloseAbs (actual: float[]) (expected: float[]) (tolerance: float) =
    Expect.equal actual.Length expected.Length "as many values"
    Array.iteri2 (fun i a e -> if abs (a - e) > tolerance then failtestf "entry %d is %.14g, expected %.14g" i a e) actual expected

[<Tests>]
let tests =
    testList "Critics" [
        testPropertyWithConfig config "dot, cosine and bilinear critics equal their loops, for shared and per-example keys" (forAll embeddings (fun (b, n, d, seed) ->
            use q = randn seed [| int64 b; int64 d |]
            use shared = randn (seed + 1) [| int64 n; int64 d |]
            use perExample = randn (seed + 2) [| int64 b; int64 n; int64 d |]
            use w = randn (seed + 3) [| int64 d; int64 d |]
            let qa, sa, pa, wa = toArray q, toArray shared, toArray perExample, toArray w
            let normalise (v: float[]) = let s = sqrt (dotLoop v v) in v |> Array.map (fun x -> x / max s 1e-12)
            let bilinearLoop (qi: float[]) (k: float[]) = Array.init d (fun c -> Array.init d (fun r -> qi[r] * wa[r * d + c]) |> Array.sum) |> dotLoop k
            let sharedKey j = rowOf sa d j
            let perExampleKey i j = pa[(i * n + j) * d .. (i * n + j + 1) * d - 1]
            let critics: (string * (torch.Tensor -> torch.Tensor -> torch.Tensor) * (float[] -> float[] -> float)) list =
                [ "dot", Critics.dot, dotLoop
                  "cosine / 0.5", Critics.cosine 0.5, (fun a k -> dotLoop (normalise a) (normalise k) / 0.5)
                  "separable Dot / 2", Critics.separable Dot 2.0, (fun a k -> dotLoop a k / 2.0)
                  "bilinear", Critics.bilinear w, bilinearLoop ]
            for name, critic, loop in critics do
                use s = critic q shared
                expectAllClose (toArray s) [| for i in 0 .. b - 1 do for j in 0 .. n - 1 -> loop (rowOf qa d i) (sharedKey j) |] 1e-10 $"{name}, shared keys"
                use p = critic q perExample
                expectAllClose (toArray p) [| for i in 0 .. b - 1 do for j in 0 .. n - 1 -> loop (rowOf qa d i) (perExampleKey i j) |] 1e-10 $"{name}, per-example keys"))

        test "the concatenation critic applies the network to every [query, key] pair" {
            use q = randn 1 [| 3L; 2L |]
            use keys = randn 2 [| 4L; 3L |]
            // A fixed linear network: E = sum of the query's features minus twice the key's features.
            let weights = torch.tensor(array2D [ [ 1.0; 1.0; -2.0; -2.0; -2.0 ] ], dtype = torch.float64)
            let network (x: torch.Tensor) = x.matmul(weights.mT)
            use scores = Critics.concatenation network q keys
            let qa, ka = toArray q, toArray keys
            let expected = [| for i in 0..2 do for j in 0..3 -> Array.sum (rowOf qa 2 i) - 2.0 * Array.sum (rowOf ka 3 j) |]
            expectAllClose (toArray scores) expected 1e-12 "concatenation"
        }

        test "the three-argument critic scores the joint query [x', x'']" {
            use x1 = randn 3 [| 4L; 2L |]
            use x2 = randn 4 [| 4L; 3L |]
            use keys = randn 5 [| 6L; 5L |]
            use direct = Critics.dot (torch.cat([| x1; x2 |], 1L)) keys
            use conditional = Critics.conditional Critics.dot x1 x2 keys
            expectAllClose (toArray conditional) (toArray direct) 1e-14 "E(x', x'', y) = f([x', x''])^T g(y)"
        }

        testPropertyWithConfig config "scores puts the positive first; shared negatives equal per-example copies of them" (forAll embeddings (fun (b, n, d, seed) ->
            use q = randn seed [| int64 b; int64 d |]
            use positives = randn (seed + 1) [| int64 b; int64 d |]
            use shared = randn (seed + 2) [| int64 n; int64 d |]
            use copies = shared.unsqueeze(0).expand(int64 b, int64 n, int64 d).contiguous()
            use a = Critics.scores Critics.dot q positives shared
            use c = Critics.scores Critics.dot q positives copies
            expectAllClose (toArray a) (toArray c) 1e-12 "shared vs per-example"
            let qa, pa = toArray q, toArray positives
            let first = toArray a |> Array.chunkBySize (n + 1) |> Array.map Array.head
            expectAllClose first (Array.init b (fun i -> dotLoop (rowOf qa d i) (rowOf pa d i))) 1e-12 "column 0 is q_i . k_i"))

        test "in-batch scores are the K x K matrix in the positive-first layout" {
            use q = randn 7 [| 5L; 3L |]
            use k = randn 8 [| 5L; 3L |]
            use viaCritic = Critics.inBatchScores Critics.dot q k
            use direct = Scores.ofInBatch (q.matmul(k.mT))
            expectAllClose (toArray viaCritic) (toArray direct) 1e-14 "in-batch"
        }

        test "mlp builds Linear layers with ReLU between them and the requested sizes" {
            let net = Critics.mlp 7 [ 100 ] 100
            use x = torch.randn(4L, 7L)
            use y = net.forward x
            Expect.sequenceEqual y.shape [| 4L; 100L |] "output [batch, 100]"
            let parameters = net.parameters () |> Seq.map (fun p -> List.ofArray p.shape) |> List.ofSeq
            Expect.equal parameters [ [ 100L; 7L ]; [ 100L ]; [ 100L; 100L ]; [ 100L ] ] "one hidden layer of 100 and an output of 100"
            let relus = net.modules () |> Seq.filter (fun m -> m.GetType().Name = "ReLU") |> Seq.length
            Expect.equal relus 1 "a ReLU between the two layers, none after the output"
        }

        testList "bad input" [
            test "keys with another width" { expectArgumentException "keys" (fun () -> Critics.dot (torch.zeros(2L, 3L)) (torch.zeros(4L, 5L)) |> ignore) }
            test "per-example keys for another batch" { expectArgumentException "keys" (fun () -> Critics.dot (torch.zeros(2L, 3L)) (torch.zeros(3L, 4L, 3L)) |> ignore) }
            test "a temperature of 0" { expectArgumentException "temperature" (fun () -> Critics.cosine 0.0 (torch.zeros(2L, 3L)) (torch.zeros(4L, 3L)) |> ignore) }
            test "negative keys of the wrong width" { expectArgumentException "negativeKeys" (fun () -> Critics.scores Critics.dot (torch.zeros(2L, 3L)) (torch.zeros(2L, 3L)) (torch.zeros(4L, 2L)) |> ignore) }
            test "a bilinear weight of the wrong shape" { expectArgumentException "weight" (fun () -> Critics.bilinear (torch.zeros(2L, 2L)) (torch.zeros(2L, 3L)) (torch.zeros(4L, 2L)) |> ignore) }
            test "a network that does not return one score per pair" {
                expectArgumentException "network" (fun () -> Critics.concatenation id (torch.zeros(2L, 3L)) (torch.zeros(4L, 3L)) |> ignore)
            }
        ]
    ]
