/// Issue 18 §3: one setting, `Settings.FiniteCheck`, decides which values the core reads to check them, and the
/// functions the facade used to check itself now live in the core. The tests that change the process-wide setting
/// are sequenced: Expecto runs them after every parallel test, so no other test sees the change.
module Decomp.Core.Tests.SettingsTests

open System
open Expecto
open TorchSharp
open Decomp.Core
open Decomp.Core.Tests.Tensors
open Decomp.Core.Tests.BoundsTests
open Decomp.Core.Tests.ValidationTests

/// Runs `f` under `setting` and puts the previous setting back.
let withFiniteCheck (setting: FiniteCheck) (f: unit -> unit) =
    let previous = Settings.FiniteCheck
    Settings.FiniteCheck <- setting
    try
        f ()
    finally
        Settings.FiniteCheck <- previous

let private isNaN (t: torch.Tensor) = toArray t |> Array.exists Double.IsNaN

let setting =
    testSequenced <| testList "Settings.FiniteCheck" [
        test "the default is CpuOnly" { Expect.equal Settings.FiniteCheck CpuOnly "CPU inputs are checked, CUDA inputs are not" }

        test "Never reads no value: NaN in gives NaN out, in every function the issue names" {
            withFiniteCheck Never (fun () ->
                let poisoned () = withFirst nan (randn 1 [| 4L; 3L |])
                Expect.isTrue (isNaN (Bounds.infoNce (poisoned ()))) "infoNce"
                Expect.isTrue (isNaN (Decomposition.decomposedInfoNceImportanceSampled (poisoned ()) (randn 2 [| 4L; 3L |]))) "InfoNCE_S IS"
                Expect.isTrue (isNaN (Baselines.nwj (poisoned ()))) "NWJ"
                use loss = MemoryBank.decomposedLoss DecomposedLossSettings.Paper (poisoned ()) (randn 2 [| 4L; 3L |]) (randn 3 [| 4L; 3L |]) None
                Expect.isTrue (isNaN loss.Loss) "B.1 loss")
        }

        test "Always checks the CPU as CpuOnly does" {
            withFiniteCheck Always (fun () ->
                expectArgumentException "scores" (fun () -> Bounds.infoNce (withFirst nan (randn 1 [| 4L; 3L |])) |> ignore))
        }

        test "the probability checks follow the same setting" {
            let marginal = { Probabilities = torch.tensor [| 0.5; 0.6; 0.1 |]; Decay = 0.5 }
            let code () = MiCoding.directMiCoding (randn 1 [| 2L; 3L |]) (torch.tensor [| 0L; 1L |]) marginal |> ignore
            withFiniteCheck Never code
            withFiniteCheck Always (fun () -> expectArgumentException "marginal" code)
        }

        test "sirResample refuses NaN, +infinity and all -infinity rows even when no value is read" {
            withFiniteCheck Never (fun () ->
                use g = new torch.Generator(1UL)
                for poisoned in [ withFirst nan (randn 1 [| 3L; 5L |]); withFirst infinity (randn 1 [| 3L; 5L |]); torch.full(3L, 5L, (-infinity).ToScalar(), dtype = torch.float64) ] do
                    expectArgumentException "proposalScores" (fun () -> Bounds.sirResample poisoned 2 g |> ignore))
        }

        test "on CUDA, CpuOnly leaves inputs unread and Always checks them" {
            if not (Device.cudaAvailable ()) then skiptest "no CUDA device"
            let poisoned () = (withFirst nan (randn 1 [| 4L; 3L |])).cuda()
            withFiniteCheck CpuOnly (fun () -> Expect.isTrue (isNaN (Bounds.infoNce (poisoned ()))) "not read under CpuOnly")
            withFiniteCheck Always (fun () -> expectArgumentException "scores" (fun () -> Bounds.infoNce (poisoned ()) |> ignore))
            withFiniteCheck Always (fun () ->
                use queue = new KeyQueue(4, 3, torch.CUDA, torch.float32, 1L)
                expectArgumentException "keys" (fun () -> queue.Enqueue((withFirst nan (randn 2 [| 2L; 3L |])).cuda())))
        }
    ]

