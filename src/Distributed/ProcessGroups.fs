namespace Decomp.Collectives

open System
open TorchSharp
open Decomp.Core
open Decomp.Runtime

/// Creating the process group of a data-parallel job.
module ProcessGroups =

    /// The timeout of a collective when none is given: 5 minutes, long enough for the slowest rank to reach the next
    /// collective after a checkpoint or an evaluation on rank 0, short enough that a dead rank does not hold a job for
    /// PyTorch's 30 minutes. `DECOMP_DISTRIBUTED_TIMEOUT` (seconds) overrides it.
    let defaultTimeout () =
        match Environment.GetEnvironmentVariable "DECOMP_DISTRIBUTED_TIMEOUT" with
        | null
        | "" -> TimeSpan.FromMinutes 5.0
        | text ->
            match Double.TryParse(text, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture) with
            | true, seconds when seconds > 0.0 -> TimeSpan.FromSeconds seconds
            | _ -> invalidOp $"DECOMP_DISTRIBUTED_TIMEOUT='{text}' is not a number of seconds > 0."

    /// True when this process was started by an MPI launcher (mpirun/mpiexec of MPICH or Intel MPI, or srun with PMI;
    /// Open MPI's variables too, so that its launch is refused clearly when loading MPI): the variables those launchers set for each rank.
    let launchedByMpi () =
        [ "PMI_RANK"; "PMI_SIZE"; "PMIX_RANK"; "OMPI_COMM_WORLD_SIZE" ]
        |> List.exists (fun v -> not (String.IsNullOrEmpty(Environment.GetEnvironmentVariable v)))

    /// The process group of this job. Under an MPI launcher: MPI is initialised (see `MpiBackend`), and when `device`
    /// is CUDA an NCCL communicator is bootstrapped over it for CUDA tensors (UNTESTED ON A GPU). Without a launcher:
    /// `ProcessGroup.Single()` (rank 0 of 1), without loading MPI, so the same program runs with and without `mpirun`.
    /// `timeout` bounds every collective (None: `defaultTimeout ()`).
    let init (device: torch.Device) (timeout: TimeSpan option) : ProcessGroup =
        if isNull (box device) then nullArg (nameof device)
        let timeout = timeout |> Option.defaultWith defaultTimeout
        if timeout <= TimeSpan.Zero then
            raise (ArgumentOutOfRangeException(nameof timeout, timeout, "timeout must be > 0."))
        if not (launchedByMpi ()) then
            ProcessGroup.Single()
        else
            Native.ensureLoaded ()
            let rank, size, localRank, _ = MpiStart.initialise ()
            let host = new MpiBackend(rank, size, timeout)
            let cuda =
                if device.``type`` = DeviceType.CUDA then
                    if device.index > 0 then
                        raise (ArgumentException($"device {device}: give each rank one visible GPU (CUDA_VISIBLE_DEVICES=<local rank>) and use cuda or cuda:0; NCCL binds to the current device, which TorchSharp cannot set.", nameof device))
                    Some(NcclStart.create rank size 0 host timeout :> ICollectiveBackend)
                else
                    None
            new ProcessGroup(rank, size, localRank, host, cuda)

    /// The MPI library this process would load, as it describes itself, or the error that loading it gives.
    let describeMpi () =
        try
            NativeLibraries.ensure ()
            MpiNative.libraryVersion ()
        with e -> e.Message
