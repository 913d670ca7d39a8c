/// Two suites in one program. Under mpirun (every rank runs it): the collective tests, over the job's process group;
/// only rank 0 writes the JUnit summary (each test's result is already agreed by all ranks). Without mpirun: the
/// process-level tests, which start their own mpirun jobs. `--worker NAME DIR` is one rank of such a job.
module Decomp.Distributed.Tests.Main

open System
open Expecto
open TorchSharp
open Decomp.Collectives

let private withoutJunit (argv: string[]) =
    let i = Array.IndexOf(argv, "--junit-summary")
    if i < 0 then argv else Array.append argv[.. i - 1] argv[i + 2 ..]

[<EntryPoint>]
let main argv =
    match argv with
    | [| "--worker"; name; folder |] -> Workers.run name folder
    | _ when ProcessGroups.launchedByMpi () ->
        Harness.group <- ProcessGroups.init Harness.device (Some(TimeSpan.FromSeconds 60.0))
        let code =
            try
                let args = if Harness.group.Rank = 0 then argv else withoutJunit argv
                runTestsWithCLIArgs [ Sequenced ] args (testList "distributed" [ Collectives.tests; Training.tests ])
            finally
                (Harness.group :> IDisposable).Dispose()
        code
    | _ -> runTestsWithCLIArgs [ Sequenced ] argv (testList "distributed jobs" [ Processes.tests; Vision.tests ])
