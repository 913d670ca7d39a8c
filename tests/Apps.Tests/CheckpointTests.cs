using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Xunit;

namespace Decomp.Apps.Tests;

public class KeepPreviousTests
{
    [Fact]
    public void AWriteKeepsTheFileItReplacesUnderThePreviousName()
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("checkpoint.bin");
        var previous = CheckpointFile.PreviousPathFor(path);
        Assert.Equal(folder.File("checkpoint.prev.bin"), previous);

        AtomicFile.Write(path, s => s.Write("step 5"u8), previous);
        Assert.False(File.Exists(previous)); // nothing to keep yet
        AtomicFile.Write(path, s => s.Write("step 10"u8), previous);
        AtomicFile.Write(path, s => s.Write("step 15"u8), previous);

        Assert.Equal("step 15", File.ReadAllText(path));
        Assert.Equal("step 10", File.ReadAllText(previous));
        Assert.Equal(new[] { previous, path }.Order(), Directory.GetFiles(folder.Path).Order());
    }

    [Fact]
    public void AFailedWriteLeavesBothTheCheckpointAndThePreviousOne()
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("checkpoint.bin");
        var previous = CheckpointFile.PreviousPathFor(path);
        AtomicFile.Write(path, s => s.Write("step 5"u8), previous);
        AtomicFile.Write(path, s => s.Write("step 10"u8), previous);

        Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write("step 1"u8);
            throw new IOException("No space left on device");
        }, previous));

        Assert.Equal("step 10", File.ReadAllText(path));
        Assert.Equal("step 5", File.ReadAllText(previous));
        Assert.Equal(2, Directory.GetFiles(folder.Path).Length);
    }
}

public class CheckpointFileTests
{
    private static string Checkpoint(TemporaryFolder folder, params string[] contents)
    {
        var path = folder.File("checkpoint.bin");
        foreach (var c in contents) VerifiedFile.Write(path, s => s.Write(Encoding.UTF8.GetBytes(c)), CheckpointFile.PreviousPathFor(path));
        return path;
    }

    private static void Damage(string path)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[2] ^= 0x40;
        File.WriteAllBytes(path, bytes);
    }

    [Fact]
    public void ADamagedCheckpointWithAnIntactPreviousOneSaysHowToResumeFromIt()
    {
        using var folder = new TemporaryFolder();
        var path = Checkpoint(folder, "step 5", "step 10");
        Damage(path);

        var e = Assert.Throws<BadInputException>(() => CheckpointFile.Verify(path, VerifiedFile.Problem));

        var previous = CheckpointFile.PreviousPathFor(path);
        Assert.StartsWith($"{path} is damaged: its content's SHA-256 is ", e.Message);
        Assert.Contains($"The previous checkpoint {previous} is intact: to resume from it, put it in the damaged one's place (mv {previous} {path}) and run the same command with --resume again", e.Message);
        Assert.Contains($"to start over, delete {folder.Path} or use another --output.", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ADamagedCheckpointWithoutAnIntactPreviousOneSaysHowToStartOver()
    {
        using var folder = new TemporaryFolder();
        var path = Checkpoint(folder, "step 5", "step 10");
        Damage(path);
        Damage(CheckpointFile.PreviousPathFor(path));
        var e = Assert.Throws<BadInputException>(() => CheckpointFile.Verify(path, VerifiedFile.Problem));
        Assert.EndsWith($"There is no intact previous checkpoint (checkpoint.prev.bin) to fall back on: to start over, delete {folder.Path} or use another --output.", e.Message);

        File.Delete(CheckpointFile.PreviousPathFor(path));
        e = Assert.Throws<BadInputException>(() => CheckpointFile.Verify(path, VerifiedFile.Problem));
        Assert.Contains("There is no intact previous checkpoint", e.Message);
    }

    [Fact]
    public void AnIntactCheckpointPassesAndAMovedAwayOneIsReportedWithItsPredecessor()
    {
        using var folder = new TemporaryFolder();
        var path = Checkpoint(folder, "step 5", "step 10");
        CheckpointFile.Verify(path, VerifiedFile.Problem);
        Assert.Null(CheckpointFile.OnlyPrevious(path));
        Assert.True(CheckpointFile.Exists(path));

        File.Delete(path);

        Assert.True(CheckpointFile.Exists(path));
        var e = CheckpointFile.OnlyPrevious(path);
        Assert.NotNull(e);
        Assert.Contains($"There is no checkpoint.bin in {folder.Path}, only the previous checkpoint {CheckpointFile.PreviousPathFor(path)}", e.Message);
    }
}

public class VerifiedFileProblemTests
{
    [Fact]
    public void TryReadReportsWhatIsWrongWithoutThrowing()
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("negatives.bin");
        VerifiedFile.Write(path, s => s.Write("futures"u8));
        Assert.True(VerifiedFile.TryReadAllBytes(path, out var content, out _));
        Assert.Equal("futures"u8.ToArray(), content);
        Assert.Null(VerifiedFile.Problem(path));

        File.WriteAllBytes(path, File.ReadAllBytes(path)[..^3]);
        Assert.False(VerifiedFile.TryReadAllBytes(path, out _, out var problem));
        Assert.Contains("truncated", problem);
        Assert.Contains("cannot be read", VerifiedFile.Problem(folder.File("missing.bin")));
    }
}

