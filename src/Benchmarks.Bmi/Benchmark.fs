namespace Decomp.Benchmarks

open System
open System.Diagnostics
open System.Collections.Generic
open System.IO
open TorchSharp
open Decomp.Core

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
      /// Whether the runs of this plan already recorded in OutputFolder's results.csv are kept instead of trained
      /// again (a run is the same when its task, method, seed, samples, MaxSteps and critic are). Groups of runs are
      /// recorded whole, so a resumed benchmark trains exactly the groups an uninterrupted one would have left. Rows
      /// of other tasks or seeds stay in the file and in the report; rows made with other samples, steps or critic are
      /// refused (ArgumentException naming the setting). Without it, results.csv is replaced.
      Resume: bool
      /// Where the critics train (None: `Device.current ()`).
      Device: torch.Device option
      /// The CI subset: when set, `Tasks` (if empty) becomes `Benchmark.quickTasks`, `Seeds` one seed, `MaxSteps` at
      /// most 150; every estimator and route still runs.
      Quick: bool
      /// Where progress goes (`ConsoleProgress`: a bar on a terminal, otherwise a line every 10 s and after each group),
      /// with a line per finished run; None: silent.
      Progress: TextWriter option
      /// Checked between training steps: once cancelled, the group in hand is abandoned and OperationCanceledException
      /// raised; every finished group is in results.csv, and `Resume` continues after it.
      Stop: Threading.CancellationToken
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
          Resume = false
          Device = None
          Quick = false
          Progress = Some Console.Error
          Stop = Threading.CancellationToken.None
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

    let private header (o: BenchmarkOptions) (seconds: float) (resumed: int) =
        let seeds = String.Join(", ", o.Seeds)
        let wall = if resumed > 0 then $"{seconds:F0} s (this invocation; {resumed} runs were resumed from results.csv)" else $"{seconds:F0} s"
        [ $"- Protocol: Decomp.Core.Estimation (bmi's: standardised columns, 50/25/25 train/validation/test split, Adam 1e-3, batch {Estimation.defaults.BatchSize}, validation every {Estimation.defaults.EvaluateEvery} steps, patience {Estimation.defaults.Patience}, estimate on the test part)."
          $"- N = {o.Samples} rows per sample, seeds {seeds}, at most {o.MaxSteps} steps, critic {o.Critic} (hidden {Estimation.defaults.HiddenSizes}, embedding {Estimation.defaults.EmbeddingSize}); conditional tasks: InfoNCE by each route."
          $"- Wall time: {wall}."
          "- Runs of one estimator (or route) and one shape of data train together as one batched network, each with its own sample, seed and early stopping (Estimation.mutualInformationBatched)."
          "- A cell is the mean ± sd over seeds of the test estimate (no runs dropped); bold: closest to the truth." ]

    /// Writes results.csv, results.md (with `header` lines) and heatmap.png of `runs` into `folder`, each atomically.
    let writeReport (folder: string) (header: string list) (runs: BenchmarkRun list) =
        let csv, md, png = paths folder
        Report.save csv runs
        Decomp.Apps.AtomicFile.WriteAllText(md, Report.markdown header runs)
        Decomp.Apps.AtomicFile.WriteAllBytes(png, ReadOnlyMemory(Report.heatmapPng runs))

    /// The name a critic is recorded under.
    let private criticName (critic: CriticArchitecture) = (string critic).ToLowerInvariant()

    /// One run of the plan before it trains: everything its row records but the results.
    type private PlannedRun =
        { Task: string; Kind: string; DimX: int; DimY: int; DimZ: int; Method: string; Seed: int; Truth: float; Critic: string }

    /// The runs recorded in results.csv that a resumed benchmark may keep: made with this benchmark's samples, steps
    /// and critic (checked on every row, so that the report never mixes protocols).
    let private recorded (o: BenchmarkOptions) (csv: string) =
        if not (o.Resume && File.Exists csv) then []
        else
            let runs = Report.load csv
            let refuse (setting: string) (was: obj) (now: obj) (r: BenchmarkRun) =
                raise (ArgumentException($"{csv} records runs made with {setting} {was} ({r.Task} {r.Method} seed {r.Seed}), and this benchmark asks for {now}: resume with the settings they were made with, or write to another OutputFolder.", setting))
            for r in runs do
                if r.Samples <> o.Samples then refuse "Samples" r.Samples o.Samples r
                if r.MaxSteps <> o.MaxSteps then refuse "MaxSteps" r.MaxSteps o.MaxSteps r
                if r.Kind = "mi" && r.Critic <> criticName o.Critic then refuse "Critic" r.Critic (criticName o.Critic) r
            runs

    let private execute (options: BenchmarkOptions) : BenchmarkResult =
        let o = effective options
        Directory.CreateDirectory o.OutputFolder |> ignore
        let csv, _, _ = paths o.OutputFolder
        let kept = recorded o csv
        let miTasks = Tasks.all |> List.filter (fun t -> selected o t.Id)
        let cmiTasks = if o.Conditional then Tasks.conditional |> List.filter (fun t -> selected o t.Id) else []
        let total = o.Seeds.Length * (miTasks.Length * o.Estimators.Length + cmiTasks.Length * o.Routes.Length)
        let identity (task: string) (method: string) (seed: int) (critic: string) = task, method, seed, critic
        let keptBy = kept |> List.map (fun r -> identity r.Task r.Method r.Seed r.Critic, r) |> dict
        let isKept (p: PlannedRun) = keptBy.ContainsKey(identity p.Task p.Method p.Seed p.Critic)
        // Runs are listed (and written) in plan order: task, seed, method; kept rows outside this plan follow them.
        let runs = SortedDictionary<int, BenchmarkRun>()
        let plannedIdentities =
            set [ for t in miTasks do for seed in o.Seeds do for e in o.Estimators -> identity t.Id e.Name seed (criticName o.Critic)
                  for t in cmiTasks do for seed in o.Seeds do for r in o.Routes -> identity t.Id r.Name seed (criticName Separable) ]
        let planned (r: BenchmarkRun) = plannedIdentities.Contains(identity r.Task r.Method r.Seed r.Critic)
        let resumed = kept |> List.filter planned |> List.length
        // Kept rows outside this plan (other tasks or seeds) stay in results.csv, after the plan's runs.
        kept |> List.filter (not << planned) |> List.iteri (fun i r -> runs[total + i] <- r)
        let mutable trained = 0
        let clock = Stopwatch.StartNew()
        let progress =
            match o.Progress with
            | Some writer when total > resumed ->
                let settings = Decomp.Apps.ProgressSettings(Unit = "run", Completed = int64 resumed, IntervalSeconds = 10.0)
                Some(Decomp.Apps.ConsoleProgress.Start(writer, "bmi benchmark", int64 total, settings))
            | _ -> None
        let finish (index: int) (run: BenchmarkRun) =
            runs[index] <- run
            trained <- trained + 1
            progress |> Option.iter (fun p ->
                let outcome =
                    match run.Error with
                    | Some error -> $"failed ({error})"
                    | None -> $"{run.Estimate:F3} (true {run.Truth:F3})"
                p.Log($"[{resumed + trained}/{total}] {run.Task} {run.Method} seed {run.Seed}: {outcome}, {run.Seconds:F1} s"))
        let estimationOptions (seed: int) (label: string) =
            let report (step: int) (_: float) (_: float) =
                o.Stop.ThrowIfCancellationRequested()
                progress |> Option.iter (fun p -> p.Report(int64 (resumed + trained), $"{label}: step {step}"))
            { Estimation.defaults with
                MaxSteps = o.MaxSteps; Critic = o.Critic; Seed = int64 seed; Device = o.Device; Progress = Some report }
        // One estimator that diverges (an overflowing bound) must not end the benchmark: the run is recorded as failed.
        let outcome (p: PlannedRun) (seconds: float) (result: Result<MiEstimate, exn>) : BenchmarkRun =
            let run: BenchmarkRun =
                { Task = p.Task; Kind = p.Kind; DimX = p.DimX; DimY = p.DimY; DimZ = p.DimZ; Method = p.Method; Seed = p.Seed
                  Samples = o.Samples; MaxSteps = o.MaxSteps; Critic = p.Critic; Truth = p.Truth; Estimate = nan; StandardError = nan
                  Lower = nan; Upper = nan; Steps = 0; BestStep = 0; Seconds = seconds; Warnings = []; Error = None }
            match result with
            | Ok e ->
                { run with
                    Estimate = e.Value; StandardError = e.StandardError; Lower = e.Lower; Upper = e.Upper; Steps = e.Steps
                    BestStep = e.BestStep; Seconds = e.Seconds; Warnings = e.Warnings }
            | Error e -> { run with Error = Some(e.Message.Split('\n')[0]) }
        // The runs of one shape train as one batched network (see the module's summary). A joint critic scores B^2
        // pairs a run and step, so its batches are cut to about `maxPairRows` rows.
        let runsPerBatch = max 1 (maxPairRows / (if o.Critic = Joint then pown Estimation.defaults.BatchSize 2 else Estimation.defaults.BatchSize))
        // A group is cut from the whole plan and then emptied of its kept runs, and results.csv is rewritten once per
        // finished group: so a resumed benchmark trains the groups an uninterrupted one would have (the same numbers).
        let trainGroup (planned: (PlannedRun * int) list) (estimate: string -> int list -> Result<MiEstimate, exn> list) =
            let todo =
                planned
                |> List.indexed
                |> List.filter (fun (_, (p, index)) ->
                    match keptBy.TryGetValue(identity p.Task p.Method p.Seed p.Critic) with
                    | true, run ->
                        runs[index] <- run
                        false
                    | _ -> true)
            if not todo.IsEmpty then
                let first = fst (snd todo.Head)
                let shape = if first.Kind = "cmi" then $"{first.DimX}×{first.DimY}|{first.DimZ}" else $"{first.DimX}×{first.DimY}"
                let label = $"{first.Method} on {shape}, {todo.Length} run(s)"
                o.Stop.ThrowIfCancellationRequested()
                progress |> Option.iter (fun p -> p.Report(int64 (resumed + trained), label))
                let started = Stopwatch.StartNew()
                let results =
                    try estimate label (List.map fst todo)
                    with :? ArgumentException | :? ArithmeticException as e -> todo |> List.map (fun _ -> Error e)
                let seconds = started.Elapsed.TotalSeconds / float todo.Length
                List.iter2 (fun (_, (p, index)) result -> finish index (outcome p seconds result)) todo results
                Report.save csv runs.Values
                progress |> Option.iter (fun p -> p.Report(int64 (resumed + trained), $"{label}: done", force = true))
        // The runs of one kind of task (MI or conditional MI): grouped by the data's shape, then by method, then cut
        // into chunks of at most `runsPerBatch`, each trained as one batched network. A run's place in the plan is
        // `first` + its task, then seed, then method.
        let trainKind (tasks: 'task list) (shape: 'task -> int list) (methods: string list) (first: int) (plan: 'task -> string -> int -> PlannedRun)
                      (draw: 'task -> int -> 'sample) (estimate: int -> string -> (int * 'sample) list -> Result<MiEstimate, exn> list) =
            for _, group in List.indexed tasks |> List.groupBy (snd >> shape) do
                use scope = torch.NewDisposeScope()
                let slots = [| for t, task in group do for s, seed in List.indexed o.Seeds -> task, seed, first + (t * o.Seeds.Length + s) * methods.Length |]
                let planned (m: int) (method: string) = [ for task, seed, place in slots -> plan task method seed, place + m ]
                // Drawn here, in the group's scope, unless every run of the group is kept: a resumed group costs nothing.
                let allKept = methods |> List.indexed |> List.forall (fun (m, method) -> planned m method |> List.forall (fst >> isKept))
                let samples = if allKept then [||] else [| for task, seed, _ in slots -> draw task seed |]
                for m, method in List.indexed methods do
                    for chunk in List.chunkBySize runsPerBatch (List.indexed (planned m method)) do
                        use inner = torch.NewDisposeScope()
                        trainGroup (List.map snd chunk) (fun label positions ->
                            estimate m label [ for position in positions -> let slot = fst chunk[position] in (let _, seed, _ = slots[slot] in seed), samples[slot] ])
        try
            trainKind miTasks (fun t -> [ t.DimX; t.DimY ]) (o.Estimators |> List.map _.Name) 0
                (fun t method seed ->
                    { Task = t.Id; Kind = "mi"; DimX = t.DimX; DimY = t.DimY; DimZ = 0; Method = method; Seed = seed; Truth = t.TrueMi; Critic = criticName o.Critic })
                (fun t seed -> t.Sample o.Samples seed)
                (fun m label runs ->
                    Estimation.mutualInformationBatched [ for seed, (x, y) in runs -> { estimationOptions seed label with Estimator = o.Estimators[m] }, x, y ])
            trainKind cmiTasks (fun t -> [ t.DimX; t.DimY; t.DimZ ]) (o.Routes |> List.map _.Name) (miTasks.Length * o.Seeds.Length * o.Estimators.Length)
                (fun t method seed ->
                    { Task = t.Id; Kind = "cmi"; DimX = t.DimX; DimY = t.DimY; DimZ = t.DimZ; Method = method; Seed = seed; Truth = t.TrueCmi; Critic = criticName Separable })
                (fun t seed -> t.Sample o.Samples seed)
                (fun m label runs ->
                    Estimation.conditionalMutualInformationBatched o.Routes[m] [ for seed, (x, y, z) in runs -> { estimationOptions seed label with Critic = Separable }, x, y, z ])
        finally
            progress |> Option.iter (fun p -> p.Dispose())
        let runs = List.ofSeq runs.Values
        let seconds = clock.Elapsed.TotalSeconds
        if not runs.IsEmpty then writeReport o.OutputFolder (header o seconds resumed) runs
        let cells = Report.cells runs
        let csv, md, png = paths o.OutputFolder
        { Runs = runs
          Cells = cells
          WithinTenPercent = Report.withinTenPercent cells
          CsvPath = csv
          MarkdownPath = md
          HeatmapPath = png
          Seconds = seconds }

    /// Runs every selected estimator on every selected task and seed (keeping those results.csv already records with
    /// `Resume`); results.csv is rewritten (atomically) after each group of runs, results.md and heatmap.png at the end.
    /// Returns the runs, their summary and the paths.
    let run (options: BenchmarkOptions) : BenchmarkResult =
        match options.Threads with
        | None -> execute options
        | Some threads ->
            let previous = torch.get_num_threads ()
            torch.set_num_threads threads
            try execute options finally torch.set_num_threads previous
