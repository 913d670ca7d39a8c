using System.Text;
using Decomp.Apps;
using Decomp.Train.Vision.Cli;
using Decomp.Train.Vision.Data;
using Decomp.Train.Vision.Models;
using Decomp.Train.Vision.Reporting;
using Decomp.Train.Vision.Training;
using Xunit;
using VisionExit = Decomp.Apps.ExitCodes;

namespace Decomp.Vision.Tests;

/// <summary>
/// Issue 18: a checkpoint is trusted only when its checksum matches; a damaged one is refused by name with exit code 2
/// and a pointer to the previous checkpoint; a run folder has one owner.
/// </summary>
public sealed class CheckpointIntegrityTests : IDisposable
{
    private readonly TempFolder temp = new();
    private readonly string data;

    public CheckpointIntegrityTests() => data = Fixtures.WriteIdxDataset(Path.Combine(temp.Path, "data"), 256, 60);

    public void Dispose() => temp.Dispose();

    private sealed class SimulatedKill : Exception;

    /// <summary>The tiny MoCo run of <see cref="TrainingRunTests"/>: 8 steps per epoch, 16 in all, a checkpoint every 5.</summary>
    private TrainingOptions Tiny(string name) => new()
    {
        Dataset = DatasetKind.FashionMnist, DataDir = data, Output = Path.Combine(temp.Path, name),
        Framework = Framework.MoCo, Objective = ObjectiveKind.Decomposed, Encoder = EncoderKind.SmallCnn,
        BatchSize = 32, QueueSize = 64, BatchNormSplits = 4, Epochs = 2,
        KnnEvery = 4, KnnK = 10, KnnBankSize = 64, KnnQuerySize = 40, ProbeEpochs = 3, ProbeBatchSize = 64,
        CheckpointMinutes = 0, CheckpointEvery = 5, LogEvery = 2, ProgressSeconds = 1000, Device = "cpu", Threads = 1,
    };

    private static readonly IReadOnlySet<string> AllGiven = typeof(TrainingOptions).GetProperties().Select(p => p.Name).ToHashSet();

    /// <summary>Trains <paramref name="options"/> until step <paramref name="killAt"/>, where the process "dies" (no checkpoint of its own).</summary>
    private static void RunAndKill(TrainingOptions options, long killAt) =>
        Assert.Throws<SimulatedKill>(() => TrainingRun.Execute(options, AllGiven, TextWriter.Null, default,
            new RunHooks { AfterStep = s => { if (s == killAt) throw new SimulatedKill(); } }));

    private static (int Code, string Output, string Error) Cli(params string[] args) => CommandLineTests.Run(args);

    private static void AssertOneLineError(string error) => CommandLineTests.AssertOneLineError(error);

    private static string[] DeterministicLog(string folder) =>
        File.ReadAllLines(Path.Combine(folder, TrainingRun.MetricsFile))
            .Select(l => string.Join(",", l.Split(',').Where((_, i) => i != 2 && i != 9))).ToArray();

