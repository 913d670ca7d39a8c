namespace Decomp.Collectives

open System
open System.Diagnostics
open System.Runtime.InteropServices
open System.Threading.Tasks
open TorchSharp
open Decomp.Core

// UNTESTED ON A GPU. This file was written on a machine without CUDA and has never run: it compiles, and the code path
// that reaches it (a ProcessGroup created with a CUDA device) is refused on CPU-only machines before any NCCL call.
// `src/Distributed/check-nccl.sh` is the one command to run its check on a GPU box; until it has passed there, treat
// the NCCL engine as a draft.

/// ncclUniqueId: 128 opaque bytes, created by rank 0 and sent to every rank over MPI (as Horovod and PyTorch do).
[<Struct; StructLayout(LayoutKind.Sequential, Size = 128)>]
type internal NcclUniqueId =
    val mutable First: int64

/// The NCCL functions Decomp calls (nccl.h, NCCL 2.x).
module internal NcclNative =
    // ncclDataType_t
    let Int32 = 2
    let Int64 = 4
    let Float16 = 6
    let Float32 = 7
    let Float64 = 8
    let BFloat16 = 9
    // ncclRedOp_t
    let Sum = 0

    [<DllImport(NativeLibraries.Nccl)>]
    extern int ncclGetUniqueId(NcclUniqueId& id)

    [<DllImport(NativeLibraries.Nccl)>]
    extern int ncclCommInitRank(nativeint& comm, int ranks, NcclUniqueId id, int rank)

    [<DllImport(NativeLibraries.Nccl)>]
    extern int ncclCommAbort(nativeint comm)

    [<DllImport(NativeLibraries.Nccl)>]
    extern int ncclCommDestroy(nativeint comm)

    [<DllImport(NativeLibraries.Nccl)>]
    extern nativeint ncclGetErrorString(int result)

    [<DllImport(NativeLibraries.Nccl)>]
    extern int ncclAllReduce(nativeint send, nativeint receive, unativeint count, int datatype, int op, nativeint comm, nativeint stream)

    [<DllImport(NativeLibraries.Nccl)>]
    extern int ncclAllGather(nativeint send, nativeint receive, unativeint sendCount, int datatype, nativeint comm, nativeint stream)

    [<DllImport(NativeLibraries.Nccl)>]
    extern int ncclReduceScatter(nativeint send, nativeint receive, unativeint receiveCount, int datatype, int op, nativeint comm, nativeint stream)

    [<DllImport(NativeLibraries.Nccl)>]
    extern int ncclBroadcast(nativeint send, nativeint receive, unativeint count, int datatype, int root, nativeint comm, nativeint stream)

    let errorText (code: int) = Marshal.PtrToStringAnsi(ncclGetErrorString code)

