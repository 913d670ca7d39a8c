module Decomp.Notebooks.Runner.Program

open System
open System.Diagnostics
open System.Globalization
open System.IO
open System.Xml.Linq
open Argu

type Arguments =
    | Quick
    | No_Write
    | Write
    | No_Build
    | Cell_Timeout of seconds: int
    | Echo
    | Junit_Summary of path: string
    | [<MainCommand>] Notebooks of paths: string list

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Quick -> "set DECOMP_NOTEBOOK_QUICK=1 so notebooks shrink their sizes (CI); implies --no-write unless --write."
            | No_Write -> "run and check only; leave the .ipynb files as they are."
            | Write -> "write outputs back even with --quick."
            | No_Build -> "do not build src/Notebooks.Host first (artifacts/notebook-host must be up to date)."
            | Cell_Timeout _ -> "stop a cell that runs longer than this many seconds (default 1800)."
            | Echo -> "copy what cells print to this console as they run."
            | Junit_Summary _ -> "also write a JUnit XML summary there, one test case per notebook (for CI's counts)."
            | Notebooks _ -> ".ipynb files or folders of them (default: paper-notebooks/)."

/// The repository root: the nearest folder, from the current directory up, that holds the notebook host project.
let private hostProject = Path.Combine("src", "Notebooks.Host", "Decomp.Notebooks.fsproj")

/// Where the host project builds to, relative to the root (paper-notebooks/Setup.fsx references it there).
let private hostOutput = Path.Combine("artifacts", "notebook-host")

let private findRoot () =
    let rec up (folder: DirectoryInfo) =
        if isNull folder then None
        elif File.Exists(Path.Combine(folder.FullName, hostProject)) then Some folder.FullName
        else up folder.Parent
    up (DirectoryInfo Environment.CurrentDirectory)

/// Builds the assemblies the notebooks reference (Setup.fsx reads them from artifacts/notebook-host).
let private buildHost (root: string) =
    let clock = Stopwatch.StartNew()
    let info = ProcessStartInfo("dotnet", WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true)
    for argument in [ "build"; hostProject; "-c"; "Release"; "-nologo"; "-v"; "quiet"; "-clp:NoSummary" ] do
        info.ArgumentList.Add argument
    use build = Process.Start info
    let output = build.StandardOutput.ReadToEndAsync()
    let errors = build.StandardError.ReadToEndAsync()
    build.WaitForExit()
    if build.ExitCode <> 0 then
        eprintfn "%s%s" output.Result errors.Result
        Error $"building {hostProject} failed (exit code {build.ExitCode})"
    else
        eprintfn $"built the notebook host in {clock.Elapsed.TotalSeconds:F1} s"
        Ok()

/// The notebooks a path names: the file itself, or a folder's .ipynb files in name order.
let private notebooksAt (path: string) : Result<string list, string> =
    if File.Exists path then
        if Path.GetExtension path = ".ipynb" then Ok [ path ] else Error $"'{path}' is not an .ipynb file"
    elif Directory.Exists path then
        match Directory.GetFiles(path, "*.ipynb") |> Array.sortWith (fun a b -> String.CompareOrdinal(a, b)) |> List.ofArray with
        | [] -> Error $"'{path}' holds no .ipynb files"
        | files -> Ok files
    else
        Error $"'{path}' does not exist"

let private summary (result: NotebookResult) =
    let name = Path.GetFileName result.Path
    let checks = result.Checks |> List.filter snd |> List.length
    let failedChecks = result.Checks |> List.filter (snd >> not) |> List.map fst
    let detail =
        match result.Problem, result.Failure with
        | Some problem, _ -> problem
        | None, Some(cell, error) -> $"cell [{cell}] failed: {error.TrimEnd('.')}"
        | None, None when not failedChecks.IsEmpty -> "failed checks: " + String.concat "; " failedChecks
        | None, None -> $"{checks} checks passed"
    let verdict = if result.Passed then "PASS" else "FAIL"
    $"{verdict}  {name}  {result.CellsRun}/{result.CodeCells} cells, {detail}, {result.Elapsed.TotalSeconds:F1} s"

