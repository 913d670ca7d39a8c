namespace Decomp.Notebooks.Runner

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.IO
open System.Text
open System.Text.RegularExpressions
open System.Threading.Tasks
open Decomp.Notebooks

/// What one cell did.
type CellRun =
    { /// The cell's outputs in nbformat's order: its stdout text and displays as they came, then its stderr text,
      /// then the value of its last expression or the error that stopped it.
      Outputs: CellOutput list
      /// True when the cell threw, did not compile, timed out, or the session died under it.
      Failed: bool
      /// The notebook's own checks that ran in this cell: name and whether it held.
      Checks: (string * bool) list
      /// fsi's warnings about the cell, locations rewritten to the cell; shown by the runner, kept out of the notebook.
      Warnings: string list
      Elapsed: TimeSpan }

/// Reading what fsi writes to stderr: its diagnostics and exception reports, with `stdin(line,col)` locations turned
/// into locations in the notebook's cells.
module FsiText =

    /// A diagnostic's header line, e.g. `/dir/stdin(6,9): error FS0039: The value ... is not defined.`
    let private diagnosticLine =
        Regex(@"^(?<file>.*?)\((?<line>\d+),(?<column>\d+)\): (?<severity>error|warning) (?<code>FS\d+): (?<message>.*)$")

    /// The line fsi prints after an exception escaped a submission.
    [<Literal>]
    let StoppedLine = "Stopped due to error"

    let private stdinLocation = Regex(@"(?:\S*[/\\])?stdin\((?<line>\d+),(?<column>\d+)\)")
    let private stdinStackFrame = Regex(@"in (?:\S*[/\\])?stdin:line (?<line>\d+)")

    /// Rewrites fsi's `stdin(L,C)` and `stdin:line L` locations with `locate`, which maps a line of the session's
    /// input to a cell number and a line in that cell.
    let relocate (locate: int -> (int * int) option) (text: string) : string =
        let text =
            stdinLocation.Replace(
                text,
                MatchEvaluator(fun m ->
                    let column = m.Groups["column"].Value
                    match locate (int m.Groups["line"].Value) with
                    | Some(cell, line) -> $"cell [{cell}] ({line},{column})"
                    | None -> m.Value)
            )
        stdinStackFrame.Replace(
            text,
            MatchEvaluator(fun m ->
                match locate (int m.Groups["line"].Value) with
                | Some(cell, line) -> $"in cell [{cell}]:line {line}"
                | None -> m.Value)
        )

    /// True when fsi's stderr for a submission says it failed: a compile error or an escaped exception.
    let reportsFailure (stderr: string) : bool =
        stderr.Split('\n')
        |> Array.exists (fun line ->
            let line = line.TrimEnd '\r'
            line = StoppedLine || (let m = diagnosticLine.Match line in m.Success && m.Groups["severity"].Value = "error"))

    /// Splits stderr into fsi's warnings (each with the source excerpt fsi prints above it) and everything else.
    /// fsi writes a diagnostic as blank-line-separated paragraphs: an excerpt of indented source lines ending in a
    /// `---^^^` marker, then the header line and any continuation of the message.
    let splitWarnings (stderr: string) : string list * string =
        let paragraphs = Regex.Split(stderr.Replace("\r\n", "\n"), @"\n\s*\n") |> List.ofArray
        let isWarningHeader (paragraph: string) =
            let m = diagnosticLine.Match(paragraph.Split('\n')[0])
            m.Success && m.Groups["severity"].Value = "warning"
        let isExcerpt (paragraph: string) =
            let lines = paragraph.Trim('\n').Split('\n')
            lines.Length >= 2
            && lines |> Array.forall (fun line -> line.StartsWith "  ")
            && Regex.IsMatch(Array.last lines, @"^\s*-*\^+\s*$")
        let rec walk (paragraphs: string list) warnings kept =
            match paragraphs with
            | excerpt :: header :: rest when isExcerpt excerpt && isWarningHeader header ->
                walk rest ((excerpt.Trim('\n') + "\n" + header) :: warnings) kept
            | header :: rest when isWarningHeader header -> walk rest (header :: warnings) kept
            | paragraph :: rest -> walk rest warnings (paragraph :: kept)
            | [] -> List.rev warnings, List.rev kept
        let warnings, kept = walk paragraphs [] []
        let rest = kept |> List.filter (fun p -> p.Trim() <> "") |> String.concat "\n\n"
        warnings, (if rest = "" then "" else rest.Trim('\n') + "\n")

    let private exceptionHeader = Regex(@"^(?<type>[A-Za-z_][\w.`+]*(?:Exception|Error)\w*): ?(?<message>.*)$")

    /// The nbformat error output for a failed cell, from fsi's stderr (locations already rewritten). Stack frames of the
    /// reflection call fsi makes into each submission are dropped: they are the same for every cell.
    let errorOutput (stderr: string) : CellOutput =
        let lines =
            stderr.Replace("\r\n", "\n").TrimEnd('\n').Split('\n')
            |> Array.filter (fun line ->
                line <> StoppedLine
                && not (line.TrimStart().StartsWith "at System.Reflection.MethodBaseInvoker")
                && not (line.TrimStart().StartsWith "at System.RuntimeMethodHandle.InvokeMethod"))
            |> List.ofArray
        let name, value =
            lines
            |> List.tryPick (fun line ->
                let m = diagnosticLine.Match line
                if m.Success && m.Groups["severity"].Value = "error" then
                    Some("error " + m.Groups["code"].Value, m.Groups["message"].Value)
                else
                    None)
            |> Option.orElse (
                lines
                |> List.tryPick (fun line ->
                    let m = exceptionHeader.Match line
                    if m.Success then Some(m.Groups["type"].Value, m.Groups["message"].Value) else None)
            )
            |> Option.defaultWith (fun () ->
                "Error", (lines |> List.tryFind (fun line -> line.Trim() <> "") |> Option.defaultValue "the cell failed"))
        ErrorOutput(name, value, lines)

