using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Decomp.Apps;
using Decomp.Dialogue.Model;
using Decomp.Dialogue.Training;
using Xunit;

namespace Decomp.Dialogue.Tests;

/// <summary>
/// Issue 18: everything a resumed run reads back (checkpoint, negatives cache, best weights, logs) is verified before it
/// is trusted; a damaged file is refused by name, with exit code 2 and a way on; a run folder has one owner; a full disk
/// ends the run with one line, and what was saved resumes.
/// </summary>
[Collection(WholeRuns.Name)]
public class CheckpointIntegrityTests(TokenizerFilesFixture files) : IClassFixture<TokenizerFilesFixture>
{
    /// <summary>The toy run of <see cref="TrainerTests"/>: 3 steps per epoch, 12 in all; evaluations (and checkpoints) at steps 0, 3, 6, 9, 12.</summary>
    private TrainingOptions Toy(string output) => new()
    {
        Method = Method.InfoNceS, CorpusDialogues = 30, EmbeddingSize = 32, Layers = 1, Heads = 2, ContextLength = 128,
        MaxPastTokens = 64, MaxFutureTokens = 32, BatchSize = 8, Epochs = 4, WarmupSteps = 5, Negatives = 2,
        EvalExamples = 100, EvalGenerations = 10, ProbeTrainExamples = 100, Samples = 1, LogSeconds = 3600,
        OutputDirectory = output, Device = "cpu", Threads = 1, TokenizerDirectory = files.Directory,
    };

    /// <summary>The same run on the command line.</summary>
    private string[] TrainArgs(string output, bool resume = false, int epochs = 4) =>
    [
        "train", "--method", "infonce-s", "--corpus-dialogues", "30", "--n-embd", "32", "--n-layer", "1", "--n-head", "2",
        "--n-positions", "128", "--max-past-tokens", "64", "--max-future-tokens", "32", "--batch-size", "8", "--epochs", $"{epochs}",
        "--warmup-steps", "5", "--negatives", "2", "--eval-examples", "100", "--eval-generations", "10",
        "--probe-train-examples", "100", "--samples", "1", "--log-seconds", "3600", "--device", "cpu", "--threads", "1",
        "--tokenizer-dir", files.Directory, "--output", output, .. (resume ? new[] { "--resume" } : []),
    ];

    private static (int Code, string Output, string Error) Cli(string[] args)
    {
        var (output, error) = (new StringWriter(), new StringWriter());
        var code = Program.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static void AssertOneLineError(string error)
    {
        Assert.StartsWith("error: ", error);
        Assert.Single(error.TrimEnd().Split('\n'));
        Assert.DoesNotContain("   at ", error);
    }

    /// <summary>Trains until step <paramref name="step"/>, where Ctrl+C writes a checkpoint and stops the run.</summary>
    private void RunUntil(TrainingOptions options, long step)
    {
        using var cancel = new CancellationTokenSource();
        var trainer = new TrainingRun(options, TextWriter.Null) { StepCompleted = s => { if (s == step) cancel.Cancel(); } };
        Assert.Throws<OperationCanceledException>(() => trainer.Run(cancel.Token));
    }

    private static void Overwrite(string path, long offset, byte[] bytes)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
        file.Position = offset;
        file.Write(bytes);
    }

    private static byte[] FloatNaN(int bytes) => Enumerable.Repeat(BitConverter.GetBytes(float.NaN), bytes / 4).SelectMany(b => b).ToArray();

    /// <summary>Where a safetensors file's data section starts.</summary>
    private static long DataStart(string path) => 8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(File.ReadAllBytes(path).AsSpan(0, 8));

    public static TheoryData<string> Damage => new() { "4 KiB of float32 NaN in the weights", "4 KiB of random bytes" };

    [Theory]
    [MemberData(nameof(Damage))]
    public void ADamagedCheckpointIsRefusedByNameBeforeAnyStep(string damage)
    {
        using var dir = new TemporaryDirectory();
        RunUntil(Toy(dir.Path), 5);
        var path = dir.File(Checkpoint.FileName);
        var start = DataStart(path);
        if (damage.Contains("NaN")) Overwrite(path, start + 1024, FloatNaN(4096));
        else
        {
            var noise = new byte[4096];
            new Random(18).NextBytes(noise);
            Overwrite(path, start + (new FileInfo(path).Length - start) / 2, noise);
        }

        var e = Assert.Throws<BadInputException>(() => new TrainingRun(Toy(dir.Path) with { Resume = true }, TextWriter.Null).Run());

        Assert.StartsWith($"{path} is damaged: its bytes' SHA-256 is ", e.Message);
        Assert.False(File.Exists(dir.File("metrics.json")));
    }

