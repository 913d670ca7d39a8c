namespace Decomp.Benchmarks

open System
open System.Globalization
open System.Text

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

    let private invariant (v: float) = v.ToString("R", CultureInfo.InvariantCulture)

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

    let private csvField (s: string) =
        if s.IndexOfAny([| ','; '"'; '\n' |]) >= 0 then "\"" + s.Replace("\"", "\"\"") + "\"" else s

    /// The header and one line per run.
    let csvLines (runs: BenchmarkRun list) =
        "task,kind,dim_x,dim_y,dim_z,method,seed,samples,truth,estimate,standard_error,lower,upper,steps,best_step,seconds,warnings,error"
        :: [ for r in runs ->
                 [ csvField r.Task; r.Kind; string r.DimX; string r.DimY; string r.DimZ; r.Method; string r.Seed; string r.Samples
                   invariant r.Truth; invariant r.Estimate; invariant r.StandardError; invariant r.Lower; invariant r.Upper
                   string r.Steps; string r.BestStep; r.Seconds.ToString("F2", CultureInfo.InvariantCulture)
                   csvField (String.Join(" | ", r.Warnings)); csvField (defaultArg r.Error "") ]
                 |> String.concat "," ]

    /// The fields of one CSV line (RFC 4180 quoting, as `csvLines` writes it).
    let private csvFields (line: string) =
        let fields = ResizeArray<string>()
        let field = StringBuilder()
        let mutable quoted = false
        let mutable i = 0
        while i < line.Length do
            let c = line[i]
            if quoted then
                if c = '"' && i + 1 < line.Length && line[i + 1] = '"' then
                    field.Append('"') |> ignore
                    i <- i + 1
                elif c = '"' then quoted <- false
                else field.Append(c) |> ignore
            elif c = '"' then quoted <- true
            elif c = ',' then
                fields.Add(field.ToString())
                field.Clear() |> ignore
            else field.Append(c) |> ignore
            i <- i + 1
        fields.Add(field.ToString())
        fields.ToArray()

    /// The runs of a results.csv written by `csvLines` (to merge runs made apart, or to redraw the report).
    let ofCsvLines (lines: string seq) : BenchmarkRun list =
        let parse (s: string) = Double.Parse(s, CultureInfo.InvariantCulture)
        [ for line in Seq.skip 1 lines do
              if not (String.IsNullOrWhiteSpace line) then
                  let f = csvFields line
                  { Task = f[0]; Kind = f[1]; DimX = int f[2]; DimY = int f[3]; DimZ = int f[4]; Method = f[5]; Seed = int f[6]
                    Samples = int f[7]; Truth = parse f[8]; Estimate = parse f[9]; StandardError = parse f[10]; Lower = parse f[11]
                    Upper = parse f[12]; Steps = int f[13]; BestStep = int f[14]; Seconds = parse f[15]
                    Warnings = (if f[16] = "" then [] else f[16].Split(" | ") |> List.ofArray)
                    Error = (if f.Length > 17 && f[17] <> "" then Some f[17] else None) } ]

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
