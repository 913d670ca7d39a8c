namespace Decomp.Collectives

open System
open System.Diagnostics
open System.Runtime.InteropServices
open System.Text
open System.Threading
open TorchSharp
open Decomp.Core

/// A collective that did not complete on every rank within the group's timeout (a rank died, hangs, or never called
/// it). The group can no longer be used: disposing it aborts the job (MPI_Abort), since MPI cannot cancel a collective.
type DistributedTimeoutException(message: string) =
    inherit TimeoutException(message)

/// Where the native libraries come from. One resolver for this assembly maps the names used in its DllImports:
///
/// - `decomp-mpi`: `DECOMP_MPI_LIBRARY` if set, else the first of `libmpich.so.12` (MPICH, MVAPICH, Cray MPICH) and
///   `libmpi.so.12` (Intel MPI), all of which share MPICH's ABI (integer handles, the constants below). Open MPI has
///   another ABI (handles are pointers to its globals) and is not supported.
/// - `decomp-nccl`: `DECOMP_NCCL_LIBRARY` if set, else `libnccl.so.2` (a PyTorch install ships it; once libtorch_cuda
///   is loaded, the loader returns that copy).
/// - `LibTorchSharp`: the TorchSharp shim TorchSharp has already loaded (for the address of a tensor's storage).
module internal NativeLibraries =

    [<Literal>]
    let Mpi = "decomp-mpi"

    [<Literal>]
    let Nccl = "decomp-nccl"

    let private candidates (variable: string) (defaults: string list) =
        match Environment.GetEnvironmentVariable variable with
        | null
        | "" -> defaults
        | path -> [ path ]

    let private load (name: string) (variable: string) (defaults: string list) =
        let tried = candidates variable defaults
        let triedText = String.Join(", ", tried)
        tried
        |> List.tryPick (fun path ->
            match NativeLibrary.TryLoad path with
            | true, handle -> Some handle
            | _ -> None)
        |> Option.defaultWith (fun () ->
            raise (DllNotFoundException(
                $"Decomp.Distributed could not load {name} (tried {triedText}). "
                + (if name = "MPI" then
                       "Install an MPICH-ABI MPI (Debian/Ubuntu: apt-get install mpich) or point DECOMP_MPI_LIBRARY at its libmpi; Open MPI's ABI is not supported."
                   else
                       "Point DECOMP_NCCL_LIBRARY at libnccl.so.2 (a PyTorch install has it under site-packages/nvidia/nccl/lib)."))))

    let private resolve (name: string) (_: Reflection.Assembly) (_: Nullable<DllImportSearchPath>) : nativeint =
        match name with
        | Mpi -> load "MPI" "DECOMP_MPI_LIBRARY" [ "libmpich.so.12"; "libmpi.so.12"; "libmpich.so" ]
        | Nccl -> load "NCCL" "DECOMP_NCCL_LIBRARY" [ "libnccl.so.2"; "libnccl.so" ]
        | "LibTorchSharp" ->
            // Loaded by TorchSharp already (Native.ensureLoaded runs first); by soname the loader returns that copy.
            match NativeLibrary.TryLoad "libLibTorchSharp.so" with
            | true, handle -> handle
            | _ -> nativeint 0
        | _ -> nativeint 0

    let private registered =
        lazy (NativeLibrary.SetDllImportResolver(typeof<DistributedTimeoutException>.Assembly, DllImportResolver resolve))

    /// Registers the resolver (once per process).
    let ensure () = registered.Force()

/// The address of a tensor's first element (CPU or CUDA), through the shim TorchSharp itself uses for `Tensor.bytes`.
module internal TensorMemory =
    [<DllImport("LibTorchSharp")>]
    extern nativeint THSTensor_data(nativeint handle)

    let address (name: string) (t: torch.Tensor) : nativeint =
        if not (t.is_contiguous ()) then
            raise (ArgumentException($"{name} must be contiguous for a collective.", name))
        THSTensor_data t.Handle

