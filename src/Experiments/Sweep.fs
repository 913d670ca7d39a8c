namespace Decomp.Experiments

open System
open CsvHelper.Configuration.Attributes
open TorchSharp

/// What a sweep covers; one run per (true MI, K, estimator, seed).
type SweepSettings =
    {
        TrueMis: float list
        Candidates: int list
        Estimators: Estimator list
        Seeds: int list
        Steps: int
        Dimensions: int
        Width: int
        LearningRate: float
        ConditionalExamples: int
        EvaluationBatches: int
        Device: torch.Device
    }

    /// The default sweep: sized to finish in about five minutes on a 2-core laptop CPU.
    static member Default(device) =
        { TrueMis = [ 10.0; 20.0 ]
          Candidates = [ 16; 32; 64; 128; 256; 512 ]
          Estimators = Estimator.All
          Seeds = [ 1; 2 ]
          Steps = 500
          Dimensions = 20
          Width = 100
          LearningRate = 5e-4
          ConditionalExamples = 64
          EvaluationBatches = 20
          Device = device }

    /// The paper-sized sweep: every MI of Figure 2, more seeds and longer training.
    static member Full(device) =
        { SweepSettings.Default(device) with
            TrueMis = [ 5.0; 10.0; 15.0; 20.0 ]
            Seeds = [ 1; 2; 3; 4; 5 ]
            Steps = 5000
            ConditionalExamples = 256 }

/// What identifies a run in runs.csv and curves.csv: every setting that changes its result. Its properties are the
/// first columns of both files (CsvHelper maps them by these names).
[<CLIMutable>]
type RunKey =
    { [<Name "true_mi">] TrueMi: float
      [<Name "k">] Candidates: int
      /// The estimator's name (`Estimator.Name`).
      [<Name "estimator">] Estimator: string
      [<Name "seed">] Seed: int
      [<Name "steps">] Steps: int
      [<Name "dimensions">] Dimensions: int
      [<Name "width">] Width: int
      [<Name "learning_rate">] LearningRate: float
      [<Name "conditional_examples">] ConditionalExamples: int
      [<Name "evaluation_batches">] EvaluationBatches: int
      /// The device type ("CPU", "CUDA"): numbers differ between devices.
      [<Name "device">] Device: string }

/// One (true MI, K, estimator) cell of the summary: the spread is over seeds.
type SummaryRow =
    { TrueMi: float
      Candidates: int
      Estimator: Estimator
      Runs: int
      Mean: float
      /// Sample standard deviation of the estimates across seeds (0 for one seed).
      Spread: float
      Minimum: float
      Maximum: float
      LogK: float
      TwoLogK: float }