    [Fact]
    public void TheCommandLineRefusesADamagedCheckpointWithOneLineAndCodeTwo()
    {
        using var dir = new TemporaryDirectory();
        RunUntil(Toy(dir.Path), 5);
        var path = dir.File(Checkpoint.FileName);
        Overwrite(path, DataStart(path) + 1024, FloatNaN(4096));

        var (code, _, error) = Cli(TrainArgs(dir.Path, resume: true));

        Assert.Equal(Decomp.Apps.ExitCodes.BadInput, code);
        AssertOneLineError(error);
        Assert.StartsWith($"error: {path} is damaged: ", error);
        Assert.Contains($"The previous checkpoint {dir.File("checkpoint.prev.safetensors")} is intact", error);
    }

    [Fact]
    public void TheRefusalPointsToThePreviousCheckpointWhichResumesToTheSameWeights()
    {
        using var straight = new TemporaryDirectory();
        using var dir = new TemporaryDirectory();
        new TrainingRun(Toy(straight.Path), TextWriter.Null).Run();
        RunUntil(Toy(dir.Path), 5); // checkpoints at steps 0, 3 (end of epoch 1) and 5 (mid-epoch 2)
        var path = dir.File(Checkpoint.FileName);
        var previous = dir.File("checkpoint.prev.safetensors");
        Overwrite(path, DataStart(path) + 100, new byte[64]);

        var e = Assert.Throws<BadInputException>(() => new TrainingRun(Toy(dir.Path) with { Resume = true }, TextWriter.Null).Run());

        Assert.Contains($"The previous checkpoint {previous} is intact: to resume from it, put it in the damaged one's place (mv {previous} {path})", e.Message);
        Assert.Equal(3, Checkpoint.Load(previous).State.Step);
        File.Move(previous, path, overwrite: true);
        new TrainingRun(Toy(dir.Path) with { Resume = true }, TextWriter.Null).Run();

        var a = Checkpoint.Load(straight.File(Checkpoint.FileName));
        var b = Checkpoint.Load(path);
        Assert.Equal(a.State.Step, b.State.Step);
        foreach (var ((name, pa), (_, pb)) in a.Model.named_parameters().Zip(b.Model.named_parameters()))
            TensorAssert.Identical(pa, pb, name);
        Assert.Equal(File.ReadAllLines(straight.File("train.csv")).Select(l => l.Split(',')[..2]), File.ReadAllLines(dir.File("train.csv")).Select(l => l.Split(',')[..2]));
    }

    [Fact]
    public void ACheckpointWithoutAChecksumIsRefusedAsOneFromAnEarlierVersion()
    {
        using var dir = new TemporaryDirectory();
        RunUntil(Toy(dir.Path), 5);
        var path = dir.File(Checkpoint.FileName);
        // The layout before checksums: the same safetensors file without decomp.sha256 in its metadata.
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var header = JsonNode.Parse(bytes.AsSpan(8, headerLength))!.AsObject();
        header["__metadata__"]!.AsObject().Remove("decomp.sha256");
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = json.Concat(Enumerable.Repeat((byte)' ', (8 - json.Length % 8) % 8)).ToArray();
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded.Length);
        File.WriteAllBytes(path, [.. length, .. padded, .. bytes.AsSpan(8 + headerLength)]);
        File.Delete(dir.File("checkpoint.prev.safetensors"));

        var (code, _, error) = Cli(TrainArgs(dir.Path, resume: true));

