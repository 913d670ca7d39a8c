/// The Figure 2 app under faults (issue 18 §2), driven as a user drives it: the app in its own process, its exit code,
/// its standard error and the files it leaves. Nothing here calls the app's functions, so these tests build against
/// any version of it.
module Decomp.Experiments.Tests.Figure2FaultTests

open System
open System.Diagnostics
open System.IO
open System.Text
open System.Threading
open Expecto

/// What a finished process left: its exit code and what it printed.
type Outcome = { Code: int; Out: string; Error: string }

/// A running process of the app, with what it has printed so far.
type Child = { Process: Process; Out: StringBuilder; Error: StringBuilder }

let private app = Path.Combine(AppContext.BaseDirectory, "Decomp.Experiments.Synthetic.dll")

let private dotnet =
    match Environment.GetEnvironmentVariable "DOTNET_HOST_PATH" with
    | null | "" -> "dotnet"
    | path -> path

/// A sweep of two runs that takes about a second: InfoNCE at K = 4 and 8, one seed, 4 steps of a tiny network.
let private tinySweep =
    [ "--mi"; "2"; "-k"; "4,8"; "-e"; "infonce"; "--seeds"; "1"; "--steps"; "4"; "--dimensions"; "2"; "--width"; "4"
      "--evaluation-batches"; "2"; "--threads"; "1"; "--device"; "cpu" ]

/// `sweep` continuing the run in its folder: without --resume, a folder that holds a run is refused.
let private resuming (sweep: string list) = sweep @ [ "--resume" ]

/// `sweep` with one option's value replaced (or added).
let private withOption (name: string) (value: string) (sweep: string list) =
    match List.tryFindIndex ((=) name) sweep with
    | Some i -> List.updateAt (i + 1) value sweep
    | None -> sweep @ [ name; value ]

