namespace Decomp.Core

open System.Threading

/// When Decomp reads the values of its tensor inputs to check them: for NaN and ±infinity in every floating-point
/// input a result depends on, and, where a function's domain is narrower, for values outside it (probabilities that
/// are negative or do not sum to 1, importance weights). A failed check is an ArgumentException that names the
/// argument. Reading a value back makes the host wait for the device, which is free on the CPU and a synchronisation
/// on CUDA; that cost is what this setting chooses.
type FiniteCheck =
    /// No check reads a tensor's values: fastest, and a NaN input gives a NaN result.
    | Never
    /// Tensors on the CPU are checked, CUDA tensors are not (the default): on the CPU the scan costs one pass over the
    /// input and no synchronisation, while on CUDA it would stall the device queue on every call.
    | CpuOnly
    /// Every input on every device is checked; on CUDA each checked input costs one device synchronisation.
    | Always

/// Process-wide settings of Decomp, shared by the F# core and the C# facade (whose `DecompSettings` reads and writes
/// these): the core is the one place that checks.
[<AbstractClass; Sealed>]
type Settings private () =
    static let mutable finiteCheck = CpuOnly

    /// Which inputs have their values checked (see <see cref="T:Decomp.Core.FiniteCheck"/>). Default `CpuOnly`: a
    /// non-finite input on the CPU is never silent; CUDA inputs are checked only under `Always`, because each check
    /// synchronises the device. Read on every call, so a change takes effect at once in every thread.
    static member FiniteCheck
        with get () = Volatile.Read(&finiteCheck)
        and set (value: FiniteCheck) = Volatile.Write(&finiteCheck, value)
