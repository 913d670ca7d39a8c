// Loaded by the first cell of every notebook in this folder:
//
//     #load "Setup.fsx"
//     open Decomp.Notebooks
//
// It references Decomp.Core, TorchSharp, ScottPlot and the display helpers (show, showTable, check; see
// src/Notebooks.Host/Display.fs) from ../artifacts/notebook-host, which one command builds, from the repository root:
//
//     dotnet build src/Notebooks.Host -c Release
//
// (the notebook runner, src/Notebooks.Runner, builds it itself). Paths here are relative to this file, so they hold
// under the runner and in VS Code's Polyglot Notebooks alike.

#r "../artifacts/notebook-host/TorchSharp.dll"
#r "../artifacts/notebook-host/Decomp.Core.dll"
#r "../artifacts/notebook-host/SkiaSharp.dll"
#r "../artifacts/notebook-host/ScottPlot.dll"
#r "../artifacts/notebook-host/Decomp.Notebooks.dll"
#r "../artifacts/notebook-host/Decomp.Experiments.Synthetic.dll"

// A script host reads no deps.json: point TorchSharp and the plotting libraries at the natives under runtimes/ before
// anything touches them.
Decomp.Core.Native.ensureLoaded ()
Decomp.Notebooks.NativeAssets.ensureLoaded ()
