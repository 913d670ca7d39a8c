namespace Decomp.Benchmarks

open System
open System.Globalization
open System.Text
open CsvHelper.Configuration.Attributes
open Decomp.Apps

/// One estimate: a method on a task's sample of one seed.
type BenchmarkRun =
    { Task: string
      /// "mi" for bmi's tasks, "cmi" for the conditional ones.
      Kind: string
      DimX: int
      DimY: int
      /// 0 for MI tasks.
      DimZ: int
      /// The column of the tables: the estimator's name for MI, the route's name for conditional MI.
      Method: string
      Seed: int
      Samples: int
      /// The most training steps the run was allowed (its protocol; `Steps` is what it took).
      MaxSteps: int
      /// The critic's architecture ("separable" or "joint"; conditional runs always use separable encoders).
      Critic: string
      /// The true MI or conditional MI in nats.
      Truth: float
      Estimate: float
      StandardError: float
      Lower: float
      Upper: float
      Steps: int
      BestStep: int
      Seconds: float
      Warnings: string list
      /// Why the estimate failed (its numbers are then NaN), e.g. a bound that overflowed in training.
      Error: string option }

/// A row of results.csv: one run, as `CsvRecordFile` writes it (the apps' CSV dialect, numbers that read back bit for
/// bit, and a checksum column last). `Report.rowOf` and `Report.runOf` convert.
[<CLIMutable>]
type ResultRow =
    { [<Name "task">] Task: string
      [<Name "kind">] Kind: string
      [<Name "dim_x">] DimX: int
      [<Name "dim_y">] DimY: int
      [<Name "dim_z">] DimZ: int
      [<Name "method">] Method: string
      [<Name "seed">] Seed: int
      [<Name "samples">] Samples: int
      [<Name "max_steps">] MaxSteps: int
      [<Name "critic">] Critic: string
      [<Name "truth">] Truth: float
      [<Name "estimate">] Estimate: float
      [<Name "standard_error">] StandardError: float
      [<Name "lower">] Lower: float
      [<Name "upper">] Upper: float
      [<Name "steps">] Steps: int
      [<Name "best_step">] BestStep: int
      /// A timing, not a result: hundredths are enough.
      [<Name "seconds"; Rounded 2>] Seconds: float
      /// The run's warnings joined by " | ".
      [<Name "warnings">] Warnings: string
      /// Empty when the run did not fail.
      [<Name "error">] Error: string }

/// The runs of one task and method summarised over seeds.
type BenchmarkCell =
    { Task: string
      Kind: string
      Method: string
      Truth: float
      Mean: float
      /// The standard deviation over seeds (0 with one seed).
      Sd: float
      /// Seeds with an estimate (failed runs are left out of the mean).
      Seeds: int
      /// Seeds whose run failed.
      Failed: int
      /// |Mean - Truth| <= 0.1 Truth.
      WithinTenPercent: bool }

