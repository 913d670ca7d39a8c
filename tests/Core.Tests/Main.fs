module Decomp.Core.Tests.Main

open Expecto

// Every test list in this assembly is marked [<Tests>] and found by reflection, so adding a test file means adding it
// to the project and nothing else.
[<EntryPoint>]
let main argv = Tests.runTestsInAssemblyWithCLIArgs [] argv
