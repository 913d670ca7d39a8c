namespace Decomp.Experiments

open System
open System.Globalization
open System.IO
open Argu
open TorchSharp

/// The command line of `decomp-figure2`.
type Arguments =
    | [<AltCommandLine("-m")>] Mi of values: string
    | [<AltCommandLine("-k")>] K of values: string
    | [<AltCommandLine("-e")>] Estimators of names: string
    | [<AltCommandLine("-s")>] Seeds of count: int
    | [<AltCommandLine("--seed")>] First_Seed of seed: int
    | Steps of count: int
    | Dimensions of d: int
    | Width of units: int
    | Learning_Rate of rate: float
    | Conditional_Examples of count: int
    | Evaluation_Batches of count: int
    | Device of name: string
    | [<AltCommandLine("-o")>] Output of folder: string
    | Threads of count: int
    | Full
    | Resume
    | Fresh
    | Bench

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Mi _ -> "true I({x', x''}; y) values in nats, comma-separated (default 10,20; --full: 5,10,15,20)."
            | K _ -> "numbers of candidates K (positive + negatives), comma-separated, each >= 2 (even for InfoNCE_S; default 16,32,64,128,256,512)."
            | Estimators _ -> "estimators to run, comma-separated: infonce, infonce-s, infonce-s-is (default: all three)."
            | Seeds _ -> "number of seeds per (MI, K, estimator); each seed draws its own covariance, data and initialisation (default 2; --full: 5)."
            | First_Seed _ -> "the first seed (--seed, as in every Decomp app); seeds are first, first+1, ... (default 1)."
            | Steps _ -> "Adam steps per run, each on a fresh batch (default 500; --full: 5000)."
            | Dimensions _ -> "dimensions d of each of x', x'', y (default 20, as the paper)."
            | Width _ -> "hidden and output width of the one-hidden-layer MLP encoders (default 100, as the paper)."
            | Learning_Rate _ -> "Adam's learning rate (default 5e-4, as the paper)."
            | Conditional_Examples _ -> "InfoNCE_S scores its conditional term on at most this many examples per batch (default 64; --full: 256)."
            | Evaluation_Batches _ -> "fresh batches averaged for each run's final estimate (default 20)."
            | Device _ -> "auto, cpu, cuda or cuda:N. auto (the default): DECOMP_DEVICE if set, else CUDA when available, else the CPU."
            | Output _ -> "run folder: runs.csv, curves.csv, summary.md and figure2.png; owned by one process while it runs, files replaced atomically (default out/figure2)."
            | Threads _ -> "CPU threads for libtorch's operators; 0 = libtorch's choice (one per core; the default)."
            | Full -> "the paper-sized sweep: MI 5,10,15,20, 5 seeds, 5000 steps (about 3 hours on 2 shared CPU cores, see --bench; explicit options still win)."
            | Bench -> "measure instead of sweeping: this machine's sgemm peak, GFLOP/s per estimator and K against it, where a step's time goes, and the projected time of --full (writes nothing)."
            | Resume ->
                "continue the sweep in --output from its checkpoint, runs.csv; it ends as an uninterrupted sweep would. A run is its row there, keyed by every setting that "
                + "changes a result: this sweep's recorded runs are reused, the rest trained. No runs.csv there is an error; without --resume (or --fresh) a folder that holds one is refused."
            | Fresh -> "start over: compute every run of this sweep again, replacing its recorded rows (rows of other settings are kept); allowed on a folder that holds a run, not with --resume."

/// What the command line asks for, validated.
type Request = { Sweep: SweepSettings; Output: string; Resume: bool; Fresh: bool; Threads: int option; Bench: bool }