/// The benchmark's files: every run as CSV, the mean ± sd table as Markdown, the heatmap of estimate / truth as PNG.
module Report =

    /// What joins a run's warnings in its row.
    [<Literal>]
    let WarningSeparator = " | "

    /// The share of the truth within which an estimate counts as right.
    [<Literal>]
    let Tolerance = 0.1

    /// One cell per task and method, in the order the runs came.
    let cells (runs: BenchmarkRun list) : BenchmarkCell list =
        runs
        |> List.groupBy (fun r -> r.Task, r.Method)
        |> List.map (fun ((task, method), rs) ->
            let values = rs |> List.filter (fun r -> r.Error.IsNone) |> List.map _.Estimate
            // The apps' one mean ± sd; no successful run leaves NaN, a single one no spread (0 here).
            let stats = Decomp.Apps.MeanAndDeviation.Of values |> Option.ofNullable
            let mean = stats |> Option.map _.Mean |> Option.defaultValue nan
            let sd = stats |> Option.bind (fun s -> Option.ofNullable s.Deviation) |> Option.defaultValue 0.0
            let truth = rs.Head.Truth
            { Task = task
              Kind = rs.Head.Kind
              Method = method
              Truth = truth
              Mean = mean
              Sd = sd
              Seeds = values.Length
              Failed = rs.Length - values.Length
              WithinTenPercent = abs (mean - truth) <= Tolerance * truth })

    /// Per method, in order of first appearance: (method, tasks within 10% of the truth, tasks run).
    let withinTenPercent (cells: BenchmarkCell list) =
        cells
        |> List.groupBy _.Method
        |> List.map (fun (method, cs) -> method, (cs |> List.filter _.WithinTenPercent |> List.length), cs.Length)

    /// The row of results.csv that records `run`.
    let rowOf (run: BenchmarkRun) : ResultRow =
        { Task = run.Task; Kind = run.Kind; DimX = run.DimX; DimY = run.DimY; DimZ = run.DimZ; Method = run.Method; Seed = run.Seed
          Samples = run.Samples; MaxSteps = run.MaxSteps; Critic = run.Critic; Truth = run.Truth; Estimate = run.Estimate
          StandardError = run.StandardError; Lower = run.Lower; Upper = run.Upper; Steps = run.Steps; BestStep = run.BestStep
          Seconds = run.Seconds; Warnings = String.Join(WarningSeparator, run.Warnings); Error = defaultArg run.Error "" }

    /// The run a row of results.csv records.
    let runOf (row: ResultRow) : BenchmarkRun =
        let text (s: string) = if isNull s then "" else s
        { Task = row.Task; Kind = row.Kind; DimX = row.DimX; DimY = row.DimY; DimZ = row.DimZ; Method = row.Method; Seed = row.Seed
          Samples = row.Samples; MaxSteps = row.MaxSteps; Critic = row.Critic; Truth = row.Truth; Estimate = row.Estimate
          StandardError = row.StandardError; Lower = row.Lower; Upper = row.Upper; Steps = row.Steps; BestStep = row.BestStep
          Seconds = row.Seconds
          Warnings = (if text row.Warnings = "" then [] else row.Warnings.Split(WarningSeparator) |> List.ofArray)
          Error = (if text row.Error = "" then None else Some row.Error) }

    /// Replaces results.csv at `path` by `runs`, atomically, one checksummed row per run (`CsvRecordFile.Write`).
    let save (path: string) (runs: BenchmarkRun seq) = CsvRecordFile.Write(path, runs |> Seq.map rowOf)

    /// The runs of the results.csv at `path`, in file order, every row verified (to resume, merge runs made apart, or
    /// redraw the report). Raises BadInputException, naming the file and the line, for a row that is cut, edited or
    /// not a run, for a file of an earlier version (without the checksum column), and for a run recorded twice (one of
    /// the two rows would have to be ignored without knowing which is right).
    let load (path: string) : BenchmarkRun list =
        let lines = CsvRecordFile.Read<ResultRow> path |> List.ofSeq
        let identity (r: ResultRow) = r.Task, r.Method, r.Seed, r.Samples, r.MaxSteps, r.Critic
        lines
        |> List.fold
            (fun (seen: Map<_, int>) line ->
                match seen.TryFind(identity line.Record) with
                | Some first -> raise (CsvRecordFile.Invalid(path, line.Line, $"it records the same run as line {first}"))
                | None -> seen.Add(identity line.Record, line.Line))
            Map.empty
        |> ignore
        lines |> List.map (fun line -> runOf line.Record)

    let private f2 (v: float) = v.ToString("F2", CultureInfo.InvariantCulture)

    let private table (text: StringBuilder) (title: string) (truthName: string) (runs: BenchmarkRun list) (cells: BenchmarkCell list) =
        let methods = cells |> List.map _.Method |> List.distinct
        let tasks = runs |> List.distinctBy _.Task
        text.AppendLine($"## {title}").AppendLine() |> ignore
        let dims (r: BenchmarkRun) = if r.Kind = "cmi" then $"{r.DimX} × {r.DimY} \\| {r.DimZ}" else $"{r.DimX} × {r.DimY}"
        text.AppendLine("| task | dims | " + truthName + " | " + String.Join(" | ", methods) + " |") |> ignore
        text.AppendLine("|---|---|---:|" + String.replicate methods.Length "---:|") |> ignore
        for r in tasks do
            let row = cells |> List.filter (fun c -> c.Task = r.Task)
            let best = row |> List.minBy (fun c -> if Double.IsNaN c.Mean then infinity else abs (c.Mean - c.Truth))
            let cell m =
                match row |> List.tryFind (fun c -> c.Method = m) with
                | None -> ""
                | Some c ->
                    let value =
                        if c.Seeds = 0 then "failed"
                        elif c.Seeds > 1 then $"{f2 c.Mean} ± {f2 c.Sd}"
                        else f2 c.Mean
                    let value = if c.Failed > 0 && c.Seeds > 0 then $"{value} ({c.Failed} failed)" else value
                    if c.Method = best.Method then $"**{value}**" else value
            let truth = r.Truth.ToString("F3", CultureInfo.InvariantCulture)
            text.AppendLine($"| `{r.Task}` | {dims r} | {truth} | " + String.Join(" | ", methods |> List.map cell) + " |") |> ignore
        text.AppendLine() |> ignore

    /// The Markdown report: what ran, the mean ± sd (over seeds) per task and method beside the truth (the closest in
    /// bold), and how many tasks each method gets within 10% of the truth.
    let markdown (header: string list) (runs: BenchmarkRun list) =
        let all = cells runs
        let text = StringBuilder()
        text.AppendLine("# bmi benchmark").AppendLine() |> ignore
        for line in header do text.AppendLine(line) |> ignore
        text.AppendLine() |> ignore
        let mi = runs |> List.filter (fun r -> r.Kind = "mi")
        let cmi = runs |> List.filter (fun r -> r.Kind = "cmi")
        if not mi.IsEmpty then table text "I(X; Y), estimate in nats (mean ± sd over seeds)" "true MI" mi (all |> List.filter (fun c -> c.Kind = "mi"))
        if not cmi.IsEmpty then table text "I(X; Y | Z), InfoNCE by each route" "true CMI" cmi (all |> List.filter (fun c -> c.Kind = "cmi"))
        text.AppendLine("## Tasks within 10% of the truth").AppendLine() |> ignore
        text.AppendLine("| method | within 10% | tasks |").AppendLine("|---|---:|---:|") |> ignore
        for method, hits, count in withinTenPercent all do
            text.AppendLine($"| {method} | {hits} | {count} |") |> ignore
        text.ToString()

    /// The heatmap in bmi's style: one row per task (its true value in the label), one column per method, the colour
    /// the mean estimate over the truth (clamped to [0, 1.5]), each cell annotated with that ratio. Saved as PNG bytes.
    let heatmapPng (runs: BenchmarkRun list) : byte[] =
        let all = cells runs
        let tasks = runs |> List.distinctBy _.Task
        let methods = all |> List.map _.Method |> List.distinct |> Array.ofList
        let rows, columns = tasks.Length, methods.Length
        let ratio = Array2D.create rows columns nan
        let failed = Array2D.create rows columns false
        tasks |> List.iteri (fun i r ->
            methods |> Array.iteri (fun j m ->
                match all |> List.tryFind (fun c -> c.Task = r.Task && c.Method = m) with
                | Some c when c.Seeds = 0 -> failed[i, j] <- true
                | Some c -> ratio[i, j] <- c.Mean / c.Truth
                | None -> ()))
        use plot = new ScottPlot.Plot()
        let heatmap = plot.Add.Heatmap(ratio |> Array2D.map (fun v -> if Double.IsNaN v then v else Math.Clamp(v, 0.0, 1.5)))
        heatmap.Colormap <- ScottPlot.Colormaps.Viridis()
        heatmap.ManualRange <- Nullable(ScottPlot.Range(0.0, 1.5))
        heatmap.NaNCellColor <- ScottPlot.Colors.White
        heatmap.Rectangle <- ScottPlot.CoordinateRect(0.0, float columns, 0.0, float rows)
        for i in 0 .. rows - 1 do
            for j in 0 .. columns - 1 do
                if failed[i, j] then
                    let label = plot.Add.Text("failed", float j + 0.5, float (rows - i) - 0.5)
                    label.LabelFontSize <- 11.0f
                    label.LabelAlignment <- ScottPlot.Alignment.MiddleCenter
                    label.LabelFontColor <- ScottPlot.Colors.Gray
                elif not (Double.IsNaN ratio[i, j]) then
                    let label = plot.Add.Text(ratio[i, j].ToString("F2", CultureInfo.InvariantCulture), float j + 0.5, float (rows - i) - 0.5)
                    label.LabelFontSize <- 11.0f
                    label.LabelAlignment <- ScottPlot.Alignment.MiddleCenter
                    label.LabelFontColor <- if ratio[i, j] > 0.9 then ScottPlot.Colors.Black else ScottPlot.Colors.White
        let bottom = ScottPlot.TickGenerators.NumericManual()
        methods |> Array.iteri (fun j m -> bottom.AddMajor(float j + 0.5, m))
        plot.Axes.Bottom.TickGenerator <- bottom
        plot.Axes.Bottom.TickLabelStyle.Rotation <- -35.0f
        plot.Axes.Bottom.TickLabelStyle.Alignment <- ScottPlot.Alignment.UpperRight
        plot.Axes.Bottom.MinimumSize <- 110.0f
        let left = ScottPlot.TickGenerators.NumericManual()
        tasks |> List.iteri (fun i r -> left.AddMajor(float (rows - i) - 0.5, $"{r.Task} ({f2 r.Truth})"))
        plot.Axes.Left.TickGenerator <- left
        plot.Axes.SetLimits(0.0, float columns, 0.0, float rows)
        plot.Title("estimate / true value (mean over seeds; blank: not run)")
        let bar = plot.Add.ColorBar(heatmap)
        bar.Label <- "estimate / truth"
        plot.GetImageBytes(420 + 95 * columns, 200 + 24 * rows, ScottPlot.ImageFormat.Png)