let private start (program: string) (arguments: string list) (environment: (string * string) list) : Child =
    let info = ProcessStartInfo(program, arguments, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
    for name, value in environment do
        info.Environment[name] <- value
    let p = new Process(StartInfo = info)
    let out, error = StringBuilder(), StringBuilder()
    p.OutputDataReceived.Add(fun e -> if not (isNull e.Data) then lock out (fun () -> out.AppendLine e.Data |> ignore))
    p.ErrorDataReceived.Add(fun e -> if not (isNull e.Data) then lock error (fun () -> error.AppendLine e.Data |> ignore))
    p.Start() |> ignore
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    { Process = p; Out = out; Error = error }

let private text (b: StringBuilder) = lock b (fun () -> b.ToString())

/// Waits for the child to end (killing it after `seconds`) and returns what it left.
let private finish (seconds: int) (child: Child) =
    if not (child.Process.WaitForExit(seconds * 1000)) then
        child.Process.Kill true
        child.Process.WaitForExit()
        failtestf "the app did not end within %d s; it printed:\n%s\n%s" seconds (text child.Out) (text child.Error)
    child.Process.WaitForExit() // drains the asynchronous readers
    let outcome = { Code = child.Process.ExitCode; Out = text child.Out; Error = text child.Error }
    child.Process.Dispose()
    outcome

/// Runs the app on `folder` to its end.
let private runApp (folder: string) (sweep: string list) =
    start dotnet ([ app ] @ sweep @ [ "-o"; folder ]) [] |> finish 300

/// Waits until the child has printed a line containing `marker`.
let private waitFor (marker: string) (child: Child) =
    let deadline = DateTime.UtcNow.AddSeconds 120.0
    while not ((text child.Out).Contains marker) do
        if child.Process.HasExited || DateTime.UtcNow > deadline then
            failtestf "the app never printed '%s'; it printed:\n%s\n%s" marker (text child.Out) (text child.Error)
        Thread.Sleep 50

let private newFolder () = Directory.CreateTempSubdirectory("decomp-figure2-faults-").FullName

/// A folder in which the tiny sweep has run to its end, made once; each test works on its own copy.
let private finished =
    lazy
        (let folder = newFolder ()
         let outcome = runApp folder tinySweep
         if outcome.Code <> 0 then failwithf "the tiny sweep failed (%d): %s %s" outcome.Code outcome.Out outcome.Error
         AppDomain.CurrentDomain.ProcessExit.Add(fun _ -> try Directory.Delete(folder, true) with _ -> ())
         folder)

/// Runs `body` on a copy of the finished tiny sweep's folder, removed afterwards.
let private withFinishedCopy (body: string -> unit) =
    let folder = newFolder ()
    try
        for file in Directory.GetFiles finished.Value do
            File.Copy(file, Path.Combine(folder, Path.GetFileName file))
        body folder
    finally
        Directory.Delete(folder, true)

let private withFolder (body: string -> unit) =
    let folder = newFolder ()
    try body folder finally Directory.Delete(folder, true)

/// The lines of a CSV file and the index of each header name.
let private csv (path: string) =
    let lines = File.ReadAllLines path |> Array.filter (fun l -> l <> "")
    let columns = lines[0].Split ',' |> Array.mapi (fun i name -> name, i) |> Map.ofArray
    lines, columns

/// The file's text with the last data line replaced by `damage` applied to it.
let private damageLastRow (path: string) (damage: string -> string) =
    let content = File.ReadAllText path
    let body = content.TrimEnd '\n'
    let start = body.LastIndexOf '\n' + 1
    File.WriteAllText(path, body.Substring(0, start) + damage (body.Substring start))

/// The one-line refusal every damaged file gets: exit code 2, one line on stderr naming the file and the line, and
/// nothing trained or written.
let private expectRefused (folder: string) (file: string) (line: int) (before: Map<string, byte[]>) (outcome: Outcome) =
    let path = Path.Combine(folder, file)
    Expect.equal outcome.Code 2 $"exit code 2 (bad input); stdout:\n{outcome.Out}\nstderr:\n{outcome.Error}"
    let lines = outcome.Error.Trim().Split '\n'
    Expect.equal lines.Length 1 $"one line on stderr: {outcome.Error}"
    Expect.stringContains lines[0] path "the message names the file"
    Expect.stringContains lines[0] $"line {line}" "and the line"
    Expect.isFalse (outcome.Out.Contains "nats (cap") $"no run was trained before the refusal:\n{outcome.Out}"
    for KeyValue(name, bytes) in before do
        Expect.sequenceEqual (File.ReadAllBytes(Path.Combine(folder, name))) bytes $"{name} is left as it was"

let private snapshot (folder: string) =
    [ "runs.csv"; "curves.csv" ]
    |> List.filter (fun f -> File.Exists(Path.Combine(folder, f)))
    |> List.map (fun f -> f, File.ReadAllBytes(Path.Combine(folder, f)))
    |> Map.ofList

/// Files that a writer left half-written: the old app's `.tmp` files and the shared layer's temporary files.
let private leftovers (folder: string) =
    Directory.GetFiles folder |> Array.map Path.GetFileName |> Array.filter (fun f -> f.Contains ".tmp" || f.Contains "decomp-tmp")

[<Tests>]
let tests =
    testList "Figure 2 under faults" [
        testList "on --resume, a damaged runs.csv is refused before any training, in one line naming the file and the line" [
            test "a row cut short: the last field gone (16 of 17 fields in the old format)" {
                withFinishedCopy (fun folder ->
                    let runs = Path.Combine(folder, "runs.csv")
                    damageLastRow runs (fun row -> row.Substring(0, row.LastIndexOf ',') + "\n")
                    let before = snapshot folder
                    runApp folder (resuming tinySweep) |> expectRefused folder "runs.csv" 3 before)
            }

            test "a row cut in the middle of its estimate (…,-0.00 for -0.0082546…)" {
                withFinishedCopy (fun folder ->
                    let runs = Path.Combine(folder, "runs.csv")
                    let _, columns = csv runs
                    damageLastRow runs (fun row ->
                        let fields = row.Split ','
                        let start = (fields |> Array.take columns["estimate"] |> Array.sumBy (fun f -> f.Length + 1))
                        row.Substring(0, start + 4))
                    let before = snapshot folder
                    runApp folder (resuming tinySweep) |> expectRefused folder "runs.csv" 3 before)
            }

            test "a line of garbage" {
                withFinishedCopy (fun folder ->
                    File.AppendAllText(Path.Combine(folder, "runs.csv"), "garbage\n")
                    let before = snapshot folder
                    runApp folder (resuming tinySweep) |> expectRefused folder "runs.csv" 4 before)
            }

            test "a block of zero bytes over a row (what a power cut can leave)" {
                withFinishedCopy (fun folder ->
                    let runs = Path.Combine(folder, "runs.csv")
                    let bytes = File.ReadAllBytes runs
                    let second = Array.IndexOf(bytes, byte '\n') + 1
                    Array.fill bytes (second + 3) 40 0uy
                    File.WriteAllBytes(runs, bytes)
                    let before = snapshot folder
                    runApp folder (resuming tinySweep) |> expectRefused folder "runs.csv" 2 before)
            }

            test "'abc' for an estimate, with another run still to train" {
                withFinishedCopy (fun folder ->
                    let runs = Path.Combine(folder, "runs.csv")
                    let lines, columns = csv runs
                    let fields = lines[1].Split ','
                    fields[columns["estimate"]] <- "abc"
                    File.WriteAllLines(runs, [ lines[0]; String.Join(",", fields) ])
                    let before = snapshot folder
                    runApp folder (resuming tinySweep) |> expectRefused folder "runs.csv" 2 before)
            }

            test "an empty file" {
                withFinishedCopy (fun folder ->
                    File.WriteAllText(Path.Combine(folder, "runs.csv"), "")
                    let before = snapshot folder
                    runApp folder (resuming tinySweep) |> expectRefused folder "runs.csv" 1 before)
            }

            test "a runs.csv of the format before per-row checksums, which cannot be verified" {
                withFinishedCopy (fun folder ->
                    File.WriteAllLines(
                        Path.Combine(folder, "runs.csv"),
                        [ "true_mi,k,estimator,seed,steps,dimensions,width,learning_rate,conditional_examples,evaluation_batches,device,estimate,standard_error,cap,first_view_mi,conditional_mi,seconds"
                          "2,4,InfoNCE,1,4,2,4,0.0005,64,2,CPU,-0.042489469051361084,0.026476204395294186,1.3862943611198906,0.3768917980645113,1.6231082019354885,0.09" ])
                    let before = snapshot folder
                    let outcome = runApp folder (resuming tinySweep)
                    expectRefused folder "runs.csv" 1 before outcome
                    Expect.stringContains outcome.Error "checksum" "the message says what is missing")
            }

            test "a curves.csv cut in the middle of a row" {
                withFinishedCopy (fun folder ->
                    damageLastRow (Path.Combine(folder, "curves.csv")) (fun row -> row.Substring(0, row.Length / 2))
                    let before = snapshot folder
                    let lines, _ = csv (Path.Combine(folder, "curves.csv"))
                    runApp folder (resuming tinySweep) |> expectRefused folder "curves.csv" lines.Length before)
            }
        ]

        test "two processes on one folder: the second is refused, naming the first, whatever its sweep" {
            withFolder (fun folder ->
                let long = tinySweep |> withOption "--steps" "10000000"
                let first = start dotnet ([ app ] @ long @ [ "-o"; folder ]) []
                try
                    waitFor "writing to" first
                    for sweep in [ long; long |> withOption "--first-seed" "2" ] do
                        let second = runApp folder sweep
                        Expect.isFalse first.Process.HasExited "the first process is still running"
                        Expect.equal second.Code 2 $"the second exits with 2; stdout:\n{second.Out}\nstderr:\n{second.Error}"
                        Expect.stringContains second.Error $"is in use by process {first.Process.Id}; use another --output" "and says why"
                        Expect.equal (second.Error.Trim().Split('\n').Length) 1 "in one line"
                finally
                    first.Process.Kill true
                    first.Process.WaitForExit()
                // A killed owner leaves no lock behind.
                let after = runApp folder (tinySweep |> withOption "--first-seed" "2")
                Expect.equal after.Code 0 $"the folder is free once its owner is gone: {after.Error}")
        }

        test "SIGTERM stops the sweep in one line with exit code 130, keeping the finished runs; the same command with --resume continues" {
            let folder = newFolder ()
            // Three runs long enough (10,000 steps each) that the signal lands inside the second.
            let sweep = tinySweep |> withOption "-k" "4,8,16" |> withOption "--steps" "10000"
            let child = start dotnet ([ app ] @ sweep @ [ "-o"; folder ]) []
            waitFor "[1/3]" child
            use kill = Process.Start("kill", [ "-TERM"; string child.Process.Id ])
            kill.WaitForExit()
            let stopped = finish 60 child
            Expect.equal stopped.Code 130 $"exit code 130 (128 + SIGINT, as for Ctrl+C):\n{stopped.Error}"
            Expect.stringContains stopped.Error "stopped by SIGTERM; the finished runs are saved" "one line says what happened"
            Expect.equal (stopped.Error.Trim().Split('\n').Length) 1 "one line"
            Expect.isFalse (stopped.Out.Contains "[3/3]") "the sweep did not go on after the signal"
            Expect.stringContains stopped.Error "run the same command with --resume to continue" "and what to run next"
            let resumed = runApp folder (resuming sweep)
            Expect.equal resumed.Code 0 resumed.Error
            Expect.stringContains resumed.Out "already done" "the finished run is kept and not trained again"
        }

        test "a changed sweep with --resume (not --fresh) keeps every earlier row; its summary uses only its own rows" {
            withFinishedCopy (fun folder ->
                let changed = tinySweep |> withOption "--steps" "5" |> withOption "-k" "8,16"
                let outcome = runApp folder (resuming changed)
                Expect.equal outcome.Code 0 $"the changed sweep runs: {outcome.Error}"
                let lines, columns = csv (Path.Combine(folder, "runs.csv"))
                let rows = lines[1..] |> Array.map (fun l -> l.Split ',')
                let runs = rows |> Array.map (fun f -> f[columns["k"]], f[columns["steps"]]) |> Array.sort
                Expect.equal runs [| "16", "5"; "4", "4"; "8", "4"; "8", "5" |] "the earlier sweep's two rows are kept beside the new sweep's two"
                let curves, curveColumns = csv (Path.Combine(folder, "curves.csv"))
                let curveKs = curves[1..] |> Array.map (fun l -> (l.Split ',')[curveColumns["k"]]) |> Array.distinct |> Array.sort
                Expect.equal curveKs [| "16"; "4"; "8" |] "so are the earlier sweep's curves"
                let summary = File.ReadAllText(Path.Combine(folder, "summary.md"))
                Expect.isFalse (summary.Contains "| 2 | 4 |") "the summary has no row of the earlier sweep (K = 4)"
                let estimateAt8 =
                    rows |> Array.find (fun f -> f[columns["k"]] = "8" && f[columns["steps"]] = "5") |> fun f -> float f[columns["estimate"]]
                Expect.stringContains summary $"| 2 | 8 | 2.08 | 4.16 | {estimateAt8:F2} ± 0.00 |" "K = 8 is this sweep's run (5 steps), not the earlier one")
        }

        test "a full disk leaves no temporary file, and the error names the file" {
            withFolder (fun folder ->
                // RLIMIT_FSIZE of 1 KiB: every write past it fails (EFBIG), as on a full disk; SIGXFSZ is ignored so the
                // write fails instead of killing the process. The runtime's W^X double mapping needs large files, so it
                // is off for this process.
                let sweep = tinySweep |> withOption "--steps" "100" |> withOption "-k" "4"
                let child =
                    start "bash" ([ "-c"; "trap '' XFSZ; ulimit -f 1; exec \"$0\" \"$@\""; dotnet; app ] @ sweep @ [ "-o"; folder ])
                        [ "DOTNET_EnableWriteXorExecute", "0" ]
                let outcome = finish 300 child
                Expect.equal outcome.Code 1 $"exit code 1 (failure); stderr:\n{outcome.Error}"
                Expect.equal (outcome.Error.Trim().Split('\n').Length) 1 $"one line on stderr: {outcome.Error}"
                Expect.stringContains outcome.Error (Path.Combine(folder, "curves.csv")) "the error names the file it could not write"
                Expect.isEmpty (leftovers folder) "no temporary file is left to take space"
                Expect.isFalse (File.Exists(Path.Combine(folder, "runs.csv"))) "no run was recorded, so the folder holds none and needs no --resume"
                let again = runApp folder sweep
                Expect.equal again.Code 0 $"with space again, the same command finishes the sweep: {again.Error}")
        }

        test "a run killed mid-sweep resumes where it stopped" {
            withFolder (fun folder ->
                let sweep = tinySweep |> withOption "--steps" "3000"
                let first = start dotnet ([ app ] @ sweep @ [ "-o"; folder ]) []
                waitFor "[1/2]" first
                first.Process.Kill true
                first.Process.WaitForExit()
                let resumed = runApp folder (resuming sweep)
                Expect.equal resumed.Code 0 $"the resumed sweep ends well: {resumed.Error}"
                Expect.stringContains resumed.Out "already done" "and resumes"
                Expect.isEmpty (leftovers folder) "no temporary file is left"
                let lines, _ = csv (Path.Combine(folder, "runs.csv"))
                Expect.equal lines.Length 3 "both runs are recorded once")
        }
    ]

/// A refusal of the command line: exit code 2, one line on stderr naming the app, nothing trained, runs.csv and
/// curves.csv as they were (`before`). Returns the line.
let private expectUsageRefused (folder: string) (before: Map<string, byte[]>) (outcome: Outcome) =
    Expect.equal outcome.Code 2 $"exit code 2 (bad input); stdout:\n{outcome.Out}\nstderr:\n{outcome.Error}"
    let lines = outcome.Error.Trim().Split '\n'
    Expect.equal lines.Length 1 $"one line on stderr: {outcome.Error}"
    Expect.stringStarts lines[0] "decomp-figure2: " "the line names the app"
    Expect.isFalse (lines[0].Contains "(Parameter") $"without .NET's parameter suffix: {lines[0]}"
    Expect.isFalse (outcome.Out.Contains "nats (cap") $"no run was trained:\n{outcome.Out}"
    let after = snapshot folder
    Expect.sequenceEqual after.Keys before.Keys "no record file is made or removed"
    for KeyValue(name, bytes) in before do
        Expect.sequenceEqual after[name] bytes $"{name} is left byte for byte as it was"
    lines[0]

[<Tests>]
let resumeRule =
    testList "Figure 2 under the apps' --resume rule" [
        test "without --resume, a folder that holds a run is refused before the plan, in one line naming --resume, whatever the sweep" {
            withFinishedCopy (fun folder ->
                let before = snapshot folder
                for sweep in [ tinySweep; tinySweep |> withOption "--first-seed" "2" ] do
                    let outcome = runApp folder sweep
                    let line = expectUsageRefused folder before outcome
                    Expect.stringContains line $"{folder} already holds a run (runs.csv)" "the line says why, naming the folder"
                    Expect.stringContains line "pass --resume" "and what to pass"
                    Expect.isFalse (outcome.Out.Contains "Figure 2 sweep") $"the refusal comes before the plan:\n{outcome.Out}")
        }

        test "--resume where the folder does not exist is refused in one line naming runs.csv, and makes no folder" {
            withFolder (fun parent ->
                let folder = Path.Combine(parent, "never-run")
                let line = runApp folder (resuming tinySweep) |> expectUsageRefused folder Map.empty
                Expect.stringContains line $"there is no checkpoint (runs.csv) in {folder}" "the line names the file and the folder"
                Expect.isFalse (Directory.Exists folder) "the folder is not made")
        }

        test "--resume on an empty folder is refused in one line naming runs.csv" {
            withFolder (fun folder ->
                let line = runApp folder (resuming tinySweep) |> expectUsageRefused folder Map.empty
                Expect.stringContains line $"there is no checkpoint (runs.csv) in {folder}" "the line names the file and the folder")
        }

        test "curves.csv alone records no finished run: --resume is refused there, and a plain start trains the sweep" {
            withFolder (fun folder ->
                File.Copy(Path.Combine(finished.Value, "curves.csv"), Path.Combine(folder, "curves.csv"))
                let before = snapshot folder
                let line = runApp folder (resuming tinySweep) |> expectUsageRefused folder before
                Expect.stringContains line "there is no checkpoint (runs.csv)" "the line names runs.csv"
                let started = runApp folder tinySweep
                Expect.equal started.Code 0 $"a plain start runs: {started.Error}"
                let lines, _ = csv (Path.Combine(folder, "runs.csv"))
                Expect.equal lines.Length 3 "both runs are trained and recorded")
        }

        test "--fresh together with --resume is refused in one line naming both" {
            withFinishedCopy (fun folder ->
                let before = snapshot folder
                let line = runApp folder (resuming tinySweep @ [ "--fresh" ]) |> expectUsageRefused folder before
                Expect.stringContains line "--fresh and --resume" "the line names both flags")
        }

        test "--fresh on a folder that holds a run needs no --resume: it computes the sweep's runs again" {
            withFinishedCopy (fun folder ->
                let outcome = runApp folder (tinySweep @ [ "--fresh" ])
                Expect.equal outcome.Code 0 $"--fresh runs: {outcome.Error}"
                Expect.stringContains outcome.Out "--fresh: computing them all again" "and trains every run"
                let lines, _ = csv (Path.Combine(folder, "runs.csv"))
                Expect.equal lines.Length 3 "each run's row is replaced, not added")
        }

        test "SIGTERM before any run finished says so, and the same command without --resume starts the sweep" {
            withFolder (fun folder ->
                // 100,000 steps: the first run is far from done when the signal comes, which is checked every 2,000 steps.
                let child = start dotnet ([ app ] @ (tinySweep |> withOption "--steps" "100000") @ [ "-o"; folder ]) []
                waitFor "writing to" child
                use kill = Process.Start("kill", [ "-TERM"; string child.Process.Id ])
                kill.WaitForExit()
                let stopped = finish 60 child
                Expect.equal stopped.Code 130 $"exit code 130:\n{stopped.Error}"
                Expect.stringContains stopped.Error $"stopped by SIGTERM before any run finished, so {folder} holds none: run the same command to start again" "one line says so"
                let started = runApp folder tinySweep
                Expect.equal started.Code 0 $"the folder holds no run, so a plain start runs: {started.Error}")
        }
    ]
