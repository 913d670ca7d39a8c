using System.Buffers.Binary;
using Decomp.Apps;
using Decomp.Train.Vision.Data;
using Decomp.Train.Vision.Models;
using Decomp.Train.Vision.Reporting;
using Decomp.Train.Vision.Training;
using Xunit;

namespace Decomp.Vision.Tests;

/// <summary>Whole runs at tiny scale: 256 synthetic 28x28 training images, batches of 32 (8 steps per epoch).</summary>
public sealed class TrainingRunTests : IDisposable
{
    private readonly TempFolder temp = new();
    private readonly string data;

    public TrainingRunTests() => data = Fixtures.WriteIdxDataset(Path.Combine(temp.Path, "data"), 256, 60);

    public void Dispose() => temp.Dispose();

    private sealed class SimulatedKill : Exception;

    private TrainingOptions Tiny(string name, Framework framework = Framework.MoCo, ObjectiveKind objective = ObjectiveKind.Decomposed) => new()
    {
        Dataset = DatasetKind.FashionMnist, DataDir = data, Output = Path.Combine(temp.Path, name),
        Framework = framework, Objective = objective, Encoder = EncoderKind.SmallCnn,
        BatchSize = 32, QueueSize = 64, BatchNormSplits = 4, Epochs = 2,
        KnnEvery = 4, KnnK = 10, KnnBankSize = 64, KnnQuerySize = 40, ProbeEpochs = 3, ProbeBatchSize = 64,
        CheckpointMinutes = 0, CheckpointEvery = 5, LogEvery = 2, ProgressSeconds = 1000, Device = "cpu", Threads = 1,
    };

    private static readonly IReadOnlySet<string> AllGiven = typeof(TrainingOptions).GetProperties().Select(p => p.Name).ToHashSet();

    private static int Run(TrainingOptions options, IReadOnlySet<string>? given = null, RunHooks? hooks = null, CancellationToken cancel = default) =>
        TrainingRun.Execute(options, given ?? AllGiven, TextWriter.Null, cancel, hooks);

    /// <summary>metrics.csv without its two timing columns (elapsed seconds, images per second).</summary>
    private static string[] DeterministicLog(string folder) =>
        File.ReadAllLines(Path.Combine(folder, TrainingRun.MetricsFile))
            .Select(l => l.Split(','))
            .Select(c => string.Join(",", c.Where((_, i) => i != 2 && i != 9)))
            .ToArray();

