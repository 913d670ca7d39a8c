module Decomp.Core.Tests.MemoryBankTests

open System
open Expecto
open FsCheck.FSharp
open TorchSharp
open Decomp.Core
open Decomp.Core.Tests.Tensors
open Decomp.Core.Tests.Generators
open Decomp.Core.Tests.BoundsTests
open Decomp.Core.Tests.CriticsTests

/// Appendix B.1's pseudocode, one example at a time in float64, exactly as written (dot products of the given
/// embeddings; temperature applied to the logits).
let private pseudocode (lam: float) (temperature: float) (conditional: bool) (qFull: float[]) (qRestricted: float[]) (key: float[]) (memory: float[][]) =
    let dot (a: float[]) (b: float[]) = Array.fold2 (fun s x y -> s + x * y) 0.0 a b
    let logits q = Array.append [| dot q key |] (memory |> Array.map (dot q)) |> Array.map (fun v -> v / temperature)
    let logitsXpp, logitsXp = logits qRestricted, logits qFull
    let negLogSoftmax0 (l: float[]) = -(l[0] - log (l |> Array.sumBy exp))
    let nceXp, nceXpp = negLogSoftmax0 logitsXp, negLogSoftmax0 logitsXpp
    let k = float logitsXpp.Length
    let weightsTotal = logitsXpp[1..] |> Array.sumBy exp
    let z = (k - 1.0) * Array.fold2 (fun s l lp -> s + exp l / weightsTotal * exp lp) 0.0 logitsXpp[1..] logitsXp[1..] + exp logitsXp[0]
    let nceConditional = -logitsXp[0] + log z
    lam * nceXp + (1.0 - lam) * (nceXpp + (if conditional then nceConditional else 0.0))

let private cases =
    gen {
        let! b = Gen.choose (2, 5)
        let! n = Gen.choose (1, 7)
        let! d = Gen.choose (1, 4)
        let! lam = Gen.elements [ 0.0; 0.25; 0.5; 1.0 ]
        let! temperature = Gen.elements [ 0.07; 0.2; 1.0 ]
        let! conditional = Gen.elements [ true; false ]
        let! seed = Gen.choose (0, 100000)
        return b, n, d, lam, temperature, conditional, seed
    }

let private randn (seed: int) (shape: int64[]) =
    use g = new torch.Generator(uint64 seed)
    torch.randn(shape, dtype = torch.float64, generator = g)

let private rowsOf (t: torch.Tensor) =
    let d = int t.shape[1]
    toArray t |> Array.chunkBySize d

