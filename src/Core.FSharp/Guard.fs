namespace Decomp.Core

open System
open System.Threading
open TorchSharp

/// Argument checks shared by every public function: each raises an ArgumentException (or
/// ArgumentOutOfRangeException) that names the caller's argument and says what was expected, so bad input never
/// reaches libtorch as a native error or comes back as a silent NaN. Shape, dtype and device checks read metadata
/// only and always run; the checks that read values (`finite`, `distribution`) run as `Settings.FiniteCheck` says,
/// because on CUDA reading a value back synchronises the device.
module internal Guard =

    /// Set while a combinator that has just scanned its inputs calls a critic with them (see `scanned`).
    let private inScannedCall = new ThreadLocal<bool>()

    let shapeText (t: torch.Tensor) =
        "[" + String.Join(", ", t.shape) + "]"

    let describe (t: torch.Tensor) =
        $"shape {shapeText t}, dtype {t.dtype}, device {t.device}"

    let notNull (name: string) (t: torch.Tensor) =
        if isNull (box t) then
            raise (ArgumentNullException(name))
        if t.IsInvalid then
            raise (ArgumentException($"{name} has been disposed.", name))

    /// A meta tensor has a shape and no values: libtorch fails on it deep inside a kernel, so refuse it up front.
    let hasValues (name: string) (t: torch.Tensor) =
        if t.is_meta then
            raise (ArgumentException($"{name} is on the meta device, which holds shapes but no values; Decomp computes on cpu or cuda ({describe t}).", name))

    let floating (name: string) (t: torch.Tensor) =
        notNull name t
        hasValues name t
        if not (t.is_floating_point ()) then
            raise (ArgumentException($"{name} must be a floating-point tensor (float16, bfloat16, float32 or float64); got {describe t}.", name))

    let rank (name: string) (expected: int) (layout: string) (t: torch.Tensor) =
        notNull name t
        if int t.Dimensions <> expected then
            raise (ArgumentException($"{name} must have shape {layout}; got {describe t}.", name))

    /// A score matrix in Decomp's layout: [batch, 1 + negatives], floating point, at least one negative.
    let scores (name: string) (t: torch.Tensor) =
        rank name 2 "[batch, 1 + negatives] (positive in column 0)" t
        floating name t
        if t.shape[1] < 2L then
            raise (ArgumentException($"{name} must have at least one negative: shape [batch, 1 + negatives] with 1 + negatives >= 2 (K >= 2); got {describe t}.", name))
        if t.shape[0] < 1L then
            raise (ArgumentException($"{name} must hold at least one example; got {describe t}.", name))

    let sameDevice (name: string) (reference: torch.Tensor) (referenceName: string) (t: torch.Tensor) =
        if t.device.``type`` <> reference.device.``type`` || t.device.index <> reference.device.index then
            raise (ArgumentException($"{name} is on {t.device} but {referenceName} is on {reference.device}; put both on the same device.", name))

    let sameDtype (name: string) (reference: torch.Tensor) (referenceName: string) (t: torch.Tensor) =
        if t.dtype <> reference.dtype then
            raise (ArgumentException($"{name} has dtype {t.dtype} but {referenceName} has dtype {reference.dtype}; use one floating-point dtype.", name))

    /// `t` must have exactly the given shape, which was derived from another argument.
    let shape (name: string) (expected: int64[]) (why: string) (t: torch.Tensor) =
        notNull name t
        if t.shape <> expected then
            let text = "[" + String.Join(", ", expected) + "]"
            raise (ArgumentException($"{name} must have shape {text} ({why}); got {describe t}.", name))

    /// Checks that `t` matches `reference` in device and dtype as well as being floating point.
    /// The device is compared first, so a tensor on another device (meta included) is told to join the reference's.
    let companion (name: string) (reference: torch.Tensor) (referenceName: string) (t: torch.Tensor) =
        notNull name t
        sameDevice name reference referenceName t
        floating name t
        sameDtype name reference referenceName t

    let positive (name: string) (value: float) =
        if not (value > 0.0) || Double.IsInfinity value then
            raise (ArgumentOutOfRangeException(name, value, $"{name} must be a finite number > 0."))

    let unitInterval (name: string) (value: float) =
        if not (value >= 0.0 && value <= 1.0) then
            raise (ArgumentOutOfRangeException(name, value, $"{name} must lie in [0, 1]."))

    let atLeast (name: string) (minimum: int64) (value: int64) =
        if value < minimum then
            raise (ArgumentOutOfRangeException(name, value, $"{name} must be >= {minimum}."))

    /// A floating dtype (the dtype argument of a constructor, not a tensor's).
    let floatingType (name: string) (dtype: torch.ScalarType) =
        if not (torch.is_floating_point dtype) then
            raise (ArgumentException($"{name} must be a floating-point dtype (Float16, BFloat16, Float32 or Float64); got {dtype}.", name))

    /// A device that can hold values.
    let device (name: string) (d: torch.Device) =
        if isNull (box d) then
            raise (ArgumentNullException(name))
        if d.``type`` = DeviceType.META then
            raise (ArgumentException($"{name} is the meta device, which holds shapes but no values; use cpu or cuda.", name))

    /// Whether `Settings.FiniteCheck` asks for `t`'s values to be read.
    let private readsValues (t: torch.Tensor) =
        not inScannedCall.Value
        && match Settings.FiniteCheck with
           | Never -> false
           | CpuOnly -> t.device_type = DeviceType.CPU
           | Always -> true

    /// Counts and the first position of the non-finite entries, for the error only (the common path never gets here).
    let private nonFiniteReport (t: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        let count (mask: torch.Tensor) = mask.sum().item<int64> ()
        let nan = count (t.isnan ())
        let positive = count (t.isposinf ())
        let negative = count (t.isneginf ())
        let first = String.Join(", ", torch.nonzero(t.isfinite().logical_not()).select(0L, 0L).data<int64>().ToArray())
        $"{nan} NaN, {positive} +infinity and {negative} -infinity among {t.NumberOfElements} values, the first at [{first}]"

    /// Refuses NaN and ±infinity in a floating-point tensor. A sum is NaN or infinite whenever a term is, and is a
    /// single vectorised reduction with no temporary: about 30 times cheaper on the CPU than `isfinite(t).all()`,
    /// which allocates a mask. Finite terms can still overflow the sum, so a non-finite sum is confirmed element by
    /// element before anything is refused: at most one `isfinite(t).all()` per input, and only on that rare path.
    /// One value is read back (two on that path); everything is freed before returning. Whether it runs at all is
    /// `Settings.FiniteCheck`'s choice (see `readsValues`).
    let finite (name: string) (t: torch.Tensor) =
        if t.is_floating_point () && readsValues t then
            let allFinite =
                use scope = torch.NewDisposeScope()
                use _ = torch.no_grad ()
                t.sum().isfinite().item<bool> () || torch.isfinite(t).all().item<bool> ()
            if not allFinite then
                raise (ArgumentException($"{name} contains NaN or infinite values ({nonFiniteReport t}; {describe t}); Decomp's inputs must be finite.", name))

    /// Runs `call` with `finite` switched off on this thread: for a combinator that has just scanned its inputs and hands
    /// them to a critic, which (when it is one of Decomp's) would otherwise scan the same values again.
    let scanned (call: unit -> 'T) : 'T =
        if inScannedCall.Value then
            call ()
        else
            inScannedCall.Value <- true
            try
                call ()
            finally
                inScannedCall.Value <- false

    /// Unit round-off of a floating dtype, for tolerances on sums of probabilities.
    let private roundOff (dtype: torch.ScalarType) =
        match dtype with
        | torch.ScalarType.Float64 -> 2.220446049250313e-16
        | torch.ScalarType.Float16 -> 9.765625e-4
        | torch.ScalarType.BFloat16 -> 7.8125e-3
        | _ -> 1.1920928955078125e-7

    /// Refuses a tensor whose slices along `dimension` are not probability distributions: every entry finite and
    /// >= 0, every slice summing to 1 within the rounding of its sum (16 eps per entry). One value read back, run as
    /// `Settings.FiniteCheck` says. `what` names the tensor in the message (e.g. "marginal.Probabilities").
    let distribution (name: string) (what: string) (dimension: int64) (t: torch.Tensor) =
        if t.NumberOfElements > 0L && readsValues t then
            let smallest, worstSum, nonFinite =
                use scope = torch.NewDisposeScope()
                use _ = torch.no_grad ()
                let values = t.detach().to_type torch.float64
                let summary =
                    torch.stack(
                        [| values.nan_to_num(0.0, 0.0, 0.0).min()
                           (values.sum(dimension) - (1.0).ToScalar()).abs().nan_to_num(0.0, 0.0, 0.0).max()
                           values.isfinite().logical_not().sum().to_type torch.float64 |])
                let read = summary.cpu().data<float>().ToArray()
                read[0], read[1], int64 read[2]
            let tolerance = 16.0 * roundOff t.dtype * float t.shape[int dimension]
            if nonFinite > 0L then
                raise (ArgumentException($"{what} must be finite probabilities; it holds {nonFinite} NaN or infinite values ({describe t}).", name))
            if smallest < 0.0 || worstSum > tolerance then
                raise (ArgumentException($"{what} must be non-negative and each distribution must sum to 1; the smallest entry is {smallest:G4} and the worst sum is off by {worstSum:G4} (tolerance {tolerance:G2}; {describe t}).", name))

/// Runs a tensor computation in its own dispose scope, so every intermediate it creates is freed when it returns and
/// only the result survives (moved to the caller's scope). Autograd keeps what backward needs alive on the native side,
/// so disposing the managed handles of intermediates is always safe.
module internal Scoped =

    let run (compute: unit -> torch.Tensor) : torch.Tensor =
        use scope = torch.NewDisposeScope()
        let result = compute ()
        result.MoveToOuterDisposeScope()
