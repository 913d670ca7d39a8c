namespace Decomp.Runtime

open System
open System.IO
open System.Runtime.InteropServices
open System.Xml.Linq
open TorchSharp

/// The C library calls that `Native.tuneCpuRuntime` makes (glibc; absent elsewhere).
module internal LibC =
    [<DllImport("libc", EntryPoint = "mallopt")>]
    extern int mallopt(int parameter, int value)

    [<DllImport("libc", EntryPoint = "setenv")>]
    extern int setenv([<MarshalAs(UnmanagedType.LPUTF8Str)>] string name, [<MarshalAs(UnmanagedType.LPUTF8Str)>] string value, int overwrite)

/// Where TorchSharp's native code comes from.
///
/// An application that references TorchSharp-cpu or TorchSharp-cuda-* loads the libtorch it ships, and needs nothing
/// from here. Two other set-ups need help before TorchSharp first loads its natives, and `ensureLoaded` gives it:
///
/// - `DECOMP_LIBTORCH` names a folder holding an existing libtorch (for example a PyTorch install's
///   `site-packages/torch/lib`): Decomp loads that libtorch instead of the application's, which is how Decomp runs
///   on CUDA machines that have PyTorch but no TorchSharp-cuda package.
/// - Scripts (`dotnet fsi`, notebooks) that reference TorchSharp.dll from a build output folder: there is no
///   deps.json to point the loader at `runtimes/&lt;rid&gt;/native`, so Decomp points it there.
/// - Notebooks that take TorchSharp from NuGet (`#r "nuget: TorchSharp-cpu"`): TorchSharp.dll and its shim sit in
///   the package cache and libtorch in another package; Decomp loads libtorch from that package and then the shim.
/// In the last two cases, where the C++ runtime is older than the shim asks for (Debian 12), the shim that loads is a
/// patched copy in a per-user cache folder (see `NativeShim`); neither the NuGet cache nor the system is written.
///
/// Every Decomp entry point that starts TorchSharp (<c>Device.current</c>, <c>Device.parse</c>) calls `ensureLoaded`
/// first; code that calls TorchSharp before any Decomp function should call it itself.
module Native =

    /// The environment variable naming a folder with libtorch's shared libraries.
    [<Literal>]
    let LibtorchVariable = "DECOMP_LIBTORCH"

    let private sharedLibraryFile (name: string) =
        if RuntimeInformation.IsOSPlatform OSPlatform.Windows then name + ".dll"
        elif RuntimeInformation.IsOSPlatform OSPlatform.OSX then "lib" + name + ".dylib"
        else "lib" + name + ".so"

    // The libtorch components TorchSharp asks for by name, ordered so that each one's dependencies load before it.
    let private libtorchComponents = [ "c10"; "torch_cpu"; "c10_cuda"; "torch_cuda"; "torch" ]

    /// The folders from which this process has mapped a file named `fileName` (Linux only; empty elsewhere).
    let private mappedFrom (fileName: string) =
        let maps = "/proc/self/maps"
        if not (File.Exists maps) then
            Set.empty
        else
            File.ReadLines maps
            |> Seq.choose (fun line ->
                let i = line.IndexOf '/'
                if i >= 0 && Path.GetFileName(line.Substring i) = fileName then
                    Some(Path.GetDirectoryName(line.Substring i))
                else
                    None)
            |> Set.ofSeq

    /// Loads libtorch's components from `folder` by full path, each after its dependencies, so that TorchSharp's shim
    /// later binds to these by soname; returns the handles by component name.
    let private loadLibtorchComponents (folder: string) =
        libtorchComponents
        |> List.choose (fun name ->
            let path = Path.Combine(folder, sharedLibraryFile name)
            if File.Exists path then Some(name, NativeLibrary.Load path) else None)
        |> Map.ofList

    let private loadLibtorchFrom (folder: string) =
        let torchCpu = sharedLibraryFile "torch_cpu"
        if not (Directory.Exists folder) then
            invalidOp
                $"{LibtorchVariable} is set to '{folder}', which is not a folder. Point it at the folder that holds {torchCpu} (for a PyTorch install: <site-packages>/torch/lib), or unset it to use the libtorch this application ships."
        let full = Path.GetFullPath folder
        let elsewhere = mappedFrom torchCpu |> Set.remove full
        if not elsewhere.IsEmpty then
            invalidOp
                $"{LibtorchVariable}='{full}' was set, but TorchSharp had already loaded libtorch from '{Seq.head elsewhere}'. Call Decomp.Core.Native.ensureLoaded() (or Device.current()) before any other TorchSharp call."
        let handles = loadLibtorchComponents full
        if not (handles.ContainsKey "torch_cpu") then
            invalidOp
                $"{LibtorchVariable}='{full}' holds no {torchCpu}. Point it at libtorch's lib folder (for a PyTorch install: <site-packages>/torch/lib)."
        full, handles

    /// TorchSharp's own shim in an application's or build output's folder: beside TorchSharp.dll (a RID-specific
    /// build) or under runtimes/<rid>/native (a portable build, whose deps.json a script host does not read).
    let private shimBesideAssembly () =
        let folder = Path.GetDirectoryName(typeof<torch>.Assembly.Location)
        let file = sharedLibraryFile "LibTorchSharp"
        [ Path.Combine(folder, file)
          Path.Combine(folder, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", file) ]
        |> List.tryFind File.Exists

    /// The version of `dependency` that a .nuspec file asks for ("[2.10.0]" and "2.10.0" both give "2.10.0").
    let private dependencyVersion (nuspec: string) (dependency: string) =
        let attribute (e: XElement) (name: string) =
            match e.Attribute(XName.Get name) with
            | null -> ""
            | a -> a.Value
        if not (File.Exists nuspec) then
            None
        else
            XDocument.Load(nuspec).Descendants()
            |> Seq.filter (fun e -> e.Name.LocalName = "dependency")
            |> Seq.tryFind (fun e -> String.Equals(attribute e "id", dependency, StringComparison.OrdinalIgnoreCase))
            |> Option.map (fun e ->
                let range = (attribute e "version").Trim('[', ']', '(', ')', ' ')
                range.Split(',').[0].Trim().ToLowerInvariant())

    /// TorchSharp loaded straight from the NuGet package cache, as a notebook's `#r "nuget: TorchSharp-cpu"` does
    /// (<packages>/torchsharp/<version>/lib/<tfm>/TorchSharp.dll): the shim from that package's runtimes/<rid>/native,
    /// and the folder of libtorch's natives from the package libtorch-cpu-<rid> at the version TorchSharp-cpu names.
    let private fromPackageCache () =
        let package = DirectoryInfo(Path.GetDirectoryName(typeof<torch>.Assembly.Location)).Parent.Parent
        if isNull package || isNull package.Parent || package.Parent.Name <> "torchsharp" then
            None
        else
            let packages = package.Parent.Parent.FullName
            let rid = RuntimeInformation.RuntimeIdentifier
            let shim = Path.Combine(package.FullName, "runtimes", rid, "native", sharedLibraryFile "LibTorchSharp")
            let libtorch =
                dependencyVersion (Path.Combine(packages, "torchsharp-cpu", package.Name, "torchsharp-cpu.nuspec")) "libtorch-cpu"
                |> Option.map (fun version -> Path.Combine(packages, $"libtorch-cpu-{rid}", version, "runtimes", rid, "native"))
                |> Option.filter (fun folder -> File.Exists(Path.Combine(folder, sharedLibraryFile "torch_cpu")))
            if File.Exists shim then Some(shim, libtorch) else None

    type private Setup = { LibtorchFolder: string option }

    let private setup =
        lazy
            (let libtorch =
                match Environment.GetEnvironmentVariable LibtorchVariable with
                | null
                | "" -> None
                | folder -> Some(loadLibtorchFrom folder)
             let beside = shimBesideAssembly ()
             let packaged = if beside.IsNone then fromPackageCache () else None
             let original = beside |> Option.orElse (packaged |> Option.map fst)
             // Where this process's libstdc++ is older than the shim asks for (Debian 12), a copy that loads
             // (NativeShim.loadable); anywhere else the file itself.
             let shim = original |> Option.map NativeShim.loadable
             // The shim finds libtorch through its $ORIGIN runpath. From the package cache libtorch sits in another
             // package, and a patched copy sits in the per-user cache: either way it is out of reach, so libtorch is
             // loaded first by full path (unless DECOMP_LIBTORCH already gave one).
             let libtorchBeside =
                 match original, shim with
                 | Some o, Some s when s <> o -> Some(Path.GetDirectoryName o)
                 | _ -> None
             let handles =
                 match libtorch, packaged, libtorchBeside with
                 | Some(_, handles), _, _ -> handles
                 | None, Some(_, Some folder), _ -> loadLibtorchComponents folder
                 | None, _, Some folder -> loadLibtorchComponents folder
                 | None, _, None -> Map.empty
             // Answering "torch_cpu"/"torch_cuda" with the libraries loaded above keeps a second libtorch (from the
             // application's folder) out of the process; LibTorchSharp's own dependencies then bind by soname to ours.
             let resolve (name: string) _ _ =
                 match handles.TryFind name, shim with
                 | Some handle, _ -> handle
                 | None, Some path when name = "LibTorchSharp" -> NativeLibrary.Load path
                 | _ -> IntPtr.Zero
             try
                 NativeLibrary.SetDllImportResolver(typeof<torch>.Assembly, DllImportResolver resolve)
             with :? InvalidOperationException when libtorch.IsNone ->
                 // Someone else already resolves TorchSharp's natives; without DECOMP_LIBTORCH we have nothing to add.
                 ()
             // TorchSharp's static initialiser loads its shim with NativeLibrary.TryLoad, which consults neither the
             // resolver above nor runtimes/<rid>/native when no deps.json is read (scripts). Loading the shim by its full
             // path first makes that later load by name find it already in the process (and its libtorch with it).
             shim |> Option.iter (NativeLibrary.Load >> ignore)
             { LibtorchFolder = libtorch |> Option.map fst })

    /// Prepares TorchSharp's native loading once per process (see the module's summary). Safe to call any number of
    /// times; raises <see cref="T:System.InvalidOperationException"/> when `DECOMP_LIBTORCH` names no usable libtorch.
    let ensureLoaded () : unit = setup.Force() |> ignore

    /// The libtorch folder taken from `DECOMP_LIBTORCH`, if it is set.
    let libtorchFolder () : string option = setup.Force().LibtorchFolder

    let private mmapThreshold = -3
    let private trimThreshold = -1
    let private oneGigabyte = 1 <<< 30

    /// glibc's malloc serves blocks above its mmap threshold (at most 32 MB) with fresh mmaps and unmaps them when freed,
    /// so every large activation faults in zeroed pages at every step. Raising the mmap and trim thresholds keeps such
    /// blocks in the heap. False where the C library has no such setting.
    let private keepLargeBlocksInTheHeap () =
        RuntimeInformation.IsOSPlatform OSPlatform.Linux
        && (try LibC.mallopt (mmapThreshold, oneGigabyte) = 1 && LibC.mallopt (trimThreshold, oneGigabyte) = 1
            with
            | :? EntryPointNotFoundException
            | :? DllNotFoundException -> false)

    /// OpenMP threads spin while they wait for each other; where the cores are shared (a laptop, CI), a spinning thread
    /// holds the core its partner needs. OMP_WAIT_POLICY=PASSIVE makes them sleep. Set in the native environment, where
    /// libtorch's OpenMP reads it once when it loads (.NET's Environment.SetEnvironmentVariable does not reach native
    /// code on Unix); a value the user already set is left alone.
    let private preferPassiveThreadWaiting () =
        not (RuntimeInformation.IsOSPlatform OSPlatform.Windows)
        && isNull (Environment.GetEnvironmentVariable "OMP_WAIT_POLICY")
        && (try LibC.setenv ("OMP_WAIT_POLICY", "PASSIVE", 0) = 0
            with
            | :? EntryPointNotFoundException
            | :? DllNotFoundException -> false)

    let mutable private tuning = "none"

    /// Process settings that make libtorch's CPU path fast on Linux, measured on a 2-core machine shared with other
    /// work (a MoCo step of the vision driver's small CNN, batch 256): glibc's mmap threshold raised (CPU time per step
    /// 0.99 s -> 0.49 s) and OpenMP waiting passively (45 -> about 500 images/s with two threads). Both change the
    /// whole process, so applications opt in: call this first thing in `main`, before anything loads libtorch. Returns
    /// what was applied (also in `cpuTuning`), e.g. "malloc mmap threshold 1 GB, OMP_WAIT_POLICY=PASSIVE".
    let tuneCpuRuntime () : string =
        let applied =
            [ if keepLargeBlocksInTheHeap () then "malloc mmap threshold 1 GB"
              if preferPassiveThreadWaiting () then "OMP_WAIT_POLICY=PASSIVE" ]
        tuning <- if applied.IsEmpty then "none" else String.Join(", ", applied)
        tuning

    /// What `tuneCpuRuntime` applied in this process ("none" before it ran or where nothing applies).
    let cpuTuning () : string = tuning