/// NCCL as the engine for CUDA tensors (UNTESTED ON A GPU, see the top of this file). Collectives are enqueued on the
/// legacy default stream (stream 0), where TorchSharp's kernels run unless the caller changed streams, and then waited
/// for with `torch.cuda.synchronize`, on a task polled against the timeout; on timeout the communicator is aborted
/// (`ncclCommAbort`, which ends the pending kernels, as PyTorch's NCCL watchdog does) and a `DistributedTimeoutException`
/// names the collective. The barrier goes over MPI, which bootstrapped the communicator.
[<Sealed>]
type NcclBackend internal (rank: int, worldSize: int, device: int, comm: nativeint, host: ICollectiveBackend, timeout: TimeSpan) =
    let mutable failed = false
    let mutable disposed = false

    let check (collective: string) (code: int) =
        if code <> 0 then
            failed <- true
            raise (InvalidOperationException($"{collective} (NCCL) failed on rank {rank} of {worldSize}: {NcclNative.errorText code}"))

    let datatype (collective: string) (reduction: bool) (t: torch.Tensor) =
        match t.dtype with
        | torch.ScalarType.Float32 -> NcclNative.Float32
        | torch.ScalarType.Float64 -> NcclNative.Float64
        | torch.ScalarType.Float16 -> NcclNative.Float16
        | torch.ScalarType.BFloat16 -> NcclNative.BFloat16
        | torch.ScalarType.Int64 -> NcclNative.Int64
        | torch.ScalarType.Int32 -> NcclNative.Int32
        | other -> raise (ArgumentException($"{collective} over NCCL supports float16/32/64, bfloat16, int32 and int64; got {other}.", "tensor"))

    /// Waits for the device to finish the enqueued collective, or aborts the communicator after the timeout.
    let complete (collective: string) =
        let clock = Stopwatch.StartNew()
        let finished = Task.Run(fun () -> torch.cuda.synchronize (torch.device (DeviceType.CUDA, device)))
        if not (finished.Wait timeout) then
            failed <- true
            NcclNative.ncclCommAbort comm |> ignore
            let message =
                $"{collective} (NCCL) timed out on rank {rank} of {worldSize} after {clock.Elapsed.TotalSeconds:F1} s "
                + $"(timeout {timeout.TotalSeconds:F0} s): another rank died, hangs, or did not call {collective}. The communicator was aborted."
            eprintfn "Decomp.Distributed: %s" message
            raise (DistributedTimeoutException message)

    let ensureUsable (collective: string) =
        if disposed then raise (ObjectDisposedException(nameof NcclBackend))
        if failed then raise (InvalidOperationException($"{collective}: an earlier NCCL collective failed on rank {rank}."))

    interface ICollectiveBackend with
        member _.Name = "nccl"

        member _.AllReduceSum(tensor, collective) =
            ensureUsable collective
            let address = TensorMemory.address "tensor" tensor
            check collective (NcclNative.ncclAllReduce(address, address, unativeint tensor.NumberOfElements, datatype collective true tensor, NcclNative.Sum, comm, nativeint 0))
            complete collective

        member _.AllGather(input, output, collective) =
            ensureUsable collective
            check collective (NcclNative.ncclAllGather(TensorMemory.address "input" input, TensorMemory.address "output" output, unativeint input.NumberOfElements, datatype collective false input, comm, nativeint 0))
            complete collective

        member _.ReduceScatterSum(input, output, collective) =
            ensureUsable collective
            check collective (NcclNative.ncclReduceScatter(TensorMemory.address "input" input, TensorMemory.address "output" output, unativeint output.NumberOfElements, datatype collective true output, NcclNative.Sum, comm, nativeint 0))
            complete collective

        member _.Broadcast(tensor, root, collective) =
            ensureUsable collective
            let address = TensorMemory.address "tensor" tensor
            check collective (NcclNative.ncclBroadcast(address, address, unativeint tensor.NumberOfElements, datatype collective false tensor, root, comm, nativeint 0))
            complete collective

        member _.Barrier collective = host.Barrier collective

        member _.Dispose() =
            if not disposed then
                disposed <- true
                (if failed then NcclNative.ncclCommAbort comm else NcclNative.ncclCommDestroy comm) |> ignore

/// Creating the NCCL communicator over an MPI group (UNTESTED ON A GPU).
module internal NcclStart =

    /// Rank 0 creates the unique id, MPI broadcasts its 128 bytes, every rank joins with `ncclCommInitRank` on CUDA
    /// device `device` (its local rank).
    let create (rank: int) (worldSize: int) (device: int) (host: ICollectiveBackend) (timeout: TimeSpan) : NcclBackend =
        NativeLibraries.ensure ()
        let mutable id = NcclUniqueId()
        if rank = 0 then
            let code = NcclNative.ncclGetUniqueId(&id)
            if code <> 0 then invalidOp $"ncclGetUniqueId failed: {NcclNative.errorText code}"
        let bytes = Array.zeroCreate<byte> 128
        if rank = 0 then MemoryMarshal.Write(bytes.AsSpan(), &id)
        use buffer = torch.tensor(bytes, dtype = torch.uint8)
        host.Broadcast(buffer, 0, "NCCL bootstrap (unique id)")
        id <- MemoryMarshal.Read<NcclUniqueId>(ReadOnlySpan<byte>(buffer.data<byte>().ToArray()))
        // ncclCommInitRank binds the communicator to the thread's current CUDA device, which TorchSharp 0.107 cannot
        // set: the documented launch gives each rank one visible GPU (CUDA_VISIBLE_DEVICES=<local rank>), so that the
        // current device, cuda:0, is this rank's. `device` must then be 0; ProcessGroups.init checks it.
        use _ = torch.zeros([| 1L |], device = torch.device (DeviceType.CUDA, device))
        let mutable comm = nativeint 0
        let code = NcclNative.ncclCommInitRank(&comm, worldSize, id, rank)
        if code <> 0 then invalidOp $"ncclCommInitRank failed on rank {rank}: {NcclNative.errorText code}"
        new NcclBackend(rank, worldSize, device, comm, host, timeout)
