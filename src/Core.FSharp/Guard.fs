namespace Decomp.Core

open System
open TorchSharp

/// Argument checks shared by every public function: each raises an ArgumentException (or
/// ArgumentOutOfRangeException) that names the argument and says what was expected, so bad input never reaches
/// libtorch as a native error or comes back as a silent NaN. All checks read shapes, dtypes and devices only: none
/// synchronises with the device.
module internal Guard =

    let shapeText (t: torch.Tensor) =
        "[" + String.Join(", ", t.shape) + "]"

    let describe (t: torch.Tensor) =
        $"shape {shapeText t}, dtype {t.dtype}, device {t.device}"

    let notNull (name: string) (t: torch.Tensor) =
        if isNull (box t) then
            raise (ArgumentNullException(name))
        if t.IsInvalid then
            raise (ArgumentException($"{name} has been disposed.", name))

    let floating (name: string) (t: torch.Tensor) =
        notNull name t
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
    let companion (name: string) (reference: torch.Tensor) (referenceName: string) (t: torch.Tensor) =
        floating name t
        sameDevice name reference referenceName t
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

/// Runs a tensor computation in its own dispose scope, so every intermediate it creates is freed when it returns and
/// only the result survives (moved to the caller's scope). Autograd keeps what backward needs alive on the native side,
/// so disposing the managed handles of intermediates is always safe.
module internal Scoped =

    let run (compute: unit -> torch.Tensor) : torch.Tensor =
        use scope = torch.NewDisposeScope()
        let result = compute ()
        result.MoveToOuterDisposeScope()