        Assert.Equal(Decomp.Apps.ExitCodes.BadInput, code);
        AssertOneLineError(error);
        Assert.Contains($"{path} is damaged: it has no checksum (decomp.sha256 in its __metadata__), so it cannot be verified: it was written by an earlier version", error);
        Assert.Contains("There is no intact previous checkpoint", error);
    }

    [Fact]
    public void ResumingWhereThereIsNoCheckpointIsAnErrorNotAFreshStart()
    {
        using var dir = new TemporaryDirectory();

        var (code, _, error) = Cli(TrainArgs(dir.Path, resume: true, epochs: 1));

        Assert.Equal(Decomp.Apps.ExitCodes.BadInput, code);
        AssertOneLineError(error);
        Assert.Contains($"--resume: there is no checkpoint ({Checkpoint.FileName}) in {Path.GetFullPath(dir.Path)}", error);
        Assert.DoesNotContain(Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories), f => !Path.GetFileName(f).StartsWith(".decomp"));
    }

    [Fact]
    public void ResumingFromTheCommandLineTakesTheOptionsNotGivenFromTheCheckpoint()
    {
        using var dir = new TemporaryDirectory();
        RunUntil(Toy(dir.Path), 3);

        // Only the folder: the method, model, batch, epochs, device and tokenizer folder all come from the checkpoint.
        var (code, _, error) = Cli(["train", "--output", dir.Path, "--resume"]);

        Assert.True(code == 0, error);
        var metrics = JsonDocument.Parse(File.ReadAllText(dir.File("metrics.json"))).RootElement;
        Assert.Equal(12, metrics.GetProperty("Steps").GetInt64()); // the toy run's 4 epochs of 3 steps, not the defaults'
        // A given option that would change the result is still refused, by name.
        using var other = new TemporaryDirectory();
        RunUntil(Toy(other.Path), 3);
        var (refused, _, message) = Cli(["train", "--output", other.Path, "--resume", "--batch-size", "4"]);
        Assert.Equal(Decomp.Apps.ExitCodes.BadInput, refused);
        Assert.Contains("--batch-size was 8, now 4", message);
    }

    [Fact]
    public void ResumingWithAnOptionThatChangesTheResultNamesIt()
    {
        using var dir = new TemporaryDirectory();
        RunUntil(Toy(dir.Path), 3);

        var e = Assert.Throws<ArgumentException>(() => new TrainingRun(Toy(dir.Path) with { Resume = true, BatchSize = 4, Threads = 2 }, TextWriter.Null).Run());

        // Threads is operational ([Operational]) and may change; the batch size may not.
        Assert.StartsWith("--resume: the checkpointed run was made with different options: --batch-size was 8, now 4. ", e.Message);
    }

    [Fact]
    public void ARunFolderInUseIsRefusedWithOneLineAndCodeTwo()
    {
        using var dir = new TemporaryDirectory();
        using var owner = RunFolder.Acquire(dir.Path);

        var (code, _, error) = Cli(TrainArgs(dir.Path, epochs: 1));

        Assert.Equal(Decomp.Apps.ExitCodes.BadInput, code);
        AssertOneLineError(error);
        Assert.Contains($"{dir.Path} is in use by process {Environment.ProcessId}; use another --output", error);
        Assert.False(File.Exists(dir.File(Checkpoint.FileName)));
    }

    [Fact]
    public void OnAFullDiskTheRunStopsWithOneLineAndWhatItSavedResumes()
    {
        using var dir = new TemporaryDirectory();
        // What an append to train.csv throws when the disk is full, after step 5 (the last checkpoint is of step 3).
        var full = new IOException($"No space left on device : '{dir.File("train.csv")}'");
        var (output, error) = (new StringWriter(), new StringWriter());

        var code = Program.Run(TrainArgs(dir.Path), output, error, stepCompleted: s => { if (s == 5) throw full; });

        Assert.Equal(Decomp.Apps.ExitCodes.Failure, code);
        AssertOneLineError(error.ToString());
        Assert.Contains($"No space left on device : '{dir.File("train.csv")}'. The checkpoint of step 3 ({dir.File(Checkpoint.FileName)}) "
                        + "and the files written before are intact: once the cause is fixed (free space on the disk), continue with --resume.", error.ToString());
        var (resumed, _, resumeError) = Cli(TrainArgs(dir.Path, resume: true));
        Assert.True(resumed == 0, resumeError);
        Assert.True(File.Exists(dir.File("metrics.json")));
    }

    [Fact]
    public void ADamagedNegativesCacheInTheMiddleOfItsEpochIsRefusedByName()
    {
        using var dir = new TemporaryDirectory();
        RunUntil(Toy(dir.Path), 5); // epoch 2 (its negatives sampled at step 3 by the model of then), 2 of 3 steps done
        var cache = Path.Combine(dir.Path, "negatives", "epoch-001.bin");
        Assert.True(File.Exists(cache));
        Overwrite(cache, 40, FloatNaN(64));

        var e = Assert.Throws<BadInputException>(() => new TrainingRun(Toy(dir.Path) with { Resume = true }, TextWriter.Null).Run());

        Assert.StartsWith($"{cache}: not a usable negative-futures cache", e.Message);
        Assert.Contains("delete it and run again with --resume", e.Message);
    }

    [Fact]
    public void ADamagedBestModelIsRefusedByNameInsteadOfBeingEvaluated()
    {
        using var dir = new TemporaryDirectory();
        new TrainingRun(Toy(dir.Path) with { Method = Method.Gpt2, Epochs = 1 }, TextWriter.Null).Run();
        var best = Path.Combine(dir.Path, "best", "model.safetensors");
        Overwrite(best, DataStart(best) + 256, FloatNaN(4096));
        File.Delete(dir.File("metrics.json"));

        // Training had stopped: --resume only evaluates the best weights again.
        var e = Assert.Throws<BadInputException>(() => new TrainingRun(Toy(dir.Path) with { Method = Method.Gpt2, Epochs = 1, Resume = true }, TextWriter.Null).Run());

        Assert.StartsWith($"{best} is damaged: ", e.Message);
        Assert.False(File.Exists(dir.File("metrics.json")));
    }

    [Fact]
    public void TheLogsAreRebuiltFromTheCheckpointNotReadBackOnResume()
    {
        using var straight = new TemporaryDirectory();
        using var dir = new TemporaryDirectory();
        new TrainingRun(Toy(straight.Path) with { Method = Method.InfoNce }, TextWriter.Null).Run();
        RunUntil(Toy(dir.Path) with { Method = Method.InfoNce }, 5);
        // A torn line (a disk that filled up in the middle of an append) and a damaged one.
        File.AppendAllText(dir.File("train.csv"), "1");
        var eval = File.ReadAllLines(dir.File("eval.csv"));
        var fields = eval[1].Split(',');
        fields[3] = fields[3].Insert(1, "x");
        eval[1] = string.Join(',', fields);
        File.WriteAllLines(dir.File("eval.csv"), eval);

        new TrainingRun(Toy(dir.Path) with { Method = Method.InfoNce, Resume = true }, TextWriter.Null).Run();

        // Every validation line equals the uninterrupted run's but for the time; a training line's means cover the steps
        // since the previous line in this process, so only its step, epoch and learning rate are compared.
        static string[] Columns(string file, params int[] keep) => File.ReadAllLines(file).Select(l => string.Join(',', l.Split(',').Where((_, i) => keep.Contains(i)))).ToArray();
        Assert.Equal(Columns(straight.File("train.csv"), 0, 1, 3), Columns(dir.File("train.csv"), 0, 1, 3));
        Assert.Equal(Columns(straight.File("eval.csv"), 0, 1, 3, 4, 5, 6), Columns(dir.File("eval.csv"), 0, 1, 3, 4, 5, 6));
    }
}

