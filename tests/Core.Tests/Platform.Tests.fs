module Decomp.Core.Tests.Platform

open System
open System.Diagnostics
open System.IO
open System.Text.RegularExpressions
open Expecto
open TorchSharp
open Decomp.Core
open Decomp.Runtime

let private outputFolder = AppContext.BaseDirectory

let private repositoryRoot =
    let rec up (dir: string) =
        if File.Exists(Path.Combine(dir, "Decomp.sln")) then dir
        else up (Path.GetDirectoryName dir)
    up outputFolder

/// Runs an F# script in a fresh `dotnet fsi` that references this test's build output, with extra environment
/// variables; returns (exit code, stdout + stderr).
let private runScriptFrom (folder: string) (environment: (string * string) list) (body: string) =
    let script = Path.Combine(Path.GetTempPath(), $"decomp-{Guid.NewGuid():N}.fsx")
    let reference (assembly: string) = "#r @\"" + Path.Combine(folder, assembly) + "\""
    let header = [ reference "TorchSharp.dll"; reference "Decomp.Runtime.dll"; reference "Decomp.Core.dll" ]
    File.WriteAllLines(script, header @ [ body ])
    try
        let start = ProcessStartInfo("dotnet", $"fsi --quiet \"{script}\"", RedirectStandardOutput = true, RedirectStandardError = true)
        // The child starts from this process's environment without our two variables, then gets the test's.
        start.Environment.Remove Device.Variable |> ignore
        start.Environment.Remove Native.LibtorchVariable |> ignore
        for name, value in environment do start.Environment[name] <- value
        use p = Process.Start start
        let out = p.StandardOutput.ReadToEndAsync()
        let err = p.StandardError.ReadToEndAsync()
        p.WaitForExit()
        p.ExitCode, out.Result + err.Result
    finally
        File.Delete script

let private runScript = runScriptFrom outputFolder

let private mappedLibtorch = """
for line in System.IO.File.ReadLines "/proc/self/maps" do
    let i = line.IndexOf '/'
    if i >= 0 && System.IO.Path.GetFileName(line.Substring i) = "libtorch_cpu.so" then printfn "MAPPED %s" (line.Substring i)
"""

let private nativeFolder = Path.Combine(outputFolder, "runtimes", "linux-x64", "native")

let private onLinux = OperatingSystem.IsLinux()

/// The GLIBCXX versions the libstdc++ of this process defines (the one the fix consults).
let private runtimeDefines (version: string) =
    File.ReadLines "/proc/self/maps"
    |> Seq.map (fun l -> let i = l.IndexOf '/' in if i >= 0 then l.Substring i else "")
    |> Seq.tryFind (fun p -> Path.GetFileName(p).StartsWith "libstdc++.so")
    |> Option.map (fun p -> (File.ReadAllText(p, Text.Encoding.Latin1)).Contains(version + "\000"))

