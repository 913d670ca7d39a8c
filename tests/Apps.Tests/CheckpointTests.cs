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

public class SafeTensorsChecksumTests
{
    /// <summary>A safetensors file by the format's specification: F32 [3] = {1, 2, 3} and some metadata.</summary>
    private static string Write(TemporaryFolder folder, bool checksum = true)
    {
        var path = folder.File("checkpoint.safetensors");
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "hello" };
        if (checksum) metadata[SafeTensorsChecksum.MetadataKey] = SafeTensorsChecksum.Placeholder;
        var header = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["__metadata__"] = metadata,
            ["a"] = new Dictionary<string, object> { ["dtype"] = "F32", ["shape"] = new[] { 3 }, ["data_offsets"] = new[] { 0, 12 } },
        });
        var data = new[] { 1f, 2f, 3f }.SelectMany(BitConverter.GetBytes).ToArray();
        if (checksum)
        {
            SafeTensorsChecksum.Write(path, header, s => s.Write(data));
        }
        else
        {
            var length = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            File.WriteAllBytes(path, [.. length, .. header, .. data]);
        }
        return path;
    }

    [Fact]
    public void TheFileStaysAValidSafetensorsFileWithItsDigestInTheMetadata()
    {
        using var folder = new TemporaryFolder();
        var path = Write(folder);
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, headerLength));

        var digest = header.RootElement.GetProperty("__metadata__").GetProperty(SafeTensorsChecksum.MetadataKey).GetString()!;
        Assert.Matches("^[0-9a-f]{64}$", digest);
        Assert.NotEqual(SafeTensorsChecksum.Placeholder, digest);
        Assert.Equal("hello", header.RootElement.GetProperty("__metadata__").GetProperty("note").GetString());
        Assert.Equal(new[] { 1f, 2f, 3f }, Enumerable.Range(0, 3).Select(i => BitConverter.ToSingle(bytes, 8 + headerLength + 4 * i)));
        Assert.Equal(8 + headerLength + 12, bytes.Length);
        Assert.Null(SafeTensorsChecksum.Problem(path));
        SafeTensorsChecksum.Verify(path);
    }

    public static TheoryData<string, string> Damage => new()
    {
        { "NaN over the data", "SHA-256 is" },
        { "bit flipped in the header", "" },
        { "digest changed", "not the" },
        { "cut tail", "SHA-256 is" },
        { "cut header", "does not fit" },
        { "empty", "shorter than a safetensors header" },
    };

    [Theory]
    [MemberData(nameof(Damage))]
    public void AnyChangedByteIsFound(string damage, string expected)
    {
        using var folder = new TemporaryFolder();
        var path = Write(folder);
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var digestAt = Encoding.ASCII.GetString(bytes).IndexOf(SafeTensorsChecksum.MetadataKey + "\":\"", StringComparison.Ordinal)
                       + SafeTensorsChecksum.MetadataKey.Length + 3;
        switch (damage)
        {
            case "NaN over the data": BitConverter.GetBytes(float.NaN).CopyTo(bytes, 8 + headerLength + 4); break;
            case "bit flipped in the header": bytes[8 + headerLength - 3] ^= 0x01; break;
            case "digest changed": bytes[digestAt] = (byte)(bytes[digestAt] == (byte)'a' ? 'b' : 'a'); break;
            case "cut tail": bytes = bytes[..^4]; break;
            case "cut header": bytes = bytes[..(headerLength / 2)]; break;
            case "empty": bytes = []; break;
        }
        File.WriteAllBytes(path, bytes);

        var problem = SafeTensorsChecksum.Problem(path);
        Assert.NotNull(problem);
        Assert.Contains(expected, problem);
        var e = Assert.Throws<BadInputException>(() => SafeTensorsChecksum.Verify(path));
        Assert.StartsWith($"{path} is damaged: ", e.Message);
    }

    [Fact]
    public void AFileWithoutAChecksumIsNotTrusted()
    {
        using var folder = new TemporaryFolder();
        var path = Write(folder, checksum: false);
        Assert.StartsWith("it has no checksum (decomp.sha256 in its __metadata__), so it cannot be verified", SafeTensorsChecksum.Problem(path));
    }

    [Fact]
    public void TheWriterRefusesAHeaderWithoutThePlaceholder()
    {
        using var folder = new TemporaryFolder();
        var e = Assert.Throws<ArgumentException>(() => SafeTensorsChecksum.Write(folder.File("x.safetensors"), "{}"u8.ToArray(), _ => { }));
        Assert.Contains(SafeTensorsChecksum.MetadataKey, e.Message);
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
