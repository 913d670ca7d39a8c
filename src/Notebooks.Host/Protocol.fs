namespace Decomp.Notebooks

open System
open System.Text.Json
open System.Text.Json.Nodes

/// What a notebook's F# session tells the headless runner (src/Notebooks.Runner) beside its ordinary output.
///
/// The runner starts `dotnet fsi` with <c>DECOMP_NOTEBOOK_CHANNEL</c> set to a fresh token. Code in the session writes
/// each message as the end of one stdout line: the frame prefix (which holds the token) and then a JSON object. Text
/// before the prefix on that line is ordinary output that had no line break yet; a line without the prefix is ordinary
/// output. Outside the runner the variable is unset and nothing writes frames. This file is compiled into both the
/// notebook host library (which writes messages) and the runner (which reads them), so the two cannot disagree.
module Protocol =

    /// Set by the runner to the token that marks frames; unset anywhere else.
    [<Literal>]
    let ChannelVariable = "DECOMP_NOTEBOOK_CHANNEL"

    /// Set to `1` by the runner's `--quick`: notebooks shrink their sizes so that CI runs them in seconds.
    [<Literal>]
    let QuickVariable = "DECOMP_NOTEBOOK_QUICK"

    /// The marker that starts a frame. The record separator (U+001E) keeps it out of anything a person would print.
    let framePrefix (token: string) : string = "\u001Edecomp-notebook " + token + " "

    /// One message from the session to the runner.
    type Message =
        /// Rich output of the running cell: pairs of MIME type and content (base64 text for binary types such as
        /// image/png), richest first.
        | Display of data: (string * string) list
        /// The value of the cell's last expression, as text.
        | Result of text: string
        /// One of the notebook's own checks and whether it held; `detail` says what was compared.
        | Check of name: string * passed: bool * detail: string
        /// Written after cell `cell` on stdout and on stderr: everything the cell wrote on that stream came before it.
        | CellEnd of cell: int

    /// The message as one line of JSON (no line breaks: JSON escapes them inside strings).
    let encode (message: Message) : string =
        let node =
            match message with
            | Display data ->
                let bundle = JsonObject()
                for mime, content in data do
                    bundle[mime] <- JsonValue.Create content
                JsonObject(dict [ "type", JsonValue.Create "display" :> JsonNode; "data", bundle ])
            | Result text -> JsonObject(dict [ "type", JsonValue.Create "result" :> JsonNode; "text", JsonValue.Create text ])
            | Check(name, passed, detail) ->
                JsonObject(
                    dict
                        [ "type", JsonValue.Create "check" :> JsonNode
                          "name", JsonValue.Create name
                          "passed", JsonValue.Create passed
                          "detail", JsonValue.Create detail ]
                )
            | CellEnd cell -> JsonObject(dict [ "type", JsonValue.Create "cell-end" :> JsonNode; "cell", JsonValue.Create cell ])
        node.ToJsonString()

    /// Reads a message written by `encode`; `Error` says what is wrong with text that is not one.
    let decode (json: string) : Result<Message, string> =
        let field (o: JsonObject) (key: string) : JsonNode =
            match o[key] with
            | null -> failwith $"missing \"{key}\""
            | value -> value
        try
            match JsonNode.Parse json with
            | :? JsonObject as o ->
                let text key = (field o key).GetValue<string>()
                match text "type" with
                | "display" ->
                    match field o "data" with
                    | :? JsonObject as bundle ->
                        Ok(Display [ for KeyValue(mime, _) in bundle -> mime, (field bundle mime).GetValue<string>() ])
                    | _ -> Error "a display message needs a \"data\" object"
                | "result" -> Ok(Result(text "text"))
                | "check" -> Ok(Check(text "name", (field o "passed").GetValue<bool>(), text "detail"))
                | "cell-end" -> Ok(CellEnd((field o "cell").GetValue<int>()))
                | other -> Error $"unknown message type \"{other}\""
            | _ -> Error "a message must be a JSON object"
        with
        | :? JsonException
        | :? InvalidOperationException
        | :? FormatException as e -> Error e.Message
        | Failure message -> Error message

    /// The frame for `message` on the channel `token`, ending with a line break.
    let frame (token: string) (message: Message) : string = framePrefix token + encode message + "\n"
