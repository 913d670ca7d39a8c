module Decomp.Experiments.Program

open System
open System.Diagnostics
open System.IO
open Argu
open Decomp.Apps
open Decomp.Core
open Decomp.Runtime

/// The apps' one duration format (m:ss, or h:mm:ss from an hour).
let private clock (seconds: float) = Decomp.Apps.Durations.Format seconds

/// The apps' one rule for --resume (`ResumePolicy`), with runs.csv as the sweep's checkpoint: a run is finished once its
/// row is there. curves.csv alone does not count: it is written before runs.csv, so without it the folder holds curves
/// of runs that never finished, which any sweep computes again and whose points it replaces. `--fresh` on a folder that
/// holds a run says what to do with its rows, so it needs no --resume. Raises ArgumentException (exit code 2).
let private checkResumeRule (request: Request) (runsPath: string) =
    match request.Resume, File.Exists runsPath with
    | true, false -> raise (ResumePolicy.NoCheckpoint runsPath)
    | false, true when not request.Fresh -> raise (ResumePolicy.AlreadyHoldsRun runsPath)
    | _ -> ()

/// Runs the sweep batch by batch (`Sweep.batches`: the runs of one estimator and K train together as one network),
/// writing every finished batch's runs to disk before the next starts, and reports progress with an ETA (`ConsoleProgress`:
/// a bar on a terminal, a line every 10 s and after each batch otherwise) and a line per finished run. A first Ctrl+C
/// or SIGTERM abandons the batch in hand (its steps are checked between training steps) and raises
/// OperationCanceledException: the finished runs are on disk, and the same command with --resume continues after them.
/// Batches are cut from the whole plan and written in one piece, so a resumed sweep trains exactly the batches an
/// uninterrupted one would (the same numbers, bit for bit). A run recorded by another sweep leaves its batch smaller; the others then
/// get the numbers they get alone up to float rounding (each run draws from its own generator, and the batched
/// products equal the per-run ones to rounding: the equivalence test in tests/Experiments.Tests).
let private sweep (interruption: Interruption) (request: Request) =
    let s = request.Sweep
    // One process per folder: a second one would train the same runs again and overwrite this one's records.
    use folder = RunFolder.Acquire request.Output
    checkResumeRule request (RunStore.RunsPathIn folder.Path)
    // Every record is read and verified here, so a damaged file is refused before any training.
    let store = RunStore.Open folder.Path
    let plan = Sweep.plan s
    let done', todo =
        if request.Fresh then [], plan
        else plan |> List.partition (fun r -> (store.TryFind(Sweep.key r)).IsSome)
    printfn "Figure 2 sweep: true MI %s; K %s; %s; %d seed(s); %d steps; d = %d; width %d; Adam %g; device %s, %d CPU threads (native tuning: %s)"
        (String.Join(", ", s.TrueMis)) (String.Join(", ", s.Candidates)) (String.Join(", ", s.Estimators |> List.map _.Name))
        s.Seeds.Length s.Steps s.Dimensions s.Width s.LearningRate (Device.describe s.Device) (TorchSharp.torch.get_num_threads ()) (Native.cpuTuning ())
    let reuse =
        if request.Fresh then "--fresh: computing them all again"
        elif done'.IsEmpty then "none done yet"
        else $"{done'.Length} already done (resuming; --fresh starts over)"
    printfn "%d runs; %s; writing to %s" plan.Length reuse folder.Path
    // Progress counts cost (`Sweep.cost`, encodings per step), not runs: a step of InfoNCE_S costs far more than one of
    // InfoNCE, and the ETA should know it. The units mean nothing to a reader, so the lines show the percentage alone.
    let units (cost: float) = int64 (Math.Round cost)
    let mutable spentCost = 0.0
    let started = Stopwatch.StartNew()
    // Runs of one shape train together as one batched network; a batch is written to disk as soon as it ends, so an
    // interruption loses at most the batch in hand, and the same command with --resume trains it again.
    let mutable finished = done'.Length
    // Batches are cut from the whole plan, then emptied of recorded runs: a batch is written in one piece, so a sweep
    // resumed after an interruption trains exactly the batches the uninterrupted sweep would have.
    let pending = todo |> List.map Sweep.key |> Set.ofList
    let batches = Sweep.batches plan |> List.map (List.filter (fun r -> pending.Contains(Sweep.key r))) |> List.filter (not << List.isEmpty)
    if not batches.IsEmpty then
        use progress =
            ConsoleProgress.Start(Console.Out, "Figure 2", max 1L (units (todo |> List.sumBy Sweep.cost)), ProgressSettings(Unit = null, IntervalSeconds = 10.0))
        for batch in batches do
            let first = batch.Head
            let count = batch.Length
            let label = $"[{finished + 1}-{finished + count}/{plan.Length}] K {first.Candidates} {first.Estimator.Name}, {count} run(s)"
            let batchCost = batch |> List.sumBy Sweep.cost
            let report step (estimates: float[]) =
                interruption.ThrowIfRequested()
                // A run costs its steps and then its evaluation batches (`Sweep.cost`).
                let within = batchCost * float step / float (max (first.Steps + first.EvaluationBatches) 1)
                progress.Report(units (spentCost + within), $"{label}: step {step}/{first.Steps}, mean estimate {Array.average estimates:F3}")
            let results = Figure2.runBatch batch report
            spentCost <- spentCost + batchCost
            store.AddAll results
            for result in results do
                finished <- finished + 1
                let run = result.Settings
                progress.Log(
                    sprintf "[%d/%d] MI %s K %d %s seed %d: %.3f ± %.3f nats (cap %.3f, true %.3g) in %.1f s"
                        finished plan.Length (run.TrueMi.ToString "G4") run.Candidates run.Estimator.Name run.Seed result.Estimate
                        result.StandardError result.Cap result.TrueMi result.Seconds)
            progress.Report(units spentCost, $"{label}: done", force = true)
    // runs.csv keeps the rows of every sweep run in this folder; the summary and the figure are this sweep's alone.
    let summary = plan |> List.choose (fun r -> store.TryFind(Sweep.key r)) |> List.map Records.summaryPoint |> Sweep.summarise
    let table = Sweep.markdown summary
    let markdown =
        [ "# Figure 2: estimates of I({x', x''}; y) against K"
          ""
          $"Mean ± standard deviation over {s.Seeds.Length} seed(s) of each run's final estimate (nats); {s.Steps} Adam steps per run, d = {s.Dimensions}, width {s.Width}, device {s.Device}."
          "InfoNCE computes I_NCE([x', x'']; y | K); InfoNCE_S computes I_NCE(x'; y | K/2) + I_CNCE(x''; y | x', K/2); InfoNCE_S IS computes I_NCE(x'; y | K) + I_IS(x''; y | x', K)."
          "" ]
        @ table
    AtomicFile.WriteAllLines(folder.File "summary.md", markdown)
    let figure = Figure2Plot.save (folder.File "figure2.png") summary
    printfn ""
    table |> List.iter (printfn "%s")
    printfn ""
    printfn "Sweep time %s (this invocation). Wrote runs.csv, curves.csv, summary.md and %s in %s" (clock started.Elapsed.TotalSeconds) (Path.GetFileName figure) folder.Path
    printfn "SWEEP_SECONDS %.2f" started.Elapsed.TotalSeconds

