// Loaded by the first cell of every notebook in this folder, in the .NET Interactive kernel (VS Code's Polyglot
// Notebooks, or `dotnet repl` headless):
//
//     #load "Setup.fsx"
//     open Decomp.Notebooks
//
// It references Decomp.Core, TorchSharp, ScottPlot and the notebook helpers (src/Notebooks) from
// ../artifacts/notebook-host, which one command builds, from the repository root:
//
//     dotnet build src/Notebooks -c Release
//
// Paths here are relative to this file, so they hold wherever the kernel was started.

#r "../artifacts/notebook-host/TorchSharp.dll"
#r "../artifacts/notebook-host/Decomp.Runtime.dll"
#r "../artifacts/notebook-host/Decomp.Core.dll"
#r "../artifacts/notebook-host/SkiaSharp.dll"
#r "../artifacts/notebook-host/ScottPlot.dll"
#r "../artifacts/notebook-host/Decomp.Notebooks.dll"
#r "../artifacts/notebook-host/Decomp.Apps.dll"
#r "../artifacts/notebook-host/Decomp.Experiments.dll"

// A script host reads no deps.json: point TorchSharp and the plotting libraries at the natives under runtimes/ before
// anything touches them.
Decomp.Runtime.Native.ensureLoaded ()
Decomp.Notebooks.NativeAssets.ensureLoaded ()

open Microsoft.DotNet.Interactive
open Microsoft.DotNet.Interactive.Formatting
open Decomp.Notebooks

// What the notebooks show goes through the kernel's own formatters: images as image/png, tables as HTML, each with a
// text/plain twin. A cell that ends with a ScottPlot plot shows it as a PNG too.
Formatter.Register<Png>((fun (png: Png) (writer: System.IO.TextWriter) -> writer.Write(Png.base64 png)), "image/png")
Formatter.SetPreferredMimeTypesFor(typeof<Png>, "image/png", "text/plain")
Formatter.Register<ScottPlot.Plot>(
    (fun (plot: ScottPlot.Plot) (writer: System.IO.TextWriter) ->
        writer.Write(Png.base64 (Png.ofPlot (fst defaultPlotSize) (snd defaultPlotSize) plot))),
    "image/png"
)
Formatter.SetPreferredMimeTypesFor(typeof<ScottPlot.Plot>, "image/png")
Formatter.Register<Table>((fun (table: Table) (writer: System.IO.TextWriter) -> writer.Write(Table.html table)), "text/html")
Formatter.SetPreferredMimeTypesFor(typeof<Table>, "text/html", "text/plain")
displayThrough (fun value -> Kernel.display value |> ignore)
