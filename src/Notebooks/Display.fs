namespace Decomp.Notebooks

open System
open System.Globalization
open System.Net
open System.Text
open Microsoft.FSharp.Reflection

module internal Cells =

    /// Numbers are right-aligned in tables, in HTML and in plain text alike.
    let looksNumeric (text: string) =
        fst (Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture))

/// A PNG image. In the .NET Interactive kernel it shows as `image/png` through the formatter that
/// paper-notebooks/Setup.fsx registers; elsewhere it prints as a one-line description.
type Png =
    { Bytes: byte[]
      Width: int
      Height: int }

    override this.ToString() = $"<PNG image {this.Width}x{this.Height}>"

/// A table of text cells under column headers. In the kernel it shows as HTML (numbers right-aligned) through the
/// formatter that Setup.fsx registers; elsewhere it prints as aligned plain text.
type Table =
    { Columns: string list
      Rows: string list list }

    override this.ToString() =
        let widths =
            this.Columns
            |> List.mapi (fun i header -> this.Rows |> List.fold (fun width row -> max width (List.item i row).Length) header.Length)
        let line (cells: string list) =
            List.zip cells widths
            |> List.map (fun (text, width) -> if Cells.looksNumeric text then text.PadLeft width else text.PadRight width)
            |> String.concat "  "
            |> fun text -> text.TrimEnd()
        [ yield line this.Columns
          yield widths |> List.map (fun width -> String('-', width)) |> String.concat "  "
          for row in this.Rows -> line row ]
        |> String.concat "\n"

module Png =

    let private signature = [| 0x89uy; 0x50uy; 0x4Euy; 0x47uy; 0x0Duy; 0x0Auy; 0x1Auy; 0x0Auy |]

    /// An image from the bytes of a PNG file; its size comes from the IHDR chunk, which the format places right after
    /// the signature. Raises ArgumentException when `bytes` is not a PNG file.
    let ofBytes (bytes: byte[]) : Png =
        if isNull bytes then nullArg (nameof bytes)
        if bytes.Length < 24 || bytes[0..7] <> signature then
            invalidArg (nameof bytes) $"Expected the bytes of a PNG file (starting with the PNG signature), got {bytes.Length} bytes that are not one."
        let bigEndian offset =
            (int bytes[offset] <<< 24) ||| (int bytes[offset + 1] <<< 16) ||| (int bytes[offset + 2] <<< 8) ||| int bytes[offset + 3]
        { Bytes = bytes; Width = bigEndian 16; Height = bigEndian 20 }

    /// A ScottPlot plot rendered as a PNG of `width` x `height` pixels.
    let ofPlot (width: int) (height: int) (plot: ScottPlot.Plot) : Png =
        if isNull plot then nullArg (nameof plot)
        if width <= 0 || height <= 0 then
            invalidArg (nameof width) $"A plot needs a positive width and height in pixels, got {width}x{height}."
        NativeAssets.ensureLoaded ()
        ofBytes (plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png))

    /// The image as base64 text, the form notebooks store `image/png` outputs in.
    let base64 (png: Png) : string = Convert.ToBase64String png.Bytes