/// <summary>The apps' one checkpoint format: named tensors and named state entries in one checksummed safetensors file.</summary>
public class CheckpointSaveAndOpenTests
{
    private static TorchSharp.Modules.Sequential Model(long seed)
    {
        TorchSharp.torch.manual_seed(seed);
        return TorchSharp.torch.nn.Sequential(("linear", TorchSharp.torch.nn.Linear(3, 4)), ("norm", TorchSharp.torch.nn.BatchNorm1d(4)));
    }

    private static byte[] OptimizerBytes(TorchSharp.Modules.OptimizerHelper optimizer)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true)) optimizer.save_state_dict(writer);
        return buffer.ToArray();
    }

    [Fact]
    public void ModelsOptimizersTensorsAndStateComeBackExactly()
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("checkpoint.safetensors");
        using var model = Model(1);
        using var optimizer = TorchSharp.torch.optim.SGD(model.parameters(), 0.1, momentum: 0.9);
        using (var scope = TorchSharp.torch.NewDisposeScope())
        {
            model.train();
            model.forward(TorchSharp.torch.randn(8, 3)).square().sum().backward();
            optimizer.step();
        }
        using var extra = TorchSharp.torch.tensor(new long[] { 3, 1, 4 });
        CheckpointFile.Save(path, new Dictionary<string, string> { ["run.state"] = "{\"step\":7}" }, tensors =>
        {
            tensors.Add("model.", model);
            tensors.Add("optimizer", optimizer);
            tensors.Add("extra", extra);
        });

        using var restored = Model(2);
        using var restoredOptimizer = TorchSharp.torch.optim.SGD(restored.parameters(), 0.1, momentum: 0.9);
        using (var file = CheckpointFile.Open(path))
        {
            Assert.Equal("{\"step\":7}", file.Metadata["run.state"]);
            file.CopyInto("model.", restored);
            file.ReadInto("optimizer", restoredOptimizer);
            using var extraBack = file.Read("extra");
            Assert.Equal(new long[] { 3, 1, 4 }, extraBack.data<long>().ToArray());
        }

        foreach (var ((name, expected), (_, actual)) in model.state_dict().Zip(restored.state_dict()))
        {
            using var same = expected.eq(actual).all();
            Assert.True(same.item<bool>(), name);
        }
        Assert.Equal(OptimizerBytes(optimizer), OptimizerBytes(restoredOptimizer));
        Assert.Null(SafeTensors.Problem(path));
    }

    [Fact]
    public void ATensorThatDoesNotFitTheModelIsRefusedByName()
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("checkpoint.safetensors");
        using var model = Model(1);
        CheckpointFile.Save(path, new Dictionary<string, string>(), tensors => tensors.Add("model.", model));
        using var wider = TorchSharp.torch.nn.Sequential(("linear", TorchSharp.torch.nn.Linear(3, 5)), ("norm", TorchSharp.torch.nn.BatchNorm1d(5)));

        using var file = CheckpointFile.Open(path);
        var e = Assert.Throws<InvalidDataException>(() => file.CopyInto("model.", wider));
        Assert.Contains(path, e.Message);
        Assert.Contains("'model.linear.weight'", e.Message);
        e = Assert.Throws<InvalidDataException>(() => file.CopyInto("other.", model));
        Assert.Contains("'other.linear.weight' is missing", e.Message);
    }

    [Fact]
    public void ADamagedCheckpointIsRefusedBeforeAnythingIsReadWithThePreviousOneNamed()
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("checkpoint.safetensors");
        using var weights = TorchSharp.torch.arange(1000, dtype: TorchSharp.torch.ScalarType.Float32);
        var state = new Dictionary<string, string> { ["run.state"] = "{}" };
        CheckpointFile.Save(path, state, tensors => tensors.Add("w", weights));
        CheckpointFile.Save(path, state, tensors => tensors.Add("w", weights));
        var previous = folder.File("checkpoint.prev.safetensors");
        Assert.Equal(previous, CheckpointFile.PreviousPathFor(path));
        var bytes = File.ReadAllBytes(path);
        BitConverter.GetBytes(float.NaN).CopyTo(bytes, bytes.Length - 400);
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<BadInputException>(() => CheckpointFile.Open(path).Dispose());

        Assert.StartsWith($"{path} is damaged: its bytes' SHA-256 is ", e.Message);
        Assert.Contains($"The previous checkpoint {previous} is intact", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void AFailureWhileAddingTensorsIsAFailedWriteThatLeavesTheCheckpointsAsTheyWere()
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("checkpoint.safetensors");
        using var weights = TorchSharp.torch.ones(4);
        CheckpointFile.Save(path, new Dictionary<string, string>(), tensors => tensors.Add("w", weights));
        var before = File.ReadAllBytes(path);

        var e = Assert.Throws<IOException>(() => CheckpointFile.Save(path, new Dictionary<string, string>(), _ => throw new IOException("No space left on device")));

        Assert.Contains(path, e.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(folder.Path));
    }

    [Fact]
    public void AFolderWithACheckpointOfAnEarlierFormatIsRefusedWithHowToStartOver()
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("checkpoint.safetensors");
        var earlier = folder.File("checkpoint.bin");
        Assert.Null(CheckpointFile.InEarlierFormat(path, earlier, "the earlier binary format"));

        File.WriteAllText(CheckpointFile.PreviousPathFor(earlier), "old");
        var e = CheckpointFile.InEarlierFormat(path, earlier, "the earlier binary format");

        Assert.NotNull(e);
        Assert.Equal($"{folder.File("checkpoint.prev.bin")} is a checkpoint in the earlier binary format, which this version no longer reads "
                     + $"(it writes checkpoint.safetensors): the run cannot be resumed; to start over, delete {folder.Path} or use another --output.", e.Message);
        File.WriteAllText(earlier, "old");
        Assert.StartsWith($"{earlier} is a checkpoint", CheckpointFile.InEarlierFormat(path, earlier, "the earlier binary format")!.Message);

        using var weights = TorchSharp.torch.ones(1);
        CheckpointFile.Save(path, new Dictionary<string, string>(), tensors => tensors.Add("w", weights));
        Assert.Null(CheckpointFile.InEarlierFormat(path, earlier, "the earlier binary format"));
    }
}