    private static void Overwrite(string path, int offset, byte[] bytes)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
        file.Position = offset;
        file.Write(bytes);
    }

    public static TheoryData<string> Damage => new() { "4 KiB of float32 NaN in the middle", "4 KiB of random bytes near the end" };

    [Theory]
    [MemberData(nameof(Damage))]
    public void ADamagedCheckpointIsRefusedOnResumeWithOneLineThatNamesItAndCodeTwo(string damage)
    {
        var options = Tiny("damaged");
        RunAndKill(options, 7);
        var path = Path.Combine(options.Output!, Checkpoint.FileName);
        var length = (int)new FileInfo(path).Length;
        if (damage.Contains("NaN"))
            Overwrite(path, length / 2, Enumerable.Repeat(BitConverter.GetBytes(float.NaN), 1024).SelectMany(b => b).ToArray());
        else
        {
            var noise = new byte[4096];
            new Random(18).NextBytes(noise);
            Overwrite(path, length - 4096 - 300, noise);
        }

        var (code, _, error) = Cli("--output", options.Output!, "--resume");

        Assert.Equal(VisionExit.BadInput, code);
        Assert.Equal(Decomp.Apps.ExitCodes.BadInput, code);
        AssertOneLineError(error);
        Assert.StartsWith($"error: {path} is damaged: its bytes' SHA-256 is ", error);
        Assert.Contains("to start over, delete", error);
        Assert.False(File.Exists(Path.Combine(options.Output!, TrainingRun.SummaryFile)));
    }

    [Fact]
    public void TheRefusalPointsToThePreviousCheckpointWhichResumesToTheSameEndAsAnUninterruptedRun()
    {
        var whole = Tiny("whole");
        Assert.Equal(VisionExit.Success, TrainingRun.Execute(whole, AllGiven, TextWriter.Null, default));
        var options = Tiny("rolled-back");
        RunAndKill(options, 12); // checkpoints at steps 5 and 10
        var path = Path.Combine(options.Output!, Checkpoint.FileName);
        var previous = Path.Combine(options.Output!, "checkpoint.prev.safetensors");
        Overwrite(path, (int)new FileInfo(path).Length / 3, new byte[4096]);

        var (code, _, error) = Cli("--output", options.Output!, "--resume");

        Assert.Equal(Decomp.Apps.ExitCodes.BadInput, code);
        AssertOneLineError(error);
        Assert.Contains($"The previous checkpoint {previous} is intact: to resume from it, put it in the damaged one's place (mv {previous} {path})", error);
        Assert.Equal(5, Checkpoint.ReadState(previous).Step);

        File.Move(previous, path, overwrite: true);
        Assert.Equal(VisionExit.Success, TrainingRun.Execute(options with { Resume = true }, AllGiven, TextWriter.Null, default));

        Assert.Equal(DeterministicLog(whole.Output!), DeterministicLog(options.Output!));
        var (a, b) = (RunSummary.Read(Path.Combine(whole.Output!, TrainingRun.SummaryFile)), RunSummary.Read(Path.Combine(options.Output!, TrainingRun.SummaryFile)));
        Assert.Equal((a.Steps, a.KnnTop1, a.ProbeTop1, a.FinalFullViewBound, a.FinalConditionalBound), (b.Steps, b.KnnTop1, b.ProbeTop1, b.FinalFullViewBound, b.FinalConditionalBound));
    }

    [Fact]
    public void ACheckpointWithoutAChecksumIsRefusedAsOneFromAnEarlierVersion()
    {
        var options = Tiny("old");
        RunAndKill(options, 7);
        var path = Path.Combine(options.Output!, Checkpoint.FileName);
        // A safetensors checkpoint without decomp.sha256 in its metadata (the key renamed, so every offset stays).
        var bytes = File.ReadAllBytes(path);
        var key = Encoding.ASCII.GetBytes($"\"{SafeTensors.ChecksumKey}\":");
        var at = bytes.AsSpan().IndexOf(key);
        Assert.True(at > 0);
        Encoding.ASCII.GetBytes("\"decomp.nosum0\":").CopyTo(bytes, at);
        File.WriteAllBytes(path, bytes);

        var (code, _, error) = Cli("--output", options.Output!, "--resume");

        Assert.Equal(Decomp.Apps.ExitCodes.BadInput, code);
        AssertOneLineError(error);
        Assert.Contains($"{path} is damaged: it has no checksum (decomp.sha256 in its __metadata__), so it cannot be verified: it was written by an earlier version of this program", error);
    }

    [Fact]
    public void AFolderWithACheckpointOfTheEarlierBinaryFormatIsRefusedWithOneLineThatSaysHowToStartOver()
    {
        var options = Tiny("binary");
        RunAndKill(options, 12); // checkpoints at steps 5 and 10
        // What the earlier version left: checkpoint.bin and checkpoint.prev.bin, no safetensors checkpoint.
        var earlier = Path.Combine(options.Output!, "checkpoint.bin");
        File.Move(Path.Combine(options.Output!, Checkpoint.FileName), earlier);
        File.Move(Path.Combine(options.Output!, "checkpoint.prev.safetensors"), Path.Combine(options.Output!, "checkpoint.prev.bin"));

        var (code, _, error) = Cli("--output", options.Output!, "--resume");

        Assert.Equal(Decomp.Apps.ExitCodes.BadInput, code);
        AssertOneLineError(error);
        Assert.Equal($"error: {earlier} is a checkpoint in the earlier binary format of the vision driver, which this version no longer reads "
                     + $"(it writes checkpoint.safetensors): the run cannot be resumed; to start over, delete {options.Output} or use another --output.",
                     error.TrimEnd());

        // A fresh run there would overwrite the old run's files: refused the same way.
        (code, _, error) = Cli("--data-dir", data, "--output", options.Output!, "--encoder", "small-cnn", "--batch-size", "32",
                               "--queue-size", "64", "--bn-splits", "4", "--epochs", "1", "--probe-epochs", "0", "--device", "cpu");
        Assert.Equal(Decomp.Apps.ExitCodes.BadInput, code);
        Assert.StartsWith($"error: {earlier} is a checkpoint in the earlier binary format", error);
        Assert.False(File.Exists(Path.Combine(options.Output!, Checkpoint.FileName)));
    }

    [Fact]
    public void ARunFolderInUseIsRefusedWithOneLineAndCodeTwo()
    {
        var options = Tiny("busy");
        using (RunFolder.Acquire(options.Output!))
        {
            var (code, _, error) = Cli("--data-dir", data, "--output", options.Output!, "--encoder", "small-cnn", "--batch-size", "32",
                                       "--queue-size", "64", "--bn-splits", "4", "--epochs", "1", "--probe-epochs", "0", "--device", "cpu");

            Assert.Equal(Decomp.Apps.ExitCodes.BadInput, code);
            AssertOneLineError(error);
            Assert.Contains($"{options.Output} is in use by process {Environment.ProcessId}; use another --output", error);
            Assert.False(File.Exists(Path.Combine(options.Output!, Checkpoint.FileName)));
        }
    }

    [Fact]
    public void AFailedCheckpointWriteLeavesThePreviousCheckpointAndNoTemporaryFile()
    {
        var options = Tiny("disk-full");
        RunAndKill(options, 7);
        var path = Path.Combine(options.Output!, Checkpoint.FileName);
        var before = File.ReadAllBytes(path);
        var state = Checkpoint.ReadState(path);

        var e = Assert.Throws<IOException>(() => Checkpoint.Save(path, state, _ => throw new IOException("No space left on device")));

        Assert.Contains(path, e.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.DoesNotContain(Directory.GetFiles(options.Output!), f => f.EndsWith(".tmp") || f.EndsWith(".decomp-tmp"));
    }
}