[<Tests>]
let tests =
    testList "Platform" [
        test "TorchSharp loads and computes a gradient on the chosen device" {
            let device = Device.current ()
            use x = torch.tensor ([| 1.0; 2.0; 3.0 |], device = device, requires_grad = true)
            use y = (x * x).sum ()
            y.backward ()
            let grad = x.grad.cpu().data<float>().ToArray()
            Expect.sequenceEqual grad [| 2.0; 4.0; 6.0 |] "d/dx sum(x^2) = 2x"
        }

        test "the output folder's TorchSharp shim differs from the NuGet cache's only where the loader needs it" {
            if onLinux then
                let built = Path.Combine(nativeFolder, "libLibTorchSharp.so")
                let version = typeof<torch>.Assembly.GetName().Version
                let home = Environment.GetEnvironmentVariable "NUGET_PACKAGES" |> Option.ofObj |> Option.defaultValue (Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".nuget", "packages"))
                let cached = Path.Combine(home, "torchsharp", $"{version.Major}.{version.Minor}.{version.Build}", "runtimes", "linux-x64", "native", "libLibTorchSharp.so")
                let a, b = File.ReadAllBytes cached, File.ReadAllBytes built
                Expect.equal b.Length a.Length "same size"
                let differing = [ for i in 0 .. a.Length - 1 do if a[i] <> b[i] then i ]
                match runtimeDefines "GLIBCXX_3.4.32" with
                | Some false ->
                    Expect.equal differing.Length 1 "exactly one byte changed (a vna_flags)"
                    let i = differing.Head
                    Expect.equal (b[i] &&& 0x2uy) 0x2uy "VER_FLG_WEAK set in the output folder's copy"
                    Expect.equal (a[i] &&& 0x2uy) 0uy "the NuGet cache's copy is untouched"
                | Some true -> Expect.isEmpty differing "a new enough C++ runtime: nothing is patched"
                | None -> skiptest "no libstdc++ mapped in this process"
        }

        test "the README's F# example runs in dotnet fsi against the built assemblies" {
            let readme = File.ReadAllText(Path.Combine(repositoryRoot, "README.md"))
            let example = Regex.Match(readme, "```fsharp\n(.*?)```", RegexOptions.Singleline).Groups[1].Value
            Expect.isNotEmpty example "README.md has an F# example"
            let code, output = runScript [] (example + "\nprintfn \"RESULT %f %f\" (nce.item<float32>()) (decomposed.item<float32>())")
            Expect.equal code 0 $"the example runs:\n{output}"
            let m = Regex.Match(output, @"RESULT (\S+) (\S+)")
            Expect.isTrue m.Success $"it printed its two estimates:\n{output}"
            Expect.isLessThanOrEqual (float m.Groups[1].Value) (log 64.0 + 1e-5) "and InfoNCE over 64 candidates is at most log 64"
        }

        test "DECOMP_LIBTORCH makes Decomp load libtorch from that folder, and only from there" {
            if onLinux then
                let folder = Directory.CreateTempSubdirectory "decomp-libtorch-"
                try
                    // Hard links: the same files under another path, so /proc/self/maps shows which path was loaded.
                    for file in Directory.GetFiles(nativeFolder, "lib*.so*") |> Array.filter (fun f -> not (Path.GetFileName(f).StartsWith "libLibTorchSharp")) do
                        use p = Process.Start(ProcessStartInfo("ln", [| file; Path.Combine(folder.FullName, Path.GetFileName file) |]))
                        p.WaitForExit()
                    let code, output =
                        runScript [ Native.LibtorchVariable, folder.FullName ] ("let d = Decomp.Core.Device.current ()\nlet t = TorchSharp.torch.ones(3L).sum()\nprintfn \"SUM %f\" (t.item<float32>())\nprintfn \"%s\" (Decomp.Core.Device.describe d)\n" + mappedLibtorch)
                    Expect.equal code 0 $"the script ran:\n{output}"
                    Expect.stringContains output "SUM 3.000000" "TorchSharp computed"
                    Expect.stringContains output $"libtorch from {folder.FullName}" "the device description names the folder"
                    let mapped = Regex.Matches(output, "MAPPED (.*)") |> Seq.map (fun m -> Path.GetDirectoryName m.Groups[1].Value) |> Seq.distinct |> List.ofSeq
                    Expect.equal mapped [ folder.FullName ] "libtorch_cpu.so is mapped from DECOMP_LIBTORCH alone (no second copy from the app folder)"
                finally
                    folder.Delete true
        }

        test "an app folder whose TorchSharp shim was never patched (packed on a newer Linux) still loads" {
            // A tool or app packed where libstdc++ defines GLIBCXX_3.4.32 carries the shim as shipped; on Debian 12
            // Decomp loads a patched copy from the per-user cache, whose $ORIGIN no longer reaches libtorch, so it must
            // load libtorch from the app's own native folder first.
            if onLinux then
                let app = Directory.CreateTempSubdirectory("decomp-unpatched-app-").FullName
                try
                    let native = Directory.CreateDirectory(Path.Combine(app, "runtimes", "linux-x64", "native")).FullName
                    for dll in [ "TorchSharp.dll"; "Decomp.Runtime.dll"; "Decomp.Core.dll" ] do
                        File.Copy(Path.Combine(outputFolder, dll), Path.Combine(app, dll))
                    for file in Directory.GetFiles nativeFolder do
                        if Path.GetFileName file <> "libLibTorchSharp.so" then
                            File.CreateSymbolicLink(Path.Combine(native, Path.GetFileName file), file) |> ignore
                    let packages =
                        match Environment.GetEnvironmentVariable "NUGET_PACKAGES" with
                        | null | "" -> Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".nuget", "packages")
                        | folder -> folder
                    let shipped = Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so")
                    File.Copy(shipped, Path.Combine(native, "libLibTorchSharp.so"))
                    let code, output =
                        runScriptFrom app [] "Decomp.Runtime.Native.ensureLoaded ()\nprintfn \"SUM %f\" (TorchSharp.torch.ones(3L).sum().item<float32>())"
                    Expect.equal code 0 $"the script runs:\n{output}"
                    Expect.stringContains output "SUM 3.000000" "TorchSharp computes"
                finally
                    Directory.Delete(app, true)
        }

        test "in a script, any first TorchSharp call works once Native.ensureLoaded has run" {
            // Scripts read no deps.json; TorchSharp's static initialiser must still find the shim under runtimes/.
            for first in [ "TorchSharp.torch.tensor 0.1 |> ignore"; "TorchSharp.torch.manual_seed 1L |> ignore"; "Decomp.Core.Device.current () |> ignore" ] do
                let code, output = runScript [] ("Decomp.Runtime.Native.ensureLoaded ()\n" + first + "\nprintfn \"SUM %f\" (TorchSharp.torch.ones(2L).sum().item<float32>())")
                Expect.equal code 0 $"'{first}' as the first call works:\n{output}"
                Expect.stringContains output "SUM 2.000000" "and TorchSharp computes"
        }

        test "DECOMP_LIBTORCH naming a missing folder is a clear error" {
            let code, output = runScript [ Native.LibtorchVariable, "/nonexistent/torch/lib" ] "Decomp.Runtime.Native.ensureLoaded ()"
            Expect.notEqual code 0 "fails"
            Expect.stringContains output "DECOMP_LIBTORCH is set to '/nonexistent/torch/lib', which is not a folder" "says what is wrong"
        }

        test "DECOMP_DEVICE chooses the device; an unknown value is a clear error" {
            let code, output = runScript [ Device.Variable, "cpu" ] "printfn \"DEVICE %O\" (Decomp.Core.Device.current ())"
            Expect.equal code 0 output
            Expect.stringContains output "DEVICE cpu" "DECOMP_DEVICE=cpu gives the CPU"
            let code, output = runScript [ Device.Variable, "tpu" ] "Decomp.Core.Device.current () |> ignore"
            Expect.notEqual code 0 "fails"
            Expect.stringContains output "DECOMP_DEVICE='tpu'" "names the variable and its value"
        }

        test "asking for CUDA where there is none is an InvalidOperationException that says why" {
            if not (Device.cudaAvailable ()) then
                Expect.throwsT<InvalidOperationException> (fun () -> Device.parse "cuda" |> ignore) "throws"
            else
                skiptest "CUDA is available here"
        }

        test "auto is the automatic choice, as every app's --device reads it" {
            Expect.equal (Device.parse "auto") (Device.current ()) "auto = current ()"
            Expect.equal (Device.parse " AUTO ") (Device.current ()) "case and spaces do not matter"
        }

        test "device text that names no device is an ArgumentException naming the request" {
            try
                Device.parse "gpu0" |> ignore
                failtest "expected an ArgumentException"
            with :? ArgumentException as e ->
                Expect.equal e.ParamName "request" "names the argument"
        }
    ]