/// Turns the command line into a request, or a one-line error.
module Cli =

    let private parseList (name: string) (parse: string -> 'a option) (text: string) : Result<'a list, string> =
        let parts = text.Split([| ','; ' ' |], StringSplitOptions.RemoveEmptyEntries)
        if parts.Length = 0 then Error $"--{name} needs at least one value"
        else
            let parsed = parts |> Array.map (fun p -> p, parse p)
            match parsed |> Array.tryFind (fun (_, v) -> v.IsNone) with
            | Some(bad, _) -> Error $"--{name}: '{bad}' is not a valid value"
            | None -> Ok(parsed |> Array.map (snd >> Option.get) |> List.ofArray)

    let private number (text: string) =
        match Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture) with
        | true, v -> Some v
        | _ -> None

    let private integer (text: string) =
        match Int32.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture) with
        | true, v -> Some v
        | _ -> None

    let private checkWritable (folder: string) =
        try
            Directory.CreateDirectory folder |> ignore
            let probe = Path.Combine(folder, $".write-probe-{Guid.NewGuid():N}")
            File.WriteAllText(probe, "")
            File.Delete probe
            Ok()
        with e ->
            Error $"--output: cannot write to '{folder}': {e.Message}"

    /// `--resume` on a folder that does not exist is refused here, before `checkWritable` makes it; the sweep checks a
    /// folder that exists once it owns it (`RunStore.RunsPathIn` there, the sweep's checkpoint).
    let private checkResumable (resume: bool) (folder: string) =
        if resume && not (Directory.Exists folder) then
            Error(Decomp.Apps.CommandLineHost.Describe(Decomp.Apps.ResumePolicy.NoCheckpoint(RunStore.RunsPathIn folder)))
        else Ok()

    let private resultOf (f: unit -> 'a) =
        try Ok(f ()) with e -> Error e.Message

    /// Validates every option; the device is resolved last, since asking for CUDA where there is none is an error too.
    let request (results: ParseResults<Arguments>) : Result<Request, string> =
        let full = results.Contains Full
        let seedCount = results.GetResult(Seeds, defaultValue = (if full then 5 else 2))
        let firstSeed = results.GetResult(First_Seed, defaultValue = 1)
        let checks =
            [ (if seedCount < 1 then Some "--seeds must be >= 1" else None)
              (if results.Contains Steps && results.GetResult Steps < 0 then Some "--steps must be >= 0" else None)
              (if results.Contains Dimensions && results.GetResult Dimensions < 1 then Some "--dimensions must be >= 1" else None)
              (if results.Contains Width && results.GetResult Width < 1 then Some "--width must be >= 1" else None)
              (if results.Contains Learning_Rate && not (results.GetResult Learning_Rate > 0.0) then Some "--learning-rate must be > 0" else None)
              (if results.Contains Conditional_Examples && results.GetResult Conditional_Examples < 1 then Some "--conditional-examples must be >= 1" else None)
              (if results.Contains Evaluation_Batches && results.GetResult Evaluation_Batches < 2 then Some "--evaluation-batches must be >= 2" else None)
              (if results.Contains Threads && results.GetResult Threads < 0 then Some "--threads must be 0 (libtorch's choice) or more" else None)
              (if results.Contains Fresh && results.Contains Resume then
                   Some "--fresh and --resume contradict each other: --fresh computes this sweep's runs again, --resume reuses the recorded ones; pass one"
               else None) ]
            |> List.choose id
        match checks with
        | first :: _ -> Error first
        | [] ->
            let mis = results.TryGetResult Mi |> Option.map (parseList "mi" number)
            let ks = results.TryGetResult K |> Option.map (parseList "k" integer)
            let estimators =
                results.TryGetResult Estimators
                |> Option.map (parseList "estimators" (fun s -> match Estimator.Parse s with Ok e -> Some e | Error _ -> None))
            let unknownEstimator =
                results.TryGetResult Estimators
                |> Option.bind (fun text ->
                    text.Split([| ','; ' ' |], StringSplitOptions.RemoveEmptyEntries)
                    |> Array.tryPick (fun s -> match Estimator.Parse s with Error m -> Some m | Ok _ -> None))
            match mis, ks, estimators, unknownEstimator with
            | Some(Error m), _, _, _
            | _, Some(Error m), _, _ -> Error m
            | _, _, _, Some m -> Error $"--estimators: {m}"
            | _, _, Some(Error m), _ -> Error m
            | _ ->
                let pick (o: Result<'a list, string> option) = o |> Option.map (function Ok v -> Some v | Error _ -> None) |> Option.flatten
                let defaults device = if full then SweepSettings.Full device else SweepSettings.Default device
                let draft = defaults torch.CPU
                let trueMis = pick mis |> Option.defaultValue draft.TrueMis
                let candidates = pick ks |> Option.defaultValue draft.Candidates
                let chosen = pick estimators |> Option.defaultValue draft.Estimators
                match trueMis |> List.tryFind (fun v -> not (v > 0.0) || Double.IsInfinity v), candidates |> List.tryFind (fun k -> k < 2) with
                | Some bad, _ -> Error $"--mi: {bad} is not a mutual information; values must be > 0 nats"
                | _, Some bad -> Error $"--k: K = {bad} leaves no negative; K must be >= 2"
                | None, None ->
                    let oddForHalves = candidates |> List.tryFind (fun k -> k % 2 <> 0 || k < 4)
                    match oddForHalves with
                    | Some bad when chosen |> List.contains InfoNceS ->
                        Error $"--k: InfoNCE_S uses K/2 candidates per term, so K must be even and >= 4; got {bad} (or leave infonce-s out of --estimators)"
                    | _ ->
                        let output = results.GetResult(Output, defaultValue = Path.Combine("out", "figure2"))
                        // --bench writes nothing, so it has no run to continue: it ignores --resume (and --fresh).
                        let resume = results.Contains Resume && not (results.Contains Bench)
                        match checkResumable resume output |> Result.bind (fun () -> checkWritable output) with
                        | Error m -> Error m
                        | Ok() ->
                            let device =
                                match results.TryGetResult Device with
                                | Some name ->
                                    // The apps' one wording for a misspelt device; CUDA where there is none keeps the core's advice.
                                    try Ok(Decomp.Core.Device.parse name) with
                                    | :? ArgumentException -> Error $"--device must be {Decomp.Apps.CommonOptions.DeviceChoices}, not '{name}'."
                                    | e -> Error $"--device {name}: {e.Message}"
                                | None -> resultOf Decomp.Core.Device.current |> Result.mapError (fun m -> $"device: {m}")
                            device
                            |> Result.map (fun device ->
                                let d = defaults device
                                { Sweep =
                                    { d with
                                        TrueMis = trueMis
                                        Candidates = candidates
                                        Estimators = chosen
                                        Seeds = List.init seedCount (fun i -> firstSeed + i)
                                        Steps = results.GetResult(Steps, defaultValue = d.Steps)
                                        Dimensions = results.GetResult(Dimensions, defaultValue = d.Dimensions)
                                        Width = results.GetResult(Width, defaultValue = d.Width)
                                        LearningRate = results.GetResult(Learning_Rate, defaultValue = d.LearningRate)
                                        ConditionalExamples = results.GetResult(Conditional_Examples, defaultValue = d.ConditionalExamples)
                                        EvaluationBatches = results.GetResult(Evaluation_Batches, defaultValue = d.EvaluationBatches) }
                                  Output = output
                                  Resume = resume
                                  Fresh = results.Contains Fresh
                                  Bench = results.Contains Bench
                                  Threads = results.TryGetResult Threads |> Option.filter (fun t -> t > 0) })