/// One `dotnet fsi` process fed cell after cell on stdin, as a notebook kernel would be: definitions carry from cell to
/// cell, and each cell is compiled and run on its own, so an error belongs to exactly one cell.
///
/// After each cell the session sends a short epilogue that reports the value of the cell's last expression (fsi's
/// `it`) and writes a cell-end frame on stdout and on stderr; the session reads both streams up to those frames, so
/// everything before them belongs to the cell. fsi runs with `--quiet`, so the streams hold only what the cell wrote
/// and fsi's diagnostics.
type FsiSession(workingDirectory: string, quick: bool, echo: bool) =
    let token = Guid.NewGuid().ToString("N")
    let prefix = Protocol.framePrefix token

    let startInfo =
        let info = ProcessStartInfo("dotnet")
        for argument in [ "fsi"; "--quiet"; "--readline-"; "--nologo" ] do
            info.ArgumentList.Add argument
        info.WorkingDirectory <- workingDirectory
        info.RedirectStandardInput <- true
        info.RedirectStandardOutput <- true
        info.RedirectStandardError <- true
        info.UseShellExecute <- false
        info.StandardInputEncoding <- UTF8Encoding false
        info.StandardOutputEncoding <- Encoding.UTF8
        info.StandardErrorEncoding <- Encoding.UTF8
        info.Environment[Protocol.ChannelVariable] <- token
        if quick then info.Environment[Protocol.QuickVariable] <- "1" else info.Environment.Remove Protocol.QuickVariable |> ignore
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] <- "1"
        info.Environment["DOTNET_NOLOGO"] <- "1"
        info

    let fsi = Process.Start startInfo
    let events = new BlockingCollection<bool * Choice<string, Protocol.Message, unit>>()

    /// Turns one line of a stream into events: text, frames, and the text before a frame that had no line break yet.
    let readStream (isStdout: bool) (reader: StreamReader) =
        Task.Run(fun () ->
            let mutable line = reader.ReadLine()
            while not (isNull line) do
                match line.IndexOf(prefix, StringComparison.Ordinal) with
                | -1 -> events.Add((isStdout, Choice1Of3(line + "\n")))
                | at ->
                    if at > 0 then events.Add((isStdout, Choice1Of3(line.Substring(0, at))))
                    match Protocol.decode (line.Substring(at + prefix.Length)) with
                    | Ok message -> events.Add((isStdout, Choice2Of3 message))
                    | Error _ -> events.Add((isStdout, Choice1Of3(line.Substring at + "\n")))
                line <- reader.ReadLine()
            events.Add((isStdout, Choice3Of3())))

    let readers = [ readStream true fsi.StandardOutput; readStream false fsi.StandardError ]

    /// Lines of the session's input so far, and which cell each submitted range belongs to.
    let mutable inputLines = 0
    let cellRanges = ResizeArray<int * int * int>() // cell number, first input line, line count

    let send (text: string) =
        fsi.StandardInput.Write text
        fsi.StandardInput.Flush()
        inputLines <- inputLines + (text |> Seq.filter ((=) '\n') |> Seq.length)

    let locate (inputLine: int) =
        cellRanges
        |> Seq.tryFind (fun (_, first, count) -> inputLine >= first && inputLine < first + count)
        |> Option.map (fun (cell, first, _) -> cell, inputLine - first + 1)

    let epilogue (cell: int) =
        $"DecompNotebookRunner.cellEnded {cell} (box it)\nlet it = DecompNotebookRunner.noValue\n;;\n"

    /// Defines the epilogue's helper in the session. It cannot use the host library (a notebook loads that in its
    /// first cell), so it writes the two frames it needs itself, in the shape Protocol.decode reads.
    let preamble =
        let quote (text: string) = "\"" + text.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\""
        String.concat
            "\n"
            [ "module DecompNotebookRunner ="
              "    let noValue = obj ()"
              $"    let private frame (json: string) = {quote prefix} + json + \"\\n\""
              "    let cellEnded (cell: int) (value: obj) ="
              "        if not (isNull value || obj.ReferenceEquals(value, noValue)) then"
              "            let shown = match value with :? string as text -> text | _ -> sprintf \"%A\" value"
              "            let text = System.Text.Json.JsonSerializer.Serialize shown"
              "            stdout.Write(frame (\"{\\\"type\\\":\\\"result\\\",\\\"text\\\":\" + text + \"}\"))"
              "        let ended = frame (\"{\\\"type\\\":\\\"cell-end\\\",\\\"cell\\\":\" + string cell + \"}\")"
              "        stdout.Write ended"
              "        stdout.Flush()"
              "        stderr.Write ended"
              "        stderr.Flush()"
              "let it = DecompNotebookRunner.noValue"
              ";;"
              "" ]

    /// Polyglot lets a cell start with a `#!fsharp` line naming its kernel; fsi would reject it. Blanking it keeps
    /// the cell's line numbers.
    let withoutKernelMagic (code: string) =
        code.Replace("\r\n", "\n").Split('\n')
        |> Array.map (fun line ->
            match line.Trim().ToLowerInvariant() with
            | "#!fsharp"
            | "#!f#" -> ""
            | _ -> line)
        |> String.concat "\n"

    let mutable alive = true

    /// Sends `code` as cell number `cell` and collects what it wrote until its cell-end frames arrive on both streams,
    /// the session dies, or `timeout` passes (then the session is stopped).
    let run (cell: int) (code: string) (timeout: TimeSpan) : CellRun =
        let clock = Stopwatch.StartNew()
        let code = withoutKernelMagic code
        let code = if code.EndsWith "\n" then code else code + "\n"
        cellRanges.Add((cell, inputLines + 1, (code |> Seq.filter ((=) '\n') |> Seq.length)))
        let outputs = ResizeArray<CellOutput>()
        let stdoutText = StringBuilder()
        let stderrText = StringBuilder()
        let checks = ResizeArray<string * bool>()
        let mutable value = None
        let mutable stdoutDone = false
        let mutable stderrDone = false
        let mutable closed = 0
        let mutable timedOut = false
        let flushStdout () =
            if stdoutText.Length > 0 then
                outputs.Add(StreamOutput("stdout", stdoutText.ToString()))
                stdoutText.Clear() |> ignore
        if alive then
            try
                send (code + ";;\n")
                send (epilogue cell)
            with :? IOException ->
                alive <- false // fsi is gone; the loop below sees its streams close
        while not (stdoutDone && stderrDone) && closed < 2 && not timedOut do
            let remaining = timeout - clock.Elapsed
            let mutable event = Unchecked.defaultof<_>
            if remaining <= TimeSpan.Zero || not (events.TryTake(&event, remaining)) then
                timedOut <- true
            else
                match event with
                | true, Choice1Of3 text ->
                    if echo then Console.Out.Write text
                    stdoutText.Append text |> ignore
                | false, Choice1Of3 text -> stderrText.Append text |> ignore
                | true, Choice2Of3(Protocol.Display data) ->
                    flushStdout ()
                    outputs.Add(DisplayData data)
                | true, Choice2Of3(Protocol.Result text) -> value <- Some text
                | true, Choice2Of3(Protocol.Check(name, passed, _)) -> checks.Add((name, passed))
                | isStdout, Choice2Of3(Protocol.CellEnd ended) when ended = cell ->
                    if isStdout then stdoutDone <- true else stderrDone <- true
                | _, Choice2Of3 _ -> () // a frame of an earlier cell, or one that does not belong on stderr
                | _, Choice3Of3() -> closed <- closed + 1
        flushStdout ()
        let warnings, stderr = FsiText.splitWarnings (FsiText.relocate locate (stderrText.ToString()))
        let finished = stdoutDone && stderrDone
        let failed = not finished || FsiText.reportsFailure stderr
        if failed then
            let reason =
                if timedOut then
                    $"The cell ran longer than {timeout.TotalSeconds:F0} s; the runner stopped dotnet fsi.\n"
                elif not finished then
                    let code = if fsi.WaitForExit 5000 then string fsi.ExitCode else "unknown"
                    $"dotnet fsi exited (exit code {code}) before the cell finished.\n"
                else
                    ""
            if timedOut then
                alive <- false
                try fsi.Kill true with :? InvalidOperationException -> ()
            outputs.Add(FsiText.errorOutput (stderr + reason))
        else
            if stderr <> "" then outputs.Add(StreamOutput("stderr", stderr))
            value |> Option.iter (fun text -> outputs.Add(ExecuteResult text))
        { Outputs = List.ofSeq outputs
          Failed = failed
          Checks = List.ofSeq checks
          Warnings = warnings
          Elapsed = clock.Elapsed }

    do
        let setup = run 0 preamble (TimeSpan.FromMinutes 2.0)
        if setup.Failed then
            let detail =
                setup.Outputs
                |> List.tryPick (function
                    | ErrorOutput(_, _, traceback) -> Some(String.concat "\n" traceback)
                    | _ -> None)
                |> Option.defaultValue ""
            try fsi.Kill true with :? InvalidOperationException -> ()
            failwith $"dotnet fsi did not start a session in '{workingDirectory}':\n{detail}"

    /// Runs `code` as the notebook's code cell number `cell` (numbers start at 1 and name the cell in messages).
    member _.Run(cell: int, code: string, timeout: TimeSpan) : CellRun =
        if cell < 1 then invalidArg (nameof cell) $"Cell numbers start at 1, got {cell}."
        if isNull code then nullArg (nameof code)
        run cell code timeout

    interface IDisposable with
        member _.Dispose() =
            try
                if alive then fsi.StandardInput.Close()
                if not (fsi.WaitForExit 10_000) then fsi.Kill true
            with
            | :? InvalidOperationException
            | :? IOException -> ()
            // The readers end when fsi's pipes close; after that nothing adds to `events`.
            if Task.WaitAll(Array.ofList readers, TimeSpan.FromSeconds 10.0) then events.Dispose()
            fsi.Dispose()
