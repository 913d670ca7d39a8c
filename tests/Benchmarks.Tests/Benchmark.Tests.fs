module Decomp.Benchmarks.Tests.BenchmarkTests

open System
open System.IO
open Expecto
open Decomp.Core
open Decomp.Benchmarks

let private fake task kind meth seed truth estimate : BenchmarkRun =
    { Task = task; Kind = kind; DimX = 0; DimY = 0; DimZ = 0; Method = meth; Seed = seed; Samples = 0; MaxSteps = 0; Critic = "separable"; Truth = truth
      Estimate = estimate; StandardError = 0.0; Lower = 0.0; Upper = 0.0; Steps = 0; BestStep = 0; Seconds = 0.0; Warnings = []; Error = None }

[<Tests>]
let report =
    testList "benchmark report" [
        test "cells: mean and sd over seeds; within 10% of the truth" {
            let runs = [ fake "a" "mi" "infonce" 0 1.0 0.9; fake "a" "mi" "infonce" 1 1.0 1.1; fake "a" "mi" "nwj" 0 1.0 0.5 ]
            let cells = Report.cells runs
            let infonce = cells |> List.find (fun c -> c.Method = "infonce")
            Expect.floatClose Accuracy.veryHigh infonce.Mean 1.0 "mean"
            Expect.floatClose Accuracy.veryHigh infonce.Sd (sqrt 0.02) "sd"
            Expect.isTrue infonce.WithinTenPercent "1.0 is within 10% of 1.0"
            Expect.equal (Report.withinTenPercent cells) [ "infonce", 1, 1; "nwj", 0, 1 ] "counts"
        }
        test "patterns: '*' matches any run of characters, otherwise the whole id" {
            Expect.isTrue (Benchmark.matches "multinormal-*" "multinormal-dense-2-2-0.5") "prefix"
            Expect.isTrue (Benchmark.matches "*spiral*" "spiral-multinormal-sparse-3-3-2-2.0") "infix"
            Expect.isFalse (Benchmark.matches "1v1-normal" "1v1-normal-0.75") "whole id"
            Expect.throwsT<ArgumentException> (fun () -> Benchmark.effective { Benchmark.defaults with Tasks = [ "no-such-task" ] } |> ignore) "unknown task"
        }
    ]

[<Tests>]
let quick =
    testSequenced <| testList "quick benchmark" [
        test "the quick run writes results.csv (one line per run), results.md and heatmap.png in under 2 minutes" {
            let folder = Path.Combine(Path.GetTempPath(), $"decomp-bmi-{Guid.NewGuid():N}")
            try
                let progress = new StringWriter()
                let result = Benchmark.run { Benchmark.defaults with Quick = true; OutputFolder = folder; Progress = Some progress }
                let mi = Benchmark.quickTasks |> List.filter (fun t -> not (t.StartsWith "conditional"))
                let expected = mi.Length * MiEstimator.All.Length + 2
                Expect.equal result.Runs.Length expected "every estimator on every MI task, both routes on the conditional task"
                let lines = progress.ToString().Split('\n') |> Array.filter (fun l -> l.StartsWith "[")
                Expect.equal lines.Length expected "a progress line per run"
                Expect.stringContains (progress.ToString()) "ETA" "progress carries the ETA"
                let csv = File.ReadAllLines result.CsvPath
                Expect.equal csv.Length (expected + 1) "header + one line per run"
                Expect.stringStarts csv[0] "task,kind,dim_x,dim_y,dim_z,method,seed" "header"
                Expect.stringEnds csv[0] ",checksum" "every row carries its checksum"
                for id in Benchmark.quickTasks do
                    Expect.equal (csv |> Array.filter (fun l -> l.StartsWith(id + ",")) |> Array.length)
                                 (if id.StartsWith "conditional" then 2 else MiEstimator.All.Length) $"{id} rows"
                let back = Report.load result.CsvPath |> List.map (fun r -> { r with Seconds = 0.0 })
                let same (a: BenchmarkRun) (b: BenchmarkRun) = a = b || (Double.IsNaN a.Estimate && Double.IsNaN b.Estimate && a.Error = b.Error)
                Expect.isTrue (List.forall2 same back (result.Runs |> List.map (fun r -> { r with Seconds = 0.0 }))) "the CSV reads back to the same runs"
                let md = File.ReadAllText result.MarkdownPath
                for id in Benchmark.quickTasks do Expect.stringContains md $"`{id}`" $"{id} in the table"
                for e in MiEstimator.All do Expect.stringContains md $"| {e.Name} |" $"{e.Name} in the within-10%% summary"
                let png = File.ReadAllBytes result.HeatmapPath
                Expect.sequenceEqual png[0..3] [| 0x89uy; 0x50uy; 0x4Euy; 0x47uy |] "a PNG"
                Expect.isEmpty (Directory.GetFiles(folder, "*.decomp-tmp")) "no temporary files left"
                Expect.isTrue (result.Runs |> List.forall (fun r -> r.Steps <= 150)) "within the step limit"
                Expect.isTrue (result.Runs |> List.forall (fun r -> r.Error.IsSome || Double.IsFinite r.Estimate)) "an estimate or a recorded failure"
                Expect.isLessThan result.Seconds 120.0 "under 2 minutes"
                let gaussian = result.Cells |> List.find (fun c -> c.Task = "1v1-normal-0.75" && c.Method = "infonce")
                Expect.isLessThan (abs (gaussian.Mean - gaussian.Truth)) 0.15 "InfoNCE finds the binormal's 0.41 nats"
            finally
                if Directory.Exists folder then Directory.Delete(folder, true)
        }
    ]

