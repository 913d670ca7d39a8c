module Decomp.Core.Tests.Main

open Expecto

[<EntryPoint>]
let main argv =
    Tests.runTestsWithCLIArgs [] argv (testList "Decomp.Core" [ Platform.tests ])
