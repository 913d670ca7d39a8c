namespace Decomp.Notebooks.Runner

open System
open System.Collections.Generic
open System.IO
open System.Text
open System.Text.Encodings.Web
open System.Text.Json
open System.Text.Json.Nodes

/// One output of a code cell, in the shapes nbformat 4 defines.
type CellOutput =
    /// Text the cell wrote on `name` ("stdout" or "stderr").
    | StreamOutput of name: string * text: string
    /// Rich output (`display_data`): pairs of MIME type and content, base64 text for binary types.
    | DisplayData of data: (string * string) list
    /// The value of the cell's last expression, as text (`execute_result`).
    | ExecuteResult of text: string
    /// The error that stopped the cell: exception or diagnostic name, its message, and the lines that explain it.
    | ErrorOutput of name: string * value: string * traceback: string list

/// A code cell as the runner sees it.
type CodeCell =
    { /// Position among all cells of the notebook, from 0.
      Index: int
      /// The kernel the cell is meant for, lower-case (`fsharp`, `csharp`, ...).
      Language: string
      /// The cell's code, its lines joined with line breaks.
      Source: string }

/// Reading and writing Jupyter notebooks (nbformat 4) as JSON trees, so that every field the runner does not own
/// (metadata, cell ids, attachments, fields of later nbformat versions) survives a run untouched.
module Ipynb =

    /// A notebook read from `Path`.
    type Notebook = { Path: string; Document: JsonObject }

    let private invalid (path: string) (problem: string) =
        raise (InvalidDataException $"'{path}' is not a Jupyter notebook (nbformat 4): {problem}.")

    /// Parses notebook JSON read from `path` (the path is only for messages). Raises InvalidDataException naming the file
    /// when the text is not an nbformat 4 notebook.
    let parse (path: string) (json: string) : Notebook =
        let root =
            try
                JsonNode.Parse(json, documentOptions = JsonDocumentOptions(AllowTrailingCommas = true))
            with :? JsonException as e ->
                invalid path $"invalid JSON ({e.Message})"
        match root with
        | :? JsonObject as document ->
            match document["nbformat"] with
            | :? JsonValue as version when version.GetValueKind() = JsonValueKind.Number && version.GetValue<int>() = 4 -> ()
            | _ -> invalid path "\"nbformat\" must be 4"
            match document["cells"] with
            | :? JsonArray as cells ->
                cells
                |> Seq.iteri (fun i cell ->
                    match cell with
                    | :? JsonObject as o when (o["cell_type"] :? JsonValue) -> ()
                    | _ -> invalid path $"cell {i} is not an object with a \"cell_type\"")
            | _ -> invalid path "it has no \"cells\" array"
            { Path = path; Document = document }
        | _ -> invalid path "the top level must be a JSON object"

    /// Reads the notebook at `path`.
    let load (path: string) : Notebook = parse path (File.ReadAllText path)

    /// The string at `keys` under `node`, if every step exists and the end is a string.
    let private tryText (node: JsonNode) (keys: string list) : string option =
        let rec walk (current: JsonNode) (keys: string list) =
            match current, keys with
            | null, _ -> None
            | (:? JsonValue as value), [] when value.GetValueKind() = JsonValueKind.String -> Some(value.GetValue<string>())
            | _, [] -> None
            | (:? JsonObject as o), key :: rest -> walk o[key] rest
            | _ -> None
        walk node keys

    /// nbformat's "multiline string": one string, or an array of strings to be concatenated.
    let private multiline (node: JsonNode) : string =
        match node with
        | null -> ""
        | :? JsonArray as parts -> parts |> Seq.map (fun part -> part.GetValue<string>()) |> String.concat ""
        | value -> value.GetValue<string>()

    let private cellsOf (notebook: Notebook) =
        notebook.Document["cells"].AsArray() |> Seq.map (fun cell -> cell.AsObject()) |> List.ofSeq

    /// Names a kernel the way Polyglot's cell metadata does ("F#" and "fsharp" are both fsharp).
    let private kernelName (language: string) =
        match language.Trim().ToLowerInvariant() with
        | "f#" -> "fsharp"
        | "c#" -> "csharp"
        | other -> other

    /// The notebook's default kernel: Polyglot's `defaultKernelName`, else the kernelspec's language, else fsharp.
    let defaultLanguage (notebook: Notebook) : string =
        let metadata = notebook.Document["metadata"]
        tryText metadata [ "polyglot_notebook"; "kernelInfo"; "defaultKernelName" ]
        |> Option.orElse (tryText metadata [ "kernelspec"; "language" ])
        |> Option.map kernelName
        |> Option.defaultValue "fsharp"

    /// The code cells in order, each with the kernel its metadata names (the notebook's default when it names none).
    let codeCells (notebook: Notebook) : CodeCell list =
        let fallback = defaultLanguage notebook
        cellsOf notebook
        |> List.indexed
        |> List.filter (fun (_, cell) -> tryText cell [ "cell_type" ] = Some "code")
        |> List.map (fun (index, cell) ->
            let metadata = cell["metadata"]
            let language =
                tryText metadata [ "polyglot_notebook"; "kernelName" ]
                |> Option.orElse (tryText metadata [ "dotnet_interactive"; "language" ])
                |> Option.map kernelName
                |> Option.defaultValue fallback
            { Index = index; Language = language; Source = multiline cell["source"] })

    /// Splits text into nbformat's list of lines, each keeping its line break.
    let lines (text: string) : string list =
        let rec split (start: int) =
            if start >= text.Length then
                []
            else
                match text.IndexOf('\n', start) with
                | -1 -> [ text.Substring start ]
                | i -> text.Substring(start, i + 1 - start) :: split (i + 1)
        split 0

    let private textArray (text: string) : JsonNode =
        JsonArray(lines text |> List.map (fun line -> JsonValue.Create line :> JsonNode) |> Array.ofList)

    /// MIME types whose content nbformat stores as one string (base64 of binary data) rather than a list of lines.
    let private isBinary (mime: string) = mime.StartsWith "image/" && mime <> "image/svg+xml"

    let private bundle (data: (string * string) list) : JsonObject =
        let o = JsonObject()
        for mime, content in data do
            o[mime] <- if isBinary mime then JsonValue.Create content :> JsonNode else textArray content
        o

    /// The nbformat JSON of one output of the cell that ran as `executionCount`.
    let outputJson (executionCount: int) (output: CellOutput) : JsonObject =
        let node (pairs: (string * JsonNode) list) = JsonObject(pairs |> List.map KeyValuePair.Create)
        match output with
        | StreamOutput(name, text) ->
            node [ "name", JsonValue.Create name; "output_type", JsonValue.Create "stream"; "text", textArray text ]
        | DisplayData data ->
            node [ "data", bundle data; "metadata", JsonObject(); "output_type", JsonValue.Create "display_data" ]
        | ExecuteResult text ->
            node
                [ "data", bundle [ "text/plain", text ]
                  "execution_count", JsonValue.Create executionCount
                  "metadata", JsonObject()
                  "output_type", JsonValue.Create "execute_result" ]
        | ErrorOutput(name, value, traceback) ->
            node
                [ "ename", JsonValue.Create name
                  "evalue", JsonValue.Create value
                  "output_type", JsonValue.Create "error"
                  "traceback", JsonArray(traceback |> List.map (fun line -> JsonValue.Create line :> JsonNode) |> Array.ofList) ]

    /// A copy of the notebook whose code cells carry the given results (cell index to execution count and outputs);
    /// code cells without a result (those after a failure) are cleared, as they did not run. Nothing else changes.
    let withResults (results: Map<int, int * CellOutput list>) (notebook: Notebook) : Notebook =
        let document = notebook.Document.DeepClone().AsObject()
        document["cells"].AsArray()
        |> Seq.iteri (fun index cell ->
            let cell = cell.AsObject()
            if tryText cell [ "cell_type" ] = Some "code" then
                match results.TryFind index with
                | Some(count, outputs) ->
                    cell["execution_count"] <- JsonValue.Create count
                    cell["outputs"] <- JsonArray(outputs |> List.map (fun o -> outputJson count o :> JsonNode) |> Array.ofList)
                | None ->
                    cell["execution_count"] <- null
                    cell["outputs"] <- JsonArray())
        { notebook with Document = document }

    /// The same tree with every object's keys in ordinal order, the canonical form Jupyter's nbformat writes.
    let rec private sorted (node: JsonNode) : JsonNode =
        match node with
        | :? JsonObject as o ->
            JsonObject(
                o
                |> Seq.sortWith (fun a b -> String.CompareOrdinal(a.Key, b.Key))
                |> Seq.map (fun pair -> KeyValuePair.Create(pair.Key, (if isNull pair.Value then null else sorted pair.Value)))
            )
        | :? JsonArray as a -> JsonArray(a |> Seq.map (fun item -> if isNull item then null else sorted item) |> Array.ofSeq)
        | value -> value.DeepClone()

    /// The notebook as nbformat writes it: keys sorted, one-space indent, non-ASCII text unescaped, final line break.
    let serialize (notebook: Notebook) : string =
        use buffer = new MemoryStream()
        let options = JsonWriterOptions(Indented = true, IndentSize = 1, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping)
        do
            use writer = new Utf8JsonWriter(buffer, options)
            (sorted notebook.Document).WriteTo writer
        Encoding.UTF8.GetString(buffer.ToArray()) + "\n"

    /// Writes the notebook to its path through a temporary file and a rename, so that a reader never sees half a file.
    let save (notebook: Notebook) : unit =
        let full = Path.GetFullPath notebook.Path
        let temporary = Path.Combine(Path.GetDirectoryName full, $".{Path.GetFileName full}.{Guid.NewGuid():N}.tmp")
        try
            File.WriteAllText(temporary, serialize notebook, UTF8Encoding false)
            File.Move(temporary, full, true)
        finally
            if File.Exists temporary then File.Delete temporary
