/// The benchmarks' command line (`src/Bench`, `decomp-bench`) as a user meets it: the app in its own process, its exit
/// code and what it prints. It is the apps' one F# style (Argu, one line and exit code 2 for bad usage, the shared
/// --device and --threads), as Figure 2's.
module Decomp.Experiments.Tests.BenchCliTests

open System
open System.Diagnostics
open System.IO
open Expecto

let private app = Path.Combine(AppContext.BaseDirectory, "Decomp.Bench.dll")

/// Runs the app to its end (60 s at most) and returns its exit code, standard output and standard error.
let private run (arguments: string list) =
    let info = ProcessStartInfo("dotnet", app :: arguments, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
    use p = Process.Start info
    let out = p.StandardOutput.ReadToEndAsync()
    let error = p.StandardError.ReadToEndAsync()
    if not (p.WaitForExit 60_000) then
        p.Kill true
        failtestf "decomp-bench %A did not end within 60 s" arguments
    p.WaitForExit()
    p.ExitCode, out.Result, error.Result

let private badUsage (arguments: string list) (expected: string) =
    test (String.Join(" ", arguments)) {
        let code, _, error = run arguments
        Expect.equal code 2 "bad usage exits with 2"
        let lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries)
        Expect.equal lines.Length 1 $"one line on standard error, got:\n{error}"
        Expect.stringStarts lines[0] "decomp-bench: " "the line names the app"
        Expect.stringContains lines[0] expected "the line says what is wrong"
    }

[<Tests>]
let tests =
    testList "decomp-bench's command line" [
        testList "bad usage is one line and exit code 2" [
            badUsage [] "subcommand"
            badUsage [ "bogus" ] "'bogus'"
            badUsage [ "memory"; "--iterations"; "0" ] "--iterations must be at least 1; got 0"
            badUsage [ "memory"; "--iterations"; "many" ] "--iterations"
            badUsage [ "b1-loss"; "--candidates"; "1" ] "--candidates must be at least 2"
            badUsage [ "--threads"; "-1"; "conditional-cost" ] "--threads must be 0"
            badUsage [ "--device"; "tpu"; "memory" ] "--device must be auto, cpu, cuda or cuda:N, not 'tpu'"
            badUsage [ "memory"; "--loop"; "adam" ] "--loop must be b1, conditional-scores or in-batch, not 'adam'"
        ]
        test "--help lists the benchmarks and the shared options, and exits with 0" {
            let code, out, _ = run [ "--help" ]
            Expect.equal code 0 "help is not an error"
            for word in [ "memory"; "conditional-cost"; "b1-loss"; "--device"; "--threads" ] do
                Expect.stringContains out word $"--help names {word}"
        }
        test "memory --iterations 20 runs and reports the resident set" {
            let code, out, error = run [ "--device"; "cpu"; "--threads"; "1"; "memory"; "--iterations"; "20" ]
            Expect.equal code 0 $"it ran; standard error:\n{error}"
            Expect.stringContains out "RSS after 2 iterations" "the closing line gives the resident set at the first sample"
        }
        test "memory --loop conditional-scores runs InfoNCE_S's batched conditional term and reports the resident set" {
            let code, out, error = run [ "--device"; "cpu"; "--threads"; "1"; "memory"; "--loop"; "conditional-scores"; "--iterations"; "20" ]
            Expect.equal code 0 $"it ran; standard error:\n{error}"
            Expect.stringContains out "InfoNCE_S's batched conditional term, 20 iterations" "it says which loop it runs"
            Expect.stringContains out "RSS after 2 iterations" "the closing line gives the resident set at the first sample"
        }
        test "memory --loop in-batch runs Figure 2's largest InfoNCE batch, with the StepCollector or, asked, without it" {
            for extra, says in [ [], "a StepCollector after each step"; [ "--without-collector" ], "no StepCollector (--without-collector)" ] do
                let code, out, error = run ([ "--device"; "cpu"; "--threads"; "1"; "memory"; "--loop"; "in-batch"; "--iterations"; "3" ] @ extra)
                Expect.equal code 0 $"it ran; standard error:\n{error}"
                Expect.stringContains out "Batched in-batch InfoNCE, 3 iterations (20 runs, K 512" "it says which loop it runs"
                Expect.stringContains out says "it says whether the collector runs"
                Expect.stringContains out "RSS after 1 iterations" "the closing line gives the resident set at the first sample"
        }
    ]
