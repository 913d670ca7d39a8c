module Decomp.Notebooks.Tests.Main

open Expecto

// Every test list in this assembly is marked [<Tests>] and found by reflection.
[<EntryPoint>]
let main argv = Tests.runTestsInAssemblyWithCLIArgs [] argv
