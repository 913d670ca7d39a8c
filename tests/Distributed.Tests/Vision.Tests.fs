/// The vision driver under a real mpirun: rank 0 writes the run, a resume with another number of processes is refused,
/// and a 2-rank run interrupted by SIGTERM resumes to the same numbers as an uninterrupted one.
module Decomp.Distributed.Tests.Vision

open System
open System.Diagnostics
open System.IO
open Expecto
open Decomp.Distributed.Tests.Processes

/// The driver built by `dotnet build src/Train.Vision -c Release` (build.sh builds it before these tests).
let driver () =
    let root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", ".."))
    let path = Path.Combine(root, "src", "Train.Vision", "bin", "Release", "net10.0", "Decomp.Train.Vision.dll")
    if not (File.Exists path) then failtestf "%s is missing: build src/Train.Vision -c Release first" path
    path

/// A small Fashion-MNIST-format data set of random images (gzipped IDX files).
let writeData (folder: string) =
    let random = Random 0
    let write (stem: string) (count: int) =
        let idx (magic: int) (dims: int list) (payload: byte[]) =
            use memory = new MemoryStream()
            let big (v: int) = memory.Write(BitConverter.GetBytes(Net.IPAddress.HostToNetworkOrder v), 0, 4)
            big magic
            for d in dims do big d
            memory.Write(payload, 0, payload.Length)
            memory.ToArray()
        let gzip (path: string) (bytes: byte[]) =
            use file = File.Create path
            use zip = new IO.Compression.GZipStream(file, IO.Compression.CompressionLevel.Fastest)
            zip.Write(bytes, 0, bytes.Length)
        let pixels = Array.zeroCreate<byte> (count * 28 * 28)
        random.NextBytes pixels
        gzip (Path.Combine(folder, $"{stem}-images-idx3-ubyte.gz")) (idx 0x803 [ count; 28; 28 ] pixels)
        gzip (Path.Combine(folder, $"{stem}-labels-idx1-ubyte.gz")) (idx 0x801 [ count ] (Array.init count (fun i -> byte (i % 10))))
    write "train" 512
    write "t10k" 128

let private options (data: string) (output: string) =
    [ "--dataset"; "fashion-mnist"; "--data-dir"; data; "--framework"; "moco"; "--objective"; "decomposed"; "--global-batch"; "32"
      "--queue-size"; "128"; "--bn-splits"; "2"; "--max-steps"; "30"; "--knn-every"; "0"; "--probe-epochs"; "0"; "--log-every"; "2"
      "--checkpoint-every"; "0"; "--threads"; "1"; "--output"; output ]

/// Runs the driver, under `mpirun -np ranks` when ranks > 0, and returns the process (started) and its output.
let private launch (ranks: int) (arguments: string list) =
    let info =
        if ranks > 0 then ProcessStartInfo(mpirun (), RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
        else ProcessStartInfo("dotnet", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
    if ranks > 0 then for a in [ "-np"; string ranks; "dotnet" ] do info.ArgumentList.Add a
    info.ArgumentList.Add(driver ())
    for a in arguments do info.ArgumentList.Add a
    let p = new Process(StartInfo = info)
    let output = Collections.Concurrent.ConcurrentQueue<string>()
    p.OutputDataReceived.Add(fun e -> if not (isNull e.Data) then output.Enqueue e.Data)
    p.ErrorDataReceived.Add(fun e -> if not (isNull e.Data) then output.Enqueue e.Data)
    p.Start() |> ignore
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    { Process = p; Output = output; Folder = "" }

let private complete (ranks: int) (arguments: string list) =
    let job = launch ranks arguments
    let code = finish job 240.0
    code, String.Join("\n", job.Output)

/// metrics.csv without its timing columns (elapsed_seconds, images_per_second).
let private numbers (folder: string) =
    File.ReadAllLines(Path.Combine(folder, "metrics.csv"))
    |> Array.map (fun line -> let f = line.Split ',' in String.Join(",", Array.append f[0..1] f[3 .. f.Length - 2]))

/// The process ids of the ranks of a job: the dotnet processes whose command line names this run's output folder.
let private ranksOf (output: string) =
    Directory.GetDirectories "/proc"
    |> Array.choose (fun d ->
        match Int32.TryParse(Path.GetFileName d) with
        | true, pid ->
            try
                let command = File.ReadAllText(Path.Combine(d, "cmdline")).Split('\000')
                if command.Length > 1 && Path.GetFileName(command[0]) = "dotnet" && Array.contains output command then Some pid else None
            with _ -> None
        | _ -> None)

let tests =
    testList "vision driver" [
        testCase "under mpirun -np 2: rank 0 writes the run; resume refuses 1 process; SIGTERM then resume gives the uninterrupted numbers" (fun () ->
            let work = Directory.CreateTempSubdirectory("decomp-vision-mpi-").FullName
            let data = Path.Combine(work, "data")
            Directory.CreateDirectory data |> ignore
            writeData data
            let whole, interrupted = Path.Combine(work, "whole"), Path.Combine(work, "interrupted")
            let code, text = complete 2 (options data whole)
            Expect.equal code 0 $"the uninterrupted 2-rank run succeeds:\n{text}"
            for file in [ "metrics.csv"; "checkpoint.safetensors"; "curves.png"; "summary.json" ] do
                Expect.isTrue (File.Exists(Path.Combine(whole, file))) $"rank 0 wrote {file}"
            Expect.equal (text.Split('\n') |> Array.filter (fun l -> l.StartsWith "Decomp vision driver") |> Array.length) 1 "one banner: only rank 0 prints"

            let job = launch 2 (options data interrupted)
            waitFor "the interrupted run to log step 6" 120.0 (fun () -> File.Exists(Path.Combine(interrupted, "metrics.csv")) && File.ReadAllLines(Path.Combine(interrupted, "metrics.csv")).Length > 3)
            let ranks = ranksOf interrupted
            Expect.equal ranks.Length 2 "found both ranks"
            for pid in ranks do Process.Start("kill", [| "-TERM"; string pid |]).WaitForExit()
            let code = finish job 120.0
            let text = String.Join("\n", job.Output)
            Expect.stringContains text "Interrupted at step" $"rank 0 says where it stopped:\n{text}"
            Expect.notEqual code 0 "the job reports the interruption"

            let code, text = complete 0 [ "--resume"; "--output"; interrupted ]
            Expect.equal code 2 "resuming a 2-rank run in one process is bad usage (exit 2)"
            Expect.stringContains text "was trained by 2 process(es) (mpirun -np 2), and this job has 1" "the message says why"

            let code, text = complete 2 [ "--resume"; "--output"; interrupted; "--threads"; "1" ]
            Expect.equal code 0 $"the 2-rank resume succeeds:\n{text}"
            Expect.equal (numbers interrupted) (numbers whole) "the resumed run's metrics are the uninterrupted run's")
    ]
