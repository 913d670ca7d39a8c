namespace Decomp.Notebooks

open System
open System.IO
open System.Reflection
open System.Runtime.InteropServices

/// Points the plotting libraries at their native code when they run inside a script host.
///
/// An application finds SkiaSharp's and HarfBuzzSharp's natives under runtimes/&lt;rid&gt;/native through its
/// deps.json. `dotnet fsi` and a notebook kernel load the managed assemblies from a folder and read no deps.json, so
/// without help the first plot fails with DllNotFoundException. (TorchSharp's natives are Decomp.Core.Native's job.)
module NativeAssets =

    let private sharedLibraryFile (name: string) =
        if RuntimeInformation.IsOSPlatform OSPlatform.Windows then name + ".dll"
        elif RuntimeInformation.IsOSPlatform OSPlatform.OSX then name + ".dylib"
        else name + ".so"

    /// The runtime identifiers whose native folders can serve this process, most specific first.
    let private runtimeIdentifiers () =
        let os =
            if RuntimeInformation.IsOSPlatform OSPlatform.Windows then "win"
            elif RuntimeInformation.IsOSPlatform OSPlatform.OSX then "osx"
            else "linux"
        let arch = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant()
        [ RuntimeInformation.RuntimeIdentifier; $"{os}-{arch}" ] |> List.distinct

    /// Where a native library named `name` (as the assembly's DllImport spells it) sits for `assembly`, if anywhere.
    let nativePath (assembly: Assembly) (name: string) : string option =
        let folder = Path.GetDirectoryName assembly.Location
        let file = if Path.HasExtension name then name else sharedLibraryFile name
        [ yield Path.Combine(folder, file)
          for rid in runtimeIdentifiers () -> Path.Combine(folder, "runtimes", rid, "native", file) ]
        |> List.tryFind File.Exists

    let private resolveBeside (assembly: Assembly) =
        let resolve (name: string) (_: Assembly) (_: Nullable<DllImportSearchPath>) =
            match nativePath assembly name with
            | Some path -> NativeLibrary.Load path
            | None -> IntPtr.Zero // let the runtime's own probing have its turn
        try
            NativeLibrary.SetDllImportResolver(assembly, DllImportResolver resolve)
        with :? InvalidOperationException ->
            // The host already resolves this assembly's natives; it knows better than we do.
            ()

    let private setup =
        lazy
            (resolveBeside typeof<SkiaSharp.SKImage>.Assembly
             resolveBeside typeof<HarfBuzzSharp.Blob>.Assembly)

    /// Installs the resolvers once per process; call before the first plot (the display helpers do).
    let ensureLoaded () : unit = setup.Force()
