/// End-to-end tests: real `dotnet fsi` sessions running small notebooks (a few seconds each).
module Decomp.Notebooks.Tests.SessionTests

open System
open System.IO
open System.Text.Json.Nodes
open Expecto
open Decomp.Notebooks.Runner
open Decomp.Notebooks.Tests.Fixtures

let private options =
    { Quick = false
      Write = true
      CellTimeout = TimeSpan.FromMinutes 2.0
      Echo = false }

let private quietly = ignore<string>

/// Runs a notebook built from `cells` and returns the result and the notebook as written.
let private runNotebook (options: RunOptions) (cells: TestCell list) =
    use folder = new TemporaryFolder()
    let path = writeNotebook folder "test.ipynb" cells
    let result = NotebookRun.run options quietly path
    result, JsonNode.Parse(File.ReadAllText path)

let private outputsOf (notebook: JsonNode) (cell: int) = notebook["cells"].[cell].["outputs"].AsArray() |> List.ofSeq

let private outputTypes notebook cell =
    outputsOf notebook cell |> List.map (fun o -> o["output_type"].GetValue<string>())

let private text (node: JsonNode) =
    match node with
    | :? JsonArray as lines -> lines |> Seq.map (fun line -> line.GetValue<string>()) |> String.concat ""
    | value -> value.GetValue<string>()

/// A PNG file of 1x1 pixel.
let private onePixelPng =
    Convert.FromBase64String "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="