/// The few MPI functions Decomp calls, bound directly (P/Invoke) with MPICH's ABI: handles are 32-bit integers whose
/// values are those of MPICH's mpi.h. Only nonblocking collectives are used, completed by polling `MPI_Test` against a
/// deadline: MPI's blocking collectives have no timeout.
module internal MpiNative =
    let CommWorld = 0x44000000
    let ThreadMultiple = 3
    let ErrorsReturn = 0x54000001
    let CommTypeShared = 1
    let InfoNull = 0x1c000000
    let OpSum = 0x58000003
    let Byte = 0x4c00010d
    let Int32 = 0x4c000405
    let Int64 = 0x4c00083a
    let Float = 0x4c00040a
    let Double = 0x4c00080b
    let InPlace = nativeint -1
    let StatusIgnore = nativeint 1

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Initialized(int& flag)

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Init_thread(nativeint argc, nativeint argv, int required, int& provided)

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Finalize()

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Abort(int comm, int code)

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Comm_rank(int comm, int& rank)

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Comm_size(int comm, int& size)

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Comm_split_type(int comm, int splitType, int key, int info, int& newComm)

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Comm_set_errhandler(int comm, int handler)

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Error_string(int code, byte[] text, int& length)

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Get_library_version(byte[] text, int& length)

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Iallreduce(nativeint send, nativeint receive, int count, int datatype, int op, int comm, int& request)

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Iallgather(nativeint send, int sendCount, int sendType, nativeint receive, int receiveCount, int receiveType, int comm, int& request)

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Ireduce_scatter_block(nativeint send, nativeint receive, int receiveCount, int datatype, int op, int comm, int& request)

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Ibcast(nativeint buffer, int count, int datatype, int root, int comm, int& request)

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Ibarrier(int comm, int& request)

    [<DllImport(NativeLibraries.Mpi)>]
    extern int MPI_Test(int& request, int& flag, nativeint status)

    let errorText (code: int) =
        let buffer = Array.zeroCreate<byte> 512
        let mutable length = 0
        if MPI_Error_string(code, buffer, &length) = 0 then Encoding.ASCII.GetString(buffer, 0, length) else $"MPI error {code}"

    let libraryVersion () =
        let buffer = Array.zeroCreate<byte> 8192
        let mutable length = 0
        if MPI_Get_library_version(buffer, &length) = 0 then
            Encoding.ASCII.GetString(buffer, 0, length).Split('\n').[0].Trim()
        else
            "unknown MPI"

