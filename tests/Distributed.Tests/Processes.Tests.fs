/// Whole jobs under a real mpirun, started from a test that runs outside MPI: a killed rank, a hanging rank.
module Decomp.Distributed.Tests.Processes

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.IO
open System.Threading
open Expecto
open TorchSharp
open Decomp.Core
open Decomp.Collectives

/// `mpirun` of MPICH (DECOMP_MPIRUN overrides).
let mpirun () =
    match Environment.GetEnvironmentVariable "DECOMP_MPIRUN" with
    | null | "" -> if File.Exists "/usr/bin/mpirun.mpich" then "/usr/bin/mpirun.mpich" else "mpirun"
    | path -> path

type Job = { Process: Process; Output: ConcurrentQueue<string>; Folder: string }

/// Starts `mpirun -np 2 dotnet <this test assembly> --worker name folder` with extra environment variables.
let start (worker: string) (environment: (string * string) list) =
    let folder = Directory.CreateTempSubdirectory("decomp-distributed-").FullName
    let info = ProcessStartInfo(mpirun (), RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
    for a in [ "-np"; "2"; "dotnet"; typeof<Job>.Assembly.Location; "--worker"; worker; folder ] do info.ArgumentList.Add a
    for k, v in environment do info.Environment[k] <- v
    let p = new Process(StartInfo = info)
    let output = ConcurrentQueue<string>()
    p.OutputDataReceived.Add(fun e -> if not (isNull e.Data) then output.Enqueue e.Data)
    p.ErrorDataReceived.Add(fun e -> if not (isNull e.Data) then output.Enqueue e.Data)
    p.Start() |> ignore
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    { Process = p; Output = output; Folder = folder }

let waitFor (what: string) (seconds: float) (condition: unit -> bool) =
    let clock = Stopwatch.StartNew()
    while not (condition ()) do
        if clock.Elapsed.TotalSeconds > seconds then failtestf "waited %g s for %s" seconds what
        Thread.Sleep 50

let finish (job: Job) (seconds: float) =
    if not (job.Process.WaitForExit(TimeSpan.FromSeconds seconds)) then
        job.Process.Kill true
        failtestf "the job did not end within %g s; output:\n%s" seconds (String.Join("\n", job.Output))
    job.Process.WaitForExit()
    job.Process.ExitCode

let tests =
    testList "jobs" [
        testCase "without a launcher the group is this process alone, and its collectives are the identity" (fun () ->
            use group = ProcessGroups.init torch.CPU None
            Expect.equal (group.Rank, group.WorldSize) (0, 1) "rank 0 of 1"
            use t = torch.arange(4.0f).reshape(2L, 2L).requires_grad_(true)
            use gathered = Distributed.allGather group t
            Expect.equal (Harness.toArray gathered) (Harness.toArray t) "allGather of one rank"
            gathered.sum().backward()
            Expect.equal (Harness.toArray t.grad) [| 1.0; 1.0; 1.0; 1.0 |] "its backward passes the gradient through")

        // Measures what a user sees when one rank of a running job is killed (kill -9, as by the OOM killer): the time
        // until the whole job has ended, and the messages. MPICH's mpirun (Hydra) notices the dead rank and ends the
        // others itself; the collectives' timeout (30 s here) is the bound if it did not.
        testCase "a rank killed mid-run ends the whole job within seconds, with a message" (fun () ->
            let job = start "loop" [ "DECOMP_DISTRIBUTED_TIMEOUT", "30" ]
            waitFor "both ranks to reach step 20" 60.0 (fun () -> job.Output |> Seq.exists (fun l -> l.StartsWith "rank 1 step 20") && job.Output |> Seq.exists (fun l -> l.StartsWith "rank 0 step 20"))
            let victim = int (File.ReadAllText(Path.Combine(job.Folder, "rank1.pid")))
            let clock = Stopwatch.StartNew()
            Process.GetProcessById(victim).Kill()
            let code = finish job 45.0
            let seconds = clock.Elapsed.TotalSeconds
            let tail = job.Output |> Seq.filter (fun l -> not (l.Contains " step ")) |> String.concat "\n"
            printfn "killed rank 1 (pid %d): the job ended %.2f s later with exit code %d; its messages:\n%s" victim seconds code tail
            Expect.notEqual code 0 "the job fails"
            Expect.isLessThan seconds 35.0 "within the collective timeout (30 s) and a margin"
            Expect.isNonEmpty tail "a message says what happened")

        testCase "a rank that stops calling collectives makes the others fail after the timeout, naming the collective" (fun () ->
            let job = start "hang" [ "DECOMP_DISTRIBUTED_TIMEOUT", "3" ]
            waitFor "rank 1 to start" 60.0 (fun () -> File.Exists(Path.Combine(job.Folder, "rank1.pid")))
            let clock = Stopwatch.StartNew()
            let code = finish job 60.0
            let seconds = clock.Elapsed.TotalSeconds
            let text = String.Join("\n", job.Output)
            printfn "hanging rank 1: the job ended %.2f s after rank 1 started, exit code %d; its messages:\n%s" seconds code text
            Expect.notEqual code 0 "the job fails"
            Expect.stringContains text "allReduce (shape check) timed out on rank 0 of 2 after 3." "rank 0's message names the collective, the rank and the time"
            Expect.isLessThan seconds 30.0 "a 3 s timeout ends the job in seconds, not never")
    ]
