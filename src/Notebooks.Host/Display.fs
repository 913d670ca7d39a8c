namespace Decomp.Notebooks

open System
open System.Globalization
open System.IO
open System.Net
open System.Text
open Microsoft.FSharp.Reflection

/// Raised by `check` when one of a notebook's own assertions fails: it stops the notebook, and the runner reports the
/// notebook as failed.
type CheckFailedException(name: string, detail: string) =
    inherit Exception(if detail = "" then $"Check failed: {name}" else $"Check failed: {name} ({detail})")

    /// The check's name, as the notebook wrote it.
    member _.CheckName = name

    /// What was compared, or empty.
    member _.Detail = detail

/// The helpers a notebook calls to show what it computed and to check it.
///
/// Each helper writes to whichever host runs the notebook: under the headless runner (src/Notebooks.Runner) it writes
/// frames that the runner turns into the cell's outputs in the .ipynb; inside a .NET Interactive kernel (VS Code's
/// Polyglot Notebooks) it calls the kernel's display; in a plain `dotnet fsi` session it prints text (and writes plots
/// to temporary PNG files).
[<AutoOpen>]
module Display =

    type private Host =
        | Runner of token: string
        | InteractiveKernel
        | PlainConsole

    let private host () =
        match Environment.GetEnvironmentVariable Protocol.ChannelVariable with
        | null
        | "" -> if Kernel.isPresent () then InteractiveKernel else PlainConsole
        | token -> Runner token

    /// True when the runner was started with `--quick` (it sets DECOMP_NOTEBOOK_QUICK=1): a notebook then shrinks its
    /// sizes (steps, samples, grid points) so that CI runs it in seconds. A full run, and a kernel, see false.
    let quickMode: bool = Environment.GetEnvironmentVariable Protocol.QuickVariable = "1"

    /// The width and height, in pixels, that `show` renders a plot at.
    let defaultPlotSize = (640, 400)

    let private send (message: Protocol.Message) (token: string) =
        Console.Out.Write(Protocol.frame token message)
        Console.Out.Flush()

    /// Shows rich output: `html` in a kernel, `data` (MIME type and content pairs) under the runner, `plainText` on a
    /// plain console.
    let private emit (html: string) (data: (string * string) list) (plainText: string) =
        match host () with
        | Runner token -> send (Protocol.Display data) token
        | InteractiveKernel -> Kernel.tryDisplayHtml html |> ignore
        | PlainConsole -> Console.Out.WriteLine plainText

    let private pngSignature = [| 0x89uy; 0x50uy; 0x4Euy; 0x47uy; 0x0Duy; 0x0Auy; 0x1Auy; 0x0Auy |]

    /// Width and height from a PNG's IHDR chunk, which the format places right after the signature.
    let private pngSize (png: byte[]) =
        let bigEndian offset =
            (int png[offset] <<< 24) ||| (int png[offset + 1] <<< 16) ||| (int png[offset + 2] <<< 8) ||| int png[offset + 3]
        bigEndian 16, bigEndian 20

    /// Shows a PNG image given as its bytes. Raises ArgumentException when `png` is not a PNG file.
    let showPng (png: byte[]) : unit =
        if isNull png then nullArg (nameof png)
        if png.Length < 24 || png[0..7] <> pngSignature then
            invalidArg (nameof png) $"Expected the bytes of a PNG file (starting with the PNG signature), got {png.Length} bytes that are not one."
        let width, height = pngSize png
        let base64 = Convert.ToBase64String png
        let description = $"<PNG image {width}x{height}>"
        match host () with
        | PlainConsole ->
            let file = Path.Combine(Path.GetTempPath(), $"decomp-notebook-{Guid.NewGuid():N}.png")
            File.WriteAllBytes(file, png)
            Console.Out.WriteLine $"{description} written to {file}"
        | _ ->
            emit
                $"<img src=\"data:image/png;base64,{base64}\" width=\"{width}\" height=\"{height}\" alt=\"plot\" />"
                [ "image/png", base64; "text/plain", description ]
                description

    /// Shows a ScottPlot plot rendered as a PNG of `width` x `height` pixels.
    let showSized (width: int) (height: int) (plot: ScottPlot.Plot) : unit =
        if isNull plot then nullArg (nameof plot)
        if width <= 0 || height <= 0 then
            invalidArg (nameof width) $"A plot needs a positive width and height in pixels, got {width}x{height}."
        NativeAssets.ensureLoaded ()
        showPng (plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png))

    /// Shows a ScottPlot plot rendered as a PNG at `defaultPlotSize`.
    let show (plot: ScottPlot.Plot) : unit = showSized (fst defaultPlotSize) (snd defaultPlotSize) plot

    let private looksNumeric (text: string) =
        fst (Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture))

    let private htmlTable (columns: string list) (rows: string list list) =
        let html = StringBuilder("<table>\n<thead>\n<tr>")
        let cell (tag: string) (text: string) =
            let align = if tag = "td" && looksNumeric text then " style=\"text-align: right\"" else ""
            html.Append($"<{tag}{align}>").Append(WebUtility.HtmlEncode text).Append($"</{tag}>") |> ignore
        columns |> List.iter (cell "th")
        html.Append("</tr>\n</thead>\n<tbody>\n") |> ignore
        for row in rows do
            html.Append("<tr>") |> ignore
            row |> List.iter (cell "td")
            html.Append("</tr>\n") |> ignore
        html.Append("</tbody>\n</table>").ToString()

    let private plainTable (columns: string list) (rows: string list list) =
        let widths =
            columns
            |> List.mapi (fun i header -> rows |> List.fold (fun width row -> max width (List.item i row).Length) header.Length)
        let line (cells: string list) =
            List.zip cells widths
            |> List.map (fun (text, width) -> if looksNumeric text then text.PadLeft width else text.PadRight width)
            |> String.concat "  "
            |> fun text -> text.TrimEnd()
        [ yield line columns
          yield widths |> List.map (fun width -> String('-', width)) |> String.concat "  "
          for row in rows -> line row ]
        |> String.concat "\n"

    /// Shows a table with the given column headers; each row holds one text per column. Numbers are right-aligned.
    /// Raises ArgumentException when a row's length differs from the number of columns.
    let showTable (columns: string list) (rows: string list list) : unit =
        if List.isEmpty columns then invalidArg (nameof columns) "A table needs at least one column."
        rows
        |> List.iteri (fun i row ->
            if List.length row <> List.length columns then
                invalidArg (nameof rows) $"Row {i} has {List.length row} cells; expected one per column ({List.length columns}).")
        let html = htmlTable columns rows
        let plain = plainTable columns rows
        emit html [ "text/html", html; "text/plain", plain ] plain

    /// How `showRecords` writes one field: floats with 6 significant digits, everything else as F# prints it.
    let formatCell (value: obj) : string =
        match value with
        | null -> ""
        | :? string as text -> text
        | :? float as x -> x.ToString("G6", CultureInfo.InvariantCulture)
        | :? float32 as x -> x.ToString("G6", CultureInfo.InvariantCulture)
        | :? IFormattable as x -> x.ToString(null, CultureInfo.InvariantCulture)
        | other -> sprintf "%A" other

    /// Shows F# records as a table: one column per field, in declaration order, one row per record.
    /// Raises ArgumentException when 'T is not a record type.
    let showRecords (records: seq<'T>) : unit =
        if isNull (box records) then nullArg (nameof records)
        if not (FSharpType.IsRecord(typeof<'T>, true)) then
            invalidArg (nameof records) $"Expected a sequence of F# records, got a sequence of {typeof<'T>.Name}."
        let fields = FSharpType.GetRecordFields(typeof<'T>, true)
        let columns = [ for field in fields -> field.Name ]
        let rows =
            [ for record in records ->
                  [ for value in FSharpValue.GetRecordFields(box record, true) -> formatCell value ] ]
        showTable columns rows

    let private report (name: string) (passed: bool) (detail: string) =
        if String.IsNullOrWhiteSpace name then invalidArg (nameof name) "A check needs a name that says what it checks."
        let line =
            (if passed then "✓ " else "✗ FAILED: ") + name + (if detail = "" then "" else $" ({detail})")
        Console.Out.WriteLine line
        match host () with
        | Runner token -> send (Protocol.Check(name, passed, detail)) token
        | InteractiveKernel
        | PlainConsole -> ()
        if not passed then raise (CheckFailedException(name, detail))

    /// One of the notebook's own assertions: prints "✓ name" when `condition` holds; otherwise prints the failure and
    /// raises CheckFailedException, which stops the notebook and makes the runner fail.
    let check (name: string) (condition: bool) : unit = report name condition ""

    /// Checks that `actual` lies within `tolerance` of `expected`, printing both so the reader sees the margin.
    let checkWithin (name: string) (tolerance: float) (expected: float) (actual: float) : unit =
        if not (tolerance >= 0.0) then
            invalidArg (nameof tolerance) $"A tolerance must be zero or positive, got {tolerance}."
        let distance = abs (actual - expected)
        let detail =
            String.Format(CultureInfo.InvariantCulture, "|{0:G6} - {1:G6}| = {2:G3}, allowed {3:G3}", actual, expected, distance, tolerance)
        report name (distance <= tolerance) detail
