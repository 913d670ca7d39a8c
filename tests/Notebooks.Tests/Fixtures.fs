/// Shared pieces of the notebook tests: the repository's paths, temporary folders, and notebooks built in code.
module Decomp.Notebooks.Tests.Fixtures

open System
open System.IO
open System.Text.Json.Nodes

/// The repository root: the nearest folder above the test assembly that holds paper-notebooks/Setup.fsx.
let repositoryRoot =
    let rec up (folder: DirectoryInfo) =
        if isNull folder then failwith "No paper-notebooks/Setup.fsx above the test assembly; run the tests from the repository."
        elif File.Exists(Path.Combine(folder.FullName, "paper-notebooks", "Setup.fsx")) then folder.FullName
        else up folder.Parent
    up (DirectoryInfo AppContext.BaseDirectory)

/// The setup script every paper notebook loads, as an absolute path a notebook anywhere can #load.
let setupScript = Path.Combine(repositoryRoot, "paper-notebooks", "Setup.fsx")

/// A fresh folder under artifacts/notebook-tests/ in the repository (so that `dotnet repl`, a local tool, is found
/// from it), removed when disposed.
type TemporaryFolder() =
    let path =
        Directory.CreateDirectory(Path.Combine(repositoryRoot, "artifacts", "notebook-tests", Guid.NewGuid().ToString "N")).FullName
    member _.Path = path
    member _.File(name: string) = Path.Combine(path, name)
    interface IDisposable with
        member _.Dispose() =
            try Directory.Delete(path, true) with :? IOException | :? UnauthorizedAccessException -> ()

/// A cell of a notebook built for a test.
type TestCell =
    | Markdown of string
    | FSharp of string
    | OtherKernel of kernel: string * code: string

let private lineArray (text: string) =
    let parts = text.Split('\n')
    JsonArray(
        parts
        |> Array.mapi (fun i part -> JsonValue.Create(if i < parts.Length - 1 then part + "\n" else part) :> JsonNode)
    )

/// A Polyglot-style notebook (the metadata VS Code writes) whose default kernel is `defaultKernel` ("fsharp" or
/// "csharp"), with cell ids and one field nobody knows about.
let notebookJsonFor (defaultKernel: string) (cells: TestCell list) : string =
    let codeCell (kernel: string) (source: string) (index: int) =
        JsonObject(
            dict
                [ "cell_type", JsonValue.Create "code" :> JsonNode
                  "execution_count", null
                  "id", JsonValue.Create $"cell-{index}"
                  "metadata",
                  JsonObject(
                      dict
                          [ "dotnet_interactive", JsonObject(dict [ "language", JsonValue.Create kernel :> JsonNode ]) :> JsonNode
                            "polyglot_notebook", JsonObject(dict [ "kernelName", JsonValue.Create kernel :> JsonNode ]) ]
                  )
                  "outputs", JsonArray()
                  "source", lineArray source ]
        )
    let cellJson index cell : JsonNode =
        match cell with
        | Markdown text ->
            JsonObject(
                dict
                    [ "cell_type", JsonValue.Create "markdown" :> JsonNode
                      "id", JsonValue.Create $"cell-{index}"
                      "metadata", JsonObject()
                      "source", lineArray text ]
            )
        | FSharp code -> codeCell "fsharp" code index
        | OtherKernel(kernel, code) -> codeCell kernel code index
    let document =
        JsonObject(
            dict
                [ "cells", JsonArray(cells |> List.mapi cellJson |> Array.ofList) :> JsonNode
                  "metadata",
                  JsonNode.Parse(
                      """{"kernelspec": {"display_name": ".NET", "language": "LANGUAGE", "name": ".net-KERNEL"},
                          "language_info": {"name": "polyglot-notebook"},
                          "polyglot_notebook": {"kernelInfo": {"defaultKernelName": "KERNEL", "items": [{"aliases": [], "name": "KERNEL"}]}},
                          "x-unknown": {"kept": [1, "two", null]}}"""
                          .Replace("KERNEL", defaultKernel)
                          .Replace("LANGUAGE", (if defaultKernel = "csharp" then "C#" else "F#"))
                  )
                  "nbformat", JsonValue.Create 4
                  "nbformat_minor", JsonValue.Create 5 ]
        )
    document.ToJsonString()

/// An F# notebook: `notebookJsonFor "fsharp"`.
let notebookJson (cells: TestCell list) : string = notebookJsonFor "fsharp" cells

/// Writes a notebook built from `cells` into `folder` and returns its path; C# cells make it a C# notebook.
let writeNotebook (folder: TemporaryFolder) (name: string) (cells: TestCell list) : string =
    let path = folder.File name
    let csharp = cells |> List.exists (function OtherKernel("csharp", _) -> true | _ -> false)
    File.WriteAllText(path, notebookJsonFor (if csharp then "csharp" else "fsharp") cells)
    path

/// The first line of a cell that loads the paper notebooks' setup from wherever the test notebook lies.
let loadSetup = $"#load @\"{setupScript}\"\nopen Decomp.Notebooks"
