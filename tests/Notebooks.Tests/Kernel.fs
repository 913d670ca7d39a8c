/// Runs notebooks in the real .NET Interactive kernel, headless, through `dotnet repl` (a local tool of this
/// repository, .config/dotnet-tools.json), and reads back what the kernel wrote.
module Decomp.Notebooks.Tests.Kernel

open System
open System.Diagnostics
open System.IO
open System.Text.Json.Nodes
open Decomp.Notebooks.Tests.Fixtures

/// One notebook as the kernel ran it.
type Outcome =
    { /// `dotnet repl`'s exit code: 0 when every cell ran without an error.
      ExitCode: int
      /// The notebook with the outputs the kernel wrote (null when it wrote none).
      Notebook: JsonNode
      /// What `dotnet repl` printed.
      Log: string
      /// Wall time of the whole run, kernel start included.
      Seconds: float }

    member private this.Cells =
        match this.Notebook with
        | null -> []
        | notebook -> [ for cell in notebook["cells"].AsArray() -> cell ]

    member private this.Outputs =
        [ for cell in this.Cells do
              match cell["outputs"] with
              | null -> ()
              | outputs -> yield! outputs.AsArray() ]

    /// How many code cells the notebook has.
    member this.CodeCells = this.Cells |> List.filter (fun c -> string c["cell_type"] = "code") |> List.length

    /// The error outputs (`ename: evalue`), in order.
    member this.Errors =
        [ for o in this.Outputs do
              if string o["output_type"] = "error" then string o["ename"] + ": " + string o["evalue"] ]

    /// Everything the cells printed, joined.
    member this.Text =
        [ for o in this.Outputs do
              if string o["output_type"] = "stream" then
                  for line in o["text"].AsArray() -> string line ]
        |> String.concat ""

    /// The lines of the notebook's own checks that held ("✓ ...") and that failed ("✗ FAILED: ...").
    member this.Checks = this.Text.Split('\n') |> Array.filter (fun l -> l.StartsWith "✓ ") |> List.ofArray
    member this.FailedChecks = this.Text.Split('\n') |> Array.filter (fun l -> l.StartsWith "✗ ") |> List.ofArray

    /// The MIME types of the rich outputs (display data and cell results), in order.
    member this.MimeTypes =
        [ for o in this.Outputs do
              match o["data"] with
              | :? JsonObject as data -> yield! [ for KeyValue(mime, _) in data -> mime ]
              | _ -> () ]

    /// The rich outputs of type `mime`, as text (joined where the notebook split them into lines).
    member this.Data(mime: string) =
        [ for o in this.Outputs do
              match o["data"] with
              | :? JsonObject as data when data.ContainsKey mime ->
                  match data[mime] with
                  | :? JsonArray as lines -> [ for l in lines -> string l ] |> String.concat ""
                  | value -> string value
              | _ -> () ]

/// The default kernel a notebook names in its metadata ("fsharp" unless it says "csharp").
let defaultKernel (notebook: string) =
    let child (key: string) (node: JsonNode) =
        match node with
        | :? JsonObject as o when o.ContainsKey key -> o[key]
        | _ -> null
    let polyglot = JsonNode.Parse(File.ReadAllText notebook) |> child "metadata" |> child "polyglot_notebook"
    [ polyglot |> child "kernelInfo" |> child "defaultKernelName"; polyglot |> child "defaultKernelName" ]
    |> List.tryPick (fun n -> if isNull n then None else Some(string n))
    |> Option.defaultValue "fsharp"

/// Runs `notebook` top to bottom in the kernel, started in the notebook's folder (as VS Code does, so that relative
/// `#load` and `#r` paths hold), with the given extra environment, writing the outputs to `outputPath`. The process
/// is killed after `timeout`.
let runTo (outputPath: string) (environment: (string * string) list) (timeout: TimeSpan) (notebook: string) : Outcome =
    let start =
        ProcessStartInfo(
            "dotnet",
            WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath notebook),
            RedirectStandardOutput = true,
            RedirectStandardError = true
        )
    for argument in
        [ "tool"; "run"; "dotnet-repl"; "--"
          "--default-kernel"; defaultKernel notebook
          "--run"; Path.GetFullPath notebook
          "--exit-after-run"
          "--output-format"; "ipynb"
          "--output-path"; Path.GetFullPath outputPath ] do
        start.ArgumentList.Add argument
    for name, value in environment do
        start.Environment[name] <- value
    if File.Exists outputPath then File.Delete outputPath
    let clock = Stopwatch.StartNew()
    use kernel = Process.Start start
    let stdout = kernel.StandardOutput.ReadToEndAsync()
    let stderr = kernel.StandardError.ReadToEndAsync()
    if not (kernel.WaitForExit timeout) then
        kernel.Kill true
        kernel.WaitForExit()
    let log = stdout.Result + stderr.Result
    { ExitCode = (if clock.Elapsed >= timeout then 124 else kernel.ExitCode)
      Notebook = (if File.Exists outputPath then JsonNode.Parse(File.ReadAllText outputPath) else null)
      Log = log
      Seconds = clock.Elapsed.TotalSeconds }

/// `runTo` with the outputs written beside the notebook, as `<name>.out.ipynb`.
let run (environment: (string * string) list) (timeout: TimeSpan) (notebook: string) : Outcome =
    runTo (Path.ChangeExtension(notebook, ".out.ipynb")) environment timeout notebook

/// A one-line account of a run, for the test log.
let describe (name: string) (outcome: Outcome) =
    $"{name}: exit {outcome.ExitCode}, {outcome.CodeCells} code cells, {outcome.Checks.Length} checks held, {outcome.FailedChecks.Length} failed, {outcome.Errors.Length} errors, {outcome.Seconds:F1} s"

/// The message for a failed expectation: the account, the errors and the tail of the log.
let explain (name: string) (outcome: Outcome) =
    let tail = if outcome.Log.Length > 3000 then outcome.Log.Substring(outcome.Log.Length - 3000) else outcome.Log
    String.concat "\n" [ describe name outcome; yield! outcome.Errors |> List.truncate 3; tail ]
