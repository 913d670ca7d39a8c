namespace Decomp.Experiments

open System
open Decomp.Apps

/// The sweep's figure in the style of the paper's Figure 2: one panel per true MI, the estimate against K (log
/// scale) with one line per estimator and its spread over seeds as error bars, the true MI as a horizontal line and
/// the caps log K and 2 log K dashed.
module Figure2Plot =

    let private palette = [ InfoNce, "#1f77b4"; InfoNceS, "#d62728"; InfoNceSIs, "#ff7f0e" ] |> Map.ofList

    let private panel (trueMi: float) (rows: SummaryRow list) =
        let ks = rows |> List.map _.Candidates |> List.distinct |> List.sort |> Array.ofList
        let cap (f: int -> float) label stroke =
            ChartSeries(label, ks |> Array.map float, ks |> Array.map f, Color = "#808080", Stroke = stroke, LineWidth = 1.0f)
        let estimators =
            [ for estimator in Estimator.All do
                  let cells = rows |> List.filter (fun r -> r.Estimator = estimator) |> List.sortBy _.Candidates
                  if not cells.IsEmpty then
                      ChartSeries(estimator.Name, cells |> List.map (fun r -> float r.Candidates) |> Array.ofList, cells |> List.map _.Mean |> Array.ofList,
                                  Errors = (cells |> List.map _.Spread |> Array.ofList), Color = palette[estimator], LineWidth = 2.0f, MarkerSize = 6.0f) ]
        ChartPanel(
            $"I({{x', x''}}; y) = {trueMi:G4} nats",
            XLabel = "K (negatives + 1)",
            YLabel = "estimate (nats)",
            Series =
                ([ cap (fun k -> Decomp.Core.Bounds.infoNceCap k) "log K" Stroke.Dashed
                   cap (fun k -> Decomp.Core.Decomposition.cap [ k; k ]) "2 log K" Stroke.Dotted ]
                 @ estimators
                 |> Array.ofList),
            Lines = [| ReferenceLine(trueMi, "true MI", Color = "#2ca02c", Stroke = Stroke.Solid, Width = 2.0f) |],
            Log2XTicks = ks,
            YLimits = AxisLimits(0.0, max (trueMi * 1.1) (Decomp.Core.Decomposition.cap [ Array.max ks; Array.max ks ] * 1.05)),
            Legend = LegendPlace.UpperLeft
        )

    /// Renders the summary to a PNG at `path` (one panel per true MI, side by side), written atomically, and returns the path.
    let save (path: string) (rows: SummaryRow list) =
        let mis = rows |> List.map _.TrueMi |> List.distinct |> List.sort
        if mis.IsEmpty then invalidArg (nameof rows) "nothing to plot: the summary is empty"
        let panels = [| for mi in mis -> panel mi (rows |> List.filter (fun r -> r.TrueMi = mi)) |]
        Charts.SavePng(path, panels, 480 * mis.Length, 440, columns = mis.Length)
        path