[<Tests>]
let tests =
    testList "Sessions" [
        test "each cell's text, value and error land in that cell; state carries; later cells do not run" {
            let result, notebook =
                runNotebook
                    options
                    [ Markdown "# A test"
                      FSharp "let x = 20\nprintfn \"out %d\" x\neprintfn \"err %d\" x\nx + 1"
                      FSharp "let y = x * 2\nprintf \"no line break\""
                      FSharp "printfn \"before\"\nfailwith \"boom\" |> ignore\nprintfn \"after\""
                      FSharp "printfn \"never\"" ]
            Expect.isFalse result.Passed "a failing cell fails the notebook"
            Expect.equal result.Failure (Some(3, "System.Exception: boom")) "the failure names the third code cell"
            Expect.equal (result.CellsRun, result.CodeCells) (3, 4) "three of four code cells ran"
            Expect.equal (outputTypes notebook 1) [ "stream"; "stream"; "execute_result" ] "cell 1: stdout, stderr, value"
            let first = outputsOf notebook 1
            Expect.equal (text first[0].["text"]) "out 20\n" "stdout of cell 1"
            Expect.equal (first[0].["name"].GetValue<string>()) "stdout" "stream name"
            Expect.equal (text first[1].["text"]) "err 20\n" "stderr of cell 1"
            Expect.equal (text first[2].["data"].["text/plain"]) "21" "value of cell 1"
            Expect.equal (text ((outputsOf notebook 2).[0].["text"])) "no line break" "a line without a break stays in its cell"
            Expect.equal (outputTypes notebook 3) [ "stream"; "error" ] "cell 3: what it printed, then the error"
            let error = (outputsOf notebook 3)[1]
            Expect.equal (error["ename"].GetValue<string>(), error["evalue"].GetValue<string>()) ("System.Exception", "boom") "error"
            Expect.stringContains (text error["traceback"]) "in cell [3]:line 2" "the trace points into the cell"
            Expect.equal (text ((outputsOf notebook 3).[0].["text"])) "before\n" "nothing after the throw ran"
            Expect.isEmpty (outputsOf notebook 4) "the cell after the failure did not run"
            Expect.isNull notebook["cells"].[4].["execution_count"] "and has no execution count"
            Expect.equal (notebook["cells"].[3].["execution_count"].GetValue<int>()) 3 "execution counts number the code cells"
        }

        test "a compile error is the error of its cell, at the cell's own line" {
            let result, notebook =
                runNotebook options [ FSharp "let a = 1"; FSharp "let b = 2\nlet c = notDefined + 1"; FSharp "a" ]
            Expect.equal (result.Failure |> Option.map fst) (Some 2) "second cell failed"
            let error = (outputsOf notebook 1)[0]
            Expect.equal (error["ename"].GetValue<string>()) "error FS0039" "diagnostic code"
            Expect.stringContains (text error["traceback"]) "cell [2] (2,9)" "line 2, column 9 of that cell"
        }

        test "a failed check fails the run, and the checks before it are reported" {
            let result, notebook =
                runNotebook
                    options
                    [ FSharp loadSetup
                      FSharp "check \"one is one\" (1 = 1)\ncheck \"two is three\" (2 = 3)\nprintfn \"not reached\"" ]
            Expect.isFalse result.Passed "the run fails"
            Expect.equal result.Checks [ "one is one", true; "two is three", false ] "both checks seen"
            let outputs = outputsOf notebook 1
            Expect.equal (outputs |> List.map (fun o -> o["output_type"].GetValue<string>())) [ "stream"; "error" ] "text, then the error"
            Expect.stringContains (text outputs[0].["text"]) "✓ one is one" "the passing check is shown"
            Expect.stringContains (text outputs[0].["text"]) "✗ FAILED: two is three" "the failing one too"
            Expect.equal (outputs[1].["ename"].GetValue<string>()) "Decomp.Notebooks.CheckFailedException" "the error names the check"
        }

        test "plots and PNGs become display_data images; tables become HTML" {
            let result, notebook =
                runNotebook
                    options
                    [ FSharp loadSetup
                      FSharp(
                          $"showPng (System.Convert.FromBase64String \"{Convert.ToBase64String onePixelPng}\")\n"
                          + "let plot = new ScottPlot.Plot()\nplot.Add.Scatter([| 1.0; 2.0 |], [| 3.0; 4.0 |]) |> ignore\nshowSized 300 200 plot\n"
                          + "showTable [ \"K\"; \"name\" ] [ [ \"8\"; \"<b>\" ] ]"
                      ) ]
            Expect.isTrue result.Passed $"the notebook runs: {result.Failure}"
            let outputs = outputsOf notebook 1
            Expect.equal (outputs |> List.map (fun o -> o["output_type"].GetValue<string>())) [ "display_data"; "display_data"; "display_data" ] "three displays"
            let png (o: JsonNode) = Convert.FromBase64String(o["data"].["image/png"].GetValue<string>())
            Expect.equal (png outputs[0]) onePixelPng "the PNG's bytes, unchanged"
            let plot = png outputs[1]
            Expect.equal plot[0..7] onePixelPng[0..7] "the plot is a PNG"
            let width = (int plot[16] <<< 24) ||| (int plot[17] <<< 16) ||| (int plot[18] <<< 8) ||| int plot[19]
            let height = (int plot[20] <<< 24) ||| (int plot[21] <<< 16) ||| (int plot[22] <<< 8) ||| int plot[23]
            Expect.equal (width, height) (300, 200) "at the size asked for"
            let html = text outputs[2].["data"].["text/html"]
            Expect.stringContains html "<th>K</th>" "header"
            Expect.stringContains html "&lt;b&gt;" "cell text is escaped"
            Expect.stringContains (text outputs[2].["data"].["text/plain"]) "K  name" "a plain-text fallback"
        }

        test "--quick reaches the notebook; without it the notebook sees a full run" {
            let cells = [ FSharp loadSetup; FSharp "quickMode" ]
            let _, quick = runNotebook { options with Quick = true } cells
            let _, full = runNotebook options cells
            Expect.equal (text ((outputsOf quick 1).[0].["data"].["text/plain"])) "true" "quick"
            Expect.equal (text ((outputsOf full 1).[0].["data"].["text/plain"])) "false" "full"
        }

        test "without --write the notebook file is left as it was" {
            use folder = new TemporaryFolder()
            let path = writeNotebook folder "test.ipynb" [ FSharp "printfn \"hi\"" ]
            let before = File.ReadAllText path
            let result = NotebookRun.run { options with Write = false } quietly path
            Expect.isTrue result.Passed "it ran"
            Expect.equal (File.ReadAllText path) before "unchanged"
        }

        test "a cell in another kernel's language stops the notebook before anything runs" {
            let result, _ = runNotebook options [ FSharp "1"; OtherKernel("csharp", "1 + 1") ]
            Expect.isFalse result.Passed "fails"
            Expect.equal result.CellsRun 0 "nothing ran"
            Expect.stringContains (defaultArg result.Problem "") "'csharp'" "says which language"
        }

        test "warnings go to the runner, not into the notebook; a cell over its time limit is stopped" {
            use folder = new TemporaryFolder()
            use session = new FsiSession(folder.Path, false, false)
            let warned = session.Run(1, "let s = System.IO.MemoryStream()\ns.Length", TimeSpan.FromMinutes 1.0)
            Expect.isFalse warned.Failed "a warning is no failure"
            Expect.equal warned.Outputs [ ExecuteResult "0L" ] "only the value"
            Expect.exists warned.Warnings (fun w -> w.Contains "FS0760" && w.Contains "cell [1] (1,9)") "the warning, located"
            let slow = session.Run(2, "System.Threading.Thread.Sleep 60_000", TimeSpan.FromSeconds 2.0)
            Expect.isTrue slow.Failed "timed out"
            Expect.isLessThan slow.Elapsed (TimeSpan.FromSeconds 20.0) "stopped near the limit"
            match List.last slow.Outputs with
            | ErrorOutput(_, _, traceback) -> Expect.exists traceback (fun line -> line.Contains "ran longer than 2 s") "says why"
            | other -> failtest $"expected an error, got {other}"
        }

        test "under a .NET Interactive kernel the helpers call the kernel's display" {
            // A stand-in for the kernel: an assembly named Microsoft.DotNet.Interactive whose Kernel type has the two static
            // members the helpers look for, with the kernel's signatures, printing what it is given.
            let fakeKernel =
                String.concat
                    "\n"
                    [ "open System.Reflection"
                      "open System.Reflection.Emit"
                      "let builder = AssemblyBuilder.DefineDynamicAssembly(AssemblyName \"Microsoft.DotNet.Interactive\", AssemblyBuilderAccess.Run)"
                      "let kernel = builder.DefineDynamicModule(\"m\").DefineType(\"Microsoft.DotNet.Interactive.Kernel\", TypeAttributes.Public)"
                      "let html = kernel.DefineMethod(\"HTML\", MethodAttributes.Public ||| MethodAttributes.Static, typeof<obj>, [| typeof<string> |])"
                      "let il = html.GetILGenerator()"
                      "il.Emit OpCodes.Ldarg_0"
                      "il.Emit OpCodes.Ret"
                      "let display = kernel.DefineMethod(\"display\", MethodAttributes.Public ||| MethodAttributes.Static, typeof<obj>, [| typeof<obj>; typeof<string[]> |])"
                      "let il2 = display.GetILGenerator()"
                      "il2.Emit(OpCodes.Ldstr, \"KERNEL-DISPLAY \")"
                      "il2.Emit OpCodes.Ldarg_1"
                      "il2.Emit OpCodes.Ldc_I4_0"
                      "il2.Emit OpCodes.Ldelem_Ref"
                      "il2.Emit(OpCodes.Call, typeof<string>.GetMethod(\"Concat\", [| typeof<string>; typeof<string> |]))"
                      "il2.Emit(OpCodes.Call, typeof<System.Console>.GetMethod(\"WriteLine\", [| typeof<string> |]))"
                      "il2.Emit OpCodes.Ldarg_0"
                      "il2.Emit(OpCodes.Call, typeof<System.Console>.GetMethod(\"WriteLine\", [| typeof<obj> |]))"
                      "il2.Emit OpCodes.Ldnull"
                      "il2.Emit OpCodes.Ret"
                      "kernel.CreateType() |> ignore"
                      // Not under the runner any more, as far as the helpers can tell.
                      "System.Environment.SetEnvironmentVariable(\"DECOMP_NOTEBOOK_CHANNEL\", null)" ]
            let result, notebook =
                runNotebook
                    options
                    [ FSharp fakeKernel
                      FSharp loadSetup
                      FSharp(
                          $"showPng (System.Convert.FromBase64String \"{Convert.ToBase64String onePixelPng}\")\n"
                          + "showTable [ \"a\" ] [ [ \"1\" ] ]"
                      ) ]
            Expect.isTrue result.Passed $"the notebook runs: {result.Failure}"
            let printed = text ((outputsOf notebook 2).[0].["text"])
            Expect.stringContains printed "KERNEL-DISPLAY text/html\n<img src=\"data:image/png;base64," "the image went to the kernel as HTML"
            Expect.stringContains printed "KERNEL-DISPLAY text/html\n<table>" "so did the table"
        }
    ]
