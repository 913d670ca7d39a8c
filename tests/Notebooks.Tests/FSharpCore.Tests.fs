/// The libraries compile against an FSharp.Core no newer than the one the .NET Interactive kernel ships: a library
/// built against a newer one does not load in the kernel (FileLoadException for FSharp.Core), so no notebook could use it.
module Decomp.Notebooks.Tests.FSharpCoreTests

open System
open System.IO
open System.Reflection
open System.Reflection.Metadata
open System.Reflection.PortableExecutable
open System.Text.Json.Nodes
open Expecto
open Decomp.Notebooks.Tests.Fixtures

/// The version of FSharp.Core that the assembly at `path` references, if it references one.
let fsharpCoreReference (path: string) : System.Version option =
    use stream = File.OpenRead path
    use pe = new PEReader(stream)
    let metadata = pe.GetMetadataReader()
    metadata.AssemblyReferences
    |> Seq.map metadata.GetAssemblyReference
    |> Seq.tryFind (fun r -> metadata.GetString r.Name = "FSharp.Core")
    |> Option.map _.Version

/// The NuGet package folder (NUGET_PACKAGES, else ~/.nuget/packages).
let packagesFolder () =
    match Environment.GetEnvironmentVariable "NUGET_PACKAGES" with
    | null
    | "" -> Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".nuget", "packages")
    | folder -> folder

/// The FSharp.Core that the kernel runs on: the one inside the dotnet-repl tool package this repository pins.
let kernelFSharpCore () : string * System.Version =
    let manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(repositoryRoot, ".config", "dotnet-tools.json")))
    let tools = manifest["tools"]
    let version = tools["dotnet-repl"].["version"].ToString()
    let tool = Path.Combine(packagesFolder (), "dotnet-repl", version, "tools")
    let dll = Directory.GetFiles(tool, "FSharp.Core.dll", SearchOption.AllDirectories) |> Array.exactlyOne
    dll, AssemblyName.GetAssemblyName(dll).Version

/// The libraries users and notebooks reference, as built.
let private libraries =
    [ "Decomp.Runtime", Path.Combine("src", "Runtime.FSharp", "bin", "Release", "net10.0", "Decomp.Runtime.dll")
      "Decomp.Core", Path.Combine("src", "Core.FSharp", "bin", "Release", "net10.0", "Decomp.Core.dll")
      "Decomp", Path.Combine("src", "Api.CSharp", "bin", "Release", "net10.0", "Decomp.dll")
      "Decomp.Notebooks", Path.Combine("artifacts", "notebook-host", "Decomp.Notebooks.dll") ]

[<Tests>]
let tests =
    testList "FSharp.Core floor" [
        for name, relative in libraries ->
            test $"{name} references an FSharp.Core no newer than the kernel's" {
                let path = Path.Combine(repositoryRoot, relative)
                Expect.isTrue (File.Exists path) $"{path} is built (./build.sh test builds it)"
                let kernelDll, kernel = kernelFSharpCore ()
                // The C# facade reaches FSharp.Core through Decomp.Core's types, so it references it too.
                let reference = fsharpCoreReference path
                Expect.isSome reference $"{name} references FSharp.Core"
                printfn "%s -> FSharp.Core %O; the kernel (%s) ships %O" name reference.Value kernelDll kernel
                Expect.isLessThanOrEqual reference.Value kernel $"{name} must load in the kernel, which ships FSharp.Core {kernel}"
            }
    ]