/// What a stopped sweep tells its user to run next: --resume needs a recorded run, and excludes --fresh.
let private stopped (signal: System.Runtime.InteropServices.PosixSignal) (request: Request) =
    let saved = $"stopped by {signal}; the finished runs are saved in {request.Output}"
    if not (File.Exists(RunStore.RunsPathIn request.Output)) then
        $"stopped by {signal} before any run finished, so {request.Output} holds none: run the same command to start again."
    elif request.Fresh then
        $"{saved}: run the same command to compute this sweep's runs again, or pass --resume instead of --fresh to keep the recorded ones."
    else
        $"{saved}: run the same command with --resume to continue."

/// Reports `message` as one line on stderr and returns `code`.
let private fail (code: int) (message: string) =
    eprintfn "decomp-figure2: %s" (message.ReplaceLineEndings(" ").Trim())
    code

[<EntryPoint>]
let main argv =
    // Before anything loads libtorch: its OpenMP reads the environment once, at load.
    Native.tuneCpuRuntime () |> ignore
    let parser = ArgumentParser.Create<Arguments>(programName = "decomp-figure2")
    let parsed =
        try
            Ok(parser.ParseCommandLine(argv, raiseOnUsage = true))
        with
        | :? ArguParseException as e when e.ErrorCode = ErrorCode.HelpText ->
            printfn "%s" (parser.PrintUsage(message = "Reproduces Figure 2 of \"Decomposing Mutual Information for Representation Learning\" (Section 5.1, Appendix B.2): InfoNCE vs the decomposed InfoNCE_S and InfoNCE_S IS on Gaussians with known MI."))
            Error ExitCodes.Success
        | :? ArguParseException as e ->
            eprintfn "decomp-figure2: %s (see --help)" ((e.Message.Split('\n')[0]).Trim().Replace("ERROR: ", ""))
            Error ExitCodes.BadInput
    match parsed with
    | Error code -> code
    | Ok results ->
        match Cli.request results with
        | Error message -> fail ExitCodes.BadInput message
        | Ok request ->
            use interruption = new Interruption()
            try
                request.Threads |> Option.iter TorchSharp.torch.set_num_threads
                if request.Bench then
                    let s = request.Sweep
                    Figure2Bench.run s { SweepSettings.Full s.Device with Dimensions = s.Dimensions; Width = s.Width } 20 5
                else
                    sweep interruption request
                ExitCodes.Success
            with
            | :? OperationCanceledException when interruption.Requested ->
                fail ExitCodes.Interrupted (stopped interruption.Signal.Value request)
            | :? BadInputException as e -> fail ExitCodes.BadInput e.Message
            // ResumePolicy's refusals, as in every app (`CommandLineHost.ExitCodeOf`), without .NET's "(Parameter ...)".
            | :? ArgumentException as e -> fail ExitCodes.BadInput (CommandLineHost.Describe e)
            | :? RunFolderInUseException as e -> fail ExitCodes.BadInput e.Message
            | e -> fail ExitCodes.Failure e.Message
