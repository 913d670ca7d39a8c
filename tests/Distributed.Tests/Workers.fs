/// Small programs that the process-level tests start under mpirun (`--worker NAME DIR`): each rank writes its process
/// id to DIR/rankN.pid and then does what its name says.
module Decomp.Distributed.Tests.Workers

open System
open System.IO
open System.Threading
open TorchSharp
open Decomp.Core
open Decomp.Collectives

/// `loop`: all-reduce and print a line every 20 ms, until killed. `hang`: rank 1 stops calling collectives (sleeps)
/// while rank 0 all-reduces, so rank 0's collective times out.
let run (name: string) (folder: string) : int =
    use group = ProcessGroups.init torch.CPU None
    File.WriteAllText(Path.Combine(folder, $"rank{group.Rank}.pid"), string Environment.ProcessId)
    try
        match name with
        | "loop" ->
            for step in 0 .. 100000 do
                use total = Distributed.allReduce group Sum (torch.ones([| 1000L |]))
                printfn "rank %d step %d sum %g" group.Rank step (total[0L].item<float32> ())
                Thread.Sleep 20
            0
        | "hang" ->
            if group.Rank = 1 then Thread.Sleep(TimeSpan.FromMinutes 10.0)
            use total = Distributed.allReduce group Sum (torch.ones([| 1L |]))
            0
        | other -> failwithf "no worker %s" other
    with :? DistributedTimeoutException as e ->
        eprintfn "rank %d: %s" group.Rank e.Message
        1
