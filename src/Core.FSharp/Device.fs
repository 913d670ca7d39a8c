namespace Decomp.Core

open System
open TorchSharp
open Decomp.Runtime

/// The one place that decides where Decomp computes.
///
/// `DECOMP_DEVICE` (`cpu`, `cuda` or `cuda:N`) decides when it is set; otherwise CUDA is used when TorchSharp
/// reports it available, and the CPU when not. Asking for CUDA where there is none is an
/// <see cref="T:System.InvalidOperationException"/> that says why, never a native crash.
module Device =

    /// The environment variable that overrides the automatic choice.
    [<Literal>]
    let Variable = "DECOMP_DEVICE"

    /// True when TorchSharp can reach a CUDA device (false, not an exception, with CPU-only natives).
    let cudaAvailable () : bool =
        Native.ensureLoaded ()
        torch.cuda.is_available ()

    let private requireCuda (request: string) (index: int) =
        if not (cudaAvailable ()) then
            invalidOp (
                $"'{request}' asks for CUDA, but TorchSharp reports no CUDA device. This process loaded CPU-only natives "
                + $"(TorchSharp-cpu) or found no GPU; reference TorchSharp-cuda-linux/-windows, or set {Native.LibtorchVariable} "
                + "to a CUDA-enabled libtorch folder such as a PyTorch install's torch/lib."
            )
        let count = torch.cuda.device_count ()
        if index >= count then
            invalidOp $"'{request}' asks for CUDA device {index}, but only {count} CUDA device(s) are visible."

    /// A request naming one device: `cpu`, `cuda` or `cuda:N` (already trimmed and lower-case).
    let private parseNamed (request: string) (text: string) : torch.Device =
        match text with
        | "cpu" ->
            Native.ensureLoaded ()
            torch.CPU
        | "cuda" ->
            requireCuda request 0
            torch.CUDA
        | _ when text.StartsWith "cuda:" ->
            match Int32.TryParse(text.Substring 5) with
            | true, index when index >= 0 ->
                requireCuda request index
                torch.device (DeviceType.CUDA, index)
            | _ -> invalidArg (nameof request) $"'{request}' is not a device; expected auto, cpu, cuda or cuda:N with N >= 0."
        | _ -> invalidArg (nameof request) $"'{request}' is not a device; expected auto, cpu, cuda or cuda:N with N >= 0."

    let private automatic () = if cudaAvailable () then torch.CUDA else torch.CPU

    let private chosen =
        lazy
            (match Environment.GetEnvironmentVariable Variable with
             | null
             | "" -> automatic ()
             | request when request.Trim().ToLowerInvariant() = "auto" -> automatic ()
             | request ->
                 try
                     parseNamed request (request.Trim().ToLowerInvariant())
                 with
                 | :? ArgumentException
                 | :? InvalidOperationException as e -> invalidOp $"{Variable}='{request}': {e.Message}")

    /// The device Decomp computes on in this process: `DECOMP_DEVICE` if set, else CUDA when available, else CPU.
    let current () : torch.Device = chosen.Force()

    /// Parses a device request: `auto` (the device of `current`), `cpu`, `cuda` or `cuda:N` (case-insensitive), the
    /// spellings of every app's `--device`. CUDA requests are checked against what TorchSharp reports. Raises
    /// <see cref="T:System.ArgumentException"/> for text that names no device.
    let parse (request: string) : torch.Device =
        if isNull request then nullArg (nameof request)
        match request.Trim().ToLowerInvariant() with
        | "auto" -> current ()
        | text -> parseNamed request text

    /// A one-line description for logs and banners, e.g. `cpu (TorchSharp 0.107.0, bundled libtorch)`.
    let describe (device: torch.Device) : string =
        let source =
            match Native.libtorchFolder () with
            | Some folder -> $"libtorch from {folder}"
            | None -> "bundled libtorch"
        let version = typeof<torch>.Assembly.GetName().Version
        $"{device} (TorchSharp {version.Major}.{version.Minor}.{version.Build}, {source})"
