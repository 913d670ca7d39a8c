module Decomp.Experiments.Tests.Figure2Tests

open System
open System.IO
open Argu
open Expecto
open TorchSharp
open Decomp.Experiments

/// A run small enough for a unit test: d = 4, width 16, K = 8, 30 steps.
let private tiny estimator seed =
    { RunSettings.Paper(3.0, 8, estimator, seed, 30, torch.CPU) with
        Dimensions = 4
        Width = 16
        EvaluationBatches = 3
        CurveEvery = 10 }

let private parse (argv: string[]) =
    let parser = ArgumentParser.Create<Arguments>(programName = "decomp-figure2")
    Cli.request (parser.ParseCommandLine argv)

let private expectError (argv: string[]) (mentions: string) =
    match parse argv with
    | Ok _ -> failtestf "%A should be refused" argv
    | Error message -> Expect.stringContains message mentions $"the error for {argv} says what is wrong: {message}"

/// The message of the BadInputException that `f` raises.
let private refusal (f: unit -> unit) =
    try
        f ()
        failtest "expected a BadInputException"
    with :? Decomp.Apps.BadInputException as e ->
        e.Message

[<Tests>]
let tests =
    testList "Figure 2" [
        test "the same seed gives the same numbers on the same device" {
            for estimator in Estimator.All do
                let a = Figure2.run (tiny estimator 7) (fun _ _ -> ())
                let b = Figure2.run (tiny estimator 7) (fun _ _ -> ())
                Expect.equal b.Estimate a.Estimate $"{estimator.Name}: identical final estimate"
                Expect.equal b.Curve a.Curve $"{estimator.Name}: identical training curve"
        }

        test "another seed draws another covariance and other numbers" {
            let a = Figure2.run (tiny InfoNce 7) (fun _ _ -> ())
            let b = Figure2.run (tiny InfoNce 8) (fun _ _ -> ())
            Expect.notEqual b.FirstViewMi a.FirstViewMi "I(x'; y) differs between seeds (alpha is drawn per seed)"
            Expect.notEqual b.Estimate a.Estimate "so do the estimates"
        }

        test "every run reports the true MI of its covariance, its split, and stays below its estimator's cap" {
            for estimator in Estimator.All do
                let r = Figure2.run (tiny estimator 3) (fun _ _ -> ())
                Expect.floatClose Accuracy.high r.TrueMi 3.0 "the covariance carries the requested MI"
                Expect.floatClose Accuracy.high (r.FirstViewMi + r.ConditionalMi) r.TrueMi "chain rule: I(x'; y) + I(x''; y | x') = I({x', x''}; y)"
                Expect.isLessThanOrEqual r.Estimate (r.Cap + 1e-5) $"{estimator.Name} is capped by {r.Cap}"
                Expect.equal (r.Curve |> List.map _.Step) [ 10; 20; 30 ] "a curve point every CurveEvery steps"
        }

        test "caps: log K, 2 log(K/2) and 2 log K" {
            Expect.floatClose Accuracy.veryHigh (InfoNce.Cap 64) (log 64.0) "InfoNCE"
            Expect.floatClose Accuracy.veryHigh (InfoNceS.Cap 64) (2.0 * log 32.0) "InfoNCE_S"
            Expect.floatClose Accuracy.veryHigh (InfoNceSIs.Cap 64) (2.0 * log 64.0) "InfoNCE_S IS"
        }

        testList "bad arguments give a one-line error" [
            test "K < 2" { expectError [| "--k"; "1,16" |] "K must be >= 2" }
            test "odd K with InfoNCE_S" { expectError [| "--k"; "15" |] "must be even" }
            test "negative MI" { expectError [| "--mi"; "-5" |] "must be > 0" }
            test "unknown estimator" { expectError [| "--estimators"; "infonce,mine" |] "unknown estimator 'mine'" }
            test "unwritable output folder" { expectError [| "--output"; "/proc/decomp" |] "cannot write" }
            test "zero seeds" { expectError [| "--seeds"; "0" |] "--seeds" }
            test "a misspelt device, in the apps' one wording" {
                expectError [| "--device"; "tpu"; "--output"; Path.GetTempPath() |] "--device must be auto, cpu, cuda or cuda:N, not 'tpu'." }
        ]

        test "odd K is fine when InfoNCE_S is not asked for" {
            match parse [| "--k"; "15"; "--estimators"; "infonce,infonce-s-is"; "--output"; Path.GetTempPath() |] with
            | Ok request -> Expect.equal request.Sweep.Candidates [ 15 ] "K = 15 accepted"
            | Error message -> failtest message
        }

        test "runs.csv rows are recognised when resuming, and only with the same settings" {
            let folder = Directory.CreateTempSubdirectory "decomp-figure2-"
            try
                let run = tiny InfoNceSIs 5
                let result = Figure2.run run (fun _ _ -> ())
                let path = Path.Combine(folder.FullName, "runs.csv")
                Records.saveRuns path [ Records.ofResult result ]
                let recorded = Records.loadRuns path
                Expect.isTrue (recorded.ContainsKey(Sweep.key run)) "the same run is found"
                Expect.isFalse (recorded.ContainsKey(Sweep.key { run with Steps = 31 })) "a run with other steps is not"
                let mi, k, estimator, estimate = Records.summaryPoint recorded[Sweep.key run]
                Expect.equal (mi, k, estimator) (3.0, 8, InfoNceSIs) "the row parses back"
                Expect.equal estimate result.Estimate "to the same estimate, bit for bit"
            finally
                folder.Delete true
        }

        test "a run recorded twice, or under an unknown estimator, is refused with the file and the line" {
            let folder = Directory.CreateTempSubdirectory "decomp-figure2-"
            try
                let path = Path.Combine(folder.FullName, "runs.csv")
                let record = Records.ofResult (Figure2.run (tiny InfoNce 5) (fun _ _ -> ()))
                Records.saveRuns path [ record; { record with Estimate = 1.0 } ]
                Expect.stringStarts (refusal (fun () -> Records.loadRuns path |> ignore)) $"{path}, line 3: it records the same run as line 2" "names both lines"
                Records.saveRuns path [ { record with Run.Estimator = "MINE" } ]
                Expect.stringStarts (refusal (fun () -> Records.loadRuns path |> ignore)) $"{path}, line 2: unknown estimator 'MINE'" "names the line and the estimator"
            finally
                folder.Delete true
        }

        test "the summary is the mean and standard deviation over seeds, and the figure is a PNG" {
            let rows = [ 20.0, 64, InfoNce, 4.0; 20.0, 64, InfoNce, 4.2; 20.0, 64, InfoNceS, 6.0 ]
            let summary = Sweep.summarise rows
            let nce = summary |> List.find (fun r -> r.Estimator = InfoNce)
            Expect.floatClose Accuracy.high nce.Mean 4.1 "mean"
            Expect.floatClose Accuracy.high nce.Spread (sqrt 0.02) "sample standard deviation"
            Expect.equal (summary |> List.find (fun r -> r.Estimator = InfoNceS)).Spread 0.0 "one seed: no spread"
            let table = Sweep.markdown summary
            Expect.stringContains table[2] "4.10 ± 0.14" "the Markdown row shows mean ± sd"
            let path = Path.Combine(Path.GetTempPath(), $"figure2-{Guid.NewGuid():N}.png")
            try
                Figure2Plot.save path summary |> ignore
                let bytes = File.ReadAllBytes path
                Expect.sequenceEqual bytes[0..7] [| 0x89uy; 0x50uy; 0x4Euy; 0x47uy; 0x0Duy; 0x0Auy; 0x1Auy; 0x0Auy |] "a PNG signature"
            finally
                File.Delete path
        }
    ]
