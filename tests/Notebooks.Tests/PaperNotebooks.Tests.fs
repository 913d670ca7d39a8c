/// Every notebook in paper-notebooks/, top to bottom in the real kernel, in quick mode (DECOMP_NOTEBOOK_QUICK=1, which
/// the notebooks read): a cell that throws or a check that fails fails its test. Each notebook is one test, so the
/// final "N passed, N failed" line counts notebooks.
module Decomp.Notebooks.Tests.PaperNotebooksTests

open System
open System.IO
open Expecto
open Decomp.Notebooks.Tests.Fixtures

let private folder = Path.Combine(repositoryRoot, "paper-notebooks")

/// Where the quick runs' outputs go (the committed notebooks keep the outputs of a full run).
let private outputs = Directory.CreateDirectory(Path.Combine(repositoryRoot, "artifacts", "notebook-runs")).FullName

let private quickRun (notebook: string) =
    test (Path.GetFileName notebook) {
        let name = Path.GetFileName notebook
        let outcome =
            Kernel.runTo (Path.Combine(outputs, name)) [ Decomp.Notebooks.Display.QuickVariable, "1" ] (TimeSpan.FromMinutes 15.0) notebook
        printfn "%s" (Kernel.describe name outcome)
        Expect.equal outcome.ExitCode 0 (Kernel.explain name outcome)
        Expect.isEmpty outcome.Errors (Kernel.explain name outcome)
        Expect.isEmpty outcome.FailedChecks (Kernel.explain name outcome)
        // A notebook that checks nothing would pass whatever it computed.
        Expect.isNonEmpty outcome.Checks $"{name} ends with checks of what it shows"
        Expect.isTrue (outcome.CodeCells > 0) $"{name} has code cells"
    }

[<Tests>]
let tests =
    // One kernel at a time: they would only compete for the same cores.
    testSequenced
    <| testList "Paper notebooks in the kernel (quick)" [
        for notebook in Directory.GetFiles(folder, "*.ipynb") |> Array.sort -> quickRun notebook
    ]
