/// Decomp's benchmarks: each prints what it measured and, where there is one, the ratio to a reference measured in the
/// same process. Speed goals live here, never in unit tests.
///
///   dotnet run --project src/Bench -c Release -- memory [--iterations N] [--loop b1|conditional-scores|in-batch] [--without-collector]
///                                                                          native memory over a long training loop
///   dotnet run --project src/Bench -c Release -- conditional-cost          what the B.1 conditional term costs
///   dotnet run --project src/Bench -c Release -- b1-loss [--candidates K]  the B.1 loss at batch 256, K = 65,536, d = 128
///                                                                          (scripts/gpu-figure2.sh compares it with PyTorch)
/// with the apps' shared --device and --threads (README, "The apps' command lines").
module Decomp.Bench.Program

open System
open System.Diagnostics
open System.IO
open Argu
open TorchSharp
open Decomp.Apps
open Decomp.Core
open Decomp.Runtime

/// The process's resident set size in MiB (Linux: /proc/self/status VmRSS), or the working set elsewhere.
let private residentMiB () =
    let status = "/proc/self/status"
    if File.Exists status then
        File.ReadLines status
        |> Seq.find (fun l -> l.StartsWith "VmRSS:")
        |> fun l -> float (l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0
    else
        float (Process.GetCurrentProcess().WorkingSet64) / 1048576.0

/// Samples the resident memory over `iterations` calls of `step` (each in its own dispose scope, then a
/// `StepCollector`, as Decomp's training loops run a step; `collect = false` leaves the collector out, for contrast) and
/// prints it: the resident set after the first 10% must not grow (a leak of one small tensor per step would show as
/// megabytes). The samples force no garbage collection, so what finalizers hold counts, as it does in a user's loop.
let private watchMemory (iterations: int) (collect: bool) (step: unit -> unit) =
    let checkpoint = max 1 (iterations / 10)
    let samples = ResizeArray()
    let clock = Stopwatch.StartNew()
    let collector = StepCollector()
    printfn "  %s" (if collect then $"a StepCollector after each step (at most one collection per {collector.Interval.TotalMilliseconds:F0} ms)" else "no StepCollector (--without-collector)")
    // The samples are the results (standard output, above the bar on a terminal); progress adds the ETA.
    let progress = ConsoleProgress.Start(Console.Out, "memory", int64 iterations, ProgressSettings(Unit = "iteration", IntervalSeconds = 10.0))
    for i in 1..iterations do
        do
            use scope = torch.NewDisposeScope()
            step ()
        if collect then collector.AfterStep() |> ignore
        if i % checkpoint = 0 then
            let rss = residentMiB ()
            samples.Add(i, rss)
            progress.Log(sprintf "  %7d iterations  RSS %8.1f MiB  %6.1f it/s" i rss (float i / clock.Elapsed.TotalSeconds))
        if i % 100 = 0 || i = iterations then progress.Report(int64 i, sprintf "%.1f it/s" (float i / clock.Elapsed.TotalSeconds))
    progress.Dispose()
    let _, baseline = samples[0]
    let _, final = samples[samples.Count - 1]
    let peak = samples |> Seq.map snd |> Seq.max
    printfn "RSS after %d iterations %.1f MiB, after %d %.1f MiB (peak %.1f): growth %.1f MiB over the last %d iterations, in %.1f s"
        (fst samples[0]) baseline iterations final peak (final - baseline) (iterations - fst samples[0]) clock.Elapsed.TotalSeconds

/// 10^5 (or `iterations`) training steps of the Appendix B.1 loss.
let private memoryOfB1Loss (device: torch.Device) (iterations: int) (collect: bool) =
    use generator = new torch.Generator(1UL)
    let encoder = Critics.mlp 32 [ 64 ] 32
    use optimizer = torch.optim.SGD(encoder.parameters (), 0.01)
    use bank = new KeyQueue(256, 32, device, torch.float32, 1L)
    printfn "B.1 loss, %d iterations (batch 32, 32 features, memory 256) on %s" iterations (Device.describe device)
    watchMemory iterations collect (fun () ->
        let x = torch.randn([| 32L; 32L |], generator = generator)
        let full = encoder.forward (x + torch.randn([| 32L; 32L |], generator = generator))
        let restricted = encoder.forward (x * torch.rand([| 32L; 32L |], generator = generator))
        let keys = using (torch.no_grad ()) (fun _ -> encoder.forward (x + torch.randn([| 32L; 32L |], generator = generator)))
        use loss = MemoryBank.decomposedLoss DecomposedLossSettings.Paper full restricted keys (Some bank.Keys)
        optimizer.zero_grad ()
        loss.Loss.backward ()
        optimizer.step () |> ignore
        bank.Enqueue keys)

/// 10^5 (or `iterations`) Adam steps of InfoNCE_S's batched conditional term (`Batched.scoresOfEncoded` and
/// `Bounds.conditionalInfoNce`): its hand-written backward pass is a custom autograd node per step, which must be
/// freed with the step's graph.
let private memoryOfConditionalScores (device: torch.Device) (iterations: int) (collect: bool) =
    use generator = new torch.Generator(1UL)
    let runs, examples, negatives, dimensions, width = 3L, 8L, 15L, 4L, 16L
    use f = Batched.mlp (int runs) (int dimensions) [ int width ] (int width)
    use g = Batched.mlp (int runs) (int dimensions) [ int width ] (int width)
    Batched.initialise (Array.init (int runs) (fun r -> new torch.Generator(uint64 (10 + r)))) f
    Batched.initialise (Array.init (int runs) (fun r -> new torch.Generator(uint64 (20 + r)))) g
    f.``to`` device |> ignore
    g.``to`` device |> ignore
    use optimizer = torch.optim.Adam(Seq.append (f.parameters ()) (g.parameters ()), 1e-3)
    printfn "InfoNCE_S's batched conditional term, %d iterations (%d runs, %d examples x %d negatives, width %d) on %s" iterations runs examples negatives width (Device.describe device)
    watchMemory iterations collect (fun () ->
        let x = torch.randn([| runs; examples; dimensions |], generator = generator).``to`` device
        let y = (x + torch.randn([| runs; examples; dimensions |], generator = generator).``to`` device)
        let others = torch.randn([| runs; examples; negatives; dimensions |], generator = generator).``to`` device
        let scores = Batched.scoresOfEncoded g (f.forward x) (g.forward y) others
        let loss = (Batched.perRun Bounds.conditionalInfoNce scores).mean().neg()
        optimizer.zero_grad ()
        loss.backward ()
        optimizer.step () |> ignore)

/// Adam steps of 20 runs' in-batch InfoNCE at K = 512 with the paper's encoders (d = 20, width 100), the shape of
/// Figure 2's largest InfoNCE batch, on random data: the loop whose native heap fragmented without a `StepCollector`.
let private memoryOfInBatchInfoNce (device: torch.Device) (iterations: int) (collect: bool) =
    use generator = new torch.Generator(3UL)
    let runs, candidates, dimensions, width = 20, 512L, 20, 100
    use f = Batched.mlp runs (2 * dimensions) [ width ] width
    use g = Batched.mlp runs dimensions [ width ] width
    Batched.initialise (Array.init runs (fun r -> new torch.Generator(uint64 (100 + r)))) f
    Batched.initialise (Array.init runs (fun r -> new torch.Generator(uint64 (200 + r)))) g
    f.``to`` device |> ignore
    g.``to`` device |> ignore
    use optimizer = torch.optim.Adam(Seq.append (f.parameters ()) (g.parameters ()), 5e-4)
    printfn "Batched in-batch InfoNCE, %d iterations (%d runs, K %d, d %d, width %d) on %s" iterations runs candidates dimensions width (Device.describe device)
    watchMemory iterations collect (fun () ->
        let x = torch.randn([| int64 runs; candidates; int64 (2 * dimensions) |], generator = generator).``to`` device
        let y = (x.narrow(2L, 0L, int64 dimensions) + torch.randn([| int64 runs; candidates; int64 dimensions |], generator = generator).``to`` device)
        let scores = Batched.inBatchScores (f.forward x) (g.forward y)
        let loss = (Batched.perRun Bounds.infoNce scores).mean().neg()
        optimizer.zero_grad ()
        loss.backward ()
        optimizer.step () |> ignore)

/// Native memory over a long training loop (`loop`: "b1", "conditional-scores" or "in-batch"), with a `StepCollector`
/// after each step unless `collect` is false.
let memory (device: torch.Device) (loop: string) (iterations: int) (collect: bool) =
    match loop with
    | "b1" -> memoryOfB1Loss device iterations collect
    | "conditional-scores" -> memoryOfConditionalScores device iterations collect
    | "in-batch" -> memoryOfInBatchInfoNce device iterations collect
    | other -> raise (BadInputException $"--loop must be b1, conditional-scores or in-batch, not '{other}'.")

/// The B.1 loss with its conditional I_IS term against the same loss without it (lambda and everything else equal):
/// the paper says the conditional term adds no cost, because it reuses the logits of the two InfoNCE terms.
let conditionalCost (device: torch.Device) =
    use generator = new torch.Generator(2UL)
    let batch, features, memory = 256L, 128L, 16384L
    use full = torch.randn([| batch; features |], generator = generator).requires_grad_(true)
    use restricted = torch.randn([| batch; features |], generator = generator).requires_grad_(true)
    use keys = torch.randn([| batch; features |], generator = generator)
    use bank = torch.randn([| memory; features |], generator = generator)
    let time (settings: DecomposedLossSettings) =
        let once () =
            use scope = torch.NewDisposeScope()
            use loss = MemoryBank.decomposedLoss settings full restricted keys (Some bank)
            loss.Loss.backward ()
        for _ in 1..5 do once ()
        let repeats = 30
        let clock = Stopwatch.StartNew()
        for _ in 1..repeats do once ()
        clock.Elapsed.TotalMilliseconds / float repeats
    printfn "B.1 loss forward + backward, batch %d, %d features, memory %d, on %s" batch features memory (Device.describe device)
    // Interleave the two, three rounds each, so that drift in the machine's load affects both alike.
    let rounds = [ for _ in 1..3 -> time DecomposedLossSettings.Paper, time { DecomposedLossSettings.Paper with Conditional = false } ]
    let withTerm = rounds |> List.map fst |> List.min
    let without = rounds |> List.map snd |> List.min
    printfn "  with the conditional term     %8.2f ms (best of 3 rounds of 30)" withTerm
    printfn "  without it                    %8.2f ms" without
    printfn "  ratio with / without          %8.3f" (withTerm / without)

/// The Appendix B.1 loss (DecomposedLossSettings.Paper) forward + backward at batch 256, d = 128 and K candidates (the
/// positive and a memory bank of K - 1 keys), the shapes of src/Bench/reference/b1_loss_pytorch.py: milliseconds per
/// call, best of 3 rounds of 30, on `Device.current ()` (DECOMP_DEVICE, DECOMP_LIBTORCH choose it).
let b1Loss (device: torch.Device) (candidates: int) =
    use generator = new torch.Generator(2UL)
    let batch, features = 256L, 128L
    let make (rows: int64) = torch.randn([| rows; features |], generator = generator).``to`` device
    use full = (make batch).requires_grad_(true)
    use restricted = (make batch).requires_grad_(true)
    use keys = make batch
    use bank = make (int64 candidates - 1L)
    let once () =
        use scope = torch.NewDisposeScope()
        use loss = MemoryBank.decomposedLoss DecomposedLossSettings.Paper full restricted keys (Some bank)
        loss.Loss.backward ()
        // Reading the value back waits for the device, as PyTorch's reference synchronises.
        loss.Loss.item<float32> () |> ignore
    for _ in 1..5 do once ()
    let round () =
        let clock = Stopwatch.StartNew()
        for _ in 1..30 do once ()
        clock.Elapsed.TotalMilliseconds / 30.0
    let best = [ for _ in 1..3 -> round () ] |> List.min
    printfn "B.1 loss forward + backward, batch %d, K %d, %d features, on %s" batch candidates features (Device.describe device)
    printfn "B1_MS decomp %.3f" best

/// `memory`'s options.
type MemoryArguments =
    | Iterations of count: int
    | Loop of name: string
    | Without_Collector
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Iterations _ -> "training steps (default 100000); RSS is sampled every tenth of them."
            | Loop _ -> "the loop: b1 (the Appendix B.1 loss; the default), conditional-scores (InfoNCE_S's batched conditional term, whose backward pass is Decomp's own) or in-batch (20 runs' InfoNCE at K = 512, Figure 2's largest InfoNCE batch)."
            | Without_Collector -> "leave out the StepCollector that Decomp's training loops run after each step, to see what it saves."

/// `b1-loss`'s options.
type B1LossArguments =
    | Candidates of k: int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Candidates _ -> "K, the positive plus a memory bank of K - 1 keys (default 65536)."

/// `conditional-cost` takes no options of its own.
type NoArguments =
    | [<Hidden>] Unused
    interface IArgParserTemplate with
        member _.Usage = ""

/// The command line of `decomp-bench`: one sub-command per benchmark, and the apps' shared --device and --threads.
type BenchArguments =
    | [<CliPrefix(CliPrefix.None)>] Memory of ParseResults<MemoryArguments>
    | [<CliPrefix(CliPrefix.None)>] Conditional_Cost of ParseResults<NoArguments>
    | [<CliPrefix(CliPrefix.None)>] B1_Loss of ParseResults<B1LossArguments>
    | Device of name: string
    | Threads of count: int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Memory _ -> "native memory over a long training loop (the B.1 loss, or InfoNCE_S's batched conditional term): the resident set must stay flat."
            | Conditional_Cost _ -> "the B.1 loss with and without its conditional I_IS term, interleaved: the ratio."
            | B1_Loss _ -> "the B.1 loss forward + backward at batch 256, d = 128 (src/Bench/reference/b1_loss_pytorch.py is PyTorch's twin)."
            | Device _ -> "auto, cpu, cuda or cuda:N. auto (the default): DECOMP_DEVICE if set, else CUDA when available, else the CPU."
            | Threads _ -> "CPU threads for libtorch's operators; 0 = libtorch's choice (one per core; the default)."

/// Reports `message` as one line on stderr and returns `code`.
let private fail (code: int) (message: string) =
    eprintfn "decomp-bench: %s" (message.ReplaceLineEndings(" ").Trim())
    code

/// Runs the benchmark the command line names; a bad option is one line and exit code 2, as in every Decomp app.
let private run (results: ParseResults<BenchArguments>) =
    let positive (name: string) (value: int) =
        if value < 1 then raise (BadInputException $"--{name} must be at least 1; got {value}.")
        value
    let device =
        let name = results.GetResult(Device, defaultValue = "auto")
        try Device.parse name with
        | :? ArgumentException -> raise (BadInputException $"--device must be {CommonOptions.DeviceChoices}, not '{name}'.")
        // CUDA asked for where there is none: the core's message says what to reference or set.
        | :? InvalidOperationException as e -> raise (BadInputException $"--device {name}: {e.Message}")
    match results.TryGetResult Threads with
    | Some n when n < 0 -> raise (BadInputException $"--threads must be 0 (libtorch's choice) or more; got {n}.")
    | Some n when n > 0 -> torch.set_num_threads n
    | _ -> ()
    match results.GetSubCommand() with
    | Memory options ->
        memory device (options.GetResult(Loop, defaultValue = "b1")) (positive "iterations" (options.GetResult(Iterations, defaultValue = 100_000))) (not (options.Contains Without_Collector))
    | Conditional_Cost _ -> conditionalCost device
    | B1_Loss options ->
        let k = options.GetResult(Candidates, defaultValue = 65536)
        if k < 2 then raise (BadInputException $"--candidates must be at least 2 (the positive and one negative); got {k}.")
        b1Loss device k
    | Device _ | Threads _ -> raise (BadInputException "name a benchmark: memory, conditional-cost or b1-loss (see --help).")

[<EntryPoint>]
let main argv =
    // Before anything loads libtorch: its OpenMP reads the environment once, at load.
    printfn "native tuning: %s" (Native.tuneCpuRuntime ())
    let parser = ArgumentParser.Create<BenchArguments>(programName = "decomp-bench")
    try
        run (parser.ParseCommandLine(argv, raiseOnUsage = true))
        ExitCodes.Success
    with
    | :? ArguParseException as e when e.ErrorCode = ErrorCode.HelpText ->
        // The usage of the command asked about: the root's, or a sub-command's for `memory --help`.
        printfn "%s" e.Message
        ExitCodes.Success
    | :? ArguParseException as e -> fail ExitCodes.BadInput $"""{(e.Message.Split('\n')[0]).Trim().Replace("ERROR: ", "")} (see --help)"""
    | :? BadInputException as e -> fail ExitCodes.BadInput e.Message
