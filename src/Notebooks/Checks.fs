namespace Decomp.Notebooks

open System
open System.Globalization

/// Raised by `check` when one of a notebook's own assertions fails: the cell fails, the kernel stops the notebook, and
/// `dotnet repl` exits with a non-zero code, which fails CI.
type CheckFailedException(name: string, detail: string) =
    inherit Exception(if detail = "" then $"Check failed: {name}" else $"Check failed: {name} ({detail})")

    /// The check's name, as the notebook wrote it.
    member _.CheckName = name

    /// What was compared, or empty.
    member _.Detail = detail

/// A notebook's own assertions, printed as "✓ name" lines so that a reader sees what was checked.
[<AutoOpen>]
module Checks =

    let private report (name: string) (passed: bool) (detail: string) =
        if String.IsNullOrWhiteSpace name then invalidArg (nameof name) "A check needs a name that says what it checks."
        Console.Out.WriteLine((if passed then "✓ " else "✗ FAILED: ") + name + (if detail = "" then "" else $" ({detail})"))
        if not passed then raise (CheckFailedException(name, detail))

    /// Prints "✓ name" when `condition` holds; otherwise prints the failure and raises CheckFailedException.
    let check (name: string) (condition: bool) : unit = report name condition ""

    /// Checks that `actual` lies within `tolerance` of `expected`, printing both so the reader sees the margin.
    let checkWithin (name: string) (tolerance: float) (expected: float) (actual: float) : unit =
        if not (tolerance >= 0.0) then
            invalidArg (nameof tolerance) $"A tolerance must be zero or positive, got {tolerance}."
        let distance = abs (actual - expected)
        let detail =
            String.Format(CultureInfo.InvariantCulture, "|{0:G6} - {1:G6}| = {2:G3}, allowed {3:G3}", actual, expected, distance, tolerance)
        report name (distance <= tolerance) detail