    /// <summary>The tensors of a checkpoint, verified: its data section (its header holds the JSON state, which holds timings).</summary>
    private static byte[] CheckpointTensors(string folder)
    {
        var path = Path.Combine(folder, Checkpoint.FileName);
        Decomp.Apps.SafeTensors.Verify(path);
        var bytes = File.ReadAllBytes(path);
        return bytes[(8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes))..];
    }

    private static RunSummary Summary(string folder) => RunSummary.Read(Path.Combine(folder, TrainingRun.SummaryFile));

    private static void AssertSameResults(string expected, string actual)
    {
        Assert.Equal(DeterministicLog(expected), DeterministicLog(actual));
        Assert.Equal(CheckpointTensors(expected), CheckpointTensors(actual));
        var (a, b) = (Summary(expected), Summary(actual));
        Assert.Equal((a.Steps, a.KnnTop1, a.ProbeTop1, a.ProbeTop5, a.ProbeTrainTop1), (b.Steps, b.KnnTop1, b.ProbeTop1, b.ProbeTop5, b.ProbeTrainTop1));
        Assert.Equal((a.FinalFullViewBound, a.FinalRestrictedViewBound, a.FinalConditionalBound), (b.FinalFullViewBound, b.FinalRestrictedViewBound, b.FinalConditionalBound));
    }

    [Theory]
    [InlineData("MoCo", "Decomposed")]
    [InlineData("SimClr", "DecomposedWithoutConditional")]
    public void AKilledRunResumedFromItsCheckpointEndsExactlyLikeAnUninterruptedOne(string frameworkName, string objectiveName)
    {
        var (framework, objective) = (Enum.Parse<Framework>(frameworkName), Enum.Parse<ObjectiveKind>(objectiveName));
        var uninterrupted = Tiny("whole", framework, objective);
        var killed = Tiny("killed", framework, objective);
        Assert.Equal(ExitCodes.Success, Run(uninterrupted));

        // Killed at step 7, in the middle of the first epoch; the last checkpoint is from step 5, and the log already
        // holds the line of step 6, which the resumed run must drop and redo.
        Assert.Throws<SimulatedKill>(() => Run(killed, hooks: new RunHooks { AfterStep = s => { if (s == 7) throw new SimulatedKill(); } }));
        Assert.Contains(DeterministicLog(killed.Output!), l => l.StartsWith("6,"));
        Assert.Equal(5, Checkpoint.ReadState(Path.Combine(killed.Output!, Checkpoint.FileName)).Step);
        var resumed = new TrainingOptions { Output = killed.Output, Resume = true };
        Assert.Equal(ExitCodes.Success, Run(resumed, new HashSet<string> { nameof(TrainingOptions.Output), nameof(TrainingOptions.Resume) }));

        AssertSameResults(uninterrupted.Output!, killed.Output!);
        Assert.Equal(16, Summary(killed.Output!).Steps);
    }

    [Fact]
    public void AnInterruptedRunWritesACheckpointAndResumesToTheSameEnd()
    {
        var uninterrupted = Tiny("whole", objective: ObjectiveKind.InfoNce);
        var interrupted = Tiny("interrupted", objective: ObjectiveKind.InfoNce);
        Assert.Equal(ExitCodes.Success, Run(uninterrupted));
        using var stop = new CancellationTokenSource();

        var code = Run(interrupted, hooks: new RunHooks { AfterStep = s => { if (s == 11) stop.Cancel(); } }, cancel: stop.Token);

        Assert.Equal(ExitCodes.Interrupted, code);
        Assert.Equal(11, Checkpoint.ReadState(Path.Combine(interrupted.Output!, Checkpoint.FileName)).Step);
        Assert.False(File.Exists(Path.Combine(interrupted.Output!, TrainingRun.SummaryFile)));
        Assert.Equal(ExitCodes.Success, Run(interrupted with { Resume = true }));
        AssertSameResults(uninterrupted.Output!, interrupted.Output!);
    }

    [Fact]
    public void ALeftOverTemporaryCheckpointDoesNotDisturbResumption()
    {
        var options = Tiny("crashed-while-writing");
        Assert.Throws<SimulatedKill>(() => Run(options, hooks: new RunHooks { AfterStep = s => { if (s == 6) throw new SimulatedKill(); } }));
        // A process killed while writing leaves a partial temporary file beside the intact checkpoint.
        File.WriteAllBytes(Path.Combine(options.Output!, Checkpoint.FileName + ".tmp"), new byte[] { 1, 2, 3 });

        Assert.Equal(ExitCodes.Success, Run(options with { Resume = true }));
        Assert.Equal(16, Summary(options.Output!).Steps);
    }

    [Fact]
    public void ResumingWithADifferentResultAffectingOptionIsRefusedByName()
    {
        var options = Tiny("conflict");
        Assert.Throws<SimulatedKill>(() => Run(options, hooks: new RunHooks { AfterStep = s => { if (s == 6) throw new SimulatedKill(); } }));

        var e = Assert.Throws<ArgumentException>(() => Run(options with { Resume = true, Lambda = 0.7 }));

        Assert.Contains("--lambda was 0.5, now 0.7", e.Message);
    }

    [Fact]
    public void StartingAFreshRunOverAnExistingOneIsRefused()
    {
        var options = Tiny("existing");
        Assert.Throws<SimulatedKill>(() => Run(options, hooks: new RunHooks { AfterStep = s => { if (s == 6) throw new SimulatedKill(); } }));

        var e = Assert.Throws<ArgumentException>(() => Run(options));

        Assert.Contains("--resume", e.Message);
    }

    [Fact]
    public void ACorruptCheckpointIsAnErrorThatNamesIt()
    {
        var options = Tiny("corrupt");
        Assert.Throws<SimulatedKill>(() => Run(options, hooks: new RunHooks { AfterStep = s => { if (s == 6) throw new SimulatedKill(); } }));
        var path = Path.Combine(options.Output!, Checkpoint.FileName);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length * 2 / 3)]);

        // Issue 18: refused by its checksum, as bad input (exit code 2), before any of it is read.
        var e = Assert.Throws<Decomp.Apps.BadInputException>(() => Run(options with { Resume = true }));

        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void ZeroEpochsProbesTheRandomlyInitialisedEncoder()
    {
        var options = Tiny("random") with { Epochs = 0 };

        Assert.Equal(ExitCodes.Success, Run(options));

        var summary = Summary(options.Output!);
        Assert.Equal(0, summary.Steps);
        Assert.Equal("random init (no training)", summary.Method);
        Assert.NotNull(summary.ProbeTop1);
        Assert.NotNull(summary.KnnTop1);
    }

    [Fact]
    public void TrainingRaisesTheInfoNceEstimate()
    {
        // SimCLR's in-batch bound has no queue of random keys to distort its start: at random initialisation both views
        // map to nearly the same point, and training must separate the images of the batch.
        var options = Tiny("learns", Framework.SimClr, ObjectiveKind.InfoNce) with { Epochs = 6, LogEvery = 4 };

        Assert.Equal(ExitCodes.Success, Run(options));

        var log = File.ReadAllLines(Path.Combine(options.Output!, TrainingRun.MetricsFile)).Skip(1)
            .Select(l => double.Parse(l.Split(',')[5], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var quarter = log.Length / 4;
        Assert.True(log[^quarter..].Average() > log[..quarter].Average(), $"I_NCE went from {log[..quarter].Average():F3} to {log[^quarter..].Average():F3} nats");
        Assert.All(log, v => Assert.True(v <= Math.Log(32) + 1e-6, $"{v} nats exceeds log K"));
    }

    [Fact]
    public void ABudgetIsTurnedIntoAFixedNumberOfStepsAndTheRunWritesItsReport()
    {
        var options = Tiny("budget") with { Epochs = null, BudgetMinutes = 0.25, MaxSteps = 24 };
        var console = new StringWriter();

        Assert.Equal(ExitCodes.Success, TrainingRun.Execute(options, AllGiven, console, default));

        var summary = Summary(options.Output!);
        Assert.InRange(summary.Steps, 1, 24);
        Assert.Contains("planning", console.ToString());
        Assert.True(new FileInfo(Path.Combine(options.Output!, TrainingRun.PlotFile)).Length > 10_000);
        var log = File.ReadAllLines(Path.Combine(options.Output!, TrainingRun.MetricsFile));
        // The columns tests, scripts (check-resume.sh) and readers of the file know by name and position.
        Assert.Equal("step,epoch,elapsed_seconds,learning_rate,loss,infonce_full_view_nats,infonce_restricted_view_nats,conditional_is_nats,knn_top1_percent,images_per_second", log[0]);
        Assert.All(log.Skip(1), l => Assert.Equal(10, l.Split(',').Length));
        Assert.True(Checkpoint.ReadState(Path.Combine(options.Output!, Checkpoint.FileName)).TrainingComplete);
    }

    [Fact]
    public void AFolderOfColourImagesTrainsWithSimClrTheCutViewAndMixedPrecision()
    {
        // 40-pixel RGB images switch on every colour augmentation and the blur (images above 32 pixels).
        var folder = Path.Combine(temp.Path, "pictures");
        var random = new Random(3);
        for (var c = 0; c < 3; c++)
        for (var i = 0; i < 24; i++)
        {
            var shade = (byte)random.Next(0, 60);
            var colour = c switch { 0 => new SkiaSharp.SKColor((byte)(195 + shade), shade, shade), 1 => new SkiaSharp.SKColor(shade, (byte)(195 + shade), shade), _ => new SkiaSharp.SKColor(shade, shade, (byte)(195 + shade)) };
            Fixtures.WriteImage(Path.Combine(folder, $"class{c}", $"{i}.png"), 48, 40, colour);
        }
        var options = Tiny("colour", Framework.SimClr) with
        {
            Dataset = DatasetKind.Folder, DataDir = folder, ImageSize = 40, Channels = 3, TestFraction = 0.25,
            RestrictedView = RestrictedViewKind.Cut, Precision = Precision.BFloat16, BatchSize = 18, Epochs = 2, KnnEvery = 2,
        };

        Assert.Equal(ExitCodes.Success, Run(options));

        var summary = Summary(options.Output!);
        Assert.Equal("SimCLR, decomposed, cut (lambda 0.5)", summary.Method);
        Assert.Equal(6, summary.Steps);
        Assert.True(summary.FinalConditionalBound is { } conditional && double.IsFinite(conditional));
        Assert.True(summary.ProbeTop1 is >= 0 and <= 100);
    }

    [Fact]
    public void BenchmarkModeReportsThroughputAndWritesNothing()
    {
        var options = Tiny("bench") with { BenchmarkSteps = 2 };
        var console = new StringWriter();

        Assert.Equal(ExitCodes.Success, TrainingRun.Execute(options, AllGiven, console, default));

        Assert.Matches(@"throughput: [0-9.]+ images/s", console.ToString());
        Assert.False(Directory.Exists(options.Output));
    }
}
