namespace Decomp.Experiments

open System

/// The sweep's figure in the style of the paper's Figure 2: one panel per true MI, the estimate against K (log
/// scale) with one line per estimator and its spread over seeds as error bars, the true MI as a horizontal line and
/// the caps log K and 2 log K dashed.
module Figure2Plot =

    let private palette =
        [ InfoNce, ScottPlot.Color.FromHex "#1f77b4"
          InfoNceS, ScottPlot.Color.FromHex "#d62728"
          InfoNceSIs, ScottPlot.Color.FromHex "#ff7f0e" ]
        |> Map.ofList

    let private panel (plot: ScottPlot.Plot) (trueMi: float) (rows: SummaryRow list) =
        let ks = rows |> List.map _.Candidates |> List.distinct |> List.sort |> Array.ofList
        let xs = ks |> Array.map (fun k -> Math.Log2(float k))
        let cap (f: int -> float) label (pattern: ScottPlot.LinePattern) =
            let line = plot.Add.Scatter(xs, ks |> Array.map f, ScottPlot.Colors.Gray)
            line.LinePattern <- pattern
            line.MarkerSize <- 0.0f
            line.LegendText <- label
        cap (fun k -> Decomp.Core.Bounds.infoNceCap k) "log K" ScottPlot.LinePattern.Dashed
        cap (fun k -> Decomp.Core.Decomposition.cap [ k; k ]) "2 log K" ScottPlot.LinePattern.Dotted
        let truth = plot.Add.HorizontalLine(trueMi, 2.0f, ScottPlot.Color.FromHex "#2ca02c", ScottPlot.LinePattern.Solid)
        truth.LegendText <- "true MI"
        for estimator in Estimator.All do
            let cells = rows |> List.filter (fun r -> r.Estimator = estimator) |> List.sortBy _.Candidates
            if not cells.IsEmpty then
                let x = cells |> List.map (fun r -> Math.Log2(float r.Candidates)) |> Array.ofList
                let y = cells |> List.map _.Mean |> Array.ofList
                let color = palette[estimator]
                let line = plot.Add.Scatter(x, y, color)
                line.LegendText <- estimator.Name
                line.LineWidth <- 2.0f
                line.MarkerSize <- 6.0f
                let bars = plot.Add.ErrorBar(x, y, cells |> List.map _.Spread |> Array.ofList)
                bars.Color <- color
        let ticks = ScottPlot.TickGenerators.NumericManual()
        Array.iter2 (fun x (k: int) -> ticks.AddMajor(x, string k)) xs ks
        plot.Axes.Bottom.TickGenerator <- ticks
        plot.Axes.Bottom.Label.Text <- "K (negatives + 1)"
        plot.Axes.Left.Label.Text <- "estimate (nats)"
        plot.Title($"I({{x', x''}}; y) = {trueMi:G4} nats")
        plot.Axes.SetLimitsY(0.0, max (trueMi * 1.1) (Decomp.Core.Decomposition.cap [ Array.max ks; Array.max ks ] * 1.05))
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft) |> ignore

    /// Renders the summary to a PNG at `path` (one panel per true MI, side by side), written atomically, and returns the path.
    let save (path: string) (rows: SummaryRow list) =
        let mis = rows |> List.map _.TrueMi |> List.distinct |> List.sort
        if mis.IsEmpty then invalidArg (nameof rows) "nothing to plot: the summary is empty"
        let multiplot = ScottPlot.Multiplot()
        multiplot.Layout <- ScottPlot.MultiplotLayouts.Grid(1, mis.Length)
        ScottPlot.IMultiplotExtensions.AddPlots(multiplot, mis.Length)
        mis |> List.iteri (fun i mi -> panel (ScottPlot.IMultiplotExtensions.GetPlot(multiplot, i)) mi (rows |> List.filter (fun r -> r.TrueMi = mi)))
        use image = ScottPlot.IMultiplotExtensions.Render(multiplot, 480 * mis.Length, 440)
        Decomp.Apps.AtomicFile.WriteAllBytes(path, ReadOnlyMemory(image.GetImageBytes(ScottPlot.ImageFormat.Png, 100)))
        path
