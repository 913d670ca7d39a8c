namespace Decomp.Runtime

open System
open System.IO
open System.Security.Cryptography
open System.Text

/// TorchSharp 0.107.0's `libLibTorchSharp.so` was linked with GCC 13 and asks the loader for `GLIBCXX_3.4.32`, which
/// Debian 12's libstdc++ (GCC 12) does not define. The one symbol tied to that version, GCC 13's iostream start-up
/// marker `std::ios_base_library_init()`, is never called or bound, so marking that version requirement weak
/// (VER_FLG_WEAK in its Elf64_Vernaux entry) lets the library load (see shared/platform/torchsharp-debian12.md).
///
/// The build does this to the copy in each output folder (build/WeakenUnmetGlibcxxVersion.cs). This module does the
/// same at run time for hosts that load TorchSharp straight from the NuGet package cache, such as a notebook's
/// `#r "nuget: TorchSharp-cpu"`: it writes a weakened copy into a per-user cache folder and never touches the NuGet
/// cache or the system. The two must flip the same bit; a test checks that they produce identical files.
module internal NativeShim =

    /// The one version requirement that is verified safe to weaken.
    [<Literal>]
    let WeakVersion = "GLIBCXX_3.4.32"

    let private shtGnuVerneed = 0x6ffffffeu
    let private verFlgWeak = 0x2us

    /// The libstdc++ this process has mapped (Linux only): the one the shim will be checked against.
    let mappedLibstdcxx () : string option =
        let maps = "/proc/self/maps"
        if not (File.Exists maps) then
            None
        else
            File.ReadLines maps
            |> Seq.map (fun line -> line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            |> Seq.filter (fun cols -> cols.Length >= 6 && Path.GetFileName(cols[5]).StartsWith("libstdc++.so", StringComparison.Ordinal))
            |> Seq.map (fun cols -> cols[5])
            |> Seq.tryFind File.Exists

    /// True when `library` holds the NUL-terminated name `version` (a libstdc++ defines each version it provides).
    let defines (library: byte[]) (version: string) : bool =
        library.AsSpan().IndexOf(ReadOnlySpan(Encoding.ASCII.GetBytes(version + "\000"))) >= 0

    let private cString (bytes: byte[]) (at: int) =
        let finish = Array.IndexOf(bytes, 0uy, at)
        Encoding.ASCII.GetString(bytes, at, finish - at)

    /// The libstdc++ version requirements of a 64-bit little-endian ELF file: each name with the offset of its
    /// `vna_flags` field, read by walking .gnu.version_r (Elf64_Verneed, then its Elf64_Vernaux entries).
    let libstdcxxRequirements (elf: byte[]) : (string * int) list =
        if elf.Length < 64 || elf[0] <> 0x7fuy || elf[1] <> byte 'E' || elf[2] <> byte 'L' || elf[3] <> byte 'F'
           || elf[4] <> 2uy || elf[5] <> 1uy then
            raise (InvalidDataException "not a 64-bit little-endian ELF file")
        let u16 (at: int64) = int (BitConverter.ToUInt16(elf, int at))
        let u32 (at: int64) = int64 (BitConverter.ToUInt32(elf, int at))
        let i64 (at: int64) = BitConverter.ToInt64(elf, int at)
        let shoff, shentsize, shnum = i64 0x28L, u16 0x3AL, u16 0x3CL
        [ for s in 0 .. shnum - 1 do
              let sh = shoff + int64 s * int64 shentsize
              if uint32 (u32 (sh + 4L)) = shtGnuVerneed then
                  let strtab = i64 (shoff + u32 (sh + 0x28L) * int64 shentsize + 0x18L)
                  let mutable need = i64 (sh + 0x18L)
                  for _ in 1L .. u32 (sh + 0x2CL) do
                      let file = cString elf (int (strtab + u32 (need + 4L)))
                      let mutable aux = need + u32 (need + 8L)
                      for _ in 1 .. u16 (need + 2L) do
                          if file.StartsWith("libstdc++.so", StringComparison.Ordinal) then
                              yield cString elf (int (strtab + u32 (aux + 8L))), int aux + 4
                          aux <- aux + u32 (aux + 12L)
                      need <- need + u32 (need + 12L) ]

    /// `elf` with the requirement `WeakVersion` marked weak when `runtime` (a libstdc++'s bytes) lacks it; None when
    /// nothing needs changing.
    let weakened (runtime: byte[]) (elf: byte[]) : byte[] option =
        libstdcxxRequirements elf
        |> List.tryFind (fun (name, _) -> name = WeakVersion && not (defines runtime name))
        |> Option.bind (fun (_, flags) ->
            let current = BitConverter.ToUInt16(elf, flags)
            if current &&& verFlgWeak <> 0us then
                None
            else
                let copy = Array.copy elf
                BitConverter.GetBytes(current ||| verFlgWeak).CopyTo(copy, flags)
                Some copy)

    /// The per-user folder that holds Decomp's copies of native files: $XDG_CACHE_HOME/decomp, else ~/.cache/decomp.
    let cacheFolder () : string =
        let root =
            match Environment.GetEnvironmentVariable "XDG_CACHE_HOME" with
            | null
            | "" -> Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".cache")
            | folder -> folder
        Path.Combine(root, "decomp", "native")

    /// A copy of the shim at `path` that loads against this process's libstdc++, in the per-user cache (written once,
    /// atomically, in a folder named after the original's SHA-256); `path` itself when it needs no change.
    let loadable (path: string) : string =
        match mappedLibstdcxx () with
        | None -> path
        | Some libstdcxx ->
            let original = File.ReadAllBytes path
            match weakened (File.ReadAllBytes libstdcxx) original with
            | None -> path
            | Some patched ->
                let hash = Convert.ToHexString(SHA256.HashData original).Substring(0, 16).ToLowerInvariant()
                let folder = Path.Combine(cacheFolder (), hash)
                let target = Path.Combine(folder, Path.GetFileName path)
                if not (File.Exists target && File.ReadAllBytes target = patched) then
                    Directory.CreateDirectory folder |> ignore
                    let temp = Path.Combine(folder, $".{Path.GetFileName path}.{Guid.NewGuid():N}.tmp")
                    try
                        File.WriteAllBytes(temp, patched)
                        File.Move(temp, target, true) // rename(2): another process sees the old file or the new one
                    finally
                        if File.Exists temp then File.Delete temp
                target