/// A JUnit XML report with one test case per notebook, the shape CI counts test results from.
let junitSummary (results: NotebookResult list) : string =
    let attribute (name: string) (value: obj) = XAttribute(XName.Get name, value) :> obj
    let case (result: NotebookResult) =
        XElement(
            XName.Get "testcase",
            [| attribute "name" (Path.GetFileName result.Path)
               attribute "classname" "paper-notebooks"
               attribute "time" (result.Elapsed.TotalSeconds.ToString("F3", CultureInfo.InvariantCulture))
               if not result.Passed then
                   XElement(XName.Get "failure", attribute "message" (summary result)) :> obj |]
        )
    let failed = results |> List.filter (fun r -> not r.Passed) |> List.length
    let suite =
        XElement(
            XName.Get "testsuite",
            [| yield attribute "name" "Notebooks"
               yield attribute "tests" results.Length
               yield attribute "failures" failed
               for result in results -> case result :> obj |]
        )
    XDocument(XElement(XName.Get "testsuites", suite)).ToString()

let private run (arguments: ParseResults<Arguments>) : int =
    let clock = Stopwatch.StartNew()
    let quick = arguments.Contains Quick
    let options =
        { Quick = quick
          Write = not (arguments.Contains No_Write) && (not quick || arguments.Contains Write)
          CellTimeout = TimeSpan.FromSeconds(float (arguments.GetResult(Cell_Timeout, defaultValue = 1800)))
          Echo = arguments.Contains Echo }
    let root = findRoot ()
    let given = arguments.GetResult(Notebooks, defaultValue = [])
    let paths =
        match given |> List.tryFind (fun path -> path.StartsWith "--"), given, root with
        | Some option, _, _ -> Error $"unknown option '{option}'"
        | None, (_ :: _ as paths), _ -> Ok paths
        | None, [], Some root -> Ok [ Path.Combine(root, "paper-notebooks") ]
        | None, [], None -> Error $"no notebooks given, and no repository (a folder with {hostProject}) above the current directory"
    let checkedArguments =
        if options.CellTimeout <= TimeSpan.Zero then
            Error "--cell-timeout must be a positive number of seconds"
        else
            paths
            |> Result.bind (fun paths ->
                paths
                |> List.map notebooksAt
                |> List.fold (fun all next -> Result.bind (fun a -> Result.map (fun b -> a @ b) next) all) (Ok []))
    // Build only once the arguments are known to be good: a build takes a while, a typo should not.
    let ready =
        checkedArguments
        |> Result.bind (fun notebooks ->
            match arguments.Contains No_Build, root with
            | true, Some root when not (File.Exists(Path.Combine(root, hostOutput, "Decomp.Notebooks.dll"))) ->
                Error $"{hostOutput} holds no build; run without --no-build, or build {hostProject} first"
            | true, _ -> Ok notebooks
            | false, Some root -> buildHost root |> Result.map (fun () -> notebooks)
            | false, None ->
                Error $"cannot build the notebook host: no {hostProject} above the current directory (or pass --no-build)")
    match ready with
    | Error problem ->
        eprintfn $"error: {problem}."
        2
    | Ok notebooks ->
        let results =
            notebooks
            |> List.mapi (fun i path ->
                eprintfn $"[{i + 1}/{notebooks.Length}] {path}"
                let result = NotebookRun.run options (fun line -> eprintfn "%s" line) path
                printfn "%s" (summary result)
                result)
        let passed = results |> List.filter (fun r -> r.Passed) |> List.length
        arguments.TryGetResult Junit_Summary
        |> Option.iter (fun path ->
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath path)) |> ignore
            File.WriteAllText(path, junitSummary results))
        let written = if options.Write then "outputs written" else "notebooks left unchanged"
        printfn $"{results.Length} notebooks: {passed} passed, {results.Length - passed} failed ({written}; {clock.Elapsed.TotalSeconds:F1} s)"
        if passed = results.Length then 0 else 1

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<Arguments>(programName = "dotnet run --project src/Notebooks.Runner -c Release --")
    try
        run (parser.ParseCommandLine(argv, raiseOnUsage = true))
    with
    | :? ArguParseException as e when e.ErrorCode = ErrorCode.HelpText ->
        printfn "%s" e.Message
        0
    | :? ArguParseException as e ->
        eprintfn "error: %s (see --help)" ((e.Message.Split('\n')[0]).Trim().Replace("ERROR: ", ""))
        2
