namespace Decomp.Experiments

open System
open System.IO
open CsvHelper.Configuration.Attributes
open Decomp.Apps

/// One finished run, a row of runs.csv: the settings that identify it, then its results.
[<CLIMutable>]
type RunRecord =
    { Run: RunKey
      [<Name "estimate">] Estimate: float
      [<Name "standard_error">] StandardError: float
      [<Name "cap">] Cap: float
      [<Name "first_view_mi">] FirstViewMi: float
      [<Name "conditional_mi">] ConditionalMi: float
      /// Wall-clock seconds, rounded to hundredths (a timing, not a result).
      [<Name "seconds">] Seconds: float }

/// One point of a run's training curve, a row of curves.csv: the run's settings, the step and the estimate there.
[<CLIMutable>]
type CurveRecord =
    { Run: RunKey
      [<Name "step">] Step: int
      [<Name "estimate">] Estimate: float }

/// Converting runs to records and back.
module Records =

    let ofResult (r: RunResult) : RunRecord =
        { Run = Sweep.key r.Settings
          Estimate = r.Estimate
          StandardError = r.StandardError
          Cap = r.Cap
          FirstViewMi = r.FirstViewMi
          ConditionalMi = r.ConditionalMi
          Seconds = Math.Round(r.Seconds, 2) }

    let curveOf (r: RunResult) : CurveRecord list =
        r.Curve |> List.map (fun p -> { Run = Sweep.key r.Settings; Step = p.Step; Estimate = p.Estimate })

    /// The (true MI, K, estimator, estimate) of a recorded run, as `Sweep.summarise` takes it.
    let summaryPoint (r: RunRecord) =
        match Estimator.Parse r.Run.Estimator with
        | Ok e -> r.Run.TrueMi, r.Run.Candidates, e, r.Estimate
        | Error message -> invalidOp message // `readRuns` refuses records with unknown estimators

    /// The records of `path`, strictly (see `CsvRecordFile.Read`), with an estimator every record must name.
    let private read<'record> (path: string) (run: 'record -> RunKey) : CsvLine<'record> list =
        let lines = CsvRecordFile.Read<'record> path |> List.ofSeq
        for line in lines do
            match Estimator.Parse (run line.Record).Estimator with
            | Ok _ -> ()
            | Error message -> raise (CsvRecordFile.Invalid(path, line.Line, message))
        lines

    /// The runs recorded in runs.csv, in file order. A run recorded twice is refused: one of the two rows would have to
    /// be ignored without knowing which is right.
    let readRuns (path: string) : RunRecord list =
        let lines = read<RunRecord> path _.Run
        lines
        |> List.fold
            (fun (seen: Map<RunKey, int>) line ->
                match seen.TryFind line.Record.Run with
                | Some first -> raise (CsvRecordFile.Invalid(path, line.Line, $"it records the same run as line {first}"))
                | None -> seen.Add(line.Record.Run, line.Line))
            Map.empty
        |> ignore
        lines |> List.map _.Record

    /// The runs recorded in runs.csv, keyed by their settings (see `readRuns`).
    let loadRuns (path: string) : Map<RunKey, RunRecord> = readRuns path |> List.map (fun r -> r.Run, r) |> Map.ofList

    let loadCurves (path: string) : CurveRecord list = read<CurveRecord> path _.Run |> List.map _.Record

    let saveRuns (path: string) (runs: RunRecord seq) = CsvRecordFile.Write(path, runs)

    let saveCurves (path: string) (curves: CurveRecord seq) = CsvRecordFile.Write(path, curves)

/// The records of a run folder: runs.csv, one row per finished run, and curves.csv, the training curves of those runs.
/// Both keep the rows of every sweep run in the folder: a sweep with other settings adds its own rows and never removes
/// another's. Everything is read, strictly, when the store is opened, so damage is reported before any training.
type RunStore private (runsPath: string, curvesPath: string, runs: ResizeArray<RunRecord>, curves: ResizeArray<CurveRecord>) =

    /// Files that versions before the shared AtomicFile left behind when a write failed (a full disk); they hold
    /// nothing worth keeping.
    static let legacyTemporaries = [ "runs.csv.tmp"; "curves.csv.tmp"; "summary.md.tmp"; "figure2.png.tmp.png" ]

    /// The path of runs.csv in `folder`: the sweep's checkpoint, since a run is finished once its row is there.
    static member RunsPathIn(folder: string) = Path.Combine(folder, "runs.csv")

    /// Opens the records of `folder` (which its caller owns, see `RunFolder`).
    /// Raises BadInputException, naming the file and the line, for a damaged or foreign file.
    static member Open(folder: string) =
        for name in legacyTemporaries do
            File.Delete(Path.Combine(folder, name))
        let runsPath = RunStore.RunsPathIn folder
        let curvesPath = Path.Combine(folder, "curves.csv")
        // In file order, so that rewriting the file keeps it.
        let runs = if File.Exists runsPath then ResizeArray(Records.readRuns runsPath) else ResizeArray()
        let curves = if File.Exists curvesPath then ResizeArray(Records.loadCurves curvesPath) else ResizeArray()
        RunStore(runsPath, curvesPath, runs, curves)

    member _.RunsPath = runsPath
    member _.CurvesPath = curvesPath

    /// The recorded run with these settings, if any.
    member _.TryFind(key: RunKey) = runs |> Seq.tryFind (fun r -> r.Run = key)

    /// Records finished runs (a batch trained together), replacing earlier records of the same runs (`--fresh`), with
    /// one write of each file. curves.csv is written first and runs.csv last: a run counts as finished only once its
    /// row is in runs.csv, so a kill between the two writes leaves curves whose runs are computed again, and whose
    /// points this method then replaces.
    member _.AddAll(results: RunResult seq) =
        let records = results |> Seq.map (fun r -> Records.ofResult r, Records.curveOf r) |> List.ofSeq
        for record, curve in records do
            curves.RemoveAll(fun c -> c.Run = record.Run) |> ignore
            curves.AddRange curve
        Records.saveCurves curvesPath curves
        for record, _ in records do
            match runs.FindIndex(fun r -> r.Run = record.Run) with
            | -1 -> runs.Add record
            | i -> runs[i] <- record
        Records.saveRuns runsPath runs

    /// Records one finished run (see `AddAll`).
    member store.Add(result: RunResult) = store.AddAll [ result ]
