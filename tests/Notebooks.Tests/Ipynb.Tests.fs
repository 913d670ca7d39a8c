module Decomp.Notebooks.Tests.IpynbTests

open System
open System.IO
open System.Text.Json.Nodes
open Expecto
open Decomp.Notebooks.Runner
open Decomp.Notebooks.Tests.Fixtures

let private sample =
    notebookJson [ Markdown "# Title\nline two"; FSharp "let x = 1\nx + 1"; FSharp "printfn \"hi\""; OtherKernel("csharp", "1+1") ]

/// Everything in `before` except the code cells' outputs and execution counts must be in `after`, unchanged.
let private withoutResults (document: JsonNode) =
    let copy = document.DeepClone().AsObject()
    for cell in copy["cells"].AsArray() do
        let cell = cell.AsObject()
        cell.Remove "outputs" |> ignore
        cell.Remove "execution_count" |> ignore
    copy

[<Tests>]
let tests =
    testList "Ipynb" [
        test "a run's results change outputs and execution counts and nothing else" {
            let notebook = Ipynb.parse "sample.ipynb" sample
            let results = Map [ 1, (1, [ StreamOutput("stdout", "hello\n") ]) ]
            let written = Ipynb.serialize (Ipynb.withResults results notebook)
            let reread = JsonNode.Parse written
            Expect.isTrue
                (JsonNode.DeepEquals(withoutResults (JsonNode.Parse sample), withoutResults reread))
                "metadata, ids, sources and unknown fields survive"
            let cell = reread["cells"].[1]
            Expect.equal (cell["execution_count"].GetValue<int>()) 1 "execution count set"
            Expect.equal (cell["outputs"].[0].["text"].[0].GetValue<string>()) "hello\n" "stream text stored as lines"
            Expect.equal (reread["metadata"].["x-unknown"].["kept"].ToJsonString()) """[1,"two",null]""" "unknown field kept"
        }

        test "code cells without a result are cleared: they did not run" {
            let notebook = Ipynb.parse "sample.ipynb" sample
            let ran = Ipynb.withResults (Map [ 1, (1, [ StreamOutput("stdout", "a\n") ]) ]) notebook
            let rerun = Ipynb.withResults Map.empty ran
            let cell = rerun.Document["cells"].[1]
            Expect.isNull cell["execution_count"] "no execution count"
            Expect.equal (cell["outputs"].AsArray().Count) 0 "no outputs"
        }

        test "serializing is canonical: sorted keys, one-space indent, unescaped text, final line break, idempotent" {
            let notebook = Ipynb.parse "sample.ipynb" sample
            let results = Map [ 2, (1, [ StreamOutput("stdout", "✓ done\n") ]) ]
            let once = Ipynb.serialize (Ipynb.withResults results notebook)
            let twice = Ipynb.serialize (Ipynb.parse "again.ipynb" once)
            Expect.equal twice once "parse then serialize changes nothing"
            Expect.stringStarts once "{\n \"cells\": [\n  {\n" "one-space indent, cells first"
            Expect.stringEnds once "}\n" "final line break"
            Expect.stringContains once "✓ done" "non-ASCII text written as is"
            let keys = (JsonNode.Parse once).AsObject() |> Seq.map (fun pair -> pair.Key) |> List.ofSeq
            Expect.equal keys (List.sortWith (fun a b -> String.CompareOrdinal(a, b)) keys) "top-level keys sorted"
        }

        test "code cells carry their kernel; the notebook's default fills in" {
            let json =
                sample.Replace("\"polyglot_notebook\":{\"kernelName\":\"fsharp\"}", "\"x\":1")
                      .Replace("\"dotnet_interactive\":{\"language\":\"fsharp\"},", "")
            let cells = Ipynb.codeCells (Ipynb.parse "sample.ipynb" json)
            Expect.equal (cells |> List.map (fun c -> c.Index, c.Language)) [ 1, "fsharp"; 2, "fsharp"; 3, "csharp" ] "kernels"
            Expect.equal cells[0].Source "let x = 1\nx + 1" "source lines joined"
        }

        test "a source stored as one string reads like one stored as lines" {
            let document = JsonNode.Parse sample
            document.["cells"].[1].["source"] <- JsonValue.Create "let x = 1\nx + 1"
            let cells = Ipynb.codeCells (Ipynb.parse "sample.ipynb" (document.ToJsonString()))
            Expect.equal cells[0].Source "let x = 1\nx + 1" "same source"
        }

        test "images are stored as one base64 string, text as lines" {
            let output = Ipynb.outputJson 3 (DisplayData [ "image/png", "iVBORw0KGgo="; "text/plain", "a\nb" ])
            Expect.equal (output["data"].["image/png"].GetValue<string>()) "iVBORw0KGgo=" "base64 as one string"
            Expect.equal (output["data"].["text/plain"].ToJsonString()) """["a\n","b"]""" "text as lines"
            Expect.equal (output["output_type"].GetValue<string>()) "display_data" "output type"
            let result = Ipynb.outputJson 3 (ExecuteResult "42")
            Expect.equal (result["execution_count"].GetValue<int>()) 3 "execute_result carries the count"
        }

        testProperty "lines keep every character and break only after line feeds" <| fun (text: string) ->
            let text = if isNull text then "" else text
            let parts = Ipynb.lines text
            String.concat "" parts = text
            && parts |> List.forall (fun part -> part <> "")
            && parts |> List.take (max 0 (parts.Length - 1)) |> List.forall (fun part -> part.EndsWith "\n")
            && parts |> List.forall (fun part -> part.IndexOf '\n' < 0 || part.IndexOf '\n' = part.Length - 1)

        test "a file that is not an nbformat 4 notebook is refused, naming the file and the problem" {
            for json, problem in
                [ "{", "invalid JSON"
                  "[]", "top level"
                  """{"nbformat": 3, "cells": []}""", "nbformat"
                  """{"nbformat": 4}""", "cells"
                  """{"nbformat": 4, "cells": [1]}""", "cell 0" ] do
                let message =
                    try
                        Ipynb.parse "broken.ipynb" json |> ignore
                        "no exception"
                    with :? InvalidDataException as e ->
                        e.Message
                Expect.stringContains message "broken.ipynb" $"{json}: names the file"
                Expect.stringContains message problem $"{json}: says what is wrong"
        }

        test "saving replaces the file whole and leaves no temporary file" {
            use folder = new TemporaryFolder()
            let path = writeNotebook folder "n.ipynb" [ FSharp "1" ]
            let notebook = Ipynb.load path
            Ipynb.save (Ipynb.withResults (Map [ 0, (1, [ ExecuteResult "1" ]) ]) notebook)
            Expect.equal (Directory.GetFiles folder.Path |> Array.map Path.GetFileName) [| "n.ipynb" |] "only the notebook"
            Expect.stringContains (File.ReadAllText path) "\"execute_result\"" "the new content"
        }
    ]
