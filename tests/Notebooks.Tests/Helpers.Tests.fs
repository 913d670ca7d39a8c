/// The host's summary and plotting helpers (src/Notebooks.Host/Summary.fs), exercised where notebooks use them: in a
/// real `dotnet fsi` session under the runner, with `check`s that fail the run when a helper is wrong.
module Decomp.Notebooks.Tests.HelpersTests

open System
open Expecto
open Decomp.Notebooks.Runner
open Decomp.Notebooks.Tests.Fixtures

let private options =
    { Quick = false
      Write = false
      CellTimeout = TimeSpan.FromMinutes 2.0
      Echo = false }

let private run (cells: TestCell list) =
    use folder = new TemporaryFolder()
    NotebookRun.run options ignore (writeNotebook folder "helpers.ipynb" cells)

[<Tests>]
let tests =
    testList "Helpers" [
        test "Summary: mean and standard error, standard deviation, a tensor's values; bad input names the argument" {
            let result =
                run
                    [ FSharp loadSetup
                      FSharp(
                          String.concat
                              "\n"
                              [ "open TorchSharp"
                                // sd of 1..4 with the n - 1 denominator is sqrt(5/3); the standard error divides by sqrt 4.
                                "let mean, se = Summary.meanAndStandardError [| 1.0; 2.0; 3.0; 4.0 |]"
                                "checkWithin \"mean\" 1e-15 2.5 mean"
                                "checkWithin \"standard error\" 1e-15 (sqrt (5.0 / 3.0) / 2.0) se"
                                "checkWithin \"standard deviation\" 1e-15 (sqrt (5.0 / 3.0)) (Summary.standardDeviation [| 1.0; 2.0; 3.0; 4.0 |])"
                                "let generator = new torch.Generator(7UL)"
                                "let t = torch.randn([| 2L; 3L |], dtype = torch.float32, generator = generator)"
                                "let expected = t.to_type(torch.float64).data<float>().ToArray()"
                                "check \"values flattens in row-major order, as float64\" (Summary.values t = expected)"
                                "let refused = try Summary.meanAndStandardError [| 1.0 |] |> ignore; \"\" with :? System.ArgumentException as e -> e.ParamName"
                                "check \"one value is refused, naming the argument\" (refused = \"draws\")" ]
                      ) ]
            Expect.isTrue result.Passed $"the helpers hold: {result.Failure} {result.Checks}"
            Expect.equal (List.length result.Checks) 5 "all five checks ran"
        }

        test "Plots.log2Ticks labels an axis at log2 of the values; non-positive values are refused" {
            let result =
                run
                    [ FSharp loadSetup
                      FSharp(
                          String.concat
                              "\n"
                              [ "let plot = new ScottPlot.Plot()"
                                "Plots.log2Ticks plot.Axes.Bottom [ 2; 8; 1024 ]"
                                // A manual tick generator hands out its ticks once the plot has been laid out.
                                "plot.GetImageBytes(300, 200, ScottPlot.ImageFormat.Png) |> ignore"
                                "let ticks = (plot.Axes.Bottom.TickGenerator :?> ScottPlot.TickGenerators.NumericManual).Ticks"
                                "check \"positions are log2 of the values\" ((ticks |> Array.map _.Position) = [| 1.0; 3.0; 10.0 |])"
                                "check \"labels are the values\" ((ticks |> Array.map _.Label) = [| \"2\"; \"8\"; \"1024\" |])"
                                "let refused = try Plots.log2Ticks plot.Axes.Bottom [ 4; 0 ]; \"\" with :? System.ArgumentException as e -> e.ParamName"
                                "check \"zero is refused, naming the argument\" (refused = \"values\")" ]
                      ) ]
            Expect.isTrue result.Passed $"the helper holds: {result.Failure} {result.Checks}"
            Expect.equal (List.length result.Checks) 3 "all three checks ran"
        }
    ]
