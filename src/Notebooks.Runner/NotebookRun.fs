namespace Decomp.Notebooks.Runner

open System
open System.Diagnostics
open System.IO

/// How notebooks are run.
type RunOptions =
    { /// Sets DECOMP_NOTEBOOK_QUICK=1 so that notebooks shrink their sizes.
      Quick: bool
      /// Writes the outputs back into each .ipynb.
      Write: bool
      /// How long one cell may run before the runner stops it.
      CellTimeout: TimeSpan
      /// Copies what cells print to the runner's console as it comes.
      Echo: bool }

/// What running one notebook came to.
type NotebookResult =
    { Path: string
      /// Code cells that ran, and code cells the notebook has (empty ones excluded).
      CellsRun: int
      CodeCells: int
      /// The execution number of the cell that failed, with its error's name and message.
      Failure: (int * string) option
      /// The notebook's own checks, in order: name and whether it held.
      Checks: (string * bool) list
      /// A problem that kept the notebook from running at all (unreadable file, a cell in another language).
      Problem: string option
      Elapsed: TimeSpan }

    /// True when every cell ran without error and every check held.
    member this.Passed =
        this.Problem.IsNone && this.Failure.IsNone && this.Checks |> List.forall snd

/// Runs one notebook's F# code cells top to bottom in one fsi session and records their outputs in the notebook.
module NotebookRun =

    let private firstLine (code: string) =
        let line =
            code.Replace("\r\n", "\n").Split('\n')
            |> Array.tryFind (fun line -> line.Trim() <> "" && not (line.TrimStart().StartsWith "//"))
            |> Option.defaultValue ""
        let line = line.Trim()
        if line.Length > 60 then line.Substring(0, 57) + "..." else line

    /// Runs `cells` (numbered from 1) in one session; stops at the first that fails. Returns each cell's execution
    /// number and outputs by its index in the notebook, the checks, and the failure if there was one.
    let private runCells (options: RunOptions) (progress: string -> unit) (folder: string) (cells: CodeCell list) =
        use session = new FsiSession(folder, options.Quick, options.Echo)
        let rec loop (remaining: (int * CodeCell) list) results checks =
            match remaining with
            | [] -> results, checks, None
            | (number, cell) :: rest ->
                progress $"  [{number}/{cells.Length}] {firstLine cell.Source}"
                let ran = session.Run(number, cell.Source, options.CellTimeout)
                for warning in ran.Warnings do
                    progress ("    warning: " + warning.Replace("\n", "\n    "))
                let status =
                    if ran.Failed then "FAILED"
                    elif ran.Checks |> List.exists (snd >> not) then "check failed"
                    else "ok"
                progress $"        {status} in {ran.Elapsed.TotalSeconds:F1} s"
                let results = Map.add cell.Index (number, ran.Outputs) results
                let checks = checks @ ran.Checks
                if ran.Failed then
                    let error =
                        ran.Outputs
                        |> List.tryPick (function
                            | ErrorOutput(ename, evalue, _) -> Some $"{ename}: {evalue}"
                            | _ -> None)
                        |> Option.defaultValue "the cell failed"
                    results, checks, Some(number, error)
                else
                    loop rest results checks
        loop (cells |> List.mapi (fun i cell -> i + 1, cell)) Map.empty []

    /// Runs the notebook at `path`, telling `progress` what happens (one line per message), and writes the outputs
    /// back when `options.Write` is set (also after a failure, so that the error shows where it happened).
    let run (options: RunOptions) (progress: string -> unit) (path: string) : NotebookResult =
        let clock = Stopwatch.StartNew()
        let finish (result: NotebookResult) = { result with Elapsed = clock.Elapsed }
        let empty: NotebookResult =
            { Path = path
              CellsRun = 0
              CodeCells = 0
              Failure = None
              Checks = []
              Problem = None
              Elapsed = TimeSpan.Zero }
        let loaded =
            try
                Ok(Ipynb.load path)
            with
            | :? InvalidDataException as e -> Error e.Message
            | :? IOException as e -> Error $"cannot read '{path}': {e.Message}"
        match loaded with
        | Error problem -> finish { empty with Problem = Some problem }
        | Ok notebook ->
            // Jupyter gives empty cells no execution number either.
            let cells = Ipynb.codeCells notebook |> List.filter (fun cell -> cell.Source.Trim() <> "")
            match cells |> List.tryFind (fun cell -> cell.Language <> "fsharp") with
            | Some cell ->
                finish
                    { empty with
                        CodeCells = cells.Length
                        Problem = Some $"cell {cell.Index + 1} is a '{cell.Language}' cell; the runner runs F# cells only" }
            | None ->
                let mode = if options.Quick then " (quick)" else ""
                progress $"{Path.GetFileName path}: {cells.Length} code cells{mode}"
                let results, checks, failure =
                    runCells options progress (Path.GetDirectoryName(Path.GetFullPath path)) cells
                if options.Write then
                    Ipynb.save (Ipynb.withResults results notebook)
                finish
                    { empty with
                        CellsRun = results.Count
                        CodeCells = cells.Length
                        Failure = failure
                        Checks = checks }