module Table =

    /// A table with the given headers; each row holds one text per column. Raises ArgumentException when there are no
    /// columns or a row's length differs from the number of columns.
    let create (columns: string list) (rows: string list list) : Table =
        if List.isEmpty columns then invalidArg (nameof columns) "A table needs at least one column."
        rows
        |> List.iteri (fun i row ->
            if List.length row <> List.length columns then
                invalidArg (nameof rows) $"Row {i} has {List.length row} cells; expected one per column ({List.length columns}).")
        { Columns = columns; Rows = rows }

    /// How `ofRecords` writes one field: floats with 6 significant digits, everything else as F# prints it.
    let formatCell (value: obj) : string =
        match value with
        | null -> ""
        | :? string as text -> text
        | :? float as x -> x.ToString("G6", CultureInfo.InvariantCulture)
        | :? float32 as x -> x.ToString("G6", CultureInfo.InvariantCulture)
        | :? IFormattable as x -> x.ToString(null, CultureInfo.InvariantCulture)
        | other -> sprintf "%A" other

    /// F# records as a table: one column per field, in declaration order, one row per record.
    /// Raises ArgumentException when 'T is not a record type.
    let ofRecords (records: seq<'T>) : Table =
        if isNull (box records) then nullArg (nameof records)
        if not (FSharpType.IsRecord(typeof<'T>, true)) then
            invalidArg (nameof records) $"Expected a sequence of F# records, got a sequence of {typeof<'T>.Name}."
        let fields = FSharpType.GetRecordFields(typeof<'T>, true)
        create
            [ for field in fields -> field.Name ]
            [ for record in records -> [ for value in FSharpValue.GetRecordFields(box record, true) -> formatCell value ] ]

    /// The table as HTML; cells that parse as numbers are right-aligned.
    let html (table: Table) : string =
        let html = StringBuilder("<table>\n<thead>\n<tr>")
        let cell (tag: string) (text: string) =
            let align = if tag = "td" && Cells.looksNumeric text then " style=\"text-align: right\"" else ""
            html.Append($"<{tag}{align}>").Append(WebUtility.HtmlEncode text).Append($"</{tag}>") |> ignore
        table.Columns |> List.iter (cell "th")
        html.Append("</tr>\n</thead>\n<tbody>\n") |> ignore
        for row in table.Rows do
            html.Append("<tr>") |> ignore
            row |> List.iter (cell "td")
            html.Append("</tr>\n") |> ignore
        html.Append("</tbody>\n</table>").ToString()

/// What a notebook calls to show what it computed. Each helper hands a `Png` or a `Table` to the display that
/// Setup.fsx installs, the .NET Interactive kernel's own (`Kernel.display`), whose formatters render them; without a
/// kernel they print as text.
[<AutoOpen>]
module Display =

    /// The environment variable that asks notebooks for a quick run (CI sets it to 1).
    [<Literal>]
    let QuickVariable = "DECOMP_NOTEBOOK_QUICK"

    /// True when DECOMP_NOTEBOOK_QUICK=1: a notebook then shrinks its sizes (steps, samples, grid points) so that CI
    /// runs it in seconds. A full run sees false.
    let quickMode: bool = Environment.GetEnvironmentVariable QuickVariable = "1"

    /// The width and height, in pixels, that `show` renders a plot at.
    let defaultPlotSize = (640, 400)

    // The one piece of state here: where shown values go. Setup.fsx points it at the kernel's display once.
    let mutable private display: obj -> unit = fun value -> Console.Out.WriteLine(string value)

    /// Sends everything the helpers show to `kernelDisplay` (Setup.fsx passes the kernel's `Kernel.display`).
    let displayThrough (kernelDisplay: obj -> unit) : unit =
        if isNull (box kernelDisplay) then nullArg (nameof kernelDisplay)
        display <- kernelDisplay

    /// Shows a PNG image given as its bytes. Raises ArgumentException when `png` is not a PNG file.
    let showPng (png: byte[]) : unit = display (Png.ofBytes png)

    /// Shows a ScottPlot plot rendered as a PNG of `width` x `height` pixels.
    let showSized (width: int) (height: int) (plot: ScottPlot.Plot) : unit = display (Png.ofPlot width height plot)

    /// Shows a ScottPlot plot rendered as a PNG at `defaultPlotSize`.
    let show (plot: ScottPlot.Plot) : unit = showSized (fst defaultPlotSize) (snd defaultPlotSize) plot

    /// Shows a table with the given column headers; each row holds one text per column. Numbers are right-aligned.
    /// Raises ArgumentException when a row's length differs from the number of columns.
    let showTable (columns: string list) (rows: string list list) : unit = display (Table.create columns rows)

    /// Shows F# records as a table: one column per field, in declaration order, one row per record.
    let showRecords (records: seq<'T>) : unit = display (Table.ofRecords records)
