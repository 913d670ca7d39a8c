namespace Decomp.Benchmarks

open System
open System.Diagnostics
open System.Collections.Generic
open System.IO
open TorchSharp
open Decomp.Core

/// Where a benchmark stands, after each run.
type BenchmarkProgress =
    { Done: int
      Total: int
      /// The run just finished.
      Run: BenchmarkRun
      Elapsed: TimeSpan
      /// Elapsed / Done × (Total - Done).
      Remaining: TimeSpan }

    /// One line: "[12/280] multinormal-dense-2-2-0.5 infonce seed 0: 0.281 (true 0.294), 3.2 s; elapsed 0:41, ETA 14:03".
    member p.Line =
        let r = p.Run
        let clock (t: TimeSpan) = if t.TotalHours >= 1.0 then t.ToString(@"h\:mm\:ss") else t.ToString(@"m\:ss")
        let outcome =
            match r.Error with
            | Some error -> $"failed ({error})"
            | None -> $"{r.Estimate:F3} (true {r.Truth:F3})"
        $"[{p.Done}/{p.Total}] {r.Task} {r.Method} seed {r.Seed}: {outcome}, {r.Seconds:F1} s; elapsed {clock p.Elapsed}, ETA {clock p.Remaining}"

/// Settings of a benchmark run. `Benchmark.defaults` is bmi's protocol on every task; `Quick` is the CI subset.
type BenchmarkOptions =
    { /// Task ids or patterns with '*' (e.g. "multinormal-*", "*spiral*"), matched against bmi's ids and the
      /// conditional tasks' ids; empty: every task.
      Tasks: string list
      /// Estimators run on every MI task.
      Estimators: MiEstimator list
      /// Routes run on every conditional task (InfoNCE), when `Conditional` is set.
      Routes: ConditionalRoute list
      /// Whether the conditional tasks run.
      Conditional: bool
      /// The seeds: each gives its own sample and its own training (split, initialisation, batches).
      Seeds: int list
      /// Rows per sample (bmi's v1 suite: 5,000).
      Samples: int
      /// The most training steps per estimate.
      MaxSteps: int
      /// The critic of the MI estimates.
      Critic: CriticArchitecture
      /// Where results.csv, results.md and heatmap.png go (created if missing).
      OutputFolder: string
      /// The CI subset: when set, `Tasks` (if empty) becomes `Benchmark.quickTasks`, `Seeds` one seed, `MaxSteps` at
      /// most 150; every estimator and route still runs.
      Quick: bool
      /// Called after each run (the runs of one batch finish together); `Benchmark.toStandardError` prints its line.
      Progress: BenchmarkProgress -> unit
      /// torch's intra-op threads during the run (restored after), None to leave them. The critics are small, so one
      /// thread wastes little, and on a machine shared with other processes two threads per process made a run 14
      /// times slower than one (OpenMP threads spinning for a core).
      Threads: int option }

/// What a benchmark wrote and found.
type BenchmarkResult =
    { Runs: BenchmarkRun list
      Cells: BenchmarkCell list
      /// Per method: (method, tasks within 10% of the truth, tasks run).
      WithinTenPercent: (string * int * int) list
      CsvPath: string
      MarkdownPath: string
      HeatmapPath: string
      Seconds: float }