/// <summary>
/// Test classes that train whole runs, one at a time: a run seeds libtorch's global generator at every step (dropout), so
/// two runs at once in one process would draw from each other's stream and no longer repeat themselves.
/// </summary>
[CollectionDefinition(Name)]
public sealed class WholeRuns
{
    public const string Name = "whole training runs";
}

public class NegativeFuturesChecksumTests
{
    [Fact]
    public void ACacheWhoseTokensWereChangedToOtherValidOnesIsRefused()
    {
        using var dir = new TemporaryDirectory();
        const int endOfText = 36;
        var examples = Enumerable.Range(0, 12).Select(i =>
            new Text.EncodedExample(i, [1, 2, i % 30, endOfText], [5, 6, endOfText, 7, endOfText], [i % 30, endOfText], 3, 1 + i % 2, null, false)).ToList();
        using var model = new Gpt2Model(Gpt2WeightsTests.TinyConfig(), seed: 4);
        var negatives = NegativeFutures.Sample(model, examples, 2, endOfText, 8, new SamplingSettings(), seed: 2, batchSize: 8);
        var path = dir.File("epoch-000.bin");
        negatives.Save(path);
        // The first future's first token (after the 24-byte header and its length) becomes another id of the vocabulary.
        var bytes = File.ReadAllBytes(path);
        var token = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(28));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(28), (token + 1) % 37);
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<InvalidDataException>(() => NegativeFutures.Load(path, examples, 2, 37));

        Assert.StartsWith($"{path}: not a usable negative-futures cache (its content's SHA-256 is ", e.Message);
    }
}
