/// Running Expecto tests on every rank of an MPI job, and comparing tensors with tolerances from float32 rounding.
module Decomp.Distributed.Tests.Harness

open System
open Expecto
open TorchSharp
open Decomp.Core

/// The job's process group, created once by Main under mpirun (timeout 60 s, so a broken test fails in a minute).
let mutable group: ProcessGroup = null

/// Where the data-parallel tests compute: `DECOMP_TEST_DEVICE` (cpu by default: MPI moves the tensors; cuda: NCCL, as
/// src/Distributed/check-nccl.sh runs them on a GPU machine, one visible GPU per rank).
let device =
    match Environment.GetEnvironmentVariable "DECOMP_TEST_DEVICE" with
    | null | "" -> torch.CPU
    | request -> Decomp.Core.Device.parse request

/// Unit round-off of float32, 2^-24: one rounding of a float32 operation is off by at most u times its value.
let u32 = Math.Pow(2.0, -24.0)

/// A test that every rank runs. The body runs everywhere (its collectives must be reached on every rank before it
/// asserts anything), then the ranks agree: the test fails on every rank when it failed on any, so rank 0's JUnit
/// file, the one build.sh counts, reports a failure that happened only on rank 1.
let collective (name: string) (body: ProcessGroup -> unit) =
    testCase name (fun () ->
        let error =
            try
                body group
                None
            with e -> Some e
        use flag = torch.tensor([| (if error.IsSome then 1.0 else 0.0) |])
        use failures = Distributed.allReduce group Sum flag
        let failedRanks = failures.item<float> ()
        match error with
        | Some e -> raise (Exception($"rank {group.Rank}: {e.Message}", e))
        | None when failedRanks > 0.0 -> failtestf "rank %d passed, but %g other rank(s) failed this test (their output says why)" group.Rank failedRanks
        | None -> ())

let toArray (t: torch.Tensor) : float[] =
    use host = t.detach().to_type(torch.float64).cpu().contiguous()
    host.data<float>().ToArray()

/// Largest absolute difference between two tensors of the same shape.
let maxDifference (a: torch.Tensor) (b: torch.Tensor) =
    Array.map2 (fun (x: float) y -> abs (x - y)) (toArray a) (toArray b) |> Array.fold max 0.0

let maxAbs (t: torch.Tensor) = toArray t |> Array.fold (fun m x -> max m (abs x)) 0.0

/// Fails unless |a - b| <= tolerance everywhere, naming what was compared and the worst difference.
let within (what: string) (tolerance: float) (a: torch.Tensor) (b: torch.Tensor) =
    if a.shape <> b.shape then failtestf "%s: shapes differ, %A against %A" what a.shape b.shape
    let worst = maxDifference a b
    if not (worst <= tolerance) then failtestf "%s: largest difference %g exceeds the tolerance %g" what worst tolerance

/// Runs `f`, which must throw an ArgumentException (or a subclass), and returns it.
let throwsArgument (what: string) (f: unit -> unit) : ArgumentException =
    try
        f ()
        failtestf "%s: expected an ArgumentException, none was thrown" what
    with :? ArgumentException as e -> e
