/// The notebook helpers (src/Notebooks), exercised where notebooks use them: in the real kernel, through
/// paper-notebooks/Setup.fsx, with `check`s that fail the run when a helper is wrong.
module Decomp.Notebooks.Tests.HelpersTests

open System
open Expecto
open Decomp.Notebooks.Tests.Fixtures

let private run (cells: TestCell list) =
    use folder = new TemporaryFolder()
    Kernel.run [] (TimeSpan.FromMinutes 5.0) (writeNotebook folder "helpers.ipynb" cells)

[<Tests>]
let tests =
    testSequenced
    <| testList "Helpers" [
        test "Summary and Plots.log2Ticks hold; bad input names the argument; plots and tables reach the kernel's formatters" {
            let outcome =
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
                      )
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
                                "let refusedTicks = try Plots.log2Ticks plot.Axes.Bottom [ 4; 0 ]; \"\" with :? System.ArgumentException as e -> e.ParamName"
                                "check \"zero is refused, naming the argument\" (refusedTicks = \"values\")" ]
                      )
                      FSharp "showSized 320 200 plot"
                      FSharp "showTable [ \"K\"; \"bound\" ] [ [ \"8\"; \"2.07944\" ] ]"
                      FSharp "plot" ]
            Expect.equal outcome.ExitCode 0 (Kernel.explain "helpers" outcome)
            Expect.isEmpty outcome.FailedChecks (Kernel.explain "helpers" outcome)
            Expect.equal outcome.Checks.Length 8 "all eight checks ran"
            let images = outcome.Data "image/png" |> List.map Convert.FromBase64String |> List.map Decomp.Notebooks.Png.ofBytes
            Expect.equal [ for png in images -> png.Width, png.Height ] [ 320, 200; 640, 400 ] "showSized and a cell's plot value are PNGs of their sizes"
            let tables = outcome.Data "text/html" |> List.filter (fun html -> html.Contains "<th>K</th>")
            Expect.equal tables.Length 1 "showTable is shown as an HTML table"
            Expect.stringContains tables.Head "<td style=\"text-align: right\">2.07944</td>" "numbers are right-aligned"
        }

        test "a failing check fails the kernel run, with the check's name in the output" {
            let outcome =
                run
                    [ FSharp loadSetup
                      FSharp "check \"one equals two\" (1 = 2)"
                      FSharp "printfn \"after the failure\"" ]
            Expect.notEqual outcome.ExitCode 0 "dotnet repl exits non-zero"
            Expect.equal outcome.FailedChecks [ "✗ FAILED: one equals two" ] "the failure is printed"
            Expect.exists outcome.Errors (fun e -> e.Contains "Check failed: one equals two") "the cell's error names the check"
        }
    ]