/// MPI as the engine for CPU tensors (see `ICollectiveBackend`): every collective is MPI's nonblocking one, polled
/// with `MPI_Test` until it completes or `timeout` passes. On timeout it raises `DistributedTimeoutException` naming the
/// collective, this rank and the time waited; disposing the engine then calls `MPI_Abort` (which ends every rank of the
/// job) instead of `MPI_Finalize`, which would wait forever for the missing rank.
[<Sealed>]
type MpiBackend internal (rank: int, worldSize: int, timeout: TimeSpan) =
    let mutable failed = false
    let mutable disposed = false

    let fail (collective: string) (code: int) =
        failed <- true
        raise (InvalidOperationException($"{collective} failed on rank {rank} of {worldSize}: {MpiNative.errorText code}"))

    let check (collective: string) (code: int) = if code <> 0 then fail collective code

    /// Polls `request` until it completes or the deadline passes: a few thousand yields first (a collective among
    /// processes on one machine completes in microseconds), then 1 ms sleeps so that a waiting rank leaves the cores to
    /// the others (2 ranks share 2 cores here).
    let wait (collective: string) (request: byref<int>) =
        let clock = Stopwatch.StartNew()
        let mutable flag = 0
        let mutable polls = 0
        check collective (MpiNative.MPI_Test(&request, &flag, MpiNative.StatusIgnore))
        while flag = 0 do
            if clock.Elapsed > timeout then
                failed <- true
                let message =
                    $"{collective} timed out on rank {rank} of {worldSize} after {clock.Elapsed.TotalSeconds:F1} s "
                    + $"(timeout {timeout.TotalSeconds:F0} s): another rank died, hangs, or did not call {collective}. "
                    + "The job cannot continue; disposing the process group aborts it (MPI_Abort)."
                eprintfn "Decomp.Distributed: %s" message
                raise (DistributedTimeoutException message)
            polls <- polls + 1
            if polls < 2000 then Thread.Yield() |> ignore else Thread.Sleep 1
            check collective (MpiNative.MPI_Test(&request, &flag, MpiNative.StatusIgnore))

    let ensureUsable (collective: string) =
        if disposed then raise (ObjectDisposedException(nameof MpiBackend))
        if failed then
            raise (InvalidOperationException($"{collective}: an earlier collective failed on rank {rank}; the process group cannot be used any more."))

    /// MPI's datatype and element count for `t`; reductions need a numeric type MPI can add.
    let datatype (collective: string) (reduction: bool) (t: torch.Tensor) =
        let count = t.NumberOfElements
        let kind, elements =
            match t.dtype with
            | torch.ScalarType.Float32 -> MpiNative.Float, count
            | torch.ScalarType.Float64 -> MpiNative.Double, count
            | torch.ScalarType.Int64 -> MpiNative.Int64, count
            | torch.ScalarType.Int32 -> MpiNative.Int32, count
            | other when not reduction -> MpiNative.Byte, count * int64 t.ElementSize
            | other ->
                raise (ArgumentException($"{collective} over MPI sums float32, float64, int32 or int64 tensors; got {other}. Convert it first.", "tensor"))
        if elements > int64 Int32.MaxValue then
            raise (ArgumentException($"{collective} over MPI moves at most {Int32.MaxValue} elements per rank in one call; got {elements}. Split the tensor.", "tensor"))
        kind, int elements

    /// The time a collective waits for the other ranks.
    member _.Timeout = timeout

    /// The MPI library's own description (first line of MPI_Get_library_version).
    member _.LibraryVersion = MpiNative.libraryVersion ()

    interface ICollectiveBackend with
        member _.Name = "mpi"

        member _.AllReduceSum(tensor, collective) =
            ensureUsable collective
            let kind, count = datatype collective true tensor
            let mutable request = 0
            check collective (MpiNative.MPI_Iallreduce(MpiNative.InPlace, TensorMemory.address "tensor" tensor, count, kind, MpiNative.OpSum, MpiNative.CommWorld, &request))
            wait collective &request

        member _.AllGather(input, output, collective) =
            ensureUsable collective
            let kind, count = datatype collective false input
            let mutable request = 0
            check collective (MpiNative.MPI_Iallgather(TensorMemory.address "input" input, count, kind, TensorMemory.address "output" output, count, kind, MpiNative.CommWorld, &request))
            wait collective &request

        member _.ReduceScatterSum(input, output, collective) =
            ensureUsable collective
            let kind, count = datatype collective true output
            let mutable request = 0
            check collective (MpiNative.MPI_Ireduce_scatter_block(TensorMemory.address "input" input, TensorMemory.address "output" output, count, kind, MpiNative.OpSum, MpiNative.CommWorld, &request))
            wait collective &request

        member _.Broadcast(tensor, root, collective) =
            ensureUsable collective
            let kind, count = datatype collective false tensor
            let mutable request = 0
            check collective (MpiNative.MPI_Ibcast(TensorMemory.address "tensor" tensor, count, kind, root, MpiNative.CommWorld, &request))
            wait collective &request

        member _.Barrier collective =
            ensureUsable collective
            let mutable request = 0
            check collective (MpiNative.MPI_Ibarrier(MpiNative.CommWorld, &request))
            wait collective &request

        member _.Dispose() =
            if not disposed then
                disposed <- true
                if failed then
                    eprintfn "Decomp.Distributed: rank %d aborts the job after a failed collective." rank
                    MpiNative.MPI_Abort(MpiNative.CommWorld, 1) |> ignore
                else
                    MpiNative.MPI_Finalize() |> ignore

/// Starting MPI.
module internal MpiStart =

    /// Initialises MPI (thread level MULTIPLE: libtorch's autograd may run `allGather`'s backward on another thread) and
    /// returns rank, world size, local rank (from a shared-memory split of the world) and the library's version.
    let initialise () =
        NativeLibraries.ensure ()
        let mutable initialised = 0
        MpiNative.MPI_Initialized(&initialised) |> ignore
        if initialised <> 0 then
            invalidOp "MPI is already initialised in this process; create one process group per process."
        let mutable provided = 0
        let code = MpiNative.MPI_Init_thread(nativeint 0, nativeint 0, MpiNative.ThreadMultiple, &provided)
        if code <> 0 then invalidOp $"MPI_Init_thread failed with code {code}."
        if provided < MpiNative.ThreadMultiple then
            eprintfn "Decomp.Distributed: MPI provides thread level %d < MULTIPLE; collectives must stay on one thread." provided
        MpiNative.MPI_Comm_set_errhandler(MpiNative.CommWorld, MpiNative.ErrorsReturn) |> ignore
        let mutable rank = 0
        let mutable size = 0
        MpiNative.MPI_Comm_rank(MpiNative.CommWorld, &rank) |> ignore
        MpiNative.MPI_Comm_size(MpiNative.CommWorld, &size) |> ignore
        let mutable local = 0
        let mutable localRank = 0
        if MpiNative.MPI_Comm_split_type(MpiNative.CommWorld, MpiNative.CommTypeShared, rank, MpiNative.InfoNull, &local) = 0 then
            MpiNative.MPI_Comm_rank(local, &localRank) |> ignore
        rank, size, localRank, MpiNative.libraryVersion ()