/// Functions the C# facade used to implement (and check) itself, now in the core.
let movedIntoTheCore =
    testList "checks moved from the facade into the core" [
        testPropertyWithConfig Generators.config "I_IS with explicit weights is I_IS with log w as the weights' critic" (Generators.forAll Generators.scoreMatrixPair (fun (m, p) ->
            use scores = ofMatrix torch.float64 m
            use weights = (ofMatrix torch.float64 p).narrow(1L, 1L, int64 (columns m - 1)).softmax(1L)
            use values = Bounds.importanceSampledConditionalInfoNceWithWeights scores weights
            let w = toArray weights
            let expected =
                Array.init (rows m) (fun i ->
                    let proposal = Array.append [| 0.0 |] (Array.init (columns m - 1) (fun j -> log w[i * (columns m - 1) + j]))
                    Reference.importanceSampled (row m i) proposal)
            expectClose torch.float64 (widest m p) (toArray values) expected "I_IS with weights"))
        test "weights that are negative, do not sum to 1 or are not finite are refused by name" {
            let scores = randn 1 [| 2L; 4L |]
            for weights in [ torch.full(2L, 3L, (0.5).ToScalar(), dtype = torch.float64); torch.tensor(array2D [ [ 1.5; -0.5; 0.0 ]; [ 1.0; 0.0; 0.0 ] ]); withFirst nan (torch.full(2L, 3L, (1.0 / 3.0).ToScalar(), dtype = torch.float64)) ] do
                expectArgumentException "importanceWeights" (fun () -> Bounds.importanceSampledConditionalInfoNceWithWeights scores weights |> ignore)
            expectArgumentException "importanceWeights" (fun () -> Bounds.importanceSampledConditionalInfoNceWithWeights scores (torch.full(2L, 4L, (0.25).ToScalar(), dtype = torch.float64)) |> ignore)
        }
        test "marginalOf copies a distribution and refuses anything else by name" {
            use probabilities = torch.tensor [| 0.25; 0.75 |]
            let estimate = MiCoding.marginalOf probabilities 0.9
            probabilities[0L] <- torch.tensor 0.5
            Expect.sequenceEqual (toArray estimate.Probabilities) [| 0.25; 0.75 |] "a copy"
            for bad in [ [| 0.5; 0.6 |]; [| -0.5; 1.5 |]; [| nan; 1.0 |]; [| 1.0 |] ] do
                expectArgumentException "probabilities" (fun () -> MiCoding.marginalOf (torch.tensor bad) 0.9 |> ignore)
            expectArgumentException "probabilities" (fun () -> MiCoding.marginalOf (torch.tensor [| 0L; 1L |]) 0.9 |> ignore)
            expectArgumentException "decay" (fun () -> MiCoding.marginalOf (torch.tensor [| 0.5; 0.5 |]) 1.0 |> ignore)
        }
        test "updateMarginal keeps the estimate a distribution over many updates" {
            let mutable estimate = MiCoding.uniformMarginal 1000 0.99 torch.float32 torch.CPU
            use generator = new torch.Generator(5UL)
            for _ in 1..300 do
                use codes = torch.randint(1000L, [| 64L |], generator = generator)
                estimate <- MiCoding.updateMarginal codes estimate
            // directMiCoding checks the estimate, so this fails if rounding had drifted its sum away from 1.
            use values = MiCoding.directMiCoding (torch.zeros(2L, 1000L)) (torch.tensor [| 0L; 1L |]) estimate
            Expect.floatClose Accuracy.medium (toScalar (estimate.Probabilities.sum())) 1.0 "sums to 1"
        }
    ]

[<Tests>]
let tests = testList "Settings (issue 18 §3)" [ setting; movedIntoTheCore ]
