/// Decomp referenced the way notebook users reference it: the libraries (Decomp.Core, Decomp.Distributed, Decomp) packed into a local feed, then, in the real
/// kernel, `#i "nuget: <feed>"` and `#r "nuget: ..."` from an F# notebook and from a C# notebook. TorchSharp and its
/// natives then come from the NuGet package cache, where on Debian 12 TorchSharp's own shim does not load; the
/// notebooks work only if Decomp.Core.Native handles that case without writing into the cache.
module Decomp.Notebooks.Tests.PackagesTests

open System
open System.Diagnostics
open System.Globalization
open System.IO
open System.IO.Compression
open System.Security.Cryptography
open System.Xml.Linq
open Expecto
open TorchSharp
open Decomp.Notebooks.Tests.Fixtures

let private dotnet (arguments: string list) =
    let start = ProcessStartInfo("dotnet", WorkingDirectory = repositoryRoot, RedirectStandardOutput = true, RedirectStandardError = true)
    arguments |> List.iter start.ArgumentList.Add
    use p = Process.Start start
    let output = p.StandardOutput.ReadToEndAsync()
    let error = p.StandardError.ReadToEndAsync()
    p.WaitForExit()
    if p.ExitCode <> 0 then failwith $"dotnet {String.Join(' ', arguments)} failed ({p.ExitCode}):\n{output.Result}{error.Result}"

/// The packed libraries, in a feed of their own, at a version no earlier run has put in the NuGet cache; the
/// versions are removed from the cache again when disposed.
type private Feed() =
    let folder = new TemporaryFolder()
    let version = $"0.0.0-kernel.{DateTime.UtcNow:yyyyMMddHHmmssfff}"
    let path = Directory.CreateDirectory(folder.File "feed").FullName
    do
        for project in [ "src/Runtime.FSharp/Decomp.Runtime.fsproj"; "src/Core.FSharp/Decomp.Core.fsproj"; "src/Distributed/Decomp.Distributed.fsproj"
                         "src/Api.CSharp/Decomp.csproj" ] do
            dotnet [ "pack"; project; "-c"; "Release"; "--no-build"; $"-p:PackageVersion={version}"; "-o"; path ]
    member _.Folder = folder
    member _.Path = path
    member _.Version = version
    interface IDisposable with
        member _.Dispose() =
            for id in [ "decomp.runtime"; "decomp.core"; "decomp.distributed"; "decomp" ] do
                let cached = Path.Combine(FSharpCoreTests.packagesFolder (), id, version)
                try Directory.Delete(cached, true) with :? IOException | :? UnauthorizedAccessException | :? DirectoryNotFoundException -> ()
            (folder :> IDisposable).Dispose()

let private feed =
    let created = lazy (new Feed())
    AppDomain.CurrentDomain.ProcessExit.Add(fun _ -> if created.IsValueCreated then (created.Value :> IDisposable).Dispose())
    created

/// The scores both notebooks compute a bound of, and this process computes it again from.
let private scores () = torch.arange(24L, dtype = torch.float64).reshape(4L, 6L).sin() * 3.0

let private value (outcome: Kernel.Outcome) =
    outcome.Text.Split('\n')
    |> Array.tryPick (fun line -> if line.StartsWith "VALUE " then Some(Double.Parse(line.Substring 6, CultureInfo.InvariantCulture)) else None)

let private sha256 (stream: Stream) = Convert.ToHexString(SHA256.HashData stream)

/// Runs a notebook whose first cell references `package` from the feed (and TorchSharp-cpu for the natives) and
/// whose second cell prints "VALUE <number>"; expects the kernel's number to equal `expected`, computed here.
let private packageNotebook (cell: string -> TestCell) (name: string) (package: string) (lines: string list) (expected: float) =
    let f = feed.Force()
    let notebook =
        writeNotebook f.Folder $"{name}.ipynb"
            [ cell $"#i \"nuget: {f.Path}\"\n#r \"nuget: TorchSharp-cpu, 0.107.0\"\n#r \"nuget: {package}, {f.Version}\""
              cell (String.concat "\n" lines) ]
    let outcome = Kernel.run [] (TimeSpan.FromMinutes 5.0) notebook
    printfn "%s" (Kernel.describe name outcome)
    Expect.equal outcome.ExitCode 0 (Kernel.explain name outcome)
    Expect.floatClose Accuracy.veryHigh (value outcome).Value expected $"{name}: the kernel's bound equals this process's"

let private torchSharpPackage () =
    Path.Combine(FSharpCoreTests.packagesFolder (), "torchsharp", "0.107.0")