/// The bmi benchmark run with Decomp's estimators (Estimation: standardise, train/validation/test split, Adam, early
/// stopping, the estimate on the test part). The runs of one shape (an estimator or route, and the data's dimensions:
/// every task and seed of them) train as one batched network (`Estimation.mutualInformationBatched`), each with its
/// own sample, seed and early stopping, so each run's numbers are those it gets trained alone, up to float rounding.
module Benchmark =

    /// About the most rows one step of a batch of runs scores (pairs for a joint critic, examples for a separable one).
    let private maxPairRows = 1 <<< 20

    /// Prints the progress line on standard error.
    let toStandardError (p: BenchmarkProgress) = eprintfn "%s" p.Line

    /// Every task, every estimator and both routes, seeds 0..4, N = 5,000, at most 3,000 steps (Estimation's), the
    /// separable critic, into "benchmark-bmi".
    let defaults: BenchmarkOptions =
        { Tasks = []
          Estimators = MiEstimator.All
          Routes = [ ChainRule; ImportanceSampled ]
          Conditional = true
          Seeds = [ 0 .. 4 ]
          Samples = 5000
          MaxSteps = Estimation.defaults.MaxSteps
          Critic = Separable
          OutputFolder = "benchmark-bmi"
          Quick = false
          Progress = toStandardError
          Threads = Some 1 }

    /// The CI subset: a Gaussian, a heavy-tailed and a transformed task, and the Gaussian conditional task.
    let quickTasks = [ "1v1-normal-0.75"; "student-identity-2-2-1"; "half_cube-multinormal-sparse-3-3-2-2.0"; "conditional-gaussian-2-2-2" ]

    /// Whether `id` matches `pattern` ('*' matches any run of characters; otherwise the whole id).
    let matches (pattern: string) (id: string) =
        let regex = "^" + String.Join(".*", pattern.Split('*') |> Array.map Text.RegularExpressions.Regex.Escape) + "$"
        Text.RegularExpressions.Regex.IsMatch(id, regex)

    /// The options as they run: `Quick` applied, then checked (ArgumentException naming the option).
    let effective (o: BenchmarkOptions) =
        let o =
            if o.Quick then
                { o with
                    Tasks = (if o.Tasks.IsEmpty then quickTasks else o.Tasks)
                    Seeds = List.truncate 1 o.Seeds
                    MaxSteps = min o.MaxSteps 150 }
            else o
        if o.Seeds.IsEmpty then raise (ArgumentException("Seeds must hold at least one seed.", "Seeds"))
        if o.Estimators.IsEmpty && o.Routes.IsEmpty then raise (ArgumentException("Give at least one estimator or route.", "Estimators"))
        if o.MaxSteps < 1 then raise (ArgumentOutOfRangeException("MaxSteps", o.MaxSteps, "MaxSteps must be >= 1."))
        if String.IsNullOrWhiteSpace o.OutputFolder then raise (ArgumentException("OutputFolder must name a folder.", "OutputFolder"))
        let unknown =
            o.Tasks |> List.filter (fun p -> not (Tasks.all |> List.exists (fun t -> matches p t.Id) || Tasks.conditional |> List.exists (fun t -> matches p t.Id)))
        if not unknown.IsEmpty then
            raise (ArgumentException($"""No task matches {String.Join(", ", unknown)}; see Tasks.all and Tasks.conditional for the ids.""", "Tasks"))
        o

    let private selected (o: BenchmarkOptions) (id: string) = o.Tasks.IsEmpty || o.Tasks |> List.exists (fun p -> matches p id)

    /// The files of a run folder.
    let paths (folder: string) =
        Path.Combine(folder, "results.csv"), Path.Combine(folder, "results.md"), Path.Combine(folder, "heatmap.png")

    let private header (o: BenchmarkOptions) (seconds: float) =
        let seeds = String.Join(", ", o.Seeds)
        [ $"- Protocol: Decomp.Core.Estimation (bmi's: standardised columns, 50/25/25 train/validation/test split, Adam 1e-3, batch {Estimation.defaults.BatchSize}, validation every {Estimation.defaults.EvaluateEvery} steps, patience {Estimation.defaults.Patience}, estimate on the test part)."
          $"- N = {o.Samples} rows per sample, seeds {seeds}, at most {o.MaxSteps} steps, critic {o.Critic} (hidden {Estimation.defaults.HiddenSizes}, embedding {Estimation.defaults.EmbeddingSize}); conditional tasks: InfoNCE by each route."
          $"- Wall time: {seconds:F0} s."
          "- Runs of one estimator (or route) and one shape of data train together as one batched network, each with its own sample, seed and early stopping (Estimation.mutualInformationBatched)."
          "- A cell is the mean ± sd over seeds of the test estimate (no runs dropped); bold: closest to the truth." ]

    /// Writes results.csv, results.md (with `header` lines) and heatmap.png of `runs` into `folder`, each atomically.
    let writeReport (folder: string) (header: string list) (runs: BenchmarkRun list) =
        let csv, md, png = paths folder
        Decomp.Apps.AtomicFile.WriteAllLines(csv, Report.csvLines runs)
        Decomp.Apps.AtomicFile.WriteAllText(md, Report.markdown header runs)
        Decomp.Apps.AtomicFile.WriteAllBytes(png, ReadOnlyMemory(Report.heatmapPng runs))

    let private write (o: BenchmarkOptions) (runs: BenchmarkRun list) (seconds: float) (withPlot: bool) =
        if withPlot then writeReport o.OutputFolder (header o seconds) runs
        else Decomp.Apps.AtomicFile.WriteAllLines(Path.Combine(o.OutputFolder, "results.csv"), Report.csvLines runs)

    let private execute (options: BenchmarkOptions) : BenchmarkResult =
        let o = effective options
        Directory.CreateDirectory o.OutputFolder |> ignore
        let miTasks = Tasks.all |> List.filter (fun t -> selected o t.Id)
        let cmiTasks = if o.Conditional then Tasks.conditional |> List.filter (fun t -> selected o t.Id) else []
        let total = o.Seeds.Length * (miTasks.Length * o.Estimators.Length + cmiTasks.Length * o.Routes.Length)
        let clock = Stopwatch.StartNew()
        // Runs finish a group at a time; they are listed (and written) in plan order: task, seed, method.
        let runs = SortedDictionary<int, BenchmarkRun>()
        let record (index: int) (run: BenchmarkRun) =
            runs[index] <- run
            let elapsed = clock.Elapsed
            let remaining = TimeSpan.FromSeconds(elapsed.TotalSeconds / float runs.Count * float (total - runs.Count))
            o.Progress { Done = runs.Count; Total = total; Run = run; Elapsed = elapsed; Remaining = remaining }
        let estimationOptions (seed: int) =
            { Estimation.defaults with MaxSteps = o.MaxSteps; Critic = o.Critic; Seed = int64 seed }
        // One estimator that diverges (an overflowing bound) must not end the benchmark: the run is recorded as failed.
        let outcome (task, kind, dx, dy, dz, method, seed, truth) (seconds: float) (result: Result<MiEstimate, exn>) =
            match result with
            | Ok e ->
                { Task = task; Kind = kind; DimX = dx; DimY = dy; DimZ = dz; Method = method; Seed = seed; Samples = o.Samples
                  Truth = truth; Estimate = e.Value; StandardError = e.StandardError; Lower = e.Lower; Upper = e.Upper
                  Steps = e.Steps; BestStep = e.BestStep; Seconds = e.Seconds; Warnings = e.Warnings; Error = None }
            | Error e ->
                { Task = task; Kind = kind; DimX = dx; DimY = dy; DimZ = dz; Method = method; Seed = seed; Samples = o.Samples
                  Truth = truth; Estimate = nan; StandardError = nan; Lower = nan; Upper = nan; Steps = 0; BestStep = 0
                  Seconds = seconds; Warnings = []; Error = Some(e.Message.Split('\n')[0]) }
        // The runs of one shape train as one batched network (see the module's summary). A joint critic scores B^2
        // pairs a run and step, so its batches are cut to about `maxPairRows` rows.
        let runsPerBatch = max 1 (maxPairRows / (if o.Critic = Joint then pown Estimation.defaults.BatchSize 2 else Estimation.defaults.BatchSize))
        let trainGroup (keys: ((string * string * int * int * int * string * int * float) * int) list) (estimate: unit -> Result<MiEstimate, exn> list) =
            let started = Stopwatch.StartNew()
            let results =
                try estimate ()
                with :? ArgumentException | :? ArithmeticException as e -> keys |> List.map (fun _ -> Error e)
            let seconds = started.Elapsed.TotalSeconds / float keys.Length
            List.iter2 (fun (key, index) result -> record index (outcome key seconds result)) keys results
            // A group's runs end together: results.csv is rewritten once for them, not once per run.
            write o (List.ofSeq runs.Values) clock.Elapsed.TotalSeconds false
        // A run's place in the plan: task, then seed, then method.
        let place (task: int) (seed: int) (methods: int) (method: int) = (task * o.Seeds.Length + seed) * methods + method
        for _, group in List.indexed miTasks |> List.groupBy (fun (_, t) -> t.DimX, t.DimY) do
            use scope = torch.NewDisposeScope()
            let samples = [ for t, task in group do for s, seed in List.indexed o.Seeds -> (t, s), seed, task.Sample o.Samples seed ]
            for e, estimator in List.indexed o.Estimators do
                for chunk in List.chunkBySize runsPerBatch samples do
                    use inner = torch.NewDisposeScope()
                    let keys =
                        [ for (t, s), seed, _ in chunk ->
                              let task = miTasks[t]
                              (task.Id, "mi", task.DimX, task.DimY, 0, estimator.Name, seed, task.TrueMi), place t s o.Estimators.Length e ]
                    trainGroup keys (fun () ->
                        Estimation.mutualInformationBatched [ for _, seed, (x, y) in chunk -> { estimationOptions seed with Estimator = estimator }, x, y ])
        let miRuns = miTasks.Length * o.Seeds.Length * o.Estimators.Length
        for _, group in List.indexed cmiTasks |> List.groupBy (fun (_, t) -> t.DimX, t.DimY, t.DimZ) do
            use scope = torch.NewDisposeScope()
            let samples = [ for t, task in group do for s, seed in List.indexed o.Seeds -> (t, s), seed, task.Sample o.Samples seed ]
            for r, route in List.indexed o.Routes do
                for chunk in List.chunkBySize runsPerBatch samples do
                    use inner = torch.NewDisposeScope()
                    let keys =
                        [ for (t, s), seed, _ in chunk ->
                              let task = cmiTasks[t]
                              (task.Id, "cmi", task.DimX, task.DimY, task.DimZ, route.Name, seed, task.TrueCmi), miRuns + place t s o.Routes.Length r ]
                    trainGroup keys (fun () ->
                        Estimation.conditionalMutualInformationBatched route [ for _, seed, (x, y, z) in chunk -> { estimationOptions seed with Critic = Separable }, x, y, z ])
        let runs = List.ofSeq runs.Values
        let seconds = clock.Elapsed.TotalSeconds
        if not runs.IsEmpty then write o runs seconds true
        let cells = Report.cells runs
        let csv, md, png = paths o.OutputFolder
        { Runs = runs
          Cells = cells
          WithinTenPercent = Report.withinTenPercent cells
          CsvPath = csv
          MarkdownPath = md
          HeatmapPath = png
          Seconds = seconds }

    /// Runs every selected estimator on every selected task and seed; results.csv is rewritten (atomically) after each
    /// run, results.md and heatmap.png at the end. Returns the runs, their summary and the paths.
    let run (options: BenchmarkOptions) : BenchmarkResult =
        match options.Threads with
        | None -> execute options
        | Some threads ->
            let previous = torch.get_num_threads ()
            torch.set_num_threads threads
            try execute options finally torch.set_num_threads previous