[<Tests>]
let tests =
    testList "Memory-bank loss (Appendix B.1)" [
        testPropertyWithConfig config "the B.1 loss equals the pseudocode written term by term (memory bank)" (forAll cases (fun (b, n, d, lam, temperature, conditional, seed) ->
            use full = randn seed [| int64 b; int64 d |]
            use restricted = randn (seed + 1) [| int64 b; int64 d |]
            use keys = randn (seed + 2) [| int64 b; int64 d |]
            use memory = randn (seed + 3) [| int64 n; int64 d |]
            let settings = { Lambda = lam; Temperature = temperature; Similarity = Dot; Conditional = conditional }
            use result = MemoryBank.decomposedLoss settings full restricted keys (Some memory)
            let f, r, k, m = rowsOf full, rowsOf restricted, rowsOf keys, rowsOf memory
            let expected = Array.init b (fun i -> pseudocode lam temperature conditional f[i] r[i] k[i] m) |> Array.average
            Expect.floatClose { absolute = 1e-9; relative = 1e-9 } (toScalar result.Loss) expected "loss"))

        testPropertyWithConfig config "in-batch negatives: the B.1 loss with every other example's key as the memory" (forAll cases (fun (b, _, d, lam, temperature, conditional, seed) ->
            use full = randn seed [| int64 b; int64 d |]
            use restricted = randn (seed + 1) [| int64 b; int64 d |]
            use keys = randn (seed + 2) [| int64 b; int64 d |]
            let settings = { Lambda = lam; Temperature = temperature; Similarity = Dot; Conditional = conditional }
            use result = MemoryBank.decomposedLoss settings full restricted keys None
            let f, r, k = rowsOf full, rowsOf restricted, rowsOf keys
            let others i = [| for j in 0 .. b - 1 do if j <> i then k[j] |]
            let expected = Array.init b (fun i -> pseudocode lam temperature conditional f[i] r[i] k[i] (others i)) |> Array.average
            Expect.floatClose { absolute = 1e-9; relative = 1e-9 } (toScalar result.Loss) expected "loss"))

        test "its parts are the bounds: mean I_NCE(x'; y), I_NCE(x''; y) and I_IS(x'; y | x'') on the same logits" {
            use full = randn 1 [| 6L; 4L |]
            use restricted = randn 2 [| 6L; 4L |]
            use keys = randn 3 [| 6L; 4L |]
            use memory = randn 4 [| 9L; 4L |]
            let settings = { DecomposedLossSettings.Paper with Similarity = Cosine; Temperature = 0.2 }
            use result = MemoryBank.decomposedLoss settings full restricted keys (Some memory)
            let critic = Critics.cosine 0.2
            use sFull = Critics.scores critic full keys memory
            use sRestricted = Critics.scores critic restricted keys memory
            Expect.floatClose Accuracy.veryHigh (toScalar result.FullViewInfoNce) (toScalar ((Bounds.infoNce sFull).mean())) "I_NCE(x'; y)"
            Expect.floatClose Accuracy.veryHigh (toScalar result.RestrictedViewInfoNce) (toScalar ((Bounds.infoNce sRestricted).mean())) "I_NCE(x''; y)"
            Expect.floatClose Accuracy.veryHigh (toScalar result.ConditionalInfoNce) (toScalar ((Bounds.importanceSampledConditionalInfoNce sFull sRestricted).mean())) "I_IS(x'; y | x'')"
            let logK = log 10.0
            let objective = 0.5 * toScalar result.FullViewInfoNce + 0.5 * (toScalar result.RestrictedViewInfoNce + toScalar result.ConditionalInfoNce)
            Expect.floatClose Accuracy.veryHigh (toScalar result.Loss) ((0.5 + 2.0 * 0.5) * logK - objective) "loss = constants - (lambda I_NCE + (1 - lambda)(I_NCE + I_IS))"
        }

        test "lambda = 1 is plain InfoNCE on the full view" {
            use full = randn 5 [| 6L; 4L |]
            use restricted = randn 6 [| 6L; 4L |]
            use keys = randn 7 [| 6L; 4L |]
            use memory = randn 8 [| 9L; 4L |]
            use result = MemoryBank.decomposedLoss { DecomposedLossSettings.Paper with Lambda = 1.0 } full restricted keys (Some memory)
            use scores = Critics.scores (Critics.cosine 0.2) full keys memory
            Expect.floatClose Accuracy.veryHigh (toScalar result.Loss) (log 10.0 - toScalar ((Bounds.infoNce scores).mean())) "loss = log K - I_NCE"
        }

        test "gradients are finite for float32 logits of magnitude 1e4" {
            use full = (torch.randn(8L, 16L) * 30.0.ToScalar()).requires_grad_(true)
            use restricted = (torch.randn(8L, 16L) * 30.0.ToScalar()).requires_grad_(true)
            use keys = torch.randn(8L, 16L) * 30.0.ToScalar()
            use memory = torch.randn(64L, 16L) * 30.0.ToScalar()
            use result = MemoryBank.decomposedLoss { DecomposedLossSettings.Paper with Similarity = Dot; Temperature = 0.1 } full restricted keys (Some memory)
            result.Loss.backward()
            Expect.isTrue (Double.IsFinite(toScalar result.Loss)) "finite loss"
            Expect.all (Array.append (toArray full.grad) (toArray restricted.grad)) Double.IsFinite "finite gradients"
        }

        test "the loss leaves no intermediates: four tensors (the record's) join the caller's scope" {
            use outer = torch.NewDisposeScope()
            use full = torch.randn(8L, 16L)
            use restricted = torch.randn(8L, 16L)
            use keys = torch.randn(8L, 16L)
            use memory = torch.randn(64L, 16L)
            let before = outer.DisposablesCount
            let _ = MemoryBank.decomposedLoss DecomposedLossSettings.Paper full restricted keys (Some memory)
            Expect.equal (outer.DisposablesCount - before) 4 "Loss and three parts"
        }

        testList "bad input" [
            test "lambda outside [0, 1]" { expectArgumentException "lambda" (fun () -> MemoryBank.decomposedLoss { DecomposedLossSettings.Paper with Lambda = 1.5 } (torch.zeros(2L, 3L)) (torch.zeros(2L, 3L)) (torch.zeros(2L, 3L)) None |> ignore) }
            test "temperature <= 0" { expectArgumentException "temperature" (fun () -> MemoryBank.decomposedLoss { DecomposedLossSettings.Paper with Temperature = 0.0 } (torch.zeros(2L, 3L)) (torch.zeros(2L, 3L)) (torch.zeros(2L, 3L)) None |> ignore) }
            test "keys for another batch" { expectArgumentException "keys" (fun () -> MemoryBank.decomposedLoss DecomposedLossSettings.Paper (torch.zeros(2L, 3L)) (torch.zeros(2L, 3L)) (torch.zeros(3L, 3L)) None |> ignore) }
            test "a memory of another width" { expectArgumentException "memory" (fun () -> MemoryBank.decomposedLoss DecomposedLossSettings.Paper (torch.zeros(2L, 3L)) (torch.zeros(2L, 3L)) (torch.zeros(2L, 3L)) (Some(torch.zeros(5L, 4L))) |> ignore) }
            test "in-batch negatives with one example" { expectArgumentException "fullViewQueries" (fun () -> MemoryBank.decomposedLoss DecomposedLossSettings.Paper (torch.zeros(1L, 3L)) (torch.zeros(1L, 3L)) (torch.zeros(1L, 3L)) None |> ignore) }
        ]

        testList "KeyQueue" [
            test "starts with unit vectors and replaces the oldest keys first, wrapping around" {
                use queue = new KeyQueue(5, 2, torch.CPU, torch.float64, 1L)
                use initial = queue.Keys
                toArray initial |> Array.chunkBySize 2 |> Array.iter (fun k -> Expect.floatClose Accuracy.high (sqrt (k[0] * k[0] + k[1] * k[1])) 1.0 "unit norm")
                let batch v = torch.tensor(array2D [ for i in 0..2 -> [ v + float i; 0.0 ] ], dtype = torch.float64)
                queue.Enqueue(batch 10.0)
                queue.Enqueue(batch 20.0)
                use keys = queue.Keys
                let firsts = toArray keys |> Array.chunkBySize 2 |> Array.map Array.head
                // Rows 0-2 took 10, 11, 12; rows 3, 4 and then 0 (wrapping) took 20, 21, 22.
                Expect.sequenceEqual firsts [| 22.0; 11.0; 12.0; 20.0; 21.0 |] "the five newest keys, oldest overwritten first"
            }
            test "a batch larger than the queue keeps its last keys" {
                use queue = new KeyQueue(3, 1, torch.CPU, torch.float64, 1L)
                queue.Enqueue(torch.tensor(array2D [ for i in 0..6 -> [ float i ] ], dtype = torch.float64))
                use keys = queue.Keys
                Expect.sequenceEqual (toArray keys |> Array.sort) [| 4.0; 5.0; 6.0 |] "the last three"
            }
            test "disposing Keys leaves the queue intact" {
                use queue = new KeyQueue(4, 3, torch.CPU, torch.float32, 2L)
                let before = (using queue.Keys toArray)
                let after = (using queue.Keys toArray)
                Expect.sequenceEqual after before "same keys after disposing a handle"
            }
            test "Restore puts back keys and position: later enqueues match an uninterrupted queue" {
                let batch v = torch.tensor(array2D [ for i in 0..1 -> [ v + float i; -v ] ], dtype = torch.float64)
                use original = new KeyQueue(5, 2, torch.CPU, torch.float64, 1L)
                original.Enqueue(batch 10.0)
                original.Enqueue(batch 20.0)
                original.Enqueue(batch 30.0)
                Expect.equal original.Position 1 "six keys written into five rows"
                // A different seed, so nothing matches unless Restore copies every row.
                use restored = new KeyQueue(5, 2, torch.CPU, torch.float64, 9L)
                using original.Keys (fun keys -> restored.Restore(keys.to_type torch.float32, original.Position))
                for q in [ original; restored ] do q.Enqueue(batch 40.0)
                let expected = using original.Keys toArray
                let actual = using restored.Keys toArray
                Expect.sequenceEqual actual expected "same keys after one more enqueue"
                Expect.equal restored.Position original.Position "same position"
            }
            test "Restore refuses keys of another shape and positions outside the queue" {
                use queue = new KeyQueue(4, 3, torch.CPU, torch.float32, 2L)
                expectArgumentException "keys" (fun () -> queue.Restore(torch.zeros(3L, 3L), 0))
                expectArgumentException "keys" (fun () -> queue.Restore(torch.zeros([| 4L; 3L |], dtype = torch.int64), 0))
                expectArgumentException "position" (fun () -> queue.Restore(torch.zeros(4L, 3L), 4))
                expectArgumentException "position" (fun () -> queue.Restore(torch.zeros(4L, 3L), -1))
            }
            test "keys of another width are refused" {
                use queue = new KeyQueue(4, 3, torch.CPU, torch.float32, 2L)
                expectArgumentException "keys" (fun () -> queue.Enqueue(torch.zeros(2L, 4L)))
            }
        ]
    ]