[<Tests>]
let tests =
    testSequenced
    <| testList "Packages in the kernel" [
        test "the packed Decomp.Core asks NuGet for an FSharp.Core the kernel has, and its assembly references one" {
            let f = feed.Force()
            use package = ZipFile.OpenRead(Path.Combine(f.Path, $"Decomp.Core.{f.Version}.nupkg"))
            let nuspec = package.Entries |> Seq.find (fun e -> e.FullName.EndsWith ".nuspec")
            use reader = nuspec.Open()
            let dependency =
                XDocument.Load(reader).Descendants()
                |> Seq.find (fun e -> e.Name.LocalName = "dependency" && e.Attribute(XName.Get "id").Value = "FSharp.Core")
            // A library asks for a minimum only ("10.0.115"), so that an app or a kernel may bring a newer FSharp.Core.
            let range = dependency.Attribute(XName.Get "version").Value
            Expect.isFalse (range.Contains "," || range.StartsWith "[") $"FSharp.Core is a minimum, not a pin or a range (got {range})"
            let lowest = System.Version range
            let _, kernel = FSharpCoreTests.kernelFSharpCore ()
            let dll = Path.Combine(f.Folder.Path, "Decomp.Core.dll")
            package.GetEntry("lib/net10.0/Decomp.Core.dll").ExtractToFile(dll, true)
            let reference = (FSharpCoreTests.fsharpCoreReference dll).Value
            printfn "packed Decomp.Core: nuspec FSharp.Core %s, assembly reference %O; kernel %O" range reference kernel
            Expect.isLessThanOrEqual (System.Version(lowest.Major, lowest.Minor)) (System.Version(kernel.Major, kernel.Minor)) "the nuspec's minimum is the kernel's line or older"
            Expect.isLessThanOrEqual reference kernel "the packed assembly loads in the kernel"
        }

        test "the platform plumbing ships in Decomp.Runtime, and Decomp.Core holds only the library" {
            let f = feed.Force()
            let entries (id: string) =
                use package = ZipFile.OpenRead(Path.Combine(f.Path, $"{id}.{f.Version}.nupkg"))
                package.Entries |> Seq.map _.FullName |> List.ofSeq
            let dependencies (id: string) =
                use package = ZipFile.OpenRead(Path.Combine(f.Path, $"{id}.{f.Version}.nupkg"))
                use reader = (package.Entries |> Seq.find (fun e -> e.FullName.EndsWith ".nuspec")).Open()
                XDocument.Load(reader).Descendants()
                |> Seq.filter (fun e -> e.Name.LocalName = "dependency")
                |> Seq.map (fun e -> e.Attribute(XName.Get "id").Value)
                |> List.ofSeq
            let core = entries "Decomp.Core"
            Expect.isEmpty (core |> List.filter (fun e -> e.StartsWith "build")) "Decomp.Core adds nothing to its consumers' builds"
            Expect.contains (dependencies "Decomp.Core") "Decomp.Runtime" "Decomp.Core brings the runtime package with it"
            let runtime = entries "Decomp.Runtime"
            Expect.contains runtime "buildTransitive/Decomp.Runtime.targets" "the Debian 12 shim fix travels with the runtime package"
            Expect.contains runtime "lib/net10.0/Decomp.Runtime.dll" "its loader"
        }

        test "an F# notebook: #r \"nuget: Decomp.Core\" from a local feed, then a bound equal to this process's" {
            use expected = Decomp.Core.Bounds.infoNce (scores ()) |> Decomp.Core.Scores.mean
            packageNotebook FSharp "fsharp-package" "Decomp.Core"
                [ "open TorchSharp"
                  "open Decomp.Core"
                  "let device = Device.current ()"
                  "let scores = torch.arange(24L, dtype = torch.float64).reshape(4L, 6L).sin() * 3.0"
                  "let bound = Bounds.infoNce scores |> Scores.mean"
                  "printfn \"VALUE %s\" (bound.item<float>().ToString(\"R\", System.Globalization.CultureInfo.InvariantCulture))" ]
                (expected.item<float> ())
        }

        test "a C# notebook: #r \"nuget: Decomp\" from a local feed, then Bounds.ConditionalInfoNce equal to this process's" {
            use expected = Decomp.Bounds.ConditionalInfoNce(scores ())
            packageNotebook (fun code -> OtherKernel("csharp", code)) "csharp-package" "Decomp"
                [ "using Decomp;"
                  "using TorchSharp;"
                  "var device = Devices.Current;"
                  "var scores = torch.arange(24, dtype: torch.float64).reshape(4, 6).sin() * 3;"
                  "var bound = Bounds.ConditionalInfoNce(scores);"
                  "Console.WriteLine(\"VALUE \" + bound.item<double>().ToString(\"R\", System.Globalization.CultureInfo.InvariantCulture));" ]
                (expected.item<float> ())
        }

        test "the NuGet cache's TorchSharp shim is left as the package shipped it" {
            let package = torchSharpPackage ()
            use nupkg = ZipFile.OpenRead(Path.Combine(package, "torchsharp.0.107.0.nupkg"))
            use shipped = nupkg.GetEntry("runtimes/linux-x64/native/libLibTorchSharp.so").Open()
            use cached = File.OpenRead(Path.Combine(package, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"))
            Expect.equal (sha256 cached) (sha256 shipped) "Decomp never writes into the NuGet cache"
        }

        test "the shim the kernel loaded is the build's patched copy, byte for byte, kept in the per-user cache" {
            // Runs after the notebooks above, whose Device.current () prepared the shim.
            let original = Path.Combine(torchSharpPackage (), "runtimes", "linux-x64", "native", "libLibTorchSharp.so")
            let built = Path.Combine(repositoryRoot, "artifacts", "notebook-host", "runtimes", "linux-x64", "native", "libLibTorchSharp.so")
            let cacheRoot =
                match Environment.GetEnvironmentVariable "XDG_CACHE_HOME" with
                | null
                | "" -> Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".cache")
                | folder -> folder
            let hash = (use s = File.OpenRead original in sha256 s).Substring(0, 16).ToLowerInvariant()
            let copy = Path.Combine(cacheRoot, "decomp", "native", hash, "libLibTorchSharp.so")
            if File.ReadAllBytes built = File.ReadAllBytes original then
                // This C++ runtime defines every version the shim asks for: the build patched nothing, nor does Decomp.
                Expect.isFalse (File.Exists copy) "no copy is made where none is needed"
            else
                Expect.isTrue (File.Exists copy) $"the kernel loaded a patched copy from {copy}"
                Expect.equal (File.ReadAllBytes copy) (File.ReadAllBytes built) "run time and build time flip the same bit"
        }
    ]