/// Planning, bookkeeping and reporting of a Figure 2 sweep.
module Sweep =

    let runSettings (s: SweepSettings) (trueMi: float) (k: int) (estimator: Estimator) (seed: int) : RunSettings =
        { Dimensions = s.Dimensions
          TrueMi = trueMi
          Candidates = k
          Estimator = estimator
          Seed = seed
          Steps = s.Steps
          LearningRate = s.LearningRate
          Width = s.Width
          ConditionalExamples = s.ConditionalExamples
          EvaluationBatches = s.EvaluationBatches
          CurveEvery = max 1 (s.Steps / 50)
          Device = s.Device }

    /// Every run of the sweep, seeds innermost so that a partial sweep already has spreads.
    let plan (s: SweepSettings) : RunSettings list =
        [ for mi in s.TrueMis do
              for k in s.Candidates do
                  for e in s.Estimators do
                      for seed in s.Seeds -> runSettings s mi k e seed ]

    /// The most encoder rows (examples and conditional negatives, over all runs) one batch of runs puts through g in a
    /// step: 2^19 rows keep a batch's activations and their gradients near 1.5 GB, and a batch that large already runs
    /// its products at the machine's full speed, so a cap costs no time.
    let maxBatchRows = 1 <<< 19

    /// Encoder rows one run puts through g per step: its batch, plus the conditional negatives of InfoNCE_S.
    let rowsPerStep (r: RunSettings) =
        let b = Figure2.batchSize r
        match r.Estimator with
        | InfoNceS -> b + min r.ConditionalExamples b * (r.Candidates / 2 - 1)
        | InfoNce
        | InfoNceSIs -> b

    /// The runs of `runs` grouped into batches that train as one network (`Figure2.runBatch`): runs of the same shape
    /// (estimator, K, schedule), in the order `runs` lists them, cut into the fewest near-equal parts of at most
    /// `maxBatchRows` rows a step. A pure function of its argument, so a resumed sweep (whose `runs` are the plan's
    /// runs not yet recorded) forms its batches the same way every time.
    let batches (runs: RunSettings list) : RunSettings list list =
        runs
        |> List.groupBy (fun r -> runs |> List.find (Figure2.sameShape r))
        |> List.collect (fun (_, group) ->
            let perBatch = max 1 (maxBatchRows / rowsPerStep group.Head)
            let parts = (group.Length + perBatch - 1) / perBatch
            let size = (group.Length + parts - 1) / parts
            List.chunkBySize size group)

    /// A relative cost, for the ETA: encodings per step. InfoNCE and InfoNCE_S IS encode a batch of K; InfoNCE_S
    /// encodes K/2 and the conditional negatives of up to `ConditionalExamples` examples.
    let cost (r: RunSettings) =
        let encodings =
            match r.Estimator with
            | InfoNce
            | InfoNceSIs -> float r.Candidates * 2.0
            | InfoNceS -> float r.Candidates + float (min r.ConditionalExamples (r.Candidates / 2)) * float (r.Candidates / 2 - 1)
        float (r.Steps + r.EvaluationBatches) * (encodings + 64.0)

    /// The key that identifies a run in runs.csv and curves.csv: every setting that changes its result.
    let key (r: RunSettings) : RunKey =
        { TrueMi = r.TrueMi
          Candidates = r.Candidates
          Estimator = r.Estimator.Name
          Seed = r.Seed
          Steps = r.Steps
          Dimensions = r.Dimensions
          Width = r.Width
          LearningRate = r.LearningRate
          ConditionalExamples = r.ConditionalExamples
          EvaluationBatches = r.EvaluationBatches
          Device = string r.Device.``type`` }

    let summarise (rows: (float * int * Estimator * float) seq) : SummaryRow list =
        rows
        |> Seq.groupBy (fun (mi, k, e, _) -> mi, k, e)
        |> Seq.map (fun ((mi, k, e), group) ->
            let values = group |> Seq.map (fun (_, _, _, v) -> v) |> Array.ofSeq
            // The apps' one mean ± sd; a single seed has no spread (0 here).
            let stats = (Decomp.Apps.MeanAndDeviation.Of values).Value
            let mean = stats.Mean
            let spread = Option.ofNullable stats.Deviation |> Option.defaultValue 0.0
            ({ TrueMi = mi
               Candidates = k
               Estimator = e
               Runs = values.Length
               Mean = mean
               Spread = spread
               Minimum = Array.min values
               Maximum = Array.max values
               LogK = Decomp.Core.Bounds.infoNceCap k
               TwoLogK = Decomp.Core.Decomposition.cap [ k; k ] }: SummaryRow))
        |> Seq.sortBy (fun r -> r.TrueMi, r.Candidates, Estimator.All |> List.findIndex ((=) r.Estimator))
        |> List.ofSeq

    /// The summary as a Markdown table: one row per (true MI, K), one column per estimator (mean ± spread over seeds).
    let markdown (rows: SummaryRow list) =
        let estimators = rows |> List.map _.Estimator |> List.distinct
        let header =
            "| true MI | K | log K | 2 log K | "
            + String.Join(" | ", estimators |> List.map (fun e -> e.Name + " (mean ± sd)"))
            + " |"
        let rule = "|---|---|---|---|" + String.replicate estimators.Length "---|"
        let lines =
            rows
            |> List.groupBy (fun r -> r.TrueMi, r.Candidates)
            |> List.map (fun ((mi, k), cells) ->
                let cell e =
                    match cells |> List.tryFind (fun c -> c.Estimator = e) with
                    | Some c -> $"{c.Mean:F2} ± {c.Spread:F2}"
                    | None -> ""
                $"| {mi:G4} | {k} | {Decomp.Core.Bounds.infoNceCap k:F2} | {Decomp.Core.Decomposition.cap [ k; k ]:F2} | " + String.Join(" | ", estimators |> List.map cell) + " |")
        header :: rule :: lines
