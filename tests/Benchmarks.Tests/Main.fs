module Decomp.Benchmarks.Tests.Main

open Expecto

// Sequenced: TorchSharp 0.107's implicit Scalars (`t.mul_(0.9)`, inside its optimizers too) are unreachable while
// libtorch reads them, so a garbage collection that another thread starts during the call can free one ("Unknown
// scalar type"; open upstream: dotnet/TorchSharp#1434, #1496). Tests training in parallel are such threads.
[<EntryPoint>]
let main argv = Tests.runTestsInAssemblyWithCLIArgs [ Sequenced ] argv
