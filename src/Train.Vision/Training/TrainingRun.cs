using System.Diagnostics;
using Decomp.Apps;
using Decomp.Train.Vision.Augmentation;
using Decomp.Train.Vision.Cli;
using Decomp.Train.Vision.Data;
using Decomp.Train.Vision.Evaluation;
using Decomp.Train.Vision.Reporting;
using TorchSharp;
using static TorchSharp.torch;

namespace Decomp.Train.Vision.Training;

/// <summary>Test seams of a run: a callback after every step (a test throws from it to simulate a killed process).</summary>
internal sealed class RunHooks
{
    /// <summary>Called with the number of completed steps after each step, after the log line and checkpoint of that step.</summary>
    public Action<long>? AfterStep { get; init; }
}

/// <summary>
/// A whole training run: data, plan (epochs, or a budget turned into steps), the step loop with its log, k-NN monitor,
/// progress and checkpoints, then the linear probe, summary.json and curves.png.
/// </summary>
internal static class TrainingRun
{
    /// <summary>File names inside a run folder.</summary>
    public const string MetricsFile = "metrics.csv", PlotFile = "curves.png", SummaryFile = "summary.json";

    /// <summary>
    /// Runs <paramref name="requested"/>. <paramref name="explicitFields"/> names the options the user gave (with --resume,
    /// the others come from the checkpoint). Returns an <see cref="ExitCodes"/> value; throws for bad options or data.
    /// </summary>
    public static int Execute(TrainingOptions requested, IReadOnlySet<string> explicitFields, TextWriter console, CancellationToken cancel, RunHooks? hooks = null)
    {
        requested.Validate();
        // Under mpirun every rank runs this method; rank 0 alone owns the run folder, writes its files and prints.
        using var group = ProcessGroup.LaunchedByMpi
            ? ProcessGroup.Initialize(requested.Device is { } requestedDevice ? Devices.Parse(requestedDevice) : Devices.Current)
            : ProcessGroup.Single();
        if (!group.IsMain) console = TextWriter.Null;
        requested = requested with { WorldSize = group.WorldSize };
        requested.Validate();
        var outputDirectory = requested.Output ?? DefaultOutput(requested);
        var checkpointPath = Path.Combine(outputDirectory, Checkpoint.FileName);
        CheckpointState? resumed = null;
        var options = requested;
        Exception NoCheckpoint() => ResumePolicy.NoCheckpoint(checkpointPath);
        if (requested.BenchmarkSteps == 0 && requested.Resume && !Directory.Exists(outputDirectory)) throw NoCheckpoint();
        // One process per run folder, from before its checkpoint is read until the run ends (or the process dies).
        using var owner = requested.BenchmarkSteps == 0 && group.IsMain ? RunFolder.Acquire(outputDirectory) : null;
        // A run of the binary checkpoint format can neither be resumed nor be overwritten by a fresh one.
        if (requested.BenchmarkSteps == 0 && Checkpoint.InEarlierFormat(checkpointPath) is { } earlier) throw earlier;
        if (requested.BenchmarkSteps == 0 && requested.Resume)
        {
            if (!File.Exists(checkpointPath)) throw CheckpointFile.OnlyPrevious(checkpointPath) ?? NoCheckpoint();
            resumed = Checkpoint.ReadState(checkpointPath);
            if (resumed.Options.WorldSize != group.WorldSize)
                throw new ArgumentException(
                    $"--resume: {outputDirectory} was trained by {resumed.Options.WorldSize} process(es) (mpirun -np {resumed.Options.WorldSize}), and this job has {group.WorldSize}. "
                    + $"Resume it with mpirun -np {resumed.Options.WorldSize}: each rank's share of every batch, its BatchNorm statistics and the gathered negatives depend on the number of processes.",
                    "--resume");
            options = MergeForResume(resumed.Options, requested, explicitFields) with { Output = outputDirectory };
            options.Validate();
        }
        else if (requested.BenchmarkSteps == 0 && CheckpointFile.Exists(checkpointPath))
        {
            throw ResumePolicy.AlreadyHoldsRun(checkpointPath);
        }

        var device = options.Device is { } name ? Devices.Parse(name) : Devices.Current;
        if (options.Threads > 0) set_num_threads(options.Threads);
        var data = LoadData(options);
        var settings = RunSettings.Resolve(options, data, device);
        console.WriteLine($"Decomp vision driver | {RunSummary.MethodLabel(options)} | seed {options.Seed}");
        console.WriteLine($"  data: {DescribeData(options, data)}; {data.Train.Channels}x{data.Train.Height}x{data.Train.Width}, {settings.Classes} classes");
        console.WriteLine($"  device: {Devices.Describe(device)}, {get_num_threads()} CPU threads (native tuning: {Devices.CpuTuning}); encoder {settings.Encoder}, {options.Precision}; batch {options.BatchSize}, "
                          + $"lr {settings.LearningRate:G4}, tau {settings.Temperature:G4}, {settings.StepsPerEpoch} steps per epoch");

        using var trainImages = data.Train.ImagesTensor(device);
        using var trainLabels = data.Train.LabelsTensor(device);
        using var testImages = data.Test.ImagesTensor(device);
        using var testLabels = data.Test.LabelsTensor(device);
        var (mean, std) = data.Train.ChannelStatistics();
        using var views = new ViewFactory(settings.Augmentation, mean, std, device);
        var evaluator = new Evaluator(trainImages, trainLabels, testImages, testLabels, views, settings.Classes);

        if (options.BenchmarkSteps > 0) return Benchmark(options, settings, trainImages, views, device, console, group);

        if (group.IsMain) Directory.CreateDirectory(outputDirectory);
        var metricsPath = Path.Combine(outputDirectory, MetricsFile);
        double calibrationSeconds = 0;
        long totalSteps;
        if (resumed is not null) totalSteps = resumed.TotalSteps;
        else if (options.BudgetMinutes > 0)
        {
            (totalSteps, calibrationSeconds) = PlanBudget(options, settings, trainImages, views, evaluator, device, console, group, checkpointPath);
            // Every rank timed its own steps; all of them take rank 0's plan, or they would stop at different steps.
            using var planned = Distributed.Broadcast(group, tensor(new[] { totalSteps }));
            totalSteps = planned.item<long>();
        }
        else totalSteps = settings.StepCap ?? throw new InvalidOperationException("a run without a budget has a step cap");

        using var session = new TrainingSession(options, settings, trainImages, views, device, group);
        var rows = new List<MetricRow>();
        long step = 0;
        var priorSeconds = calibrationSeconds;
        var stoppedByBudget = false;
        LogWindow? resumedWindow = null;
        if (resumed is not null)
        {
            var state = Checkpoint.Load(checkpointPath, session.Load);
            (step, priorSeconds, stoppedByBudget, resumedWindow) = (state.Step, state.TrainingSeconds, state.StoppedByBudget, state.Window);
            calibrationSeconds = state.CalibrationSeconds;
            rows.AddRange(state.Rows);
            console.WriteLine($"  resumed from {checkpointPath} at step {step} of {totalSteps}" + (state.TrainingComplete ? " (training complete; evaluating)" : ""));
            if (state.TrainingComplete) step = Math.Max(step, totalSteps);
        }
        // Lines after the checkpoint belong to steps that will be redone.
        if (group.IsMain) CsvRunLog.Rewrite(metricsPath, rows);
        var logCandidates = ContrastiveObjective.LogCandidates(session.Candidates);
        var title = $"{RunSummary.MethodLabel(options)}, seed {options.Seed}";

        var window = resumedWindow ?? new LogWindow();
        var clock = Stopwatch.StartNew();
        double Clock() => clock.Elapsed.TotalSeconds;
        CheckpointState Snapshot(bool complete) => new()
        {
            Options = options, Step = step, TotalSteps = totalSteps, TrainingSeconds = priorSeconds + Clock(), CalibrationSeconds = calibrationSeconds,
            TrainingComplete = complete, StoppedByBudget = stoppedByBudget, Rows = rows.ToList(), Window = window,
        };
        var lastPlot = double.NegativeInfinity;
        // While the progress bar is drawn, lines go above it.
        var lines = console;
        void SaveCheckpoint(bool complete)
        {
            if (!group.IsMain) return;
            Checkpoint.Save(checkpointPath, Snapshot(complete), session.Save);
            lines.WriteLine($"  checkpoint at step {step} -> {checkpointPath}");
            // Rendering takes a noticeable fraction of a second; a curve that is a minute old is recent enough.
            if (Clock() - lastPlot < 60) return;
            Plots.Write(Path.Combine(outputDirectory, PlotFile), rows, title, logCandidates, null);
            lastPlot = Clock();
        }

        if (step < totalSteps) console.WriteLine($"  training {totalSteps - step} steps ({(double)(totalSteps - step) / settings.StepsPerEpoch:F2} epochs) into {outputDirectory}");
        var lastCheckpoint = Clock();
        using var progress = step < totalSteps
            ? ConsoleProgress.Start(console, "training", totalSteps,
                                    new ProgressSettings { Completed = step, CompletedSeconds = priorSeconds, IntervalSeconds = options.ProgressSeconds })
            : null;
        lines = progress?.Lines ?? console;
        while (step < totalSteps && !stoppedByBudget)
        {
            // Ranks stop together: a Ctrl+C or SIGTERM seen by any rank stops all of them at the same step.
            if (Agreed(group, cancel.IsCancellationRequested))
            {
                SaveCheckpoint(false);
                lines.WriteLine($"Interrupted at step {step}; checkpoint written to {checkpointPath}. Continue with the same command and --resume.");
                return ExitCodes.Interrupted;
            }
            var stepStart = Clock();
            var outcome = session.Step(step, RunSettings.LearningRateAt(settings.LearningRate, step, totalSteps, options.WarmupFraction));
            step++;
            window.Add(outcome.Loss, outcome.FullViewBound, outcome.RestrictedViewBound, outcome.ConditionalBound, Clock() - stepStart);
            var knnDue = group.IsMain && settings.KnnEvery > 0 && (step % settings.KnnEvery == 0 || step == totalSteps);
            if (step % options.LogEvery == 0 || knnDue || step == totalSteps)
            {
                double? knn = knnDue ? evaluator.KnnTop1(session.Encoder, options.KnnBankSize, options.KnnQuerySize, options.KnnK) : null;
                var row = window.Row(step, (double)step / settings.StepsPerEpoch, priorSeconds + Clock(),
                                     RunSettings.LearningRateAt(settings.LearningRate, step - 1, totalSteps, options.WarmupFraction), knn, options.BatchSize);
                rows.Add(row);
                if (group.IsMain) CsvRunLog.Append(metricsPath, row);
                window = new LogWindow();
                progress?.Report(step, Progress.Status(row, logCandidates), force: knnDue);
            }
            if (options.BudgetMinutes > 0 && Agreed(group, priorSeconds + Clock() > options.BudgetMinutes * 60 * 1.1 + 60))
            {
                stoppedByBudget = true;
                lines.WriteLine($"Warning: the budget of {options.BudgetMinutes} min is exceeded by more than 10% at step {step} of {totalSteps} "
                                  + "(the machine got slower than the calibration measured); stopping here, before the learning-rate schedule ends.");
            }
            var checkpointDue = options.CheckpointEvery > 0 && step % options.CheckpointEvery == 0
                                || options.CheckpointMinutes > 0 && Clock() - lastCheckpoint >= options.CheckpointMinutes * 60;
            if (checkpointDue && step < totalSteps)
            {
                SaveCheckpoint(false);
                lastCheckpoint = Clock();
            }
            hooks?.AfterStep?.Invoke(step);
        }
        progress?.Dispose();
        SaveCheckpoint(true);
        var trainingSeconds = priorSeconds + Clock();
        // The evaluation and the run's files are rank 0's; the other ranks are done.
        if (!group.IsMain) return ExitCodes.Success;

        var summary = Evaluate(options, settings, data, device, session, evaluator, rows, step, trainingSeconds, calibrationSeconds, stoppedByBudget, console);
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, SummaryFile), summary.ToJson());
        Plots.Write(Path.Combine(outputDirectory, PlotFile), rows, title, logCandidates, summary.ProbeTop1);
        console.WriteLine($"Done: {step} steps ({summary.Epochs:F2} epochs) in {Durations.Format(trainingSeconds)}, {summary.ImagesPerSecond:F0} images/s"
                          + (summary.KnnTop1 is { } k ? $"; k-NN top-1 {k:F2}%" : "")
                          + (summary.ProbeTop1 is null ? "" : $"; linear probe top-1 {summary.ProbeTop1:F2}%, top-5 {summary.ProbeTop5:F2}% (train top-1 {summary.ProbeTrainTop1:F2}%)"));
        console.WriteLine($"  {Path.Combine(outputDirectory, SummaryFile)}, {metricsPath}, {Path.Combine(outputDirectory, PlotFile)}");
        return ExitCodes.Success;
    }

    /// <summary>The final k-NN accuracy (reusing the last log line's when it is of the final step), the linear probe, and the summary.</summary>
    private static RunSummary Evaluate(TrainingOptions options, RunSettings settings, DatasetSplit data, Device device, TrainingSession session,
                                       Evaluator evaluator, IReadOnlyList<MetricRow> rows, long step, double trainingSeconds,
                                       double calibrationSeconds, bool stoppedByBudget, TextWriter console)
    {
        var last = rows.LastOrDefault();
        double? finalKnn = last is { KnnTop1: not null } && last.Step == step ? last.KnnTop1 : null;
        if (finalKnn is null && settings.KnnEvery > 0) finalKnn = evaluator.KnnTop1(session.Encoder, options.KnnBankSize, options.KnnQuerySize, options.KnnK);
        ProbeResult? probe = null;
        var probeClock = Stopwatch.StartNew();
        if (options.ProbeEpochs > 0)
        {
            console.WriteLine($"  linear probe: {options.ProbeEpochs} epochs on frozen features of {data.Train.Count} training images, scored on {data.Test.Count} test images ...");
            probe = evaluator.Probe(session.Encoder, new ProbeSettings(options.ProbeEpochs, options.ProbeBatchSize, options.ProbeLearningRate, options.ProbeWeightDecay),
                                    Seeds.Derive(options.Seed, SeedStream.Probe));
        }
        var tail = rows.Skip(rows.Count - Math.Max(1, rows.Count / 10)).ToArray();
        var summary = new RunSummary
        {
            Method = RunSummary.MethodLabel(options),
            Seed = options.Seed,
            Data = DescribeData(options, data),
            Encoder = settings.Encoder.ToString(),
            Device = Devices.Describe(device),
            Steps = step,
            Epochs = (double)step / settings.StepsPerEpoch,
            TrainingSeconds = trainingSeconds,
            ImagesPerSecond = step == 0 ? 0 : step * (double)options.BatchSize / Math.Max(1e-9, trainingSeconds - calibrationSeconds),
            StoppedByBudget = stoppedByBudget,
            Candidates = session.Candidates,
            FinalFullViewBound = tail.Length > 0 ? tail.Average(r => r.FullViewBound) : null,
            FinalRestrictedViewBound = tail.Length > 0 && tail.All(r => r.RestrictedViewBound is not null) ? tail.Average(r => r.RestrictedViewBound!.Value) : null,
            FinalConditionalBound = tail.Length > 0 && tail.All(r => r.ConditionalBound is not null) ? tail.Average(r => r.ConditionalBound!.Value) : null,
            KnnTop1 = finalKnn,
            ProbeTop1 = probe?.AccuracyPercent,
            ProbeTop5 = probe?.TopKAccuracyPercent,
            ProbeTrainTop1 = probe?.TrainAccuracyPercent,
            ProbeSeconds = probeClock.Elapsed.TotalSeconds,
            Options = options,
        };
        return summary;
    }

    /// <summary>True on every rank when <paramref name="mine"/> is true on any rank (one all-reduce; no collective for one process).</summary>
    private static bool Agreed(ProcessGroup group, bool mine)
    {
        if (group.WorldSize == 1) return mine;
        using var flag = tensor(new[] { mine ? 1.0f : 0.0f });
        using var any = Distributed.AllReduce(group, flag);
        return any.item<float>() > 0;
    }

    /// <summary>runs/vision/&lt;dataset&gt;-&lt;framework&gt;-&lt;objective&gt;[-&lt;view&gt;]-seed&lt;seed&gt;.</summary>
    public static string DefaultOutput(TrainingOptions o)
    {
        var objective = o.Epochs == 0 ? "random-init" : o.Objective switch
        {
            ObjectiveKind.InfoNce => "infonce",
            ObjectiveKind.Decomposed => "decomposed-" + o.RestrictedView.ToString().ToLowerInvariant(),
            _ => "without-conditional-" + o.RestrictedView.ToString().ToLowerInvariant(),
        };
        return Path.Combine("runs", "vision", $"{DatasetCatalog.CliName(o.Dataset)}-{o.Framework.ToString().ToLowerInvariant()}-{objective}-seed{o.Seed}");
    }

    /// <summary>
    /// The options of a resumed run: the checkpoint's, except operational fields the user gave. A result-affecting option
    /// the user gave with a different value is an error (the run would not be the one that was checkpointed).
    /// </summary>
    public static TrainingOptions MergeForResume(TrainingOptions saved, TrainingOptions requested, IReadOnlySet<string> explicitFields)
    {
        var conflicts = requested.ResultAffectingDifferences(saved, explicitFields);
        if (conflicts.Count > 0) throw ResumePolicy.Refused(conflicts, OptionTable.FlagFor);
        // The given options that are not operational equal the saved ones now, so taking every given one changes only
        // the operational ones.
        return ResumePolicy.TakeGiven(saved, requested, explicitFields, nameof(TrainingOptions.Resume), TrainingOptions.Json);
    }

    private static DatasetSplit LoadData(TrainingOptions o)
    {
        var data = DatasetCatalog.Load(o.Dataset, o.DataDir, new ImageFolderOptions(o.ImageSize, o.Channels, o.TestFraction));
        // Fixed subsets (seed-independent), so that every seed and method sees the same images.
        static ImageDataset Limit(ImageDataset d, int limit, long seed) =>
            limit == 0 || limit >= d.Count ? d : d.Select(Seeds.Permutation(d.Count, seed).Take(limit).Order().ToArray());
        return new DatasetSplit(Limit(data.Train, o.TrainLimit, 1), Limit(data.Test, o.TestLimit, 2));
    }

    private static string DescribeData(TrainingOptions o, DatasetSplit data) =>
        $"{DatasetCatalog.CliName(o.Dataset)} ({data.Train.Count} train / {data.Test.Count} test)";

    private static (long Steps, double Seconds) PlanBudget(TrainingOptions options, RunSettings settings, Tensor trainImages, ViewFactory views,
                                                           Evaluator evaluator, Device device, TextWriter console, ProcessGroup group, string checkpointPath)
    {
        var budgetSeconds = options.BudgetMinutes * 60;
        var clock = Stopwatch.StartNew();
        double secondsPerStep, knnSeconds = 0, checkpointSeconds;
        int timed = 0;
        // A throw-away session with the run's seed: its steps are timed, then it is discarded, and the real run starts from step 0.
        using (var trial = new TrainingSession(options, settings, trainImages, views, device, group))
        {
            const int warmup = 2;
            for (var i = 0; i < warmup; i++) trial.Step(i, settings.LearningRate * 0.01);
            var start = clock.Elapsed.TotalSeconds;
            var calibrationSeconds = Math.Min(5.0, 0.05 * budgetSeconds);
            while (timed < 3 || clock.Elapsed.TotalSeconds - start < calibrationSeconds && timed < 30) trial.Step(warmup + timed++, settings.LearningRate * 0.01);
            secondsPerStep = (clock.Elapsed.TotalSeconds - start) / timed;
            if (settings.KnnEvery > 0)
            {
                var knnStart = clock.Elapsed.TotalSeconds;
                evaluator.KnnTop1(trial.Encoder, options.KnnBankSize, options.KnnQuerySize, options.KnnK);
                knnSeconds = clock.Elapsed.TotalSeconds - knnStart;
            }
            var saveStart = clock.Elapsed.TotalSeconds;
            // Rank 0 writes the trial's checkpoint where the run's go, under a temporary name (removed now, or by RunFolder
            // after a kill); the other ranks write none, and take rank 0's plan.
            if (group.IsMain)
            {
                var trialCheckpoint = AtomicFile.TemporaryPathFor(checkpointPath);
                try { CheckpointFile.Save(trialCheckpoint, new Dictionary<string, string>(), trial.Save); }
                finally { File.Delete(trialCheckpoint); }
            }
            checkpointSeconds = clock.Elapsed.TotalSeconds - saveStart + 0.5; // plus the state's JSON and the plot
        }
        var perStep = secondsPerStep
                      + (settings.KnnEvery > 0 ? knnSeconds / settings.KnnEvery : 0)
                      + (options.CheckpointEvery > 0 ? checkpointSeconds / options.CheckpointEvery : 0)
                      + (options.CheckpointMinutes > 0 ? checkpointSeconds * secondsPerStep / (options.CheckpointMinutes * 60) : 0);
        var remaining = budgetSeconds - clock.Elapsed.TotalSeconds - knnSeconds - checkpointSeconds;
        var steps = (long)Math.Floor(remaining / perStep);
        if (settings.StepCap is { } cap) steps = Math.Min(steps, cap);
        if (steps < 1)
            throw new ArgumentException($"--budget-minutes {options.BudgetMinutes} leaves no time to train: one step takes about {secondsPerStep:F2} s "
                                        + $"and calibration took {clock.Elapsed.TotalSeconds:F0} s.", "--budget-minutes");
        console.WriteLine($"  budget {options.BudgetMinutes} min: calibration timed {timed} steps at {secondsPerStep:F3} s/step "
                          + $"({options.BatchSize / secondsPerStep:F0} images/s), k-NN {knnSeconds:F1} s, checkpoint {checkpointSeconds:F1} s -> planning {steps} steps "
                          + $"({(double)steps / settings.StepsPerEpoch:F2} epochs); the probe runs after the budget.");
        return (steps, clock.Elapsed.TotalSeconds);
    }

    private static int Benchmark(TrainingOptions options, RunSettings settings, Tensor trainImages, ViewFactory views, Device device, TextWriter console,
                                 ProcessGroup group)
    {
        using var session = new TrainingSession(options, settings, trainImages, views, device, group);
        const int warmup = 3;
        for (var i = 0; i < warmup; i++) session.Step(i, settings.LearningRate);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < options.BenchmarkSteps; i++) session.Step(warmup + i, settings.LearningRate);
        var seconds = clock.Elapsed.TotalSeconds;
        var imagesPerSecond = options.BenchmarkSteps * (double)options.BatchSize / seconds;
        console.WriteLine($"throughput: {imagesPerSecond:F1} images/s ({options.BenchmarkSteps} steps of {options.BatchSize} images in {seconds:F2} s, "
                          + $"{seconds / options.BenchmarkSteps:F3} s/step) | {RunSummary.MethodLabel(options)} | encoder {settings.Encoder}, {options.Precision} "
                          + $"| {Devices.Describe(device)}, {get_num_threads()} threads" + (group.WorldSize > 1 ? $" per rank x {group.WorldSize} ranks (mpirun)" : ""));
        return ExitCodes.Success;
    }
}