/// A writer that cancels `stop` once it has been given `count` lines starting with "[" (a finished run each).
type private CancelAfterRuns(count: int, stop: Threading.CancellationTokenSource) =
    inherit StringWriter()
    let mutable runs = 0
    override _.WriteLine(line: string) =
        if not (isNull line) && line.StartsWith "[" then
            runs <- runs + 1
            if runs >= count then stop.Cancel()

/// The exception of type 'e that `f` raises; fails the test when it raises none.
let private raised<'e when 'e :> exn> (f: unit -> unit) (what: string) : 'e =
    try
        f ()
        failtest $"{what}: expected {typeof<'e>.Name}, nothing was raised"
    with :? 'e as e -> e

[<Tests>]
let resume =
    // Two estimators on one task, two seeds: two groups of two runs, a few seconds in all.
    let small folder =
        { Benchmark.defaults with
            Tasks = [ "1v1-normal-0.75" ]; Estimators = [ InfoNce; Nwj ]; Conditional = false; Seeds = [ 0; 1 ]; MaxSteps = 200
            OutputFolder = folder; Progress = None }
    let withoutTime (runs: BenchmarkRun list) = runs |> List.map (fun r -> { r with Seconds = 0.0 })
    let inFolder (body: string -> unit) =
        let folder = Path.Combine(Path.GetTempPath(), $"decomp-bmi-{Guid.NewGuid():N}")
        try body folder finally if Directory.Exists folder then Directory.Delete(folder, true)
    testSequenced <| testList "benchmark resume" [
        test "stopped after its first group, a resumed benchmark ends with exactly the runs of an uninterrupted one" {
            inFolder (fun whole ->
                inFolder (fun stopped ->
                    let uninterrupted = Benchmark.run (small whole)
                    use stop = new Threading.CancellationTokenSource()
                    let cancelling = new CancelAfterRuns(2, stop)
                    raised<OperationCanceledException> (fun () -> Benchmark.run { small stopped with Progress = Some cancelling; Stop = stop.Token } |> ignore)
                        "the stop ends the run" |> ignore
                    let kept = Report.load (Path.Combine(stopped, "results.csv"))
                    Expect.equal kept.Length 2 "the first group (two runs) was recorded before the stop; the second was not"
                    let resumed = Benchmark.run { small stopped with Resume = true }
                    Expect.equal (withoutTime resumed.Runs) (withoutTime uninterrupted.Runs) "the same runs, bit for bit, in plan order"
                    // The first group is InfoNCE's; the plan lists task, seed, then method.
                    let firstGroup = resumed.Runs |> List.filter (fun r -> r.Method = InfoNce.Name)
                    Expect.equal firstGroup kept "the recorded runs were kept as recorded (their timings too), not trained again"))
        }
        test "resuming with other steps is refused by the setting's name; a damaged row or a run recorded twice by its line" {
            inFolder (fun folder ->
                Benchmark.run (small folder) |> ignore
                let e = raised<ArgumentException> (fun () -> Benchmark.run { small folder with Resume = true; MaxSteps = 100 } |> ignore) "other steps"
                Expect.equal e.ParamName "MaxSteps" "names the setting"
                let csv = Path.Combine(folder, "results.csv")
                let lines = File.ReadAllLines csv
                File.WriteAllLines(csv, Array.append lines[.. 1] [| lines[2].Replace("1v1-normal-0.75,mi", "1v1-normal-0.75,cmi") |])
                let damaged = raised<Decomp.Apps.BadInputException> (fun () -> Benchmark.run { small folder with Resume = true } |> ignore) "an edited row"
                Expect.stringContains damaged.Message "line 3" "names the line"
                File.WriteAllLines(csv, Array.append lines [| lines[1] |])
                let twice = raised<Decomp.Apps.BadInputException> (fun () -> Benchmark.run { small folder with Resume = true } |> ignore) "a run recorded twice"
                Expect.stringContains twice.Message $"line {lines.Length + 1}: it records the same run as line 2" "names both lines")
        }
    ]
